// One repository as the app, the CLI and the benchmark read it: its history, and per commit the snapshot, each file's
// parse (by git blob id), the file embeddings (by blob id, in a store that outlives the session) and the adapters, each
// computed once and shared by every operation that needs it. No DOM, no node: the caller brings the filesystem, the
// HTTP client, the parser and the stores, so the browser's worker and Node's CLIs run the same code.
import type { HttpClient } from 'isomorphic-git';
import {
  cloneRepository, type CommitInfo, diffCommit, type FileDiff, GitError, type GitFs, isEvoDiffPath, isPythonPath, isPythonTestPath, isTestPath,
  listCommits, listTreeFiles, normalizeRepoUrl, openClone, readSnapshot, readTextFile, requirePythonFiles, type Snapshot, type SnapshotFile,
} from '../git/index.ts';
import type { ModelConfig } from '../model/config.ts';
import { importPeftAdapter, type LoraAdapter } from '../model/lora.ts';
import type { CodeUnit, FileSummary } from '../parse/codeUnits.ts';
import { summarizeFile } from '../parse/codeUnits.ts';
import type { PythonParser } from '../parse/pythonParser.ts';
import { diffEmbeddingIdentity, EvoSession, evoStateIdentity, type EvoDriftPoint, type EvoStepReport } from '../code2lora/evoSession.ts';
import type { VectorStores } from '../code2lora/fileEmbeddingCache.ts';
import { gitBlobId } from '../code2lora/gitBlobId.ts';
import type { Hypernetwork } from '../code2lora/hypernetwork.ts';
import { adapterDeltaNorms, adapterDigest, adapterParameterCount, makeRepoAdapter } from '../code2lora/makeAdapter.ts';
import { encoderCacheId, encoderLayerLabel, type RepoEncoderModel } from '../code2lora/repoEncoder.ts';
import type { ProgressCallback } from '../util/progress.ts';
import { BoundedMap } from '../util/boundedMap.ts';

export interface RepoInfo {
  url: string;
  name: string;
  head: string;
  branch: string;
  /** True when an earlier complete clone was updated (or opened) instead of cloned anew. */
  reused: boolean;
  bytes: number;
  seconds: number;
}

export interface RepoSummary {
  commit: string;
  pythonFiles: number;
  testFiles: number;
  functions: number;
  classes: number;
  testFunctions: number;
  assertions: number;
  parseErrors: number;
  skipped: Record<string, number>;
  seconds: number;
}

/** A commit's diff as the Evo state reads it, and the changed files it leaves out (tests, other file types). */
export interface CommitDiff {
  commit: string;
  files: FileDiff[];
  leftOut: string[];
}

/** Static: the adapter of the commit's snapshot; Evo: of the Evo state stepped along history to the commit. */
export type AdapterMode = 'static' | 'evo';

/** What an Evo selection cost and how the adapter moved (the commit and seconds are AdapterInfo's). */
export interface EvoAdapterReport extends Omit<EvoStepReport, 'commit' | 'seconds'> {
  /** The history's length (index counts from its oldest commit). */
  historyLength: number;
  /** Drift (summed over modules) of every commit computed so far, oldest first: the drift plot. */
  driftSeries: EvoDriftPoint[];
}

