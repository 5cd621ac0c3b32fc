// Assertion-task mining: exact targets, prompt endings, static/evo prompts, caps, sampling and the minimum rule.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  capTasks, capTasksPerCommit, EVO_LIMITS, type FileTask, mineFileTasks, mineHistoryTasks, mineRepoTasks, PAPER_LIMITS,
} from '../src/parse/mineTasks.ts';
import { loadPythonParser, type PythonParser } from '../src/parse/pythonParser.ts';

let parser: PythonParser;
beforeAll(async () => {
  parser = await loadPythonParser();
});

function mine(source: string, mode: 'static' | 'evo' = 'static'): FileTask[] {
  return mineFileTasks({ path: 'tests/test_sample.py', source, parser, mode }).tasks;
}

const PYTEST_FILE = `"""Doc."""
import math
import numpy as np
import pytest
from unittest import mock

from pkg.core import parse, Thing  # the thing under test

TOLERANCE = 1e-6
pytestmark = pytest.mark.slow


def make_thing(name="défaut, [x]"):
    return Thing(name)


def unused_helper():
    return 0


@pytest.fixture
def thing():
    return make_thing()


@pytest.mark.parametrize("raw, expected", [("a,b", ["a", "b"]), ("[", ["["])])
def test_parse(raw, expected, thing):
    result = parse(raw)  # comment with == and , inside
    assert result == expected, "message, with comma"
    assert parse("x # not a comment") == [
        "x # not a comment",
        "y",
    ]
    assert len(parse(thing.name)) >= max(1, min(2, 3))
    assert not result
    assert isinstance(thing, Thing)


async def test_async_ünïcode():
    naïve = await Thing.load("日本語, [x]")
    assert naïve.label == "日本語, [x]"


def test_float_and_raises():
    assert math.sqrt(2) == pytest.approx(1.41421356, rel=TOLERANCE)
    with pytest.raises(ValueError, match=r"bad \\(input\\), got \\d+"):
        parse(None)
    np.testing.assert_allclose(np.array([1.0, 2.0]),
                               np.array([1.0,
                                         2.0]), rtol=1e-5)
    client = mock.Mock()
    client.assert_called_with(3)
    client.method.assert_called_once_with("a")
    assert_equal(result_of(1), expected_of(2))
`;

describe('targets (pytest style)', () => {
  it('extracts every kind with the exact target string, line and function', () => {
    const tasks = mine(PYTEST_FILE);
    expect(tasks.map(({ kind, target, line, functionName }) => ({ kind, target, line, functionName }))).toEqual([
      { kind: 'assert_compare', target: 'expected', line: 29, functionName: 'test_parse' },
      { kind: 'assert_compare', target: '[ "x # not a comment", "y", ]', line: 30, functionName: 'test_parse' },
      { kind: 'assert_compare', target: 'max(1, min(2, 3))', line: 34, functionName: 'test_parse' },
      { kind: 'assert_expr', target: 'not result', line: 35, functionName: 'test_parse' },
      { kind: 'assert_expr', target: 'isinstance(thing, Thing)', line: 36, functionName: 'test_parse' },
      { kind: 'assert_compare', target: '"日本語, [x]"', line: 41, functionName: 'test_async_ünïcode' },
      { kind: 'assert_compare', target: 'pytest.approx(1.41421356, rel=TOLERANCE)', line: 45, functionName: 'test_float_and_raises' },
      { kind: 'pytest_approx', target: '1.41421356, rel=TOLERANCE)', line: 45, functionName: 'test_float_and_raises' },
      { kind: 'pytest_raises', target: 'ValueError, match=r"bad \\(input\\), got \\d+")', line: 46, functionName: 'test_float_and_raises' },
      { kind: 'assert_helper', target: 'np.array([1.0, 2.0]))', line: 49, functionName: 'test_float_and_raises' },
      { kind: 'assert_helper', target: 'expected_of(2))', line: 54, functionName: 'test_float_and_raises' },
    ]);
  });

  it('ends each prompt exactly where the target starts', () => {
    const tasks = mine(PYTEST_FILE);
    const endings = tasks.map((task) => task.prompt.split('\n').pop());
    expect(endings).toEqual([
      '    assert result == ',
      '    assert parse("x # not a comment") == ',
      '    assert len(parse(thing.name)) >= ',
      '    assert ',
      '    assert ',
      '    assert naïve.label == ',
      '    assert math.sqrt(2) == ',
      '    assert math.sqrt(2) == pytest.approx(',
      '    with pytest.raises(',
      '                               ',
      '    assert_equal(result_of(1), ',
    ]);
    // The multi-line first argument stays as written in the prompt; only the target is flattened.
    expect(tasks[9].prompt.endsWith('np.testing.assert_allclose(np.array([1.0, 2.0]),\n                               ')).toBe(true);
  });

  it('builds the static prompt from imports, assignments, the helpers and fixtures the test uses, and the test body', () => {
    const [first] = mine(PYTEST_FILE);
    expect(first.prompt).toBe(`import math
import numpy as np
import pytest
from unittest import mock

from pkg.core import parse, Thing  # the thing under test

TOLERANCE = 1e-6
pytestmark = pytest.mark.slow

def make_thing(name="défaut, [x]"):
    return Thing(name)

@pytest.fixture
def thing():
    return make_thing()

@pytest.mark.parametrize("raw, expected", [("a,b", ["a", "b"]), ("[", ["["])])
def test_parse(raw, expected, thing):
    result = parse(raw)  # comment with == and , inside
    assert result == `);
    expect(first.prompt).not.toContain('unused_helper');
    expect(first.prompt).not.toContain('Doc.');
  });

  it('uses the full file prefix as the evo prompt', () => {
    const source = PYTEST_FILE;
    for (const task of mine(source, 'evo')) {
      expect(source.startsWith(task.prompt)).toBe(true);
      expect(source.slice(task.prompt.length).replace(/\s+/g, ' ').startsWith(task.target.replace(/\)$/, '').replace(/\s+/g, ' ')))
        .toBe(true);
    }
    expect(mine(source, 'evo')[0].prompt).toBe(source.slice(0, source.indexOf('expected, "message')));
  });
});

