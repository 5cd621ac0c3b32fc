// Benchmark methods: each turns a repository into per-repo state, then completes tasks with greedy decoding.
import * as tf from '@tensorflow/tfjs';
import { diffChunkIds } from '../code2lora/diffEncoder.ts';
import { ENCODER_SETTINGS } from '../code2lora/encoderSettings.ts';
import { evoAdapter } from '../code2lora/evo.ts';
import { EvoTimeline } from '../code2lora/evoTimeline.ts';
import { layerStore, type FileEmbeddingCache } from '../code2lora/fileEmbeddingCache.ts';
import { repoState } from '../code2lora/hypernetwork.ts';
import { makeRepoAdapter, type Hypernetwork } from '../code2lora/makeAdapter.ts';
import { embedDiff, encodeRepository, type RepoEncoderModel } from '../code2lora/repoEncoder.ts';
import type { FileDiff } from '../git/diff.ts';
import { generate, type TextTokenizer } from '../model/generate.ts';
import type { LlamaModel } from '../model/llama.ts';
import { disposeLoraAdapter, disposePreparedLora, prepareLora, type LoraAdapter, type PreparedLora } from '../model/lora.ts';
import { PromptCache } from '../model/promptCache.ts';
import { isTestPath } from '../git/pathFilters.ts';
import type { SnapshotFile } from '../parse/mineTasks.ts';
import type { PythonParser } from '../parse/pythonParser.ts';
import { isFirstLineFinal } from './metrics.ts';
import { Bm25Index, chunkRepository } from './retrieval.ts';
import type { BenchTask } from './taskSet.ts';

export const METHOD_NAMES = [
  'base', 'rag', 'code2lora-static', 'shuffled-adapter', 'shared-lora', 'per-repo-lora', 'code2lora-evo',
] as const;
export type MethodName = (typeof METHOD_NAMES)[number];

/** The frozen base model and how every method decodes with it. */
export interface BenchRuntime {
  model: LlamaModel;
  tokenizer: TextTokenizer;
  parser: PythonParser;
  /** The paper's 64. */
  maxNewTokens: number;
  /** Prompt plus generation never exceed this (the model's context); longer prompts lose their start. */
  contextTokens: number;
}

/** One repository at one commit: what a method may look at to prepare itself. */
export interface RepoContext {
  repo: string;
  commit: string;
  /** Every Python file at `commit`, tests included (methods decide what they read). */
  files: SnapshotFile[];
  /** Another repository's head, for the shuffled-adapter control; null when the benchmark has one repository. */
  donor: RepoContext | null;
  /** The history the task set was mined from (Evo steps along it); absent where the source has none. */
  history?: RepoHistory;
}

/** A repository's per-repo LoRA from its name and Python files at the benchmarked commit; null: it has none. */
export type PerRepoLoraSource = (repo: string, files: readonly SnapshotFile[], signal?: AbortSignal) => Promise<LoraAdapter | null>;

export interface RepoHistory {
  /** Commits oldest first: the Evo state starts at the first. */
  commits: readonly string[];
  /** Every Python file at a commit (tests included). */
  readPythonFiles: (commit: string) => Promise<SnapshotFile[]>;
  /** The commit against its first parent, the non-test .py/.md/.rst files (src/git diffCommit). */
  diff: (commit: string) => Promise<FileDiff[]>;
}

export interface MethodPrediction {
  /** The raw greedy continuation; post-processing belongs to scoring. */
  prediction: string;
  promptTokens: number;
  /** Tokens the method added to the task's prompt (RAG's retrieved code), after truncation to the context. */
  extraPromptTokens: number;
  /** How likely the method made the task's target (null: the target has no tokens). */
  likelihood: TargetLikelihood | null;
}

/**
 * The task's target teacher-forced after the method's prompt, through its adapter: a finer measure than exact match,
 * which sees only which continuation wins the greedy choice.
 */
export interface TargetLikelihood {
  /** Mean negative log-likelihood of the target's tokens, nats a token. */
  nll: number;
  tokens: number;
}

/** What the model is asked to complete for one task: the same for every engine. */
export interface MethodPrompt {
  /** Token ids, already cut to the prompt budget (context minus new tokens). */
  ids: number[];
  /** Tokens the method added to the task's prompt (RAG's retrieved code), after truncation to the context. */
  extraPromptTokens: number;
}

