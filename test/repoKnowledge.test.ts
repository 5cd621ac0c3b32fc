// Tasks that need repository knowledge: which names count as the repository's, which the prompt already gives, what a
// completion is credited with, how the task set marks them and how the run summarises them.
import { beforeAll, describe, expect, it } from 'vitest';
import { codeNamesOf, definedNames, nameRecall, unseenRepoNames } from '../src/bench/repoKnowledge.ts';
import { summarizeRun, type TaskRecord } from '../src/bench/run.ts';
import { buildTaskSet, type MinableRepo, parseTaskSetJsonl, TaskSetError } from '../src/bench/taskSet.ts';
import { loadPythonParser, type PythonParser } from '../src/parse/pythonParser.ts';

let parser: PythonParser;
beforeAll(async () => {
  parser = await loadPythonParser();
});

const LIBRARY = `"""Graph helpers."""
MAX_DEPTH = 8
x = 1
__all__ = ['Ledger']


class Ledger:
    def balance_of(self, account):
        return 0


def compute_total(values):
    return sum(values)


def list(values):
    return values
`;

describe('repository names', () => {
  it('takes names used as code: not inside strings, not parts of numbers, not keyword arguments', () => {
    expect(codeNamesOf('nx.NetworkXError, match="Graph not connected.")')).toEqual(['nx', 'NetworkXError']);
    expect(codeNamesOf('f(x=1, y == 2, z<=3) + 1e5 + 0x1F')).toEqual(['f', 'y', 'z']);
    expect(codeNamesOf(`rb'raw' + buf + f"{hidden}" + "cut short`)).toEqual(['buf']);
    expect(codeNamesOf('not a != b and c == d')).toEqual(['not', 'a', 'b', 'and', 'c', 'd']);
  });

  it('counts functions, methods, classes and module assignments as defined; not dunders, one letter or builtins', () => {
    const names = definedNames([{ path: 'lib/ledger.py', content: LIBRARY }], parser);
    expect([...names].sort()).toEqual(['Ledger', 'MAX_DEPTH', 'balance_of', 'compute_total']);
  });

  it('needs a name the repository defines and the prompt never mentions, even in a comment or a string', () => {
    const defined = new Set(['Ledger', 'balance_of', 'compute_total']);
    expect(unseenRepoNames('import ledger as lg\nassert ', 'lg.compute_total([1, 2]) == 3', defined)).toEqual(['compute_total']);
    expect(unseenRepoNames('# compute_total sums\nassert ', 'lg.compute_total([1, 2]) == 3', defined)).toEqual([]);
    expect(unseenRepoNames('assert ', 'describe("Ledger") == "balance_of"', defined)).toEqual([]);
    expect(unseenRepoNames('book = Ledger()\nassert ', 'book.balance_of(a) == Ledger.ZERO', defined)).toEqual(['balance_of']);
  });

  it('credits the names the scored prediction writes, after the paper\'s post-processing', () => {
    const target = 'lg.compute_total(values) == MAX_DEPTH';
    expect(nameRecall(' lg.compute_total(values) == 8\n    assert MAX_DEPTH', target, ['compute_total', 'MAX_DEPTH'])).toBe(0.5);
    expect(nameRecall(' "compute_total" == MAX_DEPTH', target, ['compute_total', 'MAX_DEPTH'])).toBe(0.5);
    expect(nameRecall('compute_totals()', target, ['compute_total'])).toBe(0);
    expect(() => nameRecall('x', target, [])).toThrow(RangeError);
  });
});

describe('the task set marks the tasks that need repository knowledge', () => {
  const test = `import ledger as lg


def test_total():
    assert 3 == lg.compute_total([1, 2])


def test_again():
    once = lg.compute_total([1])
    assert once == lg.compute_total([2, 1])


def test_depth():
    assert lg.depth() == lg.MAX_DEPTH
`;
  const files = [{ path: 'ledger.py', content: LIBRARY }, { path: 'tests/test_ledger.py', content: test }];
  const repo: MinableRepo = {
    name: 'ledger', source: 'memory', head: 'c0ffee', commits: [{ sha: 'c0ffee', timestamp: 0 }],
    readFiles: async (_commit, include) => files.filter((file) => include(file.path)),
  };

  it('gives each static task the names it needs and counts them in the manifest', async () => {
    const { tasks, manifest } = await buildTaskSet({ repos: [repo], parser, seed: 0, history: 1, heldOut: 'all', evo: false, limits: { minPerRepo: 1 } });
    const byTarget = Object.fromEntries(tasks.map((task) => [task.target, task.repoNames]));
    // The second test's prompt already shows compute_total (its first line); depth is no name the library defines.
    expect(byTarget).toEqual({ 'lg.compute_total([1, 2])': ['compute_total'], 'lg.compute_total([2, 1])': [], 'lg.MAX_DEPTH': ['MAX_DEPTH'] });
    expect(manifest.counts.needingRepoKnowledge).toBe(2);
  });

  it('refuses a task file whose repoNames is not a list of strings, and reads one without the field', async () => {
    const { tasks } = await buildTaskSet({ repos: [repo], parser, seed: 0, history: 1, heldOut: 'all', evo: false, limits: { minPerRepo: 1 } });
    const line = (record: object) => JSON.stringify(record);
    expect(() => parseTaskSetJsonl(line({ ...tasks[0], repoNames: 'MAX_DEPTH' }), 'x.jsonl')).toThrow(TaskSetError);
    expect(() => parseTaskSetJsonl(line({ ...tasks[0], repoNames: [3] }), 'x.jsonl')).toThrow(/x\.jsonl:1: "repoNames" must be a list of strings/);
    const { repoNames: _dropped, ...older } = tasks[0];
    expect(parseTaskSetJsonl(line(older))[0].repoNames).toBeUndefined();
  });
});

describe('the run summary on tasks that need repository knowledge', () => {
  const record = (method: string, index: number, em: boolean, recall?: number): TaskRecord => ({
    task_id: `t${index}`, repo: 'r', commit: 'c', file: 'tests/test_x.py', line: index, kind: 'assert_compare', mode: 'static',
    method, split: 'cr_test', target: 'x', prediction: 'x', prediction_clean: 'x', em, editsim: 1, prompt_tokens: 1,
    extra_prompt_tokens: 0, seconds: 0, ...(recall === undefined ? {} : { repo_names: ['Name'], name_recall: recall }),
  });

  it('scores only those tasks, with EM, name recall and both against the baseline', () => {
    const records = [
      // Tasks 0-3 need a name: base never writes it, the adapter writes it on three and gets one exactly right.
      ...[0, 1, 2, 3].map((i) => record('base', i, false, 0)),
      ...[0, 1, 2, 3].map((i) => record('adapter', i, i === 0, i < 3 ? 1 : 0)),
      // Tasks 4-5 need none: both methods right, which the knowledge summary must leave out.
      ...[4, 5].flatMap((i) => [record('base', i, true), record('adapter', i, true)]),
    ];
    const { repoKnowledge } = summarizeRun({ records, prepares: [] });
    expect(repoKnowledge.map((k) => [k.method, k.n, k.em, k.name_recall])).toEqual([['base', 4, 0, 0], ['adapter', 4, 25, 75]]);
    const adapter = repoKnowledge.find((k) => k.method === 'adapter')!;
    expect(adapter.em_diff!.mean).toBeCloseTo(25);
    expect(adapter.name_recall_diff!.mean).toBeCloseTo(75);
    expect(adapter.name_recall_diff!.ci[0]).toBeGreaterThan(0);
    expect(repoKnowledge.find((k) => k.method === 'base')!.em_diff).toBeUndefined();
  });
});
