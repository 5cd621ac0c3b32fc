// The pipeline worker: holds the heavy state (clone, model, parser, adapter) and runs every stage off the UI thread.
import { Buffer } from 'buffer';
import * as Comlink from 'comlink';
import './errorTransfer.ts';
import LightningFS from '@isomorphic-git/lightning-fs';
import http from 'isomorphic-git/http/web';
import treeSitterWasm from 'web-tree-sitter/web-tree-sitter.wasm?url';
import pythonWasm from 'tree-sitter-python/tree-sitter-python.wasm?url';
import {
  cloneRepository, diffCommit, GitError, isEvoDiffPath, isTestPath, listCommits, listStoredClones, listTreeFiles, normalizeRepoUrl, openClone,
  readSnapshot, readTextFile, removeStoredClone, requirePythonFiles, storageEstimate,
} from '../../git/index.ts';
import { initBackend, probeWebGpu } from '../../model/backend.ts';
import { WASM_BINARY_URLS } from '../../model/wasmBinaryUrls.ts';
import { generate } from '../../model/generate.ts';
import { exportPeftAdapter, type LoraAdapter } from '../../model/lora.ts';
import { PreparedLoraSlot } from '../../model/preparedLoraSlot.ts';
import { PromptCache } from '../../model/promptCache.ts';
import { loadPythonParser, type PythonParser } from '../../parse/pythonParser.ts';
import { summarizeFile } from '../../parse/codeUnits.ts';
import { adapterDeltaNorms, adapterDigest, adapterParameterCount, makeRepoAdapter } from '../../code2lora/makeAdapter.ts';
import { evaluateAtCommit } from './evaluateRepo.ts';
import { dropEvoSession, evoProgressLabel, evoSessionFor } from './evoWorker.ts';
import { indexedDbStore, PersistentFileEmbeddingCache } from './embeddingStore.ts';
import { appBaseUrl, disposeLoadedModel, hasModelFile, loadModelChoice, SMOLLM2_GGUF_PATH, type LoadedModel } from './loadModelChoice.ts';
import type { AdapterInfo, CompletionModel, PipelineApi, ProgressCallback, RepoSummary } from './pipelineApi.ts';

// isomorphic-git and LightningFS expect Node's Buffer.
(globalThis as { Buffer?: unknown }).Buffer ??= Buffer;

const fs = new LightningFS('code2lora-repos');
/** Every clone lives in a directory under this one (repoDirectoryFor). */
const REPOS_ROOT = '/repos';
let loaded: LoadedModel | null = null;
let parser: PythonParser | null = null;
let repoDir: string | null = null;
/** The loaded history, oldest first (the commit list the app shows, reversed): Evo's state starts at its first commit. */
let history: string[] = [];
/** The current adapter, plain (for export); its digest names the one held on the device in `preparedLora`. */
let adapter: { commit: string; lora: LoraAdapter; digest: string } | null = null;
/** The current adapter on the device: uploaded once per digest, reused by every completion until another is made. */
const preparedLora = new PreparedLoraSlot();
/**
 * The KV cache of the last base and adapted completion, so the next keystroke's ghost text runs only the tokens that
 * changed. Each is bounded (PROMPT_CACHE_TOKENS positions: 46 KB each for SmolLM2) and made for the loaded model.
 */
let promptCaches: Record<CompletionModel, PromptCache> | null = null;
const PROMPT_CACHE_TOKENS = 4096;
let running: AbortController | null = null;
/** The completion being generated: the next one (a keystroke's ghost text) or any other operation stops it. */
let completing: AbortController | null = null;
/** Whether the cache's StorageFull was reported already (once, until the caches are cleared), and the message not yet shown. */
let storageFullTold = false;
let storageWarning: string | null = null;
/** File embeddings by encoder identity + git blob id, kept in IndexedDB across commits, repositories and visits. */
const embeddingStore = indexedDbStore({
  // The caches go on in memory after a refused write; the user is told once, with the next adapter, until they clear them.
  onStorageFull: (error) => {
    if (storageFullTold) return;
    storageFullTold = true;
    storageWarning = error.message;
  },
});
/** The cache-full message for the next adapter; null after it was taken. */
function takeStorageWarning(): string | null {
  const warning = storageWarning;
  storageWarning = null;
  return warning;
}
let embeddingCache: PersistentFileEmbeddingCache | null = null;

/** Frees the current adapter's device tensors; the next completion runs without it until a new one is made. */
function dropAdapter(): void {
  // A completion may be reading the held tensors: it stops at its next token, before it would touch them again.
  completing?.abort();
  preparedLora.release();
  promptCaches?.adapted.clear();
  adapter = null;
}

