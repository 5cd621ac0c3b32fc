// The app's "How much does it help here?" evaluation (src/bench/repoEvaluation.ts) on a generated repository with the tiny random model: tasks mined from test files only, both models scored as the benchmark scores them (target likelihood included), deterministic, cancellable.
import { beforeAll, describe, expect, it } from 'vitest';
import { tinyRandomModel } from '../src/bench/benchModel.ts';
import { completePrompt, scoreTarget, targetIds, taskPromptIds, type BenchRuntime } from '../src/bench/methods.ts';
import { scoreCompletion } from '../src/bench/metrics.ts';
import { evaluateRepository, RepoEvaluationError, type RepoEvaluation } from '../src/bench/repoEvaluation.ts';
import { makeRepoAdapter, untrainedHypernetwork, type RepoAdapter } from '../src/code2lora/makeAdapter.ts';
import { isPythonTestPath, isTestPath } from '../src/git/pathFilters.ts';
import { initBackend } from '../src/model/backend.ts';
import { prepareLora, type PreparedLora } from '../src/model/lora.ts';
import { PromptCache } from '../src/model/promptCache.ts';
import { mineRepoTasks, type SnapshotFile } from '../src/parse/mineTasks.ts';
import { loadPythonParser } from '../src/parse/pythonParser.ts';
import { generateRepo, snapshotAt } from '../src/synth/generateRepo.ts';

const TASK_LIMIT = 6;
const COMMIT = 'c0ffee'.padEnd(40, '0');

let runtime: BenchRuntime;
let files: SnapshotFile[];
let made: RepoAdapter;
let adapter: PreparedLora;
let first: RepoEvaluation;

beforeAll(async () => {
  await initBackend();
  const { model, tokenizer } = tinyRandomModel(0);
  runtime = { model, tokenizer, parser: await loadPythonParser(), maxNewTokens: 6, contextTokens: 512 };
  const repo = generateRepo({ seed: 3, commits: 4 });
  files = Object.entries(snapshotAt(repo, 3)).map(([path, content]) => ({ path, content }));
  made = await makeRepoAdapter({
    files, encoder: { model, tokenizer }, parser: runtime.parser, baseModel: model.config, hypernetwork: untrainedHypernetwork(model.config),
  });
  // An untrained hypernetwork starts near the base model (its output scale is e^-3.5): scaled up here so that the
  // adapted model's completions visibly differ from the base model's and the test can tell which one was run.
  adapter = prepareLora({ ...made.adapter, alpha: made.adapter.alpha * 2000 }, model.config);
  first = await evaluateRepository({ repo: 'synth-3', commit: COMMIT, files, runtime, adapter, taskLimit: TASK_LIMIT });
}, 120_000);