/** An adapter as the UI and the CLI describe it: plain data (the tensors stay with `SessionAdapter.lora`). */
export interface AdapterInfo {
  commit: string;
  mode: AdapterMode;
  /** Short digest of the adapter's values (makeAdapter.ts adapterDigest): equal digests, equal adapters. */
  digest: string;
  /** Evo only: the step's report. */
  evo: EvoAdapterReport | null;
  rank: number;
  alpha: number;
  targetModules: string[];
  layers: number;
  parameters: number;
  /** Frobenius norm of B·A per module type: how far the adapter moves each layer. */
  deltaNorms: Record<string, number>;
  /** Files the adapter was made from. */
  encodedFiles: number;
  /** Of those, files whose embedding came from the cache (same git blob id, same encoder): not encoded again. */
  cachedFiles: number;
  encodedTokens: number;
  /** False when no trained hypernetwork was loaded for the model: its adapters carry no repository knowledge. */
  hypernetworkTrained: boolean;
  seconds: number;
  /** Python files in the snapshot; of those, test files are never encoded (the adapter describes the code). */
  pythonFiles: number;
  testFiles: number;
  /** Files the snapshot left out: too large, vendored, generated or binary. */
  skippedFiles: number;
  /** Set once, on the first adapter after the embedding/Evo cache could not be saved (STORAGE_FULL): what to delete. */
  storageWarning: string | null;
  /** The file it was loaded from (PEFT adapter_model.safetensors) instead of being made by a hypernetwork; null if made. */
  loadedFrom: string | null;
}

export interface SessionAdapter {
  lora: LoraAdapter;
  info: AdapterInfo;
}

/** What adapters are made with: the base model they are for, the frozen encoder and the hypernetworks. */
export interface AdapterModels {
  baseModel: ModelConfig;
  encoder: RepoEncoderModel;
  /** encoderIdentity(): the namespace of every cached embedding, so another encoder's vectors are never read. */
  encoderId: string;
  /** The encoder's name for progress messages. */
  encoderName: string;
  hypernetwork: Hypernetwork;
  /** The Evo hypernetwork (trained, or an untrained one of the Static one's shape). */
  evoHypernetwork: Hypernetwork;
}

/** Where the session's repository comes from and what it needs to read it. */
export interface SessionEnvironment {
  fs: GitFs;
  /** Loaded on first use (the browser fetches its wasm). */
  parser: () => Promise<PythonParser>;
  stores: VectorStores;
}

/** The last snapshots read: selecting a commit reads it once for parse, encode and evaluation. */
const SNAPSHOTS_KEPT = 2;
/** Parsed files by blob id: a file unchanged across commits is parsed once (a few KB each). */
const PARSED_FILES_KEPT = 20_000;
/** Static adapters by commit: stepping back and forth on the timeline does not recompute them (~0.5 MB each for SmolLM2). */
const ADAPTERS_KEPT = 16;

/**
 * The encoder's name for progress messages, with the layer read when the hypernetwork reads an earlier one than the
 * last, and the number of workers it runs in when it has replicas.
 */
function encoderLabel({ encoder, encoderName }: AdapterModels, layer: number | undefined): string {
  const workers = encoder.replicas?.length ?? 0;
  const name = encoderLayerLabel(encoderName, encoder.model, layer);
  return workers > 1 ? `${name} in ${workers} workers` : name;
}

/** The code units and counts of one file (one parse). */
type ParsedFile = FileSummary & { units: CodeUnit[] };

/**
 * A repository and everything made from it. Open one with `RepoSession.clone` (network) or `RepoSession.open` (a clone
 * kept by an earlier visit, or a local work tree in Node). Errors are the layers' own typed errors: GitError (clone,
 * snapshot, NO_PYTHON, NOT_FOUND), RepoEncodeError, HypernetworkError; an AbortError when a signal aborts.
 * @example
 * const session = await RepoSession.clone({ fs, http, parser, stores, dir: '/repos/demo', url, depth: 50, onProgress });
 * const summary = await session.summarize(session.info.head);
 * const { lora, info } = await session.adapter(session.info.head, 'static', models, { onProgress });
 */
export class RepoSession {
  /** isomorphic-git's object cache: a packfile is parsed once for every read of this repository. */
  private readonly gitCache = {};
  private readonly snapshots = new BoundedMap<string, Promise<Snapshot>>(SNAPSHOTS_KEPT);
  private readonly parsed = new BoundedMap<string, ParsedFile>(PARSED_FILES_KEPT);
  private readonly diffs = new BoundedMap<string, Promise<CommitDiff>>(ADAPTERS_KEPT);
  private readonly adapters = new BoundedMap<string, SessionAdapter>(ADAPTERS_KEPT);
  /** The models the cached adapters and Evo states were made with: other models make them anew. */
  private models: AdapterModels | null = null;
  private evo: Promise<EvoSession> | null = null;