/** Makes `lora` the current adapter; uploaded only when its digest differs from the held one's. */
function useAdapter(commit: string, lora: LoraAdapter, digest: string, model: LoadedModel['model']): void {
  // As in dropAdapter: stop a completion before the tensors it reads may be freed (begin() has asked it to already).
  completing?.abort();
  if (preparedLora.current?.key !== digest) promptCaches?.adapted.clear();
  preparedLora.hold(digest, lora, model.config);
  adapter = { commit, lora, digest };
}

function cacheFor(encoderId: string): PersistentFileEmbeddingCache {
  if (embeddingCache?.encoderId !== encoderId) embeddingCache = new PersistentFileEmbeddingCache(embeddingStore, encoderId);
  return embeddingCache;
}

/** One cancellable operation at a time: a new one cancels the previous, and any completion. */
function begin(): AbortSignal {
  running?.abort();
  completing?.abort();
  running = new AbortController();
  return running.signal;
}

function requireRepo(): string {
  if (!repoDir) throw new GitError('NotCloned', 'Clone a repository first');
  return repoDir;
}

function requireModel(): LoadedModel {
  if (!loaded) throw new Error('The model is not loaded yet');
  return loaded;
}

async function getParser(): Promise<PythonParser> {
  parser ??= await loadPythonParser({ locateWasm: { treeSitter: treeSitterWasm, python: new URL(pythonWasm, self.location.href).href } });
  return parser;
}

function repoDirectoryFor(url: string): string {
  return `${REPOS_ROOT}/${url.replace(/^https?:\/\//, '').replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 200)}`;
}

/** The repository's commits and what the UI shows of it, for a clone just made or reopened. */
async function describeRepo(dir: string, target: { url: string; name: string }, depth: number, clone: { head: string; branch: string; reused: boolean; bytes: number }, started: number) {
  repoDir = dir;
  dropAdapter();
  dropEvoSession();
  const commits = await listCommits({ fs, dir, limit: depth });
  history = commits.map((commit) => commit.sha).reverse();
  return {
    repo: { url: target.url, name: target.name, head: clone.head, branch: clone.branch, reused: clone.reused, bytes: clone.bytes, seconds: (performance.now() - started) / 1000 },
    commits,
  };
}