const UNITTEST_FILE = `import unittest
import re

BASE = {"a": 1}


class HelperMixin:
    def helper(self):
        return 1


class TestWidget(unittest.TestCase, HelperMixin):
    maxDiff = None

    def setUp(self):
        self.widget = {"name": "w, (1)"}

    def tearDown(self):
        self.widget = None

    def _build(self, n):
        return [n] * n

    def _unused(self):
        return "x"

    def test_values(self):
        items = self._build(2)
        self.assertEqual(items, [2, 2])
        self.assertEqual(
            self.widget["name"],
            "w, (1)",  # trailing comment
        )
        self.assertTrue(items and len(items) == 2, "msg")
        self.assertIsNone(self.widget.get("missing"))
        self.assertIsNotNone(re.match("a", "a"))
        self.assertIn("a", BASE)
        self.assertAlmostEqual(0.1 + 0.2, 0.3, places=5)

    def test_errors(self):
        with self.assertRaises(KeyError):
            BASE["zz"]
        self.assertRaises(TypeError, len, 5)
        with self.assertRaisesRegex(ValueError, r"invalid literal, \\d"):
            int("x")
        self.assertEqual(len(items))
`;

describe('targets (unittest style)', () => {
  it('takes first, first-two or last arguments by method, with the closing parenthesis', () => {
    const tasks = mine(UNITTEST_FILE);
    expect(tasks.map(({ target, line, functionName }) => [target, line, functionName])).toEqual([
      ['[2, 2])', 29, 'TestWidget.test_values'],
      ['"w, (1)")', 32, 'TestWidget.test_values'],
      ['items and len(items) == 2)', 34, 'TestWidget.test_values'],
      ['self.widget.get("missing"))', 35, 'TestWidget.test_values'],
      ['re.match("a", "a"))', 36, 'TestWidget.test_values'],
      ['BASE)', 37, 'TestWidget.test_values'],
      ['0.3)', 38, 'TestWidget.test_values'],
      ['KeyError)', 41, 'TestWidget.test_errors'],
      ['TypeError)', 43, 'TestWidget.test_errors'],
      ['ValueError, r"invalid literal, \\d")', 44, 'TestWidget.test_errors'],
    ]);
    expect(new Set(tasks.map((task) => task.kind))).toEqual(new Set(['unittest_method']));
  });

  it('puts the class header, class assignments, setUp/tearDown and used methods in the static prompt', () => {
    const tasks = mine(UNITTEST_FILE);
    expect(tasks[1].prompt).toBe(`import unittest
import re

BASE = {"a": 1}

class TestWidget(unittest.TestCase, HelperMixin):
    maxDiff = None

    def setUp(self):
        self.widget = {"name": "w, (1)"}

    def tearDown(self):
        self.widget = None

    def _build(self, n):
        return [n] * n

    def test_values(self):
        items = self._build(2)
        self.assertEqual(items, [2, 2])
        self.assertEqual(
            self.widget["name"],
            `);
    expect(tasks[9].prompt.endsWith('        with self.assertRaisesRegex(')).toBe(true);
    expect(tasks[9].prompt).not.toContain('_build');
  });
});

