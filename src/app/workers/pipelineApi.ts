// The contract between the UI and the pipeline worker: plain serialisable requests, results and progress events.
import type { CommitInfo, FileDiff } from '../../git/index.ts';
import type { BackendName, BackendPreference } from '../../model/backend.ts';

export interface Progress {
  stage: 'model' | 'clone' | 'parse' | 'encode' | 'adapter' | 'generate';
  label: string;
  loaded: number;
  total?: number;
  unit?: string;
  detail?: string;
}
export type ProgressCallback = (progress: Progress) => void;

/**
 * `default`: our checkpoint shipped in public/models/c2l-base; `smollm2`: SmolLM2-135M-Instruct's GGUF when
 * `npm run models:smollm2` has put it in public/models/; `url`: any HF-layout model directory or .gguf file;
 * `random-tiny`: untrained, for exercising the pipeline fast.
 */
export type ModelChoice = { kind: 'default' } | { kind: 'smollm2' } | { kind: 'url'; url: string } | { kind: 'random-tiny'; seed: number };

export interface ModelInfo {
  name: string;
  parameters: number;
  layers: number;
  hiddenSize: number;
  vocabSize: number;
  trained: boolean;
}

export interface RepoInfo {
  url: string;
  name: string;
  head: string;
  branch: string;
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

export interface AdapterInfo {
  commit: string;
  rank: number;
  alpha: number;
  targetModules: string[];
  layers: number;
  parameters: number;
  /** Frobenius norm of B·A per module type: how far the adapter moves each layer. */
  deltaNorms: Record<string, number>;
  encodedFiles: number;
  encodedTokens: number;
  /** False while the shipped hypernetwork is randomly initialised: its adapters carry no repository knowledge yet. */
  hypernetworkTrained: boolean;
  seconds: number;
}

/** One generation's speed: time to first token (prompt prefill + one step) and the decode rate after it. */
export interface GenerationTiming {
  tokens: number;
  firstTokenSeconds: number;
  decodeTokensPerSecond: number;
}

export interface CompletionResult {
  base: string;
  /** Null until an adapter has been generated. */
  adapted: string | null;
  promptTokens: number;
  baseTiming: GenerationTiming;
  adaptedTiming: GenerationTiming | null;
}

export interface PipelineApi {
  initBackend(preference: BackendPreference): Promise<BackendName>;
  /** Replaces the loaded model (and forgets the adapter made for the previous one). */
  loadModel(choice: ModelChoice, onProgress: ProgressCallback): Promise<ModelInfo>;
  clone(request: { url: string; depth: number; corsProxy: string }, onProgress: ProgressCallback): Promise<{ repo: RepoInfo; commits: CommitInfo[] }>;
  cancel(): void;
  summarize(commit: string, onProgress: ProgressCallback): Promise<RepoSummary>;
  diff(commit: string): Promise<FileDiff[]>;
  makeAdapter(commit: string, onProgress: ProgressCallback): Promise<AdapterInfo>;
  complete(request: { prompt: string; maxNewTokens: number }, onProgress: ProgressCallback): Promise<CompletionResult>;
  adapterFiles(): Promise<{ safetensors: Uint8Array; adapterConfig: string }>;
}