  private constructor(
    private readonly env: SessionEnvironment,
    /** The git directory (LightningFS in the browser, a work tree or clone in Node). */
    readonly dir: string,
    readonly info: RepoInfo,
    /** Newest first, as the app lists them. */
    readonly commits: CommitInfo[],
  ) {}

  /**
   * Clones `url` (or fetches only new commits into a complete clone already in `dir`), keeping `depth` commits.
   * Stage `clone` progress. A failed or cancelled clone leaves nothing in `dir` (cloneRepository).
   */
  static async clone({ http, dir, url, name, depth, corsProxy, firstParent, signal, onProgress, ...env }: SessionEnvironment & {
    http: HttpClient;
    dir: string;
    url: string;
    /** Display name; default: the URL's `owner/repo`. */
    name?: string;
    depth: number;
    /** Not used for loopback URLs (a local server needs no proxy). */
    corsProxy?: string;
    /** The history as first parents only (the benchmark's mainline); default: every ancestor, newest first. */
    firstParent?: boolean;
    signal?: AbortSignal;
    onProgress?: ProgressCallback;
  }): Promise<RepoSession> {
    const target = normalizeRepoUrl(url);
    const started = performance.now();
    const cloned = await cloneRepository({
      fs: env.fs, http, dir, url: target.url, branch: target.branch, depth, signal, onProgress,
      corsProxy: target.isLoopback ? undefined : corsProxy,
    });
    return RepoSession.describe(env, dir, { url: target.url, name: name ?? target.name, ...cloned }, { depth, firstParent, started });
  }

  /**
   * Opens a repository without the network: the complete clone of `url` an earlier `clone` left in `dir` (GitError
   * NOT_CLONED when there is none), or, without `url`, the git work tree or bare repository in `dir` as it is.
   */
  static async open({ dir, url, name, depth, firstParent, ...env }: SessionEnvironment & {
    dir: string;
    url?: string;
    /** Display name; default: the URL's `owner/repo`, or the directory's name. */
    name?: string;
    depth: number;
    firstParent?: boolean;
  }): Promise<RepoSession> {
    const started = performance.now();
    if (url) {
      const target = normalizeRepoUrl(url);
      const opened = await openClone({ fs: env.fs, dir, url: target.url });
      return RepoSession.describe(env, dir, { url: target.url, name: name ?? target.name, ...opened, reused: true, bytes: 0 }, { depth, firstParent, started });
    }
    const session = await RepoSession.describe(env, dir, { url: dir, name: name ?? dir.split('/').filter(Boolean).pop() ?? dir, head: '', branch: '', reused: true, bytes: 0 },
      { depth, firstParent, started });
    if (session.commits.length === 0) throw new GitError('EMPTY_REPOSITORY', `${dir} has no commits`);
    return session;
  }

  private static async describe(
    env: SessionEnvironment,
    dir: string,
    repo: Omit<RepoInfo, 'seconds'>,
    { depth, firstParent, started }: { depth: number; firstParent?: boolean; started: number },
  ): Promise<RepoSession> {
    const gitCache = {};
    const commits = await listCommits({ fs: env.fs, dir, limit: depth, firstParent, cache: gitCache });
    const info: RepoInfo = { ...repo, head: repo.head || commits[0]?.sha || '', seconds: (performance.now() - started) / 1000 };
    const session = new RepoSession(env, dir, info, commits);
    Object.assign(session.gitCache, gitCache);
    return session;
  }