describe('evaluateRepository', () => {
  it('mines the commit\'s test files with the miner\'s seeded caps, held out from the files the adapter was made from', () => {
    const mined = mineRepoTasks({ repo: 'synth-3', commit: COMMIT, files, parser: runtime.parser, seed: 0, limits: { perRepo: TASK_LIMIT, minPerRepo: 0 } });
    expect(mined.found).toBeGreaterThan(TASK_LIMIT);
    expect(first.targetsFound).toBe(mined.found);
    expect(first.tasks).toHaveLength(TASK_LIMIT);
    expect(first.tasks.map((task) => `${task.file}:${task.line}`)).toEqual(mined.tasks.map((task) => `${task.file}:${task.line}`));
    expect(first.tasks.every((task) => isPythonTestPath(task.file))).toBe(true);
    const adapterFiles = made.encoding.files.map((file) => file.path);
    expect(adapterFiles.length).toBeGreaterThan(0);
    expect(adapterFiles.some(isTestPath)).toBe(false);
    expect(first.testFiles).toBe(files.filter((file) => isPythonTestPath(file.path)).length);
  });

  it('scores the base and the adapted model on each task exactly as the benchmark does', async () => {
    for (const task of first.tasks.slice(0, 3)) {
      const prompt = mineRepoTasks({ repo: 'synth-3', commit: COMMIT, files, parser: runtime.parser, all: true }).tasks
        .find((t) => t.file === task.file && t.line === task.line)!;
      const ids = taskPromptIds(runtime, prompt.prompt);
      expect(task.promptTokens).toBe(ids.length);
      const base = scoreCompletion(await completePrompt(runtime, ids, { target: prompt.target }), prompt.target);
      const adapted = scoreCompletion(await completePrompt(runtime, ids, { target: prompt.target, lora: adapter }), prompt.target);
      const likelihood = async (lora: PreparedLora | null) => {
        const promptCache = new PromptCache(runtime.model.config.numLayers, runtime.contextTokens);
        const score = await scoreTarget(runtime.model, ids, targetIds(runtime, prompt.target), { lora, promptCache });
        promptCache.clear();
        return score!.nll;
      };
      const [baseNll, adaptedNll] = [await likelihood(null), await likelihood(adapter)];
      expect(task.base).toEqual({ prediction: base.prediction, em: base.em, editSimilarity: base.editsim, targetNll: expect.closeTo(baseNll, 5) });
      expect(task.adapted).toEqual({ prediction: adapted.prediction, em: adapted.em, editSimilarity: adapted.editsim, targetNll: expect.closeTo(adaptedNll, 5) });
      expect(Math.abs(adaptedNll - baseNll)).toBeGreaterThan(1e-3);
      expect(task.target).toBe(base.target);
    }
    // The adapted column really ran with the adapter.
    expect(first.tasks.some((task) => task.adapted.prediction !== task.base.prediction)).toBe(true);
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    expect(first.base.exactMatch).toBe(mean(first.tasks.map((task) => Number(task.base.em))));
    expect(first.adapted.editSimilarity).toBeCloseTo(mean(first.tasks.map((task) => task.adapted.editSimilarity)), 12);
    expect(first.editSimilarityDifference.mean).toBeCloseTo(first.adapted.editSimilarity - first.base.editSimilarity, 12);
    expect(first.editSimilarityDifference.n).toBe(TASK_LIMIT);
    expect(first.base.targetNll).toBeCloseTo(mean(first.tasks.map((task) => task.base.targetNll!)), 12);
    expect(first.targetNllDifference!.mean).toBeCloseTo(first.adapted.targetNll! - first.base.targetNll!, 12);
    expect(first.targetNllDifference!.n).toBe(TASK_LIMIT);
    expect(first.base.seconds).toBeGreaterThan(0);
    expect(first.adapted.seconds).toBeGreaterThan(0);
  }, 60_000);

  it('is deterministic: the same inputs give the same tasks, predictions and scores', async () => {
    const again = await evaluateRepository({ repo: 'synth-3', commit: COMMIT, files, runtime, adapter, taskLimit: TASK_LIMIT });
    const withoutTimes = ({ seconds, base, adapted, ...rest }: RepoEvaluation) => ({
      ...rest, base: { ...base, seconds: 0 }, adapted: { ...adapted, seconds: 0 }, seconds: seconds >= 0,
    });
    expect(withoutTimes(again)).toEqual(withoutTimes(first));
  }, 60_000);

  it('reports progress per task and stops when cancelled', async () => {
    const controller = new AbortController();
    const reports: Array<[number, number]> = [];
    const evaluation = evaluateRepository({
      repo: 'synth-3', commit: COMMIT, files, runtime, adapter, taskLimit: TASK_LIMIT, signal: controller.signal,
      onProgress: ({ stage, done, total, unit }) => {
        expect([stage, unit]).toEqual(['evaluate', 'tasks']);
        reports.push([done, total!]);
        if (done === 2) controller.abort();
      },
    });
    await expect(evaluation).rejects.toMatchObject({ name: 'AbortError' });
    expect(reports).toEqual([[0, TASK_LIMIT], [1, TASK_LIMIT], [2, TASK_LIMIT]]);
  }, 60_000);

  it('says why when there is nothing to score or the limit is wrong', async () => {
    const code = (promise: Promise<unknown>) => promise.then(() => null, (error: RepoEvaluationError) => error.code);
    const noTests = files.filter((file) => !isTestPath(file.path));
    expect(await code(evaluateRepository({ repo: 'r', commit: COMMIT, files: noTests, runtime, adapter }))).toBe('NO_TEST_FILES');
    const emptyTest = [{ path: 'tests/test_empty.py', content: 'import os\n\ndef test_nothing():\n    pass\n' }];
    expect(await code(evaluateRepository({ repo: 'r', commit: COMMIT, files: emptyTest, runtime, adapter }))).toBe('NO_TASKS');
    expect(await code(evaluateRepository({ repo: 'r', commit: COMMIT, files, runtime, adapter, taskLimit: 0 }))).toBe('BAD_TASK_LIMIT');
  });
});
