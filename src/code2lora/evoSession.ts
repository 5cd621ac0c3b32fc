// Code2LoRA-Evo over one repository's history for the app and the CLI: select a commit -> its Evo state (cached per
// commit) -> its adapter, with what the step cost and how far the adapter drifted from the previous commit.
import type { FileDiff } from '../git/diff.ts';
import type { ModelConfig } from '../model/config.ts';
import type { LoraAdapter } from '../model/lora.ts';
import type { PythonParser } from '../parse/pythonParser.ts';
import { diffChunkIds } from './diffEncoder.ts';
import { ENCODER_SETTINGS } from './encoderSettings.ts';
import { evoAdapter, stepEvoState } from './evo.ts';
import { EvoTimeline } from './evoTimeline.ts';
import type { FileEmbeddingCache, VectorStore } from './fileEmbeddingCache.ts';
import { gitBlobId } from './gitBlobId.ts';
import { HypernetworkError } from './errors.ts';
import { repoState, type Hypernetwork } from './hypernetwork.ts';
import { adapterDeltaNorms } from './makeAdapter.ts';
import { embedDiff, encodeRepository, type RepoEncoderModel } from './repoEncoder.ts';
import type { ProgressCallback } from '../util/progress.ts';

/** A repository's history as Evo reads it. */
export interface EvoHistory {
  /** Commits oldest first: the state starts at commits[0] (the oldest commit the app loaded). */
  commits: readonly string[];
  /** The snapshot's files at a commit (test files and non-Python files are skipped by the encoder). */
  readFiles: (commit: string, signal?: AbortSignal) => Promise<ReadonlyArray<{ path: string; content: string }>>;
  /** The commit against its first parent, non-test .py/.md/.rst files (src/git diffCommit). */
  diff: (commit: string) => Promise<FileDiff[]>;
}

export interface EvoSessionOptions {
  /** An Evo hypernetwork (trained, or untrainedEvoHypernetwork). */
  hypernetwork: Hypernetwork;
  /** The model the adapters are for. */
  baseModel: ModelConfig;
  encoder: RepoEncoderModel;
  parser: PythonParser;
  history: EvoHistory;
  /** File embeddings of this encoder at the hypernetwork's layer (encoderCacheId) by git blob id (the first state). */
  fileEmbeddings?: FileEmbeddingCache;
  /** Evo states of this hypernetwork (evoStateIdentity) and this encoder: a state of another one is meaningless. */
  states?: VectorStore;
  /** Diff embeddings of this encoder and layer by commit (an empty vector: the commit changes no file Evo reads). */
  diffEmbeddings?: VectorStore;
}

/** What one selection cost and how the adapter moved. */
export interface EvoStepReport {
  commit: string;
  /** Position in the history, oldest first. */
  index: number;
  /** GRU steps run for this selection (0: the state was cached). */
  steps: number;
  /** The history position stepping started from (its state cached, or the first commit's computed). */
  startedFrom: number;
  /** States read from the persistent store rather than memory or computed. */
  statesFromStore: number;
  /** Diffs encoded by the encoder for this selection, and those whose embedding came from the store. */
  diffsEncoded: number;
  diffsFromCache: number;
  /** Encoder tokens read for the diffs. */
  diffTokens: number;
  /** The first commit's files encoded (and taken from the file-embedding cache), when its state was computed now. */
  filesEncoded: number;
  filesFromCache: number;
  seconds: number;
  /** ‖ΔW_t − ΔW_{t−1}‖_F per module (shared across layers) against the previous commit; null at the first commit. */
  drift: Record<string, number> | null;
}

/** Drift at one commit of the history, summed over modules, for the drift plot. */
export interface EvoDriftPoint {
  index: number;
  commit: string;
  drift: number;
}

export interface EvoSelection {
  adapter: LoraAdapter;
  report: EvoStepReport;
}


const NO_DIFF = new Float32Array(0);