  /** The loaded history's commit ids, oldest first: Evo's state starts at the first. */
  get history(): string[] {
    return this.commits.map((commit) => commit.sha).reverse();
  }

  /** Every Python file at `commit` (read once while it is among the last few asked for). */
  snapshot(commit: string, signal?: AbortSignal): Promise<Snapshot> {
    let snapshot = this.snapshots.get(commit);
    if (!snapshot) {
      snapshot = readSnapshot({ fs: this.env.fs, dir: this.dir, commit, signal, cache: this.gitCache });
      // A failed or cancelled read is not kept: the next call reads again.
      snapshot.catch(() => this.snapshots.get(commit) === snapshot && this.snapshots.delete(commit));
      this.snapshots.set(commit, snapshot);
    }
    return snapshot;
  }

  /**
   * The Python files at `commit` that `include` selects (it chooses among Python files: tests, or all): from the
   * snapshot when it was read already, else only those files are read (mining tests along history reads no code).
   */
  async readFiles(commit: string, include?: (path: string) => boolean, signal?: AbortSignal): Promise<SnapshotFile[]> {
    const kept = this.snapshots.get(commit);
    if (!include) return (await this.snapshot(commit, signal)).files;
    if (kept) return (await kept).files.filter((file) => include(file.path));
    return (await readSnapshot({ fs: this.env.fs, dir: this.dir, commit, include: (path) => isPythonPath(path) && include(path), signal, cache: this.gitCache })).files;
  }

  /** Every path in the commit's tree, sorted. */
  listFiles(commit: string): Promise<string[]> {
    return listTreeFiles({ fs: this.env.fs, dir: this.dir, commit });
  }

  /** One file of the commit as text (GitError NOT_FOUND, TOO_LARGE or NOT_TEXT otherwise). */
  readFile(commit: string, path: string): Promise<string> {
    return readTextFile({ fs: this.env.fs, dir: this.dir, commit, path });
  }

  /** The commit against its first parent: the non-test .py/.md/.rst hunks Evo reads, and the changed files it leaves out. */
  diff(commit: string): Promise<CommitDiff> {
    let diff = this.diffs.get(commit);
    if (!diff) {
      const leftOut: string[] = [];
      const include = (path: string) => isEvoDiffPath(path) || (leftOut.push(path), false);
      diff = diffCommit({ fs: this.env.fs, dir: this.dir, commit, include, cache: this.gitCache }).then((files) => ({ commit, files, leftOut }));
      diff.catch(() => this.diffs.get(commit) === diff && this.diffs.delete(commit));
      this.diffs.set(commit, diff);
    }
    return diff;
  }

  /** A file's code units and counts, parsed once per content. */
  private parse(file: { content: string }, parser: PythonParser, blobId = gitBlobId(file.content)): ParsedFile {
    let parsed = this.parsed.get(blobId);
    if (!parsed) this.parsed.set(blobId, parsed = summarizeFile(file.content, parser));
    return parsed;
  }

  /**
   * Counts of the commit's Python files (stage `parse`). The first stage after a clone: a repository without Python
   * stops here with GitError NO_PYTHON.
   */
  async summarize(commit: string, { signal, onProgress }: { signal?: AbortSignal; onProgress?: ProgressCallback } = {}): Promise<RepoSummary> {
    const started = performance.now();
    const snapshot = requirePythonFiles(await this.snapshot(commit, signal));
    const parser = await this.env.parser();
    const summary: RepoSummary = {
      commit, pythonFiles: snapshot.files.length, testFiles: 0, functions: 0, classes: 0, testFunctions: 0, assertions: 0, parseErrors: 0,
      skipped: { ...snapshot.skipped }, seconds: 0,
    };
    snapshot.files.forEach((file, i) => {
      signal?.throwIfAborted();
      const counts = this.parse(file, parser);
      const test = isTestPath(file.path);
      summary.testFiles += test ? 1 : 0;
      summary.functions += counts.functions;
      summary.classes += counts.classes;
      summary.testFunctions += test ? counts.testFunctions : 0;
      summary.assertions += test ? counts.assertions : 0;
      summary.parseErrors += counts.hasSyntaxErrors ? 1 : 0;
      onProgress?.({ stage: 'parse', done: i + 1, total: snapshot.files.length, unit: 'files' });
    });
    summary.seconds = (performance.now() - started) / 1000;
    return summary;
  }

