// The contract between the UI and the pipeline worker: plain serialisable requests, results and progress events.
import type { CommitInfo, StoredClone } from '../../git/index.ts';
import type { BackendName, BackendPreference } from '../../model/backend.ts';
import type { TrainingFigure } from '../../util/trainingFigures.ts';
import type { AdapterInfo, AdapterMode, CommitDiff, RepoInfo, RepoSummary } from '../../session/repoSession.ts';
import type { ProgressCallback } from '../../util/progress.ts';
import type { AppRepoEvaluation, EvaluationRequest } from './evaluateRepo.ts';

export type { AdapterInfo, AdapterMode, CommitDiff, EvoAdapterReport, RepoInfo, RepoSummary } from '../../session/repoSession.ts';
export type { Progress, ProgressCallback } from '../../util/progress.ts';

/**
 * `default`: SmolLM2-135M-Instruct when the server has it (public/models/smollm2-135m-instruct/model.gguf, fetched by
 * `npm start`), else c2l-base with a notice; `c2l-base`: our checkpoint committed in public/models/c2l-base;
 * `smollm2`: SmolLM2 only; `url`: any HF-layout model directory or .gguf file; `random-tiny`: untrained, for
 * exercising the pipeline fast (it encodes files itself, no c2l-base download).
 */
/** `local`: a model the user picked from their files, copied into this browser's private storage under `name` (src/offline/localModelStore.ts). */
export type ModelChoice =
  | { kind: 'default' } | { kind: 'c2l-base' } | { kind: 'smollm2' } | { kind: 'url'; url: string } | { kind: 'random-tiny'; seed: number }
  | { kind: 'local'; name: string };

/**
 * The hypernetwork that makes adapters for the loaded model. `trained`: loaded from the folder beside the model, with
 * the figures its config records; `none`: that folder has none, so adapters come from a seeded untrained one;
 * `error`: it is there but cannot be used (its code says why), and the untrained one stands in.
 */
export type HypernetworkStatus =
  | { state: 'trained'; source: string; figures: TrainingFigure[] }
  | { state: 'none'; source: string | null }
  | { state: 'error'; source: string; code: string; file: string | null; message: string };

export interface ModelInfo {
  name: string;
  parameters: number;
  layers: number;
  hiddenSize: number;
  vocabSize: number;
  /** Bytes the backend holds in tensors once loaded (base model, encoder, hypernetworks; on WebGPU, GPU buffers). */
  tensorBytes: number;
  trained: boolean;
  /** The model whose hidden states embed files for the hypernetwork: c2l-base, or random-tiny itself. */
  encoder: string;
  hypernetwork: HypernetworkStatus;
  /**
   * The Evo hypernetwork beside the model (code2lora-evo/): `trained`, or `none`/`error` and then an untrained one of
   * the Static one's shape stands in (its GRU seeded, its heads the Static hypernetwork's).
   */
  evoHypernetwork: HypernetworkStatus;
  /** Something the user should know about this model, e.g. that the default fell back to c2l-base and why. */
  notice: string | null;
}

/** A clone kept in this browser's IndexedDB (LightningFS), and whether it is the one loaded now. */
export interface StoredRepository extends StoredClone {
  open: boolean;
}

/** What the app keeps in this browser: its clones, and the origin's usage of its quota (null where not reported). */
export interface StorageStatus {
  repositories: StoredRepository[];
  estimate: { usage: number; quota: number } | null;
}

/** The backend in use, and why it is not the one the user might expect (e.g. a software WebGPU adapter). */
export interface BackendStatus {
  backend: BackendName;
  note: string | null;
  /** The backends this browser can run (WASM always; WebGPU when it gives an adapter, software or not); null: not asked. */
  available: BackendName[] | null;
}

/** One generation's speed: time to first token (prompt prefill + one step) and the decode rate after it. */
export interface GenerationTiming {
  tokens: number;
  firstTokenSeconds: number;
  decodeTokensPerSecond: number;
}

/** Which model a completion comes from: the base model, or the base model with the current adapter. */
export type CompletionModel = 'base' | 'adapted';