const api: PipelineApi = {
  async initBackend(preference) {
    const backend = await initBackend({ preference, wasmBinaries: WASM_BINARY_URLS });
    // Not asked on 'wasm': a GPU process still busy with a replaced worker's dispatches can hold requestAdapter up.
    const webgpu = preference === 'wasm' ? null : await probeWebGpu();
    const note = backend === 'wasm' && webgpu?.available && webgpu.software
      ? `WebGPU here is a software adapter (${webgpu.name || 'CPU emulation'}), slower than WASM, so WASM is used. Choose WebGPU in Settings to use it anyway.`
      : null;
    return { backend, note, available: webgpu === null ? null : webgpu.available ? ['webgpu', 'wasm'] : ['wasm'] };
  },

  async installedModels() {
    return { smollm2: await hasModelFile(appBaseUrl(), SMOLLM2_GGUF_PATH) };
  },

  async loadModel(choice, onProgress) {
    dropAdapter();
    dropEvoSession();
    for (const cache of Object.values(promptCaches ?? {})) cache.clear();
    promptCaches = null;
    if (loaded) await disposeLoadedModel(loaded);
    loaded = null;
    loaded = await loadModelChoice(choice, (p) => onProgress({ stage: 'model', ...p }));
    const { numLayers, maxPositionEmbeddings } = loaded.model.config;
    const cacheTokens = Math.min(maxPositionEmbeddings, PROMPT_CACHE_TOKENS);
    promptCaches = { base: new PromptCache(numLayers, cacheTokens), adapted: new PromptCache(numLayers, cacheTokens) };
    return loaded.info;
  },

  async clone({ url, depth, corsProxy }, onProgress) {
    const signal = begin();
    const target = normalizeRepoUrl(url);
    const dir = repoDirectoryFor(target.url);
    const started = performance.now();
    const result = await cloneRepository({
      fs, http, dir, url: target.url, branch: target.branch, depth, signal,
      corsProxy: target.isLoopback ? undefined : corsProxy,
      onProgress: (p) => onProgress({ stage: 'clone', label: p.phase, loaded: p.loaded, total: p.total, unit: 'objects', detail: `${(p.bytes / 1024).toFixed(0)} KiB` }),
    });
    return describeRepo(dir, target, depth, result, started);
  },

  async open({ url, depth }) {
    const target = normalizeRepoUrl(url);
    const dir = repoDirectoryFor(target.url);
    const started = performance.now();
    const opened = await openClone({ fs, dir, url: target.url });
    return describeRepo(dir, target, depth, { ...opened, reused: true, bytes: 0 }, started);
  },

  cancel() {
    running?.abort();
    completing?.abort();
  },

  cancelCompletion() {
    completing?.abort();
  },

  async listFiles(commit) {
    return listTreeFiles({ fs, dir: requireRepo(), commit });
  },

  async readFile(commit, path) {
    return readTextFile({ fs, dir: requireRepo(), commit, path });
  },

  async summarize(commit, onProgress) {
    const dir = requireRepo();
    const signal = begin();
    const started = performance.now();
    // The first stage after a clone: a repository without Python stops here with NoPython.
    const snapshot = requirePythonFiles(await readSnapshot({ fs, dir, commit, signal }));
    const python = await getParser();
    const summary: RepoSummary = {
      commit, pythonFiles: snapshot.files.length, testFiles: 0, functions: 0, classes: 0, testFunctions: 0, assertions: 0, parseErrors: 0,
      skipped: { ...snapshot.skipped }, seconds: 0,
    };
    snapshot.files.forEach((file, i) => {
      signal.throwIfAborted();
      const counts = summarizeFile(file.content, python);
      if (isTestPath(file.path)) summary.testFiles++;
      summary.functions += counts.functions;
      summary.classes += counts.classes;
      summary.testFunctions += isTestPath(file.path) ? counts.testFunctions : 0;
      summary.assertions += isTestPath(file.path) ? counts.assertions : 0;
      summary.parseErrors += counts.hasSyntaxErrors ? 1 : 0;
      onProgress({ stage: 'parse', label: 'Parsing Python files', loaded: i + 1, total: snapshot.files.length, unit: 'files' });
    });
    summary.seconds = (performance.now() - started) / 1000;
    return summary;
  },

  async diff(commit) {
    const leftOut: string[] = [];
    const include = (path: string) => isEvoDiffPath(path) || (leftOut.push(path), false);
    const files = await diffCommit({ fs, dir: requireRepo(), commit, include });
    return { commit, files, leftOut };
  },

  async makeAdapter(commit, onProgress: ProgressCallback, mode = 'static') {
    if (mode === 'evo') return makeEvoAdapter(commit, onProgress);
    const dir = requireRepo();
    const { model, encoder, encoderId, hypernetwork, info } = requireModel();
    const signal = begin();
    const started = performance.now();
    const snapshot = requirePythonFiles(await readSnapshot({ fs, dir, commit, signal }));
    const testFiles = snapshot.files.filter((file) => isTestPath(file.path)).length;
    const made = await makeRepoAdapter({
      files: snapshot.files, encoder, baseModel: model.config, parser: await getParser(), hypernetwork, signal, cache: cacheFor(encoderId),
      onProgress: (done, total) => onProgress({ stage: 'encode', label: `Encoding files with ${info.encoder}`, loaded: done, total, unit: 'files' }),
    });
    signal.throwIfAborted();
    const digest = await adapterDigest(made.adapter);
    useAdapter(commit, made.adapter, digest, model);
    return {
      commit, mode: 'static', digest, evo: null,
      rank: made.adapter.rank, alpha: made.adapter.alpha, targetModules: made.adapter.targetModules, layers: made.adapter.layers.length,
      parameters: made.parameters, deltaNorms: made.deltaNorms, encodedFiles: made.encoding.files.length, cachedFiles: made.encoding.cached,
      encodedTokens: made.encoding.tokens, hypernetworkTrained: hypernetwork.trained, seconds: (performance.now() - started) / 1000,
      pythonFiles: snapshot.files.length, testFiles, skippedFiles: snapshot.skipped.tooLarge + snapshot.skipped.vendored + snapshot.skipped.generated + snapshot.skipped.binary,
      storageWarning: takeStorageWarning(),
    };
  },

  async complete({ prompt, maxNewTokens, model: which }, onProgress) {
    const { model, tokenizer } = requireModel();
    const lora = which === 'adapted' ? preparedLora.current?.prepared ?? null : null;
    if (which === 'adapted' && (!adapter || !lora)) return null;
    completing?.abort();
    const controller = new AbortController();
    completing = controller;
    const label = which === 'adapted' ? 'Adapted model' : 'Base model';
    const adapterCommit = which === 'adapted' ? adapter!.commit : null;
    const started = performance.now();
    let firstToken = 0;
    try {
      const result = await generate(model, prompt, {
        tokenizer, maxNewTokens, signal: controller.signal, lora, stopSequences: ['\n\n'], promptCache: promptCaches?.[which],
        onPrefill: (done, total) => onProgress?.({ stage: 'generate', label: `${label}: prompt`, loaded: done, total, unit: 'tokens' }),
        onToken: (t) => {
          if (t.index === 0) firstToken = performance.now();
          onProgress?.({ stage: 'generate', label, loaded: t.index + 1, total: maxNewTokens, unit: 'tokens' });
        },
      });
      const tokens = result.ids.length;
      const decodeSeconds = (performance.now() - (firstToken || started)) / 1000;
      return {
        model: which, text: result.text, adapterCommit,
        promptTokens: result.promptTokens, reusedPromptTokens: result.reusedPromptTokens, droppedPromptTokens: result.droppedPromptTokens,
        timing: {
          tokens,
          firstTokenSeconds: ((firstToken || performance.now()) - started) / 1000,
          decodeTokensPerSecond: tokens > 1 && decodeSeconds > 0 ? (tokens - 1) / decodeSeconds : 0,
        },
      };
    } finally {
      if (completing === controller) completing = null;
    }
  },

  async evaluate(request, onProgress) {
    const dir = requireRepo();
    const { model, tokenizer } = requireModel();
    const signal = begin();
    const held = adapter && preparedLora.current ? { commit: adapter.commit, digest: adapter.digest, prepared: preparedLora.current.prepared } : null;
    return evaluateAtCommit({
      fs, dir, repo: dir.split('/').pop()!, request, model, tokenizer, parser: await getParser(), adapter: held, signal, onProgress,
    });
  },

  async storageStatus() {
    const clones = await listStoredClones({ fs, root: REPOS_ROOT });
    return { repositories: clones.map((clone) => ({ ...clone, open: clone.dir === repoDir })), estimate: await storageEstimate() };
  },

  async deleteRepository(dir) {
    const wasOpen = dir === repoDir;
    if (wasOpen) {
      // Nothing may go on reading the clone being deleted: stop it, and forget everything made from it.
      running?.abort();
      repoDir = null;
      history = [];
      dropAdapter();
      dropEvoSession();
    }
    await removeStoredClone({ fs, root: REPOS_ROOT, dir });
    return { wasOpen };
  },

  async clearCachedEmbeddings() {
    await embeddingStore.clear();
    // The session's in-memory copies go too, and a store given up after a quota failure is tried again.
    embeddingCache = null;
    dropEvoSession();
    storageFullTold = false;
    storageWarning = null;
  },

  async adapterFiles() {
    if (!adapter) throw new Error('Generate an adapter first');
    const { peftBaseName } = requireModel();
    const { safetensors, adapterConfig } = await exportPeftAdapter(adapter.lora, { baseModelNameOrPath: peftBaseName });
    return Comlink.transfer({ safetensors, adapterConfig: JSON.stringify(adapterConfig, null, 2) }, [safetensors.buffer as ArrayBuffer]);
  },
};