  /**
   * The adapter of `commit`: Static from its snapshot (only files not in the embedding store are encoded), or Evo
   * stepped from the nearest cached state along the history. A Static adapter is made once per commit while `models` stay.
   */
  async adapter(commit: string, mode: AdapterMode, models: AdapterModels, options: { signal?: AbortSignal; onProgress?: ProgressCallback } = {}): Promise<SessionAdapter> {
    if (this.models !== models) {
      this.adapters.clear();
      this.evo = null;
      this.models = models;
    }
    // Evo keeps its own states (stepping back is instant), and its report says what this selection cost.
    if (mode === 'evo') return this.evoAdapter(commit, models, options);
    const kept = this.adapters.get(commit);
    if (kept) return { lora: kept.lora, info: { ...kept.info, cachedFiles: kept.info.encodedFiles, encodedTokens: 0, seconds: 0 } };
    const made = await this.staticAdapter(commit, models, options);
    this.adapters.set(commit, made);
    return made;
  }

  private async staticAdapter(commit: string, models: AdapterModels, { signal, onProgress }: { signal?: AbortSignal; onProgress?: ProgressCallback }): Promise<SessionAdapter> {
    const started = performance.now();
    const snapshot = requirePythonFiles(await this.snapshot(commit, signal));
    const parser = await this.env.parser();
    const { baseModel, encoder, encoderId, hypernetwork } = models;
    const made = await makeRepoAdapter({
      files: snapshot.files, encoder, baseModel, parser, hypernetwork, signal,
      cache: this.env.stores(encoderCacheId(encoderId, hypernetwork.encoderLayer)),
      unitsOf: (file, blobId) => this.parse(file, parser, blobId).units,
      onProgress: (progress) => onProgress?.({ ...progress, detail: `with ${encoderLabel(models, hypernetwork.encoderLayer)}` }),
    });
    signal?.throwIfAborted();
    const { skipped } = snapshot;
    return {
      lora: made.adapter,
      info: {
        commit, mode: 'static', digest: await adapterDigest(made.adapter), evo: null,
        rank: made.adapter.rank, alpha: made.adapter.alpha, targetModules: made.adapter.targetModules, layers: made.adapter.layers.length,
        parameters: made.parameters, deltaNorms: made.deltaNorms, encodedFiles: made.encoding.files.length, cachedFiles: made.encoding.cached,
        encodedTokens: made.encoding.tokens, hypernetworkTrained: hypernetwork.trained, seconds: (performance.now() - started) / 1000,
        pythonFiles: snapshot.files.length, testFiles: snapshot.files.filter((file) => isTestPath(file.path)).length,
        skippedFiles: skipped.tooLarge + skipped.vendored + skipped.generated + skipped.binary, storageWarning: null, loadedFrom: null,
      },
    };
  }

  /**
   * The EvoSession over this history: states under evo-state|<state identity>|<encoder and layer>, diffs under
   * diffEmbeddingIdentity.
   */
  private evoSession(models: AdapterModels): Promise<EvoSession> {
    this.evo ??= (async () => {
      const { evoHypernetwork, baseModel, encoder } = models;
      const encoderId = encoderCacheId(models.encoderId, evoHypernetwork.encoderLayer);
      const stateId = await evoStateIdentity(evoHypernetwork);
      const parser = await this.env.parser();
      return new EvoSession({
        hypernetwork: evoHypernetwork, baseModel, encoder, parser,
        history: {
          commits: this.history,
          readFiles: (commit, signal) => this.readFiles(commit, undefined, signal),
          diff: async (commit) => (await this.diff(commit)).files,
        },
        fileEmbeddings: this.env.stores(encoderId),
        states: this.env.stores(`evo-state|${stateId}|${encoderId}`),
        diffEmbeddings: this.env.stores(diffEmbeddingIdentity(encoderId)),
      });
    })();
    this.evo.catch(() => (this.evo = null));
    return this.evo;
  }

