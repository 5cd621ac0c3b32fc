// The pipeline worker: a thin comlink wrapper around a RepoSession (src/session) and the loaded model, holding what
// only the browser has (IndexedDB, the device's adapter and KV caches) and running every stage off the UI thread.
import { Buffer } from 'buffer';
import * as Comlink from 'comlink';
import './errorTransfer.ts';
import LightningFS from '@isomorphic-git/lightning-fs';
import http from 'isomorphic-git/http/web';
import treeSitterWasm from 'web-tree-sitter/web-tree-sitter.wasm?url';
import pythonWasm from 'tree-sitter-python/tree-sitter-python.wasm?url';
import { GitError, listStoredClones, normalizeRepoUrl, removeStoredClone, storageEstimate } from '../../git/index.ts';
import { initBackend, probeWebGpu, rejectingOnGpuFault } from '../../model/backend.ts';
import { WASM_BINARY_URLS } from '../../model/wasmBinaryUrls.ts';
import { generate } from '../../model/generate.ts';
import { exportPeftAdapter, type LoraAdapter } from '../../model/lora.ts';
import { PreparedLoraSlot } from '../../model/preparedLoraSlot.ts';
import { PromptCache } from '../../model/promptCache.ts';
import { loadPythonParser, type PythonParser } from '../../parse/pythonParser.ts';
import { vectorStores } from '../../code2lora/fileEmbeddingCache.ts';
import { adapterFromPeftFiles, RepoSession, type AdapterModels, type SessionEnvironment } from '../../session/repoSession.ts';
import { encoderReplicas, replicaCount, type EncoderReplicas } from './encoderReplicas.ts';
import { evaluateAtCommit } from './evaluateRepo.ts';
import { indexedDbStore, PersistentFileEmbeddingCache } from './embeddingStore.ts';
import { appBaseUrl, disposeLoadedModel, hasModelFile, loadModelChoice, SMOLLM2_GGUF_PATH, type LoadedModel } from './loadModelChoice.ts';
import type { CompletionModel, PipelineApi } from './pipelineApi.ts';

// isomorphic-git and LightningFS expect Node's Buffer.
(globalThis as { Buffer?: unknown }).Buffer ??= Buffer;

const fs = new LightningFS('code2lora-repos');
/** Every clone lives in a directory under this one (repoDirectoryFor). */
const REPOS_ROOT = '/repos';
let loaded: LoadedModel | null = null;
/** What the session makes adapters with: one object per loaded model (the session's caches are per models object). */
let adapterModels: AdapterModels | null = null;
/** The encoder's copies in other workers (none on WebGPU or on one core), kept while the encoder stays the same. */
let replicas: EncoderReplicas | null = null;
let parser: PythonParser | null = null;
/** The loaded repository; replaced only by a clone or open that worked, so a failed load keeps it. */
let session: RepoSession | null = null;
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
/** Whether the cache's STORAGE_FULL was reported already (once, until the caches are cleared), and the message not yet shown. */
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
/** The persistent caches by namespace (file embeddings per encoder, Evo states, diff embeddings), one object each. */
const stores = vectorStores((namespace) => new PersistentFileEmbeddingCache(embeddingStore, namespace));
const environment: SessionEnvironment = { fs, parser: getParser, stores };

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

/** One cancellable operation at a time: a new one cancels the previous, and any completion. */
function begin(): AbortSignal {
  running?.abort();
  completing?.abort();
  running = new AbortController();
  return running.signal;
}

function requireSession(): RepoSession {
  if (!session) throw new GitError('NOT_CLONED', 'Clone a repository first');
  return session;
}

function requireModel(): LoadedModel {
  if (!loaded) throw new Error('The model is not loaded yet');
  return loaded;
}

function requireAdapterModels(): AdapterModels {
  if (!adapterModels) throw new Error('The model is not loaded yet');
  return adapterModels;
}

async function getParser(): Promise<PythonParser> {
  parser ??= await loadPythonParser({ locateWasm: { treeSitter: treeSitterWasm, python: new URL(pythonWasm, self.location.href).href } });
  return parser;
}

function repoDirectoryFor(url: string): string {
  return `${REPOS_ROOT}/${url.replace(/^https?:\/\//, '').replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 200)}`;
}