export interface PreparedMethod {
  /** The prompt of a task, as this method builds it (the torch engine decodes these ids in batches). */
  prompt: (task: BenchTask) => MethodPrompt;
  /** The adapter this method decodes with for this repository; null: the base model. */
  adapter: LoraAdapter | null;
  /** Greedy completion in the TypeScript runtime (the default engine), with the target's likelihood. */
  predict: (task: BenchTask, signal?: AbortSignal) => Promise<MethodPrediction>;
  /** The target's likelihood alone, as `predict` measures it: for a completion made before the measure existed. */
  scoreOnly: (task: BenchTask) => Promise<TargetLikelihood | null>;
  dispose: () => void;
}

export interface BenchMethod {
  name: MethodName;
  /** Builds the per-repo state (index, adapter); its cost is reported apart from per-task time. */
  prepare: (context: RepoContext, signal?: AbortSignal) => Promise<PreparedMethod>;
  /** Why this method must not be scored on a task (per-repo LoRA: it trained on it), or null. */
  skipReason?: (task: BenchTask) => string | null;
}

export class MethodUnavailableError extends Error {
  constructor(readonly code: 'NO_WEIGHTS' | 'NO_HISTORY' | 'NO_ADAPTER_FOR_REPO' | 'NEEDS_TWO_REPOS' | 'UNKNOWN_METHOD', message: string) {
    super(message);
    this.name = 'MethodUnavailableError';
  }
}

/** The abort reason that ends generation once a one-line target's first line is complete (not an error). */
class FirstLineComplete extends Error {}

/**
 * Greedy decoding of at most `maxNewTokens` tokens (stopping at the end-of-text token), as the paper decodes. For a
 * one-line target it also stops as soon as the continuation's first non-blank line is complete: scoring keeps only
 * that line, so the score is the same as for the full 64 tokens, at a fraction of the cost.
 */
export async function completePrompt(
  runtime: BenchRuntime,
  promptIds: number[],
  { target, lora, signal, promptCache }: { target: string; lora?: PreparedLora | null; signal?: AbortSignal; promptCache?: PromptCache },
): Promise<string> {
  const stopEarly = !target.includes('\n');
  const local = new AbortController();
  const combined = signal ? AbortSignal.any([signal, local.signal]) : local.signal;
  let text = '';
  try {
    const result = await generate(runtime.model, promptIds, {
      tokenizer: runtime.tokenizer,
      maxNewTokens: runtime.maxNewTokens,
      lora,
      promptCache,
      signal: combined,
      onToken: (token) => {
        text = token.text;
        if (stopEarly && isFirstLineFinal(text)) local.abort(new FirstLineComplete());
      },
    });
    return result.text;
  } catch (error) {
    if (error instanceof FirstLineComplete) return text;
    throw error;
  }
}

/**
 * The target's tokens as the model would write them after the prompt (no special tokens), at most the `maxNewTokens`
 * a completion may have: the same ids for every method and both engines.
 */
export function targetIds(runtime: Pick<BenchRuntime, 'tokenizer' | 'maxNewTokens'>, target: string): number[] {
  return runtime.tokenizer.encode(target, { addSpecialTokens: false }).slice(0, runtime.maxNewTokens);
}

/**
 * Scores `target` after `promptIds` in one pass over both, through `promptCache`: afterwards it holds the prompt, so
 * the greedy decode of the same prompt that follows re-runs only the prompt's last token.
 */
export async function scoreTarget(
  model: LlamaModel, promptIds: readonly number[], target: readonly number[],
  { lora, promptCache }: { lora: PreparedLora | null; promptCache: PromptCache },
): Promise<TargetLikelihood | null> {
  if (target.length === 0) return null;
  const { cache, reused } = promptCache.begin(promptIds, lora);
  const fed = [...promptIds.slice(reused), ...target];
  let logits: tf.Tensor2D | null = null;
  try {
    // Row j of the last target.length + 1 positions (the prompt's last one first) predicts target[j].
    logits = model.forward(fed, { cache, lora, logits: target.length + 1 });
    const logProbabilities = tf.tidy(() => tf.logSoftmax(tf.slice(logits!, [0, 0], [target.length, -1])));
    const values = await logProbabilities.data();
    logProbabilities.dispose();
    const vocab = model.config.vocabSize;
    let sum = 0;
    target.forEach((id, row) => { sum -= values[row * vocab + id]; });
    return { nll: sum / target.length, tokens: target.length };
  } finally {
    logits?.dispose();
    promptCache.end(cache, logits ? fed : []);
  }
}

