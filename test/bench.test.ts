// Benchmark sanity: the paper's metrics on hand-checked cases (and against Python's difflib), builder determinism,
// resumability after an abort, and the results.json schema. Quality is not asserted: the model here is random.
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTaskSetFromSpecs, runBenchmarkCommand } from '../src/bench/benchmark.ts';
import { tinyRandomModel } from '../src/bench/benchModel.ts';
import { untrainedHypernetwork } from '../src/code2lora/makeAdapter.ts';
import { diffChunkIds } from '../src/code2lora/diffEncoder.ts';
import { ENCODER_SETTINGS } from '../src/code2lora/encoderSettings.ts';
import { evoAdapter } from '../src/code2lora/evo.ts';
import { EvoTimeline } from '../src/code2lora/evoTimeline.ts';
import { initHypernetworkWeights, repoState } from '../src/code2lora/hypernetwork.ts';
import { embedDiff, encodeRepository } from '../src/code2lora/repoEncoder.ts';
import { isTestPath } from '../src/git/pathFilters.ts';
import { createMethod, MethodUnavailableError, type RepoContext } from '../src/bench/methods.ts';
import { openRepository } from '../src/bench/repoSources.ts';
import {
  bootstrapMean, editSimilarity, isFirstLineFinal, normalizeForMatch, pairedBootstrap, postprocessPrediction, pySplit, pyStrip,
  scoreCompletion,
} from '../src/bench/metrics.ts';
import { Bm25Index } from '../src/bench/retrieval.ts';
import { runBenchmark, type TaskRecord } from '../src/bench/run.ts';
import { taskSetToJsonl, type BenchTask } from '../src/bench/taskSet.ts';
import { initBackend } from '../src/model/backend.ts';
import { loadPythonParser, type PythonParser } from '../src/parse/pythonParser.ts';

describe('post-processing and exact match (the paper\'s rules)', () => {
  const em = (prediction: string, target: string) => scoreCompletion(prediction, target).em;

  it('keeps the first line of a one-line target, after stripping', () => {
    expect(postprocessPrediction(' 42\n    assert y == 3', '42')).toBe('42');
    expect(postprocessPrediction('\n\n  foo(1)\nbar', 'foo(1)')).toBe('foo(1)');
    expect(em('"pear")\n        self.assertEqual(x, 1)', '"pear")')).toBe(true);
  });

  it('truncates at the end of the expression: comma rule and single-word rule', () => {
    expect(postprocessPrediction('"pear"), msg="x")', '"pear")')).toBe('"pear")');
    expect(postprocessPrediction('3 and more words', '3')).toBe('3');
    expect(postprocessPrediction('[1, 2], 3', '[1, 2]')).toBe('[1, 2], 3'); // the target has a comma: no cut
    expect(em('x + 1 if y else z', 'x + 1')).toBe(false); // two words in the target: no first-word cut
    expect(em('foo(a,b)  ', 'foo(a,b)')).toBe(true);
    // A one-word target cuts the prediction at its first space, even inside the call: the authors' rule.
    expect(em('foo(a, b)', 'foo(a,b)')).toBe(false);
    expect(em('foo(a, b)', 'foo(a, b)')).toBe(true);
    expect(em('None', 'None')).toBe(true);
  });

  it('drops comments from both sides, even inside string literals (as the authors do)', () => {
    expect(em('x == 1  # checked', 'x == 1')).toBe(true);
    expect(scoreCompletion('"#fff"', '"#fff"').target).toBe('"');
    expect(em('"#000"', '"#fff"')).toBe(true); // both become '"': the authors' rule, kept for comparable numbers
  });

  it('normalises trailing colons, commas, spaces and whitespace runs', () => {
    expect(normalizeForMatch('  a ,  b:,\t ')).toBe('a, b'); // checked with Python: one pass of each replace
    expect(normalizeForMatch('f(a , b)')).toBe('f(a,b)');
    expect(normalizeForMatch('f(a,\n\n b)')).toBe('f(a, b)'); // the comma rule runs before whitespace is collapsed
    expect(em('value:', 'value')).toBe(true);
    expect(em('{"a": 1}', '{"a":1}')).toBe(false); // ": " is not normalised
  });

  it('handles empty predictions and targets', () => {
    expect(scoreCompletion('', 'x')).toEqual({ em: false, editsim: 0, prediction: '', target: 'x' });
    expect(scoreCompletion('   \n  ', '"a"')).toMatchObject({ em: false, prediction: '' });
    expect(scoreCompletion('', '')).toMatchObject({ em: true, editsim: 1 });
    expect(scoreCompletion('anything, at all', '# only a comment')).toMatchObject({ em: false, target: '' });
  });

  it('handles unicode and Python\'s whitespace set', () => {
    expect(em('"Grüße, Noor!")\n', '"Grüße, Noor!")')).toBe(true);
    expect(em('"日本語" 😀', '"日本語"')).toBe(true); // single-word target: first word
    expect(pySplit('a\x1cb\u3000c\u00a0d')).toEqual(['a', 'b', 'c', 'd']);
    expect(pyStrip('\ufeffx ')).toBe('\ufeffx'); // not whitespace in Python, unlike JS trim()
    expect(editSimilarity('😀a', '😀b')).toBe(0.5); // code points, not UTF-16 units
  });

  it('removes FIM tokens before scoring and knows when a first line is final', () => {
    expect(postprocessPrediction('<|fim_middle|> 7\n', '7')).toBe('7');
    expect(isFirstLineFinal('  \n  ')).toBe(false);
    expect(isFirstLineFinal('\n foo')).toBe(false);
    expect(isFirstLineFinal('\n foo\n')).toBe(true);
  });
});