describe('robustness', () => {
  it('mines the rest of a file when one part has a syntax error', () => {
    const source = `import pytest

def test_before():
    assert compute(1) == 1

def test_broken(:
    assert this_is_lost == 0

def test_after():
    assert compute(2) == {"k": (2,)}
    assert compute(3) != "]"
`;
    const result = mineFileTasks({ path: 'tests/test_b.py', source, parser });
    expect(result.hasSyntaxErrors).toBe(true);
    const targets = result.tasks.map((task) => [task.functionName, task.target]);
    expect(targets).toContainEqual(['test_before', '1']);
    expect(targets).toContainEqual(['test_after', '{"k": (2,)}']);
    expect(targets).toContainEqual(['test_after', '"]"']);
  });

  it('skips statements that only parse through error recovery, and asserts outside functions', () => {
    const source = 'assert MODULE_LEVEL == 1\n\ndef test_a():\n    assert x == = 1\n    assert z ==\n\n'
      + 'def test_b():\n    assert y == 2\n';
    expect(mine(source).map((task) => [task.functionName, task.target])).toEqual([['test_b', '2']]);
  });

  it('handles nested functions, lambdas and comments between a comparison\'s operands', () => {
    const source = `def test_nested():
    def check(value):
        assert value in (  # allowed values
            "a", "b")
    check("a")
    assert (
        compute(lambda v: v * 2)
        ==  # doubled
        4
    )
`;
    const tasks = mine(source);
    expect(tasks.map(({ target, line, functionName }) => [target, line, functionName])).toEqual([
      ['( # allowed values "a", "b")', 3, 'test_nested'],
      ['4', 9, 'test_nested'],
    ]);
    expect(tasks[1].prompt.endsWith('        ==  # doubled\n        ')).toBe(true);
  });
});

describe('mineRepoTasks', () => {
  const testFile = (index: number, functions: number, assertsEach: number) => ({
    path: `tests/test_${index}.py`,
    content: Array.from({ length: functions }, (_, f) =>
      `def test_f${f}():\n${Array.from({ length: assertsEach }, (_, a) => `    assert value(${f}, ${a}) == ${index * 1000 + f * 10 + a}\n`).join('')}\n`).join(''),
  });
  const files = [
    ...Array.from({ length: 15 }, (_, i) => testFile(i, 6, 8)),
    { path: 'pkg/core.py', content: 'def value(a, b):\n    assert a >= 0\n    return a\n' },
  ];

  it('applies the per-function, per-file and per-repo caps deterministically', () => {
    const result = mineRepoTasks({ repo: 'demo/repo', commit: 'c0ffee', files, parser, seed: 7 });
    expect(result.found).toBe(15 * 6 * 8);
    expect(result.testFiles).toBe(15);
    expect(result.tasks).toHaveLength(200);
    const perFunction = new Map<string, number>();
    const perFile = new Map<string, number>();
    for (const task of result.tasks) {
      perFunction.set(`${task.file}:${task.functionName}`, (perFunction.get(`${task.file}:${task.functionName}`) ?? 0) + 1);
      perFile.set(task.file, (perFile.get(task.file) ?? 0) + 1);
      expect(task.repo).toBe('demo/repo');
      expect(task.commit).toBe('c0ffee');
    }
    expect(Math.max(...perFunction.values())).toBeLessThanOrEqual(5);
    expect(Math.max(...perFile.values())).toBeLessThanOrEqual(20);
    const again = mineRepoTasks({ repo: 'demo/repo', commit: 'c0ffee', files, parser, seed: 7 });
    expect(again.tasks).toEqual(result.tasks);
    const otherSeed = mineRepoTasks({ repo: 'demo/repo', commit: 'c0ffee', files, parser, seed: 8 });
    expect(otherSeed.tasks.map((task) => task.target)).not.toEqual(result.tasks.map((task) => task.target));
  });

  it('returns every target with all: true, and only files that are tests', () => {
    const result = mineRepoTasks({ repo: 'demo/repo', commit: 'c0ffee', files, parser, all: true });
    expect(result.tasks).toHaveLength(720);
    expect(result.foundByKind.assert_compare).toBe(720);
    expect(result.tasks.some((task) => task.file === 'pkg/core.py')).toBe(false);
  });

  it('drops a repo under the minimum with a reason instead of silently', () => {
    const small = [testFile(0, 3, 4)];
    const result = mineRepoTasks({ repo: 'tiny/repo', commit: 'abc', files: small, parser });
    expect(result.tasks).toEqual([]);
    expect(result.found).toBe(12);
    expect(result.dropped).toMatchObject({ reason: 'too_few_targets', tasksAfterCaps: 12, minimum: 30 });
    expect(mineRepoTasks({ repo: 'tiny/repo', commit: 'abc', files: small, parser, all: true }).tasks).toHaveLength(12);
  });

  it('caps keep file and line order', () => {
    const tasks = mineRepoTasks({ repo: 'r', commit: 'c', files, parser, all: true }).tasks;
    const capped = capTasks(tasks, 3, PAPER_LIMITS);
    const positions = capped.map((task) => tasks.indexOf(task));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
  });
});