/**
 * What every method does with a task's prompt: scores the target, then completes the prompt greedily, both under
 * `lora` and through `promptCache`, in that order: the score leaves the prompt cached, so the decode runs one token of it.
 */
export async function scoreAndComplete(
  runtime: BenchRuntime, promptIds: number[], target: string,
  { lora, promptCache, signal }: { lora: PreparedLora | null; promptCache: PromptCache; signal?: AbortSignal },
): Promise<{ prediction: string; likelihood: TargetLikelihood | null }> {
  const likelihood = await scoreTarget(runtime.model, promptIds, targetIds(runtime, target), { lora, promptCache });
  const prediction = await completePrompt(runtime, promptIds, { target, lora, signal, promptCache });
  return { prediction, likelihood };
}

/** The last `limit` ids: a prompt too long for the context loses its start, as the authors truncate. */
function keepLast(ids: number[], limit: number): number[] {
  return ids.length > limit ? ids.slice(ids.length - limit) : ids;
}

function promptBudget(runtime: Pick<BenchRuntime, 'contextTokens' | 'maxNewTokens'>): number {
  return runtime.contextTokens - runtime.maxNewTokens;
}

/**
 * A task's own prompt as token ids, cut to the budget (its start dropped): what the base model and every
 * adapter-only method decode from, in the benchmark and in the app's evaluation alike.
 */
export function taskPromptIds(runtime: Pick<BenchRuntime, 'tokenizer' | 'contextTokens' | 'maxNewTokens'>, prompt: string): number[] {
  return keepLast(runtime.tokenizer.encode(prompt), promptBudget(runtime));
}

/** The task's own prompt, cut to the budget. */
function plainPrompt(runtime: BenchRuntime): PreparedMethod['prompt'] {
  return (task) => ({ ids: taskPromptIds(runtime, task.prompt), extraPromptTokens: 0 });
}

/**
 * A prepared method from its prompt builder and adapter. The adapter is moved to the TypeScript runtime's device
 * only when `predict` or `scoreOnly` first runs (the torch engine calls neither); `disposeAdapter` also frees the adapter itself
 * (one made for this repository, not one shared by all).
 */
function preparedMethod(
  runtime: BenchRuntime, prompt: PreparedMethod['prompt'], adapter: LoraAdapter | null, disposeAdapter = false,
): PreparedMethod {
  let lora: PreparedLora | null = null;
  let promptCache: PromptCache | null = null;
  const prepareRuntime = () => {
    if (adapter && !lora) lora = prepareLora(adapter, runtime.model.config);
    promptCache ??= new PromptCache(runtime.model.config.numLayers, runtime.contextTokens);
    return { lora, promptCache };
  };
  return {
    prompt,
    adapter,
    predict: async (task, signal) => {
      const { ids, extraPromptTokens } = prompt(task);
      const { prediction, likelihood } = await scoreAndComplete(runtime, ids, task.target, { ...prepareRuntime(), signal });
      return { prediction, promptTokens: ids.length, extraPromptTokens, likelihood };
    },
    scoreOnly: (task) => scoreTarget(runtime.model, prompt(task).ids, targetIds(runtime, task.target), prepareRuntime()),
    dispose: () => {
      promptCache?.clear();
      if (lora) disposePreparedLora(lora);
      if (adapter && disposeAdapter) disposeLoraAdapter(adapter);
    },
  };
}

function nonTestFiles(files: readonly SnapshotFile[]): SnapshotFile[] {
  return files.filter((file) => !isTestPath(file.path));
}

/**
 * Retrieved chunks as token ids to put before the prompt, best first, each as `# Retrieved from PATH, line N:` and its
 * code: whole chunks while they fit in `limit` tokens, then the start of the next one.
 */