describe('edit similarity (difflib.SequenceMatcher.ratio)', () => {
  it('matches hand-checked values', () => {
    expect(editSimilarity('abcd', 'bcde')).toBe(0.75);
    expect(editSimilarity('', '')).toBe(1);
    expect(editSimilarity('abc', '')).toBe(0);
    expect(editSimilarity('abc', 'abc')).toBe(1);
    expect(editSimilarity('Grüße', 'Gruse')).toBe(0.6);
    // b has >= 200 items: 'a' is "popular" (autojunk) and never starts a match, yet extends one.
    expect(editSimilarity(`${'a'.repeat(300)}b`, `${'a'.repeat(250)}xb`)).toBeCloseTo(0.9077757685352622, 15);
  });

  const hasPython = spawnSync('python3', ['-c', 'import difflib'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!hasPython)('equals Python\'s difflib on varied pairs (long strings, unicode, repeats)', () => {
    const pairs: [string, string][] = [
      ['assertEqual(x, 1)', 'assertEqual(y, 1)'], ['', 'abc'], ['"Grüße, Noor!")', '"Grusse Noor")'], ['😀😃x', 'x😀'],
      ['a'.repeat(199) + 'b', 'b' + 'a'.repeat(199)], ['ab'.repeat(150), 'ba'.repeat(140) + 'c'],
      [`${'x = foo(bar, baz)\n'.repeat(15)}`, `${'x = foo(baz, bar)\n'.repeat(14)}y`], ['private Thread currentThread;', 'private volatile Thread currentThread;'],
    ];
    const script = 'import json,sys,difflib\nprint(json.dumps([difflib.SequenceMatcher(None,a,b).ratio() for a,b in json.load(sys.stdin)]))';
    const run = spawnSync('python3', ['-c', script], { input: JSON.stringify(pairs), encoding: 'utf8' });
    const expected = JSON.parse(run.stdout) as number[];
    pairs.forEach(([a, b], i) => expect(editSimilarity(a, b)).toBeCloseTo(expected[i], 12));
  });
});

describe('bootstrap', () => {
  it('is seeded, brackets the mean and collapses for constant data', () => {
    const values = Array.from({ length: 50 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const a = bootstrapMean(values, { seed: 1 });
    expect(bootstrapMean(values, { seed: 1 })).toEqual(a);
    const continuous = Array.from({ length: 40 }, (_, i) => Math.sin(i) ** 2);
    expect(bootstrapMean(continuous, { seed: 2 }).ci).not.toEqual(bootstrapMean(continuous, { seed: 1 }).ci);
    expect(a.mean).toBeCloseTo(17 / 50, 12);
    expect(a.ci[0]).toBeLessThan(a.mean);
    expect(a.ci[1]).toBeGreaterThan(a.mean);
    expect(bootstrapMean([1, 1, 1]).ci).toEqual([1, 1]);
  });

  it('pairs tasks: no difference gives p = 1, a consistent win p = 0', () => {
    const base = [1, 0, 1, 0, 1, 1, 0, 0];
    expect(pairedBootstrap(base, base)).toMatchObject({ mean: 0, ci: [0, 0], p: 1 });
    const win = pairedBootstrap([1, 1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 1, 0, 0, 0]);
    expect(win.mean).toBe(7 / 8);
    expect(win.p).toBe(0);
    const mixed = pairedBootstrap([1, 1, 1, 1, 1, 1, 1, 1], base); // half the pairs tie: an all-tie resample happens
    expect(mixed.mean).toBe(0.5);
    expect(mixed.p).toBeGreaterThan(0);
    expect(mixed.p).toBeLessThan(0.05);
    expect(() => pairedBootstrap([1], [1, 0])).toThrow(/equal lengths/);
  });

  it('resamples whole clusters when given: a gain from one repository of four is not clear of zero', () => {
    // 4 repositories x 50 tasks; a wins every task of repository "a" and ties everywhere else.
    const clusters = Array.from({ length: 200 }, (_, i) => 'abcd'[Math.floor(i / 50)]);
    const a = clusters.map((repo) => (repo === 'a' ? 1 : 0));
    const b = clusters.map(() => 0);
    const byTask = pairedBootstrap(a, b, { seed: 0 });
    const byRepo = pairedBootstrap(a, b, { seed: 0, clusters });
    expect(byRepo.mean).toBe(byTask.mean);
    expect(byTask.ci[0]).toBeGreaterThan(0.15);
    expect(byTask.p).toBe(0);
    expect(byRepo.ci[0]).toBe(0); // resamples without repository "a" happen: (3/4)^4 of them
    expect(byRepo.p).toBeGreaterThan(0.05);
    // Values are resampled inside each drawn cluster too: one cluster still has the noise of its tasks.
    const oneCluster = bootstrapMean(a, { seed: 0, clusters: a.map(() => 'x') });
    const tasksOnly = bootstrapMean(a, { seed: 0 });
    expect(oneCluster.ci[0]).toBeCloseTo(tasksOnly.ci[0], 1);
    expect(oneCluster.ci[1]).toBeCloseTo(tasksOnly.ci[1], 1);
    expect(oneCluster.ci[1] - oneCluster.ci[0]).toBeGreaterThan(0.05);
    // Clusters of different sizes pool values, not cluster means.
    expect(bootstrapMean([1, 1, 1, 0], { clusters: ['x', 'x', 'x', 'y'] }).mean).toBe(0.75);
    expect(() => bootstrapMean([1, 0], { clusters: ['x'] })).toThrow(/one group per value/);
  });
});

describe('retrieval', () => {
  it('ranks the chunk that shares the query\'s identifiers first', () => {
    const index = new Bm25Index([
      { path: 'a.py', startLine: 1, text: 'def lookup_graft(items, prefix):\n    return items[0]' },
      { path: 'b.py', startLine: 1, text: 'CRATE_LIMIT = 4\ndef ensure_crate(amount): pass' },
    ]);
    expect(index.search('self.assertEqual(lookupGraft(x), ', 1)[0].path).toBe('a.py');
    expect(index.search('unrelated words only', 3)).toEqual([]);
  });
});

describe('task set builder and evaluator', () => {
  let parser: PythonParser;
  const scratch = mkdtempSync(join(tmpdir(), 'bench-test-'));
  beforeAll(async () => {
    await initBackend();
    parser = await loadPythonParser();
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  const specs = [{ source: 'synth:1' }, { source: 'synth:2' }];

  it('builds the same tasks and splits from the same seed', async () => {
    const build = (seed: number, heldOut: 'all' | { val: number; test: number }) =>
      buildTaskSetFromSpecs({ specs, parser, seed, history: 30, heldOut });
    const [first, second] = [await build(3, { val: 0, test: 0 }), await build(3, { val: 0, test: 0 })];
    expect(taskSetToJsonl(second.tasks)).toBe(taskSetToJsonl(first.tasks));
    expect(second.manifest).toEqual(first.manifest);
    expect(first.manifest.repos.map((repo) => repo.head)).toEqual(second.manifest.repos.map((repo) => repo.head));
    // Every repo is a training repo here: static tasks split 8:1:1 (floors), evo tasks by commit time.
    for (const repo of first.manifest.repos) {
      const own = first.tasks.filter((task) => task.repo === repo.name && task.mode === 'static');
      expect(own.filter((task) => task.split === 'ir_test')).toHaveLength(Math.floor(own.length * 0.1));
    }
    expect(first.manifest.counts.bySplit.evo_train).toBeGreaterThan(0);
    expect(new Set(first.tasks.map((task) => task.id)).size).toBe(first.tasks.length);
    const otherSeed = await build(4, { val: 0, test: 0 });
    const irTest = (set: typeof first) => set.tasks.filter((task) => task.split === 'ir_test').map((task) => task.id).join();
    expect(irTest(otherSeed)).not.toBe(irTest(first));
    const heldOut = await build(3, 'all');
    expect(Object.keys(heldOut.manifest.counts.bySplit).every((split) => split.includes('cr'))).toBe(true);
  });

  it('resumes after an abort without losing or duplicating records, and writes results.json', async () => {
    const outDir = join(scratch, 'run');
    const benchModel = tinyRandomModel(0);
    const common = {
      outDir, specs, methods: ['base', 'rag'], benchModel, hypernetwork: untrainedHypernetwork(benchModel.model.config), parser,
      seed: 0, history: 12, heldOut: 'all' as const, limit: 6, maxNewTokens: 8, ragTokens: 7, command: 'test',
    };
    const controller = new AbortController();
    await expect(runBenchmarkCommand({
      ...common, signal: controller.signal,
      onProgress: ({ done }) => { if (done >= 5) controller.abort(new Error('stop here')); },
    })).rejects.toThrow('stop here');
    const partialPath = join(outDir, 'results.partial.jsonl');
    const before = readFileSync(partialPath, 'utf8');
    expect(before.trim().split('\n')).toHaveLength(5);
    appendFileSync(partialPath, '{"task_id": "cut short by a cr'); // a crash mid-write

    const { records } = await runBenchmarkCommand(common);
    const after = readFileSync(partialPath, 'utf8');
    expect(after.startsWith(before)).toBe(true);
    const keys = records.map((record) => `${record.task_id}|${record.method}`);
    expect(keys).toHaveLength(12);
    expect(new Set(keys).size).toBe(12);
    expect(after.trim().split('\n')).toHaveLength(12);

    const results = JSON.parse(readFileSync(join(outDir, 'results.json'), 'utf8')) as {
      tasks: TaskRecord[]; summary: Record<string, unknown>[]; format: string; repo_knowledge: unknown[];
    };
    expect(Array.isArray(results.repo_knowledge)).toBe(true); // the report's knowledge table, as data
    expect(results.format).toBe('code2lora-bench-results');
    expect(results.tasks).toHaveLength(12);
    for (const record of results.tasks) {
      expect(record).toMatchObject({
        repo: expect.any(String), file: expect.any(String), line: expect.any(Number), method: expect.stringMatching(/^(base|rag)$/),
        split: expect.any(String), target: expect.any(String), prediction: expect.any(String), em: expect.any(Boolean),
        editsim: expect.any(Number), prompt_tokens: expect.any(Number), seconds: expect.any(Number),
      });
      expect(record.prompt_tokens).toBeLessThanOrEqual(512 - 8);
      // Every target scored: a random byte-level model gives each of its tokens roughly ln(vocab) nats.
      expect(record.target_tokens).toBe(Math.min(8, Buffer.byteLength(record.target)));
      expect(record.target_nll).toBeGreaterThan(0.5 * Math.log(benchModel.model.config.vocabSize));
      expect(record.em).toBe(scoreCompletion(record.prediction, record.target).em);
    }
    const retrieved = results.tasks.filter((record) => record.method === 'rag').map((record) => record.extra_prompt_tokens);
    expect(Math.max(...retrieved)).toBe(7); // --rag-tokens caps what retrieval adds
    const methodsInSummary = new Set(results.summary.map((row) => row.method));
    expect(methodsInSummary).toEqual(new Set(['base', 'rag']));
    for (const row of results.summary) {
      expect(row).toMatchObject({
        split: expect.any(String), n: expect.any(Number), em: expect.any(Number), editsim: expect.any(Number),
        prompt_tokens_mean: expect.any(Number), seconds_per_task: expect.any(Number),
      });
      const [lo, hi] = row.em_ci as [number, number];
      expect(lo).toBeLessThanOrEqual(row.em as number);
      expect(hi).toBeGreaterThanOrEqual(row.em as number);
    }
    const report = readFileSync(join(outDir, 'report.md'), 'utf8');
    expect(report).toContain('| method |');
    expect(report).toContain('## Tasks that need repository knowledge');
    expect(report).toMatch(/## Likelihood of the target[\s\S]*\| rag \| \d+\.\d{3} \[/);
    expect(report).not.toContain('Hypernetwork:'); // base and rag make no adapter: the report says nothing of one
    expect(readFileSync(join(outDir, 'em_by_method.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
  }, 120_000);

  it('a rerun scores the targets of records made before the measure, keeping their completions, and only once', async () => {
    const outDir = join(scratch, 'rescore');
    const common = {
      outDir, specs, methods: ['base', 'code2lora-static'], benchModel: tinyRandomModel(0),
      hypernetwork: untrainedHypernetwork(tinyRandomModel(0).model.config), parser,
      seed: 0, history: 12, heldOut: 'all' as const, limit: 4, maxNewTokens: 8, command: 'test',
    };
    const { records: measured } = await runBenchmarkCommand(common);
    const partialPath = join(outDir, 'results.partial.jsonl');
    // As a run made before targets were scored wrote them: no likelihood, and a decode time to keep.
    const earlier = measured.map(({ target_nll: _nll, target_tokens: _tokens, ...record }) => ({ ...record, seconds: 1234 }));
    writeFileSync(partialPath, earlier.map((record) => JSON.stringify(record)).join('\n') + '\n');

    const { records } = await runBenchmarkCommand(common);
    expect(records).toHaveLength(measured.length);
    const key = (record: TaskRecord) => `${record.task_id}|${record.method}`;
    const rescored = new Map(records.map((record) => [key(record), record]));
    for (const record of measured) {
      const again = rescored.get(key(record))!;
      expect(again.seconds).toBe(1234); // the earlier record, completed: not decoded again
      expect(again.prediction).toBe(record.prediction);
      expect(again.target_tokens).toBe(record.target_tokens);
      expect(again.target_nll).toBeCloseTo(record.target_nll!, 5);
    }
    const lines = readFileSync(partialPath, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2 * measured.length); // each rescored record appended after the one it completes
    await runBenchmarkCommand(common);
    expect(readFileSync(partialPath, 'utf8').trim().split('\n')).toHaveLength(2 * measured.length);
  }, 120_000);

  it('keeps the earlier records of a method that cannot run now, unscored, and skips only the tasks it never did', async () => {
    const partialPath = join(scratch, 'unavailable.partial.jsonl');
    const task = (i: number) => ({ id: `t${i}`, repo: 'r', commit: 'c', file: 'tests/test_x.py', line: i, target: 'x' }) as BenchTask;
    const earlier = (i: number): TaskRecord => ({
      task_id: `t${i}`, repo: 'r', commit: 'c', file: 'tests/test_x.py', line: i, kind: 'assert_compare', mode: 'static',
      method: 'shared-lora', split: 'cr_test', target: 'x', prediction: 'x', prediction_clean: 'x', em: true, editsim: 1,
      prompt_tokens: 3, extra_prompt_tokens: 0, seconds: 1,
    });
    writeFileSync(partialPath, JSON.stringify(earlier(0)) + '\n');
    const notes: string[] = [];
    const run = await runBenchmark({
      tasks: [task(0), task(1)],
      methods: [{ name: 'shared-lora', prepare: async () => { throw new MethodUnavailableError('NO_WEIGHTS', 'no --shared-lora'); } }],
      loadContext: async () => ({ repo: 'r', commit: 'c', donor: null, files: [] }),
      partialPath, preparePath: join(scratch, 'unavailable.prepare.jsonl'), onNote: (note) => notes.push(note),
    });
    expect(run.records).toEqual([earlier(0)]);
    expect(run.skipped).toEqual([{ method: 'shared-lora', repo: 'r', commit: 'c', tasks: 1, reason: 'no --shared-lora' }]);
    expect(notes.join('\n')).toMatch(/1 earlier records kept, their targets unscored: no --shared-lora/);
  });

  it("rag puts retrieved chunks before the task's own prompt, cut exactly as base cuts it, and counts only what it adds", async () => {
    const benchModel = tinyRandomModel(0);
    const { tokenizer } = benchModel;
    const runtime = { model: benchModel.model, tokenizer, parser, maxNewTokens: 8, contextTokens: 40 };
    const library = 'def scale_vector(values, factor):\n    return [v * factor for v in values]\n';
    const context: RepoContext = {
      repo: 'r', commit: 'c', donor: null,
      files: [{ path: 'lib/vectors.py', content: library }, { path: 'tests/test_vectors.py', content: 'def test_scale_vector():\n    assert 1\n' }],
    };
    const task = { id: 't', repo: 'r', commit: 'c', prompt: `${'x = 1\n'.repeat(30)}assert scale_vector([1], 2) == `, target: '[2]' } as BenchTask;
    const base = (await createMethod('base', runtime, { hypernetwork: untrainedHypernetwork(benchModel.model.config) }).prepare(context)).prompt(task);
    expect(base.ids.length).toBe(32); // the context's 40 minus 8 new tokens
    const rag = await createMethod('rag', runtime, { hypernetwork: untrainedHypernetwork(benchModel.model.config) }).prepare(context);
    const { ids, extraPromptTokens } = rag.prompt(task);
    const expected = tokenizer.encode(`# Retrieved from lib/vectors.py, line 1:\n${library.trimEnd()}\n\n`);
    expect(extraPromptTokens).toBe(expected.length); // the test file is never retrieved
    expect(ids).toEqual([...expected, ...base.ids]);
    const capped = (await createMethod('rag', runtime, { hypernetwork: untrainedHypernetwork(benchModel.model.config), ragTokens: 5 }).prepare(context)).prompt(task);
    expect(capped).toEqual({ ids: [...expected.slice(0, 5), ...base.ids], extraPromptTokens: 5 });
  });

  it('code2lora-evo steps one Evo state per repository along the history: forward once per commit, back for free', async () => {
    const benchModel = tinyRandomModel(0);
    const runtime = { model: benchModel.model, tokenizer: benchModel.tokenizer, parser, maxNewTokens: 8, contextTokens: 512 };
    const static_ = untrainedHypernetwork(benchModel.model.config);
    const evo = { ...static_, kind: 'code2lora-evo' as const, weights: initHypernetworkWeights(static_.config, 5, 'code2lora-evo') };
    expect(() => createMethod('code2lora-evo', runtime, { hypernetwork: static_ })).toThrow(/Evo hypernetwork/);
    const repo = await openRepository({ source: 'synth:1' }, { history: 12 });
    try {
      let diffs = 0;
      const history = {
        commits: repo.commits.map((c) => c.sha), readPythonFiles: repo.readPythonFiles,
        diff: async (commit: string) => { diffs++; return repo.diff(commit); },
      };
      const context = async (index: number): Promise<RepoContext> => ({
        repo: repo.name, commit: history.commits[index], files: await repo.readPythonFiles(history.commits[index]), donor: null, history,
      });
      const method = createMethod('code2lora-evo', runtime, { hypernetwork: static_, evoHypernetwork: evo });
      const late = await method.prepare(await context(9));
      expect(diffs).toBe(9);
      const early = await method.prepare(await context(4));
      expect(diffs).toBe(9);
      // By hand, with the same shared functions.
      const encoder = { model: benchModel.model, tokenizer: benchModel.tokenizer };
      const timeline = new EvoTimeline({
        hypernetwork: evo, commits: history.commits,
        initialState: async () => repoState(evo, (await encodeRepository({
          files: (await repo.readPythonFiles(history.commits[0])).filter((f) => !isTestPath(f.path)), encoder, parser,
        })).files.map((f) => f.embedding)),
        diffEmbedding: async (commit) => (await embedDiff(diffChunkIds(await repo.diff(commit), encoder.tokenizer, ENCODER_SETTINGS), encoder))?.embedding ?? null,
      });
      for (const [prepared, index] of [[late, 9], [early, 4]] as const) {
        const expected = await evoAdapter(evo, benchModel.model.config, await timeline.stateAt(index));
        expect(Array.from(prepared.adapter!.layers[0].q_proj!.A as Float32Array)).toEqual(Array.from(expected.layers[0].q_proj!.A as Float32Array));
      }
      expect(Array.from(late.adapter!.layers[0].q_proj!.A as Float32Array)).not.toEqual(Array.from(early.adapter!.layers[0].q_proj!.A as Float32Array));
      await expect(method.prepare({ ...(await context(2)), history: undefined })).rejects.toMatchObject({ code: 'NO_HISTORY' });
      late.dispose();
      early.dispose();
    } finally {
      await repo.close();
    }
  }, 120_000);
});