/**
 * One repository's Evo timeline with its adapters: forward from the nearest cached state (one diff encode and one GRU
 * step per commit), back for free; each state's drift from the previous commit is kept for the plot.
 * Errors: RangeError for a commit outside the history; RepoEncodeError NO_ENCODABLE_FILES when the first commit has no
 * Python code; HypernetworkError (NOT_EVO, sizes, base model); an AbortError when `signal` aborts.
 * @example
 * const session = new EvoSession({ hypernetwork, baseModel: model.config, encoder, parser, history, states });
 * const { adapter, report } = await session.select(history.commits.length - 1, { onProgress });
 * const back = await session.select(2); // report.steps === 0, report.diffsEncoded === 0
 */
export class EvoSession {
  private readonly timeline: EvoTimeline;
  private readonly drifts = new Map<number, Record<string, number>>();
  /** Counters of the selection in progress. */
  private cost = { diffsEncoded: 0, diffsFromCache: 0, diffTokens: 0, filesEncoded: 0, filesFromCache: 0, statesFromStore: 0 };
  private signal: AbortSignal | undefined;
  private encodeProgress: ProgressCallback | undefined;

  constructor(private readonly options: EvoSessionOptions) {
    if (options.hypernetwork.kind !== 'code2lora-evo') {
      throw new HypernetworkError('NOT_EVO', 'This hypernetwork has no Evo GRU (a Static hypernetwork cannot follow commits)');
    }
    const { states } = options;
    this.timeline = new EvoTimeline({
      hypernetwork: options.hypernetwork,
      commits: options.history.commits,
      initialState: () => this.initialState(),
      diffEmbedding: (commit) => this.diffEmbedding(commit),
      store: states && {
        get: async (key) => {
          const state = await states.get(key);
          if (state) this.cost.statesFromStore++;
          return state;
        },
        set: (key, state) => states.set(key, state),
      },
    });
  }

  get commits(): readonly string[] {
    return this.options.history.commits;
  }

  indexOf(commit: string): number {
    return this.timeline.indexOf(commit);
  }

  /** GRU steps select(index) would run now, counting only states in memory (0: instant). */
  stepsTo(index: number): number {
    return this.timeline.stepsTo(index);
  }

  /** Drift of every commit whose state and previous state were computed or read so far, oldest first. */
  driftSeries(): EvoDriftPoint[] {
    return [...this.drifts].sort(([a], [b]) => a - b)
      .map(([index, norms]) => ({ index, commit: this.commits[index], drift: sumOf(norms) }));
  }

  /**
   * The adapter at commits[index]: the state from the nearest cached one (stepping forward and caching each state on
   * the way), then the heads. Each commit stepped over gets its drift.
   */
  async select(index: number, { onProgress, signal }: {
    /** Stage `evo`: commits stepped of commits to step; stage `encode`: the first commit's files, while its state is computed. */
    onProgress?: ProgressCallback;
    signal?: AbortSignal;
  } = {}): Promise<EvoSelection> {
    const started = performance.now();
    this.cost = { diffsEncoded: 0, diffsFromCache: 0, diffTokens: 0, filesEncoded: 0, filesFromCache: 0, statesFromStore: 0 };
    this.signal = signal;
    this.encodeProgress = onProgress;
    let stepped = 0;
    let state: Float32Array;
    try {
      state = await this.timeline.stateAt(index, {
        signal,
        onProgress: (progress) => {
          stepped = progress.done;
          onProgress?.(progress);
        },
      });
    } finally {
      this.signal = undefined;
      this.encodeProgress = undefined;
    }
    const { baseModel, hypernetwork } = this.options;
    const adapter = await evoAdapter(hypernetwork, baseModel, state);
    // The drift of each commit stepped over now, and of the selected one when its previous state is known.
    const startedFrom = index - stepped;
    let previous: LoraAdapter | undefined;
    for (let i = Math.max(startedFrom, 1); i <= index; i++) {
      const before = this.drifts.has(i) ? undefined : await this.timeline.cachedStateAt(i - 1);
      if (!before) {
        previous = undefined;
        continue;
      }
      previous ??= await evoAdapter(hypernetwork, baseModel, before);
      const after = i === index ? adapter : await evoAdapter(hypernetwork, baseModel, (await this.timeline.cachedStateAt(i))!);
      this.drifts.set(i, await adapterDeltaNorms(after, previous));
      previous = after;
    }
    return {
      adapter,
      report: {
        commit: this.commits[index], index, steps: stepped, startedFrom,
        statesFromStore: this.cost.statesFromStore, diffsEncoded: this.cost.diffsEncoded, diffsFromCache: this.cost.diffsFromCache,
        diffTokens: this.cost.diffTokens, filesEncoded: this.cost.filesEncoded, filesFromCache: this.cost.filesFromCache,
        seconds: (performance.now() - started) / 1000, drift: this.drifts.get(index) ?? null,
      },
    };
  }