function retrievedIds(tokenizer: TextTokenizer, chunks: readonly { path: string; startLine: number; text: string }[], limit: number): number[] {
  const ids: number[] = [];
  for (const chunk of chunks) {
    if (ids.length >= limit) break;
    const chunkIds = tokenizer.encode(`# Retrieved from ${chunk.path}, line ${chunk.startLine}:\n${chunk.text.trimEnd()}\n\n`);
    ids.push(...chunkIds.slice(0, limit - ids.length));
  }
  return ids;
}

export interface MethodResources {
  /** Code2LoRA's hypernetwork (randomly initialised until a trained one is passed). */
  hypernetwork: Hypernetwork;
  /** Code2LoRA-Evo's hypernetwork (same encoder as `hypernetwork`); code2lora-evo is unavailable without it. */
  evoHypernetwork?: Hypernetwork | null;
  /**
   * The repo encoder the hypernetwork was trained with (c2l-base for the shipped ones); default: the base model
   * itself, which only an untrained hypernetwork built for its hidden size accepts.
   */
  encoder?: RepoEncoderModel;
  /**
   * File embeddings by git blob id and Evo diff embeddings by `diff:<commit>`, shared by every repository, commit and
   * method of a run (one encoder; a hypernetwork that reads an earlier layer keeps its vectors apart: layerStore).
   */
  embeddingCache?: FileEmbeddingCache;
  /** One adapter for every repository (PEFT directory), when its weights exist. */
  sharedLora?: LoraAdapter | null;
  /**
   * Per-repository adapters (PEFT directories, or trained on the spot by the torch engine), when their weights exist:
   * null for a repository without one.
   */
  perRepoLora?: PerRepoLoraSource | null;
  /**
   * Ids of the static tasks a per-repo LoRA learnt from (each repository's IR-train split, irSplitTasks of the task
   * set's seed, unless it learnt from code): it is scored only on the others.
   */
  irTrainTaskIds?: ReadonlySet<string>;
  /** RAG: chunks retrieved per task (paper: 3). */
  ragTopK?: number;
  /** RAG: the query is the end of the prompt, this many characters. */
  ragQueryChars?: number;
  /**
   * RAG: at most this many tokens of retrieved code before the task's prompt (default 1,536: the paper's 3 chunks of
   * 512 tokens), on top of the context the task's own prompt gets, and never past the model's context.
   */
  ragTokens?: number;
}

/**
 * Builds a named method. Methods whose weights are missing throw MethodUnavailableError with a code saying why, so
 * a benchmark asks only for what it can run.
 *
 * @example const method = createMethod('rag', runtime, { hypernetwork }); const state = await method.prepare(context);
 */
