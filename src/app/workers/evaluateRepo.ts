// The worker side of "How much does it help here?": the selected commit's test files and the adapter held on the device, handed to the benchmark's repository evaluation.
import type { TextTokenizer } from '../../model/generate.ts';
import type { LlamaModel } from '../../model/llama.ts';
import type { PreparedLora } from '../../model/lora.ts';
import type { PythonParser } from '../../parse/pythonParser.ts';
import { evaluateRepository, RepoEvaluationError, type RepoEvaluation } from '../../bench/repoEvaluation.ts';
import type { RepoSession } from '../../session/repoSession.ts';
import type { ProgressCallback } from '../../util/progress.ts';

export interface EvaluationRequest {
  commit: string;
  /** At most this many tasks (seeded sampling, as the miner caps). */
  taskLimit: number;
  /** New tokens per completion at most (a one-line target stops at its line's end). */
  maxNewTokens: number;
}

/** The evaluation, and which adapter it scored (its digest, as AdapterInfo shows it). */
export interface AppRepoEvaluation extends RepoEvaluation {
  adapterDigest: string;
}

/** The current adapter as the worker holds it: the commit it was made for and its tensors on the device. */
export interface HeldAdapter {
  commit: string;
  digest: string;
  prepared: PreparedLora;
}

/**
 * Reads the test files of `commit` (the adapter was made from the other files, so the tasks are held out from it) and
 * scores the base model against the held adapter on their assertions, reporting progress per task as stage
 * `evaluate`. Errors: RepoEvaluationError NO_ADAPTER when the held adapter is not this commit's, and those of
 * evaluateRepository; the signal's reason when it aborts.
 */
export async function evaluateAtCommit({ session, request, model, tokenizer, parser, adapter, signal, onProgress }: {
  session: RepoSession;
  request: EvaluationRequest;
  model: LlamaModel;
  tokenizer: TextTokenizer;
  parser: PythonParser;
  adapter: HeldAdapter | null;
  signal: AbortSignal;
  onProgress: ProgressCallback;
}): Promise<AppRepoEvaluation> {
  const { commit, taskLimit, maxNewTokens } = request;
  if (!adapter || adapter.commit !== commit) {
    throw new RepoEvaluationError('NO_ADAPTER', `Make the adapter of ${commit.slice(0, 8)} first: the adapted model is scored with it`);
  }
  onProgress({ stage: 'evaluate', done: 0, unit: 'tasks', detail: 'mining test assertions' });
  const files = await session.testFiles(commit, signal);
  const runtime = {
    model, tokenizer, parser, maxNewTokens,
    contextTokens: model.config.maxPositionEmbeddings,
  };
  const evaluation = await evaluateRepository({
    repo: session.info.name, commit, files, runtime, adapter: adapter.prepared, taskLimit, signal, onProgress,
  });
  return { ...evaluation, adapterDigest: adapter.digest };
}