/** Makes `opened` the loaded repository (forgetting the previous one's adapter) and says what the UI shows of it. */
function useSession(opened: RepoSession) {
  session = opened;
  dropAdapter();
  return { repo: opened.info, commits: opened.commits };
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

  async loadModel(choice, onProgress, options) {
    dropAdapter();
    adapterModels = null;
    for (const cache of Object.values(promptCaches ?? {})) cache.clear();
    promptCaches = null;
    if (loaded) await disposeLoadedModel(loaded);
    loaded = null;
    loaded = await loadModelChoice(choice, onProgress, { stallMs: options?.stallSeconds && options.stallSeconds * 1000 });
    const { model, encoder, encoderId, hypernetwork, evoHypernetwork, info } = loaded;
    // The encoder (c2l-base) is shared across base models: its workers, once started, serve the next model too.
    if (replicas?.model !== encoder.model) {
      replicas?.terminate();
      const count = replicaCount();
      replicas = count > 0 ? encoderReplicas(encoder.model, count) : null;
    }
    adapterModels = {
      baseModel: model.config, encoder: { ...encoder, replicas: replicas?.embedders }, encoderId, encoderName: info.encoder, hypernetwork, evoHypernetwork,
    };
    const { numLayers, maxPositionEmbeddings } = loaded.model.config;
    const cacheTokens = Math.min(maxPositionEmbeddings, PROMPT_CACHE_TOKENS);
    promptCaches = { base: new PromptCache(numLayers, cacheTokens), adapted: new PromptCache(numLayers, cacheTokens) };
    return loaded.info;
  },

  async clone({ url, depth, corsProxy }, onProgress) {
    const signal = begin();
    const dir = repoDirectoryFor(normalizeRepoUrl(url).url);
    return useSession(await RepoSession.clone({ ...environment, http, dir, url, depth, corsProxy, signal, onProgress }));
  },

  async open({ url, depth }) {
    const dir = repoDirectoryFor(normalizeRepoUrl(url).url);
    return useSession(await RepoSession.open({ ...environment, dir, url, depth }));
  },

  cancel() {
    running?.abort();
    completing?.abort();
  },

  cancelCompletion() {
    completing?.abort();
  },

  async listFiles(commit) {
    return requireSession().listFiles(commit);
  },

  async readFile(commit, path) {
    return requireSession().readFile(commit, path);
  },

  async summarize(commit, onProgress) {
    const repo = requireSession();
    return repo.summarize(commit, { signal: begin(), onProgress });
  },

  async diff(commit) {
    return requireSession().diff(commit);
  },

  async makeAdapter(commit, onProgress, mode = 'static') {
    const repo = requireSession();
    const models = requireAdapterModels();
    const signal = begin();
    const { lora, info } = await repo.adapter(commit, mode, models, { signal, onProgress });
    signal.throwIfAborted();
    useAdapter(commit, lora, info.digest, requireModel().model);
    return { ...info, storageWarning: takeStorageWarning() };
  },

  async complete({ prompt, maxNewTokens, model: which }, onProgress) {
    const { model, tokenizer } = requireModel();
    const lora = which === 'adapted' ? preparedLora.current?.prepared ?? null : null;
    if (which === 'adapted' && (!adapter || !lora)) return null;
    completing?.abort();
    const controller = new AbortController();
    completing = controller;
    const detail = which === 'adapted' ? 'adapted model' : 'base model';
    const adapterCommit = which === 'adapted' ? adapter!.commit : null;
    const started = performance.now();
    let firstToken = 0;
    try {
      const result = await generate(model, prompt, {
        tokenizer, maxNewTokens, signal: controller.signal, lora, stopSequences: ['\n\n'], promptCache: promptCaches?.[which],
        onPrefill: (done, total) => onProgress?.({ stage: 'generate', done, total, unit: 'prompt tokens', detail }),
        onToken: (t) => {
          if (t.index === 0) firstToken = performance.now();
          onProgress?.({ stage: 'generate', done: t.index + 1, total: maxNewTokens, unit: 'tokens', detail });
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
    const repo = requireSession();
    const { model, tokenizer } = requireModel();
    const signal = begin();
    const held = adapter && preparedLora.current ? { commit: adapter.commit, digest: adapter.digest, prepared: preparedLora.current.prepared } : null;
    return evaluateAtCommit({ session: repo, request, model, tokenizer, parser: await getParser(), adapter: held, signal, onProgress });
  },

  async storageStatus() {
    const clones = await listStoredClones({ fs, root: REPOS_ROOT });
    return { repositories: clones.map((clone) => ({ ...clone, open: clone.dir === session?.dir })), estimate: await storageEstimate() };
  },

  async deleteRepository(dir) {
    const wasOpen = dir === session?.dir;
    if (wasOpen) {
      // Nothing may go on reading the clone being deleted: stop it, and forget everything made from it.
      running?.abort();
      session = null;
      dropAdapter();
    }
    await removeStoredClone({ fs, root: REPOS_ROOT, dir });
    return { wasOpen };
  },

  async clearCachedEmbeddings() {
    await embeddingStore.clear();
    // The in-memory copies go too (a store given up after a quota failure is tried again), and what was made from them.
    stores.clear();
    session?.forgetMadeFromCaches();
    storageFullTold = false;
    storageWarning = null;
  },

  async loadAdapterFile({ commit, name, safetensors, adapterConfig }) {
    const { model } = requireModel();
    const { lora, info } = await adapterFromPeftFiles({ commit, name, safetensors, adapterConfig, baseModel: model.config });
    useAdapter(commit, lora, info.digest, model);
    return info;
  },

  async adapterFiles() {
    if (!adapter) throw new Error('Generate an adapter first');
    const { peftBaseName } = requireModel();
    const { safetensors, adapterConfig } = await exportPeftAdapter(adapter.lora, { baseModelNameOrPath: peftBaseName });
    return Comlink.transfer({ safetensors, adapterConfig: JSON.stringify(adapterConfig, null, 2) }, [safetensors.buffer as ArrayBuffer]);
  },
};

// A lost or exhausted GPU fails every call with BackendError DEVICE_LOST/OUT_OF_MEMORY: the app moves to WASM.
Comlink.expose(rejectingOnGpuFault(api));
