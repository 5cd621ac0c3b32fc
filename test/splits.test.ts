// CR/IR/Evo splits: deterministic from a seed, stable per repo, exact proportions, time order for commits.
import { describe, expect, it } from 'vitest';
import { crSplitOfRepo, evoSplitCommits, irSplitTasks, SplitOptionsError } from '../src/parse/splits.ts';

describe('crSplitOfRepo', () => {
  const repos = Array.from({ length: 2000 }, (_, i) => `owner${i % 37}/repo-${i}`);

  it('holds out about the configured fraction of repos, the same ones every time', () => {
    const counts = { train: 0, val: 0, test: 0 };
    for (const repo of repos) counts[crSplitOfRepo(repo, 1)]++;
    expect(counts.test / repos.length).toBeGreaterThan(0.08);
    expect(counts.test / repos.length).toBeLessThan(0.12);
    expect(counts.val / repos.length).toBeGreaterThan(0.08);
    expect(counts.val / repos.length).toBeLessThan(0.12);
    expect(repos.map((repo) => crSplitOfRepo(repo, 1))).toEqual(repos.map((repo) => crSplitOfRepo(repo, 1)));
    const otherSeed = repos.map((repo) => crSplitOfRepo(repo, 2));
    expect(otherSeed).not.toEqual(repos.map((repo) => crSplitOfRepo(repo, 1)));
    const wider = repos.filter((repo) => crSplitOfRepo(repo, 1, { val: 0, test: 0.5 }) === 'test').length;
    expect(wider / repos.length).toBeGreaterThan(0.45);
    expect(() => crSplitOfRepo('a/b', 1, { val: 0.6, test: 0.6 })).toThrow(SplitOptionsError);
  });
});

describe('irSplitTasks', () => {
  it('splits 8:1:1 exactly, deterministically, keeping input order inside each part', () => {
    const tasks = Array.from({ length: 200 }, (_, i) => i);
    const parts = irSplitTasks(tasks, 5, 'a/b');
    expect([parts.train.length, parts.val.length, parts.test.length]).toEqual([160, 20, 20]);
    expect([...parts.train, ...parts.val, ...parts.test].sort((a, b) => a - b)).toEqual(tasks);
    expect(parts.test).toEqual([...parts.test].sort((a, b) => a - b));
    expect(irSplitTasks(tasks, 5, 'a/b')).toEqual(parts);
    expect(irSplitTasks(tasks, 6, 'a/b').test).not.toEqual(parts.test);
  });
});

describe('evoSplitCommits', () => {
  it('puts the oldest 80% in train and the newest 10% in test, whatever the input order', () => {
    const commits = Array.from({ length: 20 }, (_, i) => ({ sha: `c${i}`, timestamp: 1000 + i * 60 })).reverse();
    const splits = evoSplitCommits(commits);
    expect(Array.from({ length: 20 }, (_, i) => splits.get(`c${i}`))).toEqual([
      ...Array(16).fill('train'), 'val', 'val', 'test', 'test',
    ]);
  });
});