describe('mineHistoryTasks', () => {
  it('ties each assertion to the first commit where it appears, with that commit\'s file prefix as prompt', async () => {
    const v1 = 'def test_a():\n    assert f(1) == 1\n';
    const v2 = 'import os\n\ndef test_a():\n    assert f(1) == 1\n    assert f(2) == 4\n';
    const v3 = 'import os\n\ndef test_a():\n    assert f(1) == 1\n    assert f(2) == 5\n    assert f(1) == 1\n';
    const snapshots: Record<string, { path: string; content: string }[]> = {
      c1: [{ path: 'tests/test_f.py', content: v1 }, { path: 'pkg/f.py', content: 'def f(x):\n    assert x\n' }],
      c2: [{ path: 'tests/test_f.py', content: v2 }],
      c3: [{ path: 'tests/test_f.py', content: v3 }],
    };
    const loaded: string[] = [];
    const result = await mineHistoryTasks({
      repo: 'r', commits: [{ sha: 'c1' }, { sha: 'c2' }, { sha: 'c3' }], parser, all: true,
      readFiles: async (sha) => (loaded.push(sha), snapshots[sha]),
    });
    expect(loaded).toEqual(['c1', 'c2', 'c3']);
    expect(result.tasks.map(({ commit, target, line, prompt }) => ({ commit, target, line, prompt }))).toEqual([
      { commit: 'c1', target: '1', line: 2, prompt: 'def test_a():\n    assert f(1) == ' },
      { commit: 'c2', target: '4', line: 5, prompt: v2.slice(0, v2.indexOf('4\n')) },
      { commit: 'c3', target: '5', line: 5, prompt: v3.slice(0, v3.indexOf('5\n')) },
      { commit: 'c3', target: '1', line: 6, prompt: v3.slice(0, v3.lastIndexOf('1\n')) },
    ]);
    expect(result.testFiles).toBe(1);
  });
});