/**
 * Evo: the state at `commit` stepped from the nearest cached one along the loaded history (states and diff embeddings
 * kept in IndexedDB), its adapter prepared once on the device like Static's.
 */
async function makeEvoAdapter(commit: string, onProgress: ProgressCallback): Promise<AdapterInfo> {
  const dir = requireRepo();
  const { model, encoder, encoderId, evoHypernetwork, info } = requireModel();
  const index = history.indexOf(commit);
  if (index < 0) throw new GitError('NotFound', `Commit ${commit.slice(0, 8)} is not in the loaded history`);
  const signal = begin();
  const started = performance.now();
  const session = await evoSessionFor({
    fs, dir, commits: history, hypernetwork: evoHypernetwork, baseModel: model.config, encoder, encoderId,
    parser: await getParser(), fileEmbeddings: cacheFor(encoderId), store: embeddingStore,
  });
  const { adapter: lora, report } = await session.select(index, {
    signal,
    onProgress: (p) => onProgress({ ...evoProgressLabel(p, info.encoder), loaded: p.done, total: p.total, unit: p.unit }),
  });
  signal.throwIfAborted();
  const digest = await adapterDigest(lora);
  useAdapter(commit, lora, digest, model);
  return {
    commit, mode: 'evo', digest,
    evo: { ...report, historyLength: history.length, driftSeries: session.driftSeries() },
    rank: lora.rank, alpha: lora.alpha, targetModules: lora.targetModules, layers: lora.layers.length,
    parameters: adapterParameterCount(lora), deltaNorms: await adapterDeltaNorms(lora),
    encodedFiles: report.filesEncoded + report.filesFromCache, cachedFiles: report.filesFromCache, encodedTokens: report.diffTokens,
    hypernetworkTrained: evoHypernetwork.trained, seconds: (performance.now() - started) / 1000,
    pythonFiles: 0, testFiles: 0, skippedFiles: 0, storageWarning: takeStorageWarning(),
  };
}

Comlink.expose(api);