export function createMethod(name: string, runtime: BenchRuntime, resources: MethodResources): BenchMethod {
  const { hypernetwork, ragTopK = 3, ragQueryChars = 2000, ragTokens = 1536 } = resources;
  const encoder = resources.encoder ?? { model: runtime.model, tokenizer: runtime.tokenizer };
  const cacheAt = (layer: number | undefined) => resources.embeddingCache && layerStore(resources.embeddingCache, layer);
  const adapterOf = async (files: readonly SnapshotFile[], signal?: AbortSignal) => (await makeRepoAdapter({
    files: nonTestFiles(files), encoder, baseModel: runtime.model.config, parser: runtime.parser, hypernetwork,
    cache: cacheAt(hypernetwork.encoderLayer), signal,
  })).adapter;
  switch (name) {
    case 'base':
      return { name, prepare: async () => preparedMethod(runtime, plainPrompt(runtime), null) };
    case 'rag':
      return {
        name,
        prepare: async (context) => {
          const index = new Bm25Index(chunkRepository(context.files, runtime.parser));
          return preparedMethod(runtime, (task) => {
            // The task's own prompt exactly as every other method sees it; retrieval only adds, and what it adds is counted.
            const ids = taskPromptIds(runtime, task.prompt);
            const room = Math.min(ragTokens, runtime.model.config.maxPositionEmbeddings - runtime.maxNewTokens - ids.length);
            const retrieved = retrievedIds(runtime.tokenizer, index.search(task.prompt.slice(-ragQueryChars), ragTopK), room);
            return { ids: [...retrieved, ...ids], extraPromptTokens: retrieved.length };
          }, null);
        },
      };
    case 'code2lora-static':
      return { name, prepare: async (context, signal) => preparedMethod(runtime, plainPrompt(runtime), await adapterOf(context.files, signal), true) };
    case 'shuffled-adapter':
      return {
        name,
        prepare: async (context, signal) => {
          if (!context.donor) throw new MethodUnavailableError('NEEDS_TWO_REPOS', 'shuffled-adapter needs at least two repositories');
          return preparedMethod(runtime, plainPrompt(runtime), await adapterOf(context.donor.files, signal), true);
        },
      };
    case 'shared-lora': {
      const adapter = resources.sharedLora;
      if (!adapter) throw new MethodUnavailableError('NO_WEIGHTS', 'shared-lora needs a PEFT adapter directory (--shared-lora DIR)');
      return { name, prepare: async () => preparedMethod(runtime, plainPrompt(runtime), adapter) };
    }
    case 'per-repo-lora': {
      const load = resources.perRepoLora;
      if (!load) throw new MethodUnavailableError('NO_WEIGHTS', 'per-repo-lora needs a directory of per-repository PEFT adapters (--per-repo-lora DIR) or --engine torch to train them');
      const irTrain = resources.irTrainTaskIds;
      return {
        name,
        prepare: async (context, signal) => {
          const adapter = await load(context.repo, context.files, signal);
          if (!adapter) throw new MethodUnavailableError('NO_ADAPTER_FOR_REPO', `per-repo-lora: no adapter for ${context.repo}`);
          return preparedMethod(runtime, plainPrompt(runtime), adapter, true);
        },
        skipReason: (task) => {
          if (!irTrain) return null;
          if (task.mode === 'evo') return 'per-repo-lora is scored on static tasks only (an evo task may repeat an assertion its adapter trained on)';
          return irTrain.has(task.id) ? 'per-repo-lora trained on the IR-train split of its repository' : null;
        },
      };
    }
    case 'code2lora-evo': {
      const evo = resources.evoHypernetwork;
      if (!evo || evo.kind !== 'code2lora-evo') {
        throw new MethodUnavailableError('NO_WEIGHTS', 'code2lora-evo needs an Evo hypernetwork (--evo-hypernetwork DIR, or code2lora-evo/ beside the model)');
      }
      // One timeline per repository for the whole run: a later commit steps on from the states already computed.
      const timelines = new Map<string, EvoTimeline>();
      const cache = cacheAt(evo.encoderLayer);
      const timelineOf = (history: RepoHistory, repo: string, signal?: AbortSignal) => {
        if (!timelines.has(repo)) {
          timelines.set(repo, new EvoTimeline({
            hypernetwork: evo, commits: history.commits,
            initialState: async () => repoState(evo, (await encodeRepository({
              files: nonTestFiles(await history.readPythonFiles(history.commits[0])), encoder, layer: evo.encoderLayer,
              parser: runtime.parser, cache, signal,
            })).files.map((file) => file.embedding)),
            diffEmbedding: async (commit) => {
              // Cached beside the file embeddings (same encoder); an empty vector marks a commit without a diff.
              const key = `diff:${commit}`;
              const cached = await cache?.get(key);
              if (cached) return cached.length > 0 ? cached : null;
              const chunks = diffChunkIds(await history.diff(commit), encoder.tokenizer, ENCODER_SETTINGS);
              const embedded = (await embedDiff(chunks, encoder, evo.encoderLayer))?.embedding ?? null;
              await cache?.set(key, embedded ?? new Float32Array(0));
              return embedded;
            },
          }));
        }
        return timelines.get(repo)!;
      };
      return {
        name,
        prepare: async (context, signal) => {
          if (!context.history) throw new MethodUnavailableError('NO_HISTORY', `code2lora-evo: ${context.repo} has no history to step through`);
          const timeline = timelineOf(context.history, context.repo, signal);
          const index = timeline.indexOf(context.commit);
          if (index < 0) throw new MethodUnavailableError('NO_HISTORY', `code2lora-evo: ${context.commit} is not in the mined history of ${context.repo}`);
          const state = await timeline.stateAt(index, { signal });
          return preparedMethod(runtime, plainPrompt(runtime), await evoAdapter(evo, runtime.model.config, state), true);
        },
      };
    }
    default:
      throw new MethodUnavailableError('UNKNOWN_METHOD', `unknown method ${JSON.stringify(name)} (known: ${METHOD_NAMES.join(', ')})`);
  }
}