describe('Evo caps (capTasksPerCommit)', () => {
  /** Commit c1: 2 files x 6 tasks; c2: 5 files x 3 tasks; c3: 1 file x 2 tasks. */
  const tasks = [
    ...['c1'].flatMap((commit) => ['tests/test_a.py', 'tests/test_b.py'].flatMap((file) => Array.from({ length: 6 }, (_, i) => ({ commit, file, i })))),
    ...['c2'].flatMap((commit) => [1, 2, 3, 4, 5].flatMap((n) => Array.from({ length: 3 }, (_, i) => ({ commit, file: `tests/test_${n}.py`, i })))),
    ...[{ commit: 'c3', file: 'tests/test_a.py', i: 0 }, { commit: 'c3', file: 'tests/test_a.py', i: 1 }],
  ].map(({ commit, file, i }): FileTask & { commit: string } => ({
    commit, file, line: i + 1, kind: 'assert_compare', prompt: `p${i}`, target: `${i}`, functionName: `test_${i}`,
  }));
  const count = (list: readonly { commit: string; file?: string }[], commit: string, file?: string) =>
    list.filter((task) => task.commit === commit && (file === undefined || task.file === file)).length;

  it('keeps at most 4 tasks per test file per commit and 8 per commit, in the input order', () => {
    const capped = capTasksPerCommit(tasks, 0, EVO_LIMITS);
    expect(count(capped, 'c1', 'tests/test_a.py')).toBe(4);
    expect(count(capped, 'c1', 'tests/test_b.py')).toBe(4);
    expect(count(capped, 'c2')).toBe(8);
    for (const n of [1, 2, 3, 4, 5]) expect(count(capped, 'c2', `tests/test_${n}.py`)).toBeLessThanOrEqual(3);
    expect(count(capped, 'c3')).toBe(2);
    const positions = capped.map((task) => tasks.indexOf(task));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
  });

  it('is seeded: the same seed picks the same tasks, another seed others; no limits keep everything', () => {
    expect(capTasksPerCommit(tasks, 5, EVO_LIMITS)).toEqual(capTasksPerCommit(tasks, 5, EVO_LIMITS));
    const picks = new Set([0, 1, 2, 3, 4, 5].map((seed) => JSON.stringify(capTasksPerCommit(tasks, seed, EVO_LIMITS))));
    expect(picks.size).toBeGreaterThan(1);
    expect(capTasksPerCommit(tasks, 0, {})).toEqual(tasks);
  });

  it('applies in mineHistoryTasks, and skipFirstCommit leaves the first commit\'s suite out', async () => {
    const asserts = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `    assert f(${from + i}) == ${from + i}\n`).join('');
    const snapshots: Record<string, { path: string; content: string }[]> = {
      c1: [{ path: 'tests/test_f.py', content: `def test_a():\n${asserts(10)}` }],
      c2: [
        { path: 'tests/test_f.py', content: `def test_a():\n${asserts(16)}` },
        { path: 'tests/test_g.py', content: `def test_g():\n${asserts(6, 100)}` },
      ],
    };
    const commits = [{ sha: 'c1' }, { sha: 'c2' }];
    const readFiles = async (sha: string) => snapshots[sha];
    const limits = { ...EVO_LIMITS, minPerRepo: 0 };
    const all = await mineHistoryTasks({ repo: 'r', commits, readFiles, parser, limits });
    expect(count(all.tasks, 'c1')).toBe(4); // one file: its cap of 4 binds first
    expect(count(all.tasks, 'c2', 'tests/test_f.py')).toBe(4);
    expect(count(all.tasks, 'c2', 'tests/test_g.py')).toBe(4);
    const changes = await mineHistoryTasks({ repo: 'r', commits, readFiles, parser, limits, skipFirstCommit: true });
    expect(count(changes.tasks, 'c1')).toBe(0);
    expect(changes.tasks).toEqual(all.tasks.filter((task) => task.commit === 'c2'));
    expect(changes.tasks.filter((task) => task.file === 'tests/test_f.py').every((task) => Number(task.target) >= 10)).toBe(true);
  });
});

describe('synthetic repositories', () => {
  it('finds exactly the planted assertions of generated repos at every few commits', async () => {
    const { generateRepo, snapshotAt } = await import('../src/synth/generateRepo.ts');
    const key = (a: { file: string; line: number; kind: string; target: string }) => `${a.file}:${a.line}:${a.kind}:${a.target}`;
    for (const seed of [1, 2, 3, 42]) {
      const repo = generateRepo({ seed, commits: 12 });
      for (const index of [0, 5, 11]) {
        const files = Object.entries(snapshotAt(repo, index)).map(([path, content]) => ({ path, content }));
        const mined = mineRepoTasks({ repo: repo.name, commit: `c${index}`, files, parser, all: true });
        const planted = repo.commits[index].plantedAssertions;
        expect(planted.length, `seed ${seed} commit ${index}`).toBeGreaterThan(0);
        expect(mined.tasks.map(key).sort(), `seed ${seed} commit ${index}`).toEqual(planted.map(key).sort());
      }
    }
  });
});
