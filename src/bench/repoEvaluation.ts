// "How much does it help here?": one repository's own test assertions at one commit, base model vs adapted model, with the benchmark's prompts, decoding and scoring (exact match, edit similarity, the target's likelihood).
import type { ProgressCallback } from '../util/progress.ts';
import type { PreparedLora } from '../model/lora.ts';
import { PromptCache } from '../model/promptCache.ts';
import { type AssertionKind, mineRepoTasks, type SnapshotFile } from '../parse/mineTasks.ts';
import { DEFAULT_EVALUATION_TASKS, MAX_EVALUATION_TASKS } from './evaluationLimits.ts';
import { scoreAndComplete, taskPromptIds, type BenchRuntime } from './methods.ts';
import { pairedBootstrap, scoreCompletion, stripComments, type PairedDifference } from './metrics.ts';

/** NO_ADAPTER: the caller holds no adapter for the commit (the app's worker checks it before mining). */
export type RepoEvaluationErrorCode = 'NO_TEST_FILES' | 'NO_TASKS' | 'BAD_TASK_LIMIT' | 'NO_ADAPTER';

export class RepoEvaluationError extends Error {
  constructor(readonly code: RepoEvaluationErrorCode, message: string) {
    super(message);
    this.name = 'RepoEvaluationError';
  }
}

/** One model's answer to one task, post-processed and scored as the benchmark scores it. */
export interface ScoredAnswer {
  /** The prediction after the paper's post-processing (what exact match compares). */
  prediction: string;
  em: boolean;
  editSimilarity: number;
  /** Mean negative log-likelihood of the target's tokens after the prompt, nats a token (null: no target tokens). */
  targetNll: number | null;
}

export interface EvaluatedTask {
  file: string;
  line: number;
  kind: AssertionKind;
  functionName: string;
  /** The target without its comment, as scored. */
  target: string;
  promptTokens: number;
  base: ScoredAnswer;
  adapted: ScoredAnswer;
}

export interface ModelScores {
  /** Mean lenient exact match over the tasks, 0..1. */
  exactMatch: number;
  /** Mean difflib ratio over the tasks, 0..1. */
  editSimilarity: number;
  /** Mean target NLL over the tasks that have target tokens (nats a token; lower is better), null when none has. */
  targetNll: number | null;
  /** Seconds spent generating this model's completions. */
  seconds: number;
}

export interface RepoEvaluation {
  repo: string;
  commit: string;
  seed: number;
  /** The cap the tasks were sampled down to. */
  taskLimit: number;
  testFiles: number;
  /** Assertion targets in the test files before the caps and the sampling. */
  targetsFound: number;
  tasks: EvaluatedTask[];
  base: ModelScores;
  adapted: ModelScores;
  /** Paired bootstrap (seeded) of adapted minus base over the same tasks: with 20 tasks the interval is wide. */
  exactMatchDifference: PairedDifference;
  editSimilarityDifference: PairedDifference;
  /**
   * Adapted minus base in target NLL over the tasks with target tokens (null when none has): how much likelier the
   * adapter makes the right continuation, which a few tasks' exact match rarely shows.
   */
  targetNllDifference: PairedDifference | null;
  maxNewTokens: number;
  contextTokens: number;
  seconds: number;
}