  private async initialState(): Promise<Float32Array> {
    const { history, encoder, parser, fileEmbeddings, hypernetwork } = this.options;
    const encoding = await encodeRepository({
      files: await history.readFiles(history.commits[0], this.signal), encoder, layer: hypernetwork.encoderLayer, parser,
      cache: fileEmbeddings, signal: this.signal,
      onProgress: (progress) => this.encodeProgress?.({ ...progress, detail: 'the first commit\'s files: the Evo state starts there' }),
    });
    this.cost.filesFromCache += encoding.cached;
    this.cost.filesEncoded += encoding.files.length - encoding.cached;
    return repoState(hypernetwork, encoding.files.map((file) => file.embedding));
  }

  private async diffEmbedding(commit: string): Promise<Float32Array | null> {
    const stored = await this.options.diffEmbeddings?.get(commit);
    if (stored) {
      this.cost.diffsFromCache++;
      return stored.length === 0 ? null : stored;
    }
    const { encoder, history, hypernetwork } = this.options;
    const chunks = diffChunkIds(await history.diff(commit), encoder.tokenizer, ENCODER_SETTINGS);
    const embedded = await embedDiff(chunks, encoder, hypernetwork.encoderLayer);
    if (embedded) {
      this.cost.diffsEncoded++;
      this.cost.diffTokens += embedded.tokens;
    }
    await this.options.diffEmbeddings?.set(commit, embedded?.embedding ?? NO_DIFF);
    return embedded?.embedding ?? null;
  }
}

function sumOf(norms: Record<string, number>): number {
  return Object.values(norms).reduce((sum, norm) => sum + norm, 0);
}

const PROBE_FILES = [Float32Array.from({ length: 8 }, (_, i) => Math.sin(i + 1)), Float32Array.from({ length: 8 }, (_, i) => Math.cos(3 * i))];

/**
 * The identity of the states a hypernetwork makes, for cache keys: the kind, sizes and a fingerprint of one probe step
 * (repoState of fixed embeddings, then a GRU step with a fixed diff, to 3 decimals), so states of other or retrained
 * weights are never read. The heads do not enter a state, so they do not enter the identity.
 * @example const id = await evoStateIdentity(hypernetwork) // 'evo|64|768|1a2b…'
 */
export async function evoStateIdentity(hypernetwork: Pick<Hypernetwork, 'kind' | 'config' | 'weights'>): Promise<string> {
  const { embeddingSize: e, hiddenSize: h } = hypernetwork.config;
  const files = PROBE_FILES.map((probe) => Float32Array.from({ length: e }, (_, i) => probe[i % probe.length] * (1 + i / e)));
  const start = await repoState(hypernetwork, files);
  const stepped = await stepEvoState(hypernetwork, start, Float32Array.from({ length: 2 * e }, (_, i) => Math.sin(0.37 * i)));
  const fingerprint = gitBlobId(Array.from(stepped, (v) => v.toFixed(3)).join(',')).slice(0, 16);
  return `evo|${h}|${e}|${fingerprint}`;
}

/**
 * The key prefix of diff embeddings: the encoder's identity and the Evo diff settings (a diff depends only on its
 * commit, whose id names its content and its first parent).
 */
export function diffEmbeddingIdentity(encoderId: string): string {
  return `diff|${encoderId}|${ENCODER_SETTINGS.chunkTokens}x${ENCODER_SETTINGS.diffChunksPerCommit}`;
}