  private async evoAdapter(commit: string, models: AdapterModels, { signal, onProgress }: { signal?: AbortSignal; onProgress?: ProgressCallback }): Promise<SessionAdapter> {
    const history = this.history;
    const index = history.indexOf(commit);
    if (index < 0) throw new GitError('NOT_FOUND', `Commit ${commit.slice(0, 8)} is not in the loaded history`);
    const started = performance.now();
    const session = await this.evoSession(models);
    const { adapter: lora, report } = await session.select(index, {
      signal,
      onProgress: (progress) => onProgress?.(progress.stage === 'encode'
        ? { ...progress, detail: `${progress.detail} (${encoderLabel(models, models.evoHypernetwork.encoderLayer)})` }
        : progress),
    });
    signal?.throwIfAborted();
    return {
      lora,
      info: {
        commit, mode: 'evo', digest: await adapterDigest(lora),
        evo: { ...report, historyLength: history.length, driftSeries: session.driftSeries() },
        rank: lora.rank, alpha: lora.alpha, targetModules: lora.targetModules, layers: lora.layers.length,
        parameters: adapterParameterCount(lora), deltaNorms: await adapterDeltaNorms(lora),
        encodedFiles: report.filesEncoded + report.filesFromCache, cachedFiles: report.filesFromCache, encodedTokens: report.diffTokens,
        hypernetworkTrained: models.evoHypernetwork.trained, seconds: (performance.now() - started) / 1000,
        pythonFiles: 0, testFiles: 0, skippedFiles: 0, storageWarning: null, loadedFrom: null,
      },
    };
  }

  /** The Python test files at `commit`: what "How much does it help here?" mines (the adapter was made from the others). */
  testFiles(commit: string, signal?: AbortSignal): Promise<SnapshotFile[]> {
    return this.readFiles(commit, isPythonTestPath, signal);
  }

  /** Forgets the Evo states and adapters in memory (after their stores were cleared); the snapshots stay. */
  forgetMadeFromCaches(): void {
    this.adapters.clear();
    this.evo = null;
  }
}

/**
 * An adapter read from PEFT files (adapter_model.safetensors + adapter_config.json) for the base model, described as
 * the app describes a made one and applied to `commit`'s completions. Errors: LoraError (BAD_CONFIG, BAD_KEY,
 * SHAPE_MISMATCH, BAD_FILE, ...) naming what is wrong with the files.
 */
export async function adapterFromPeftFiles({ commit, name, safetensors, adapterConfig, baseModel }: {
  commit: string;
  /** The weights file's name, as the user chose it. */
  name: string;
  safetensors: Uint8Array;
  adapterConfig: string;
  baseModel: ModelConfig;
}): Promise<SessionAdapter> {
  const lora = importPeftAdapter(safetensors, adapterConfig, baseModel);
  return {
    lora,
    info: {
      commit, mode: 'static', digest: await adapterDigest(lora), evo: null,
      rank: lora.rank, alpha: lora.alpha, targetModules: lora.targetModules, layers: lora.layers.length,
      parameters: adapterParameterCount(lora), deltaNorms: await adapterDeltaNorms(lora),
      encodedFiles: 0, cachedFiles: 0, encodedTokens: 0, hypernetworkTrained: true, seconds: 0,
      pythonFiles: 0, testFiles: 0, skippedFiles: 0, storageWarning: null, loadedFrom: name,
    },
  };
}