export interface EvaluateRepositoryOptions {
  repo: string;
  commit: string;
  /** The commit's Python files; only test files are mined (a caller may pass just those). */
  files: readonly SnapshotFile[];
  runtime: BenchRuntime;
  /** The adapter on the device; it must have been made from non-test files for the tasks to be held out. */
  adapter: PreparedLora;
  /** At most this many tasks, sampled with the miner's seeded caps (default DEFAULT_EVALUATION_TASKS). */
  taskLimit?: number;
  seed?: number;
  signal?: AbortSignal;
  /** Stage `evaluate`: tasks scored by both models so far; done = 0 once the tasks are mined. */
  onProgress?: ProgressCallback;
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

/**
 * Mines the repository's assertion tasks at `commit` (static prompts, the paper's caps, the repository cap lowered to
 * `taskLimit`, no minimum size) and has the base model and the adapted model complete each one, greedily, as the
 * benchmark's `base` and `code2lora-*` methods do; scores both with the benchmark's lenient exact match, edit
 * similarity and target likelihood. Deterministic: the same files, runtime, adapter and seed give the same result. Errors:
 * RepoEvaluationError (no test files, no tasks, a bad limit); the signal's reason (an AbortError) when it aborts.
 *
 * @example const evaluation = await evaluateRepository({ repo, commit, files, runtime, adapter: prepared, taskLimit: 20 });
 */
export async function evaluateRepository(options: EvaluateRepositoryOptions): Promise<RepoEvaluation> {
  const { repo, commit, files, runtime, adapter, taskLimit = DEFAULT_EVALUATION_TASKS, seed = 0, signal, onProgress } = options;
  if (!Number.isInteger(taskLimit) || taskLimit < 1 || taskLimit > MAX_EVALUATION_TASKS) {
    throw new RepoEvaluationError('BAD_TASK_LIMIT', `the number of tasks must be an integer in 1-${MAX_EVALUATION_TASKS}, got ${taskLimit}`);
  }
  const started = performance.now();
  const mined = mineRepoTasks({
    repo, commit, files, parser: runtime.parser, mode: 'static', seed, limits: { perRepo: taskLimit, minPerRepo: 0 },
  });
  if (mined.testFiles === 0) throw new RepoEvaluationError('NO_TEST_FILES', `${repo} has no Python test files at ${commit.slice(0, 8)}`);
  if (mined.tasks.length === 0) {
    throw new RepoEvaluationError('NO_TASKS', `the ${mined.testFiles} test files of ${repo} at ${commit.slice(0, 8)} hold no assertion inside a function`);
  }
  onProgress?.({ stage: 'evaluate', done: 0, total: mined.tasks.length, unit: 'tasks' });
  const seconds = { base: 0, adapted: 0 };
  // One prompt cache per model, so that each task's decode reuses the prompt its score just ran.
  const caches = {
    base: new PromptCache(runtime.model.config.numLayers, runtime.contextTokens),
    adapted: new PromptCache(runtime.model.config.numLayers, runtime.contextTokens),
  };
  const answer = async (which: 'base' | 'adapted', ids: number[], target: string): Promise<ScoredAnswer> => {
    const began = performance.now();
    const lora = which === 'adapted' ? adapter : null;
    const { prediction: raw, likelihood } = await scoreAndComplete(runtime, ids, target, { lora, promptCache: caches[which], signal });
    seconds[which] += (performance.now() - began) / 1000;
    const score = scoreCompletion(raw, target);
    return { prediction: score.prediction, em: score.em, editSimilarity: score.editsim, targetNll: likelihood?.nll ?? null };
  };
  const tasks: EvaluatedTask[] = [];
  try {
    for (const task of mined.tasks) {
      signal?.throwIfAborted();
      const ids = taskPromptIds(runtime, task.prompt);
      const base = await answer('base', ids, task.target);
      const adapted = await answer('adapted', ids, task.target);
      tasks.push({
        file: task.file, line: task.line, kind: task.kind, functionName: task.functionName,
        target: stripComments(task.target), promptTokens: ids.length, base, adapted,
      });
      onProgress?.({ stage: 'evaluate', done: tasks.length, total: mined.tasks.length, unit: 'tasks' });
    }
  } finally {
    caches.base.clear();
    caches.adapted.clear();
  }
  const scored = tasks.filter((task) => task.base.targetNll !== null && task.adapted.targetNll !== null);
  const scoresOf = (which: 'base' | 'adapted'): ModelScores => ({
    exactMatch: mean(tasks.map((task) => Number(task[which].em))),
    editSimilarity: mean(tasks.map((task) => task[which].editSimilarity)),
    targetNll: scored.length > 0 ? mean(scored.map((task) => task[which].targetNll!)) : null,
    seconds: seconds[which],
  });
  const paired = (metric: (answer: ScoredAnswer) => number, over = tasks) => pairedBootstrap(
    over.map((task) => metric(task.adapted)), over.map((task) => metric(task.base)), { seed },
  );
  return {
    repo, commit, seed, taskLimit, testFiles: mined.testFiles, targetsFound: mined.found, tasks,
    base: scoresOf('base'), adapted: scoresOf('adapted'),
    exactMatchDifference: paired((a) => Number(a.em)), editSimilarityDifference: paired((a) => a.editSimilarity),
    targetNllDifference: scored.length > 0 ? paired((a) => a.targetNll!, scored) : null,
    maxNewTokens: runtime.maxNewTokens, contextTokens: runtime.contextTokens, seconds: (performance.now() - started) / 1000,
  };
}