export interface CompletionResult {
  model: CompletionModel;
  /** The generated text only (never the prompt). */
  text: string;
  /** The commit whose adapter made an adapted completion; null for the base model. */
  adapterCommit: string | null;
  /** Prompt tokens the model saw; the start of a prompt longer than the context is dropped (`droppedPromptTokens`). */
  promptTokens: number;
  /** Of those, the ones served from the previous completion's KV cache (the text before the edit). */
  reusedPromptTokens: number;
  droppedPromptTokens: number;
  timing: GenerationTiming;
}

export interface PipelineApi {
  initBackend(preference: BackendPreference): Promise<BackendStatus>;
  /** Which optional models this server has (SmolLM2 is fetched by `npm start`, not committed). */
  installedModels(): Promise<{ smollm2: boolean }>;
  /**
   * Replaces the loaded model (and forgets the adapter made for the previous one); the encoder is loaded once. A model
   * file whose download stays silent for `stallSeconds` (default 30) fails with ModelLoadError `STALLED`.
   */
  loadModel(choice: ModelChoice, onProgress: ProgressCallback, options?: { stallSeconds?: number }): Promise<ModelInfo>;
  clone(request: { url: string; depth: number; corsProxy: string }, onProgress: ProgressCallback): Promise<{ repo: RepoInfo; commits: CommitInfo[] }>;
  /** Opens a clone kept in IndexedDB by an earlier visit, without the network (GitError NOT_CLONED when there is none). */
  open(request: { url: string; depth: number }): Promise<{ repo: RepoInfo; commits: CommitInfo[] }>;
  cancel(): void;
  summarize(commit: string, onProgress: ProgressCallback): Promise<RepoSummary>;
  diff(commit: string): Promise<CommitDiff>;
  /** The adapter of `commit`: Static from its snapshot, or Evo stepped from the nearest cached state (default Static). */
  makeAdapter(commit: string, onProgress: ProgressCallback, mode?: AdapterMode): Promise<AdapterInfo>;
  /**
   * One model's continuation of `prompt`, with the adapter held on the device (never uploaded again); null for
   * `adapted` before an adapter is made. A new completion or any other operation stops a running one.
   */
  complete(request: { prompt: string; maxNewTokens: number; model: CompletionModel }, onProgress?: ProgressCallback): Promise<CompletionResult | null>;
  /** Stops the running completion only (a stale ghost text), not a clone or an adapter in the making. */
  cancelCompletion(): void;
  /** Every file path in the commit's tree, sorted. */
  listFiles(commit: string): Promise<string[]>;
  /** One file of the commit as text (GitError NOT_FOUND, TOO_LARGE or NOT_TEXT otherwise). */
  readFile(commit: string, path: string): Promise<string>;
  adapterFiles(): Promise<{ safetensors: Uint8Array; adapterConfig: string }>;
  /**
   * Makes PEFT adapter files (for the loaded model) the current adapter, applied to `commit`'s adapted completions
   * until another adapter is made; a LoraError names what is wrong with them, and the current adapter stays.
   */
  loadAdapterFile(request: { commit: string; name: string; safetensors: Uint8Array; adapterConfig: string }): Promise<AdapterInfo>;
  /** The stored repositories (with URL and size) and the storage estimate. */
  storageStatus(): Promise<StorageStatus>;
  /** Deletes a stored repository (a `dir` from storageStatus); the loaded one is unloaded first (`wasOpen`). */
  deleteRepository(dir: string): Promise<{ wasOpen: boolean }>;
  /** Empties the IndexedDB cache of file embeddings, diff embeddings and Evo states (they are made again when needed). */
  clearCachedEmbeddings(): Promise<void>;
  /**
   * "How much does it help here?": the commit's test assertions, base model vs the current adapter (which must be
   * this commit's), scored as the benchmark scores; progress per task as stage `evaluate`; `cancel` stops it.
   */
  evaluate(request: EvaluationRequest, onProgress: ProgressCallback): Promise<AppRepoEvaluation>;
}
