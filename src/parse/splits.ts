// Deterministic benchmark splits from a seed: CR (held-out repos), IR (8:1:1 of a repo's tasks), Evo (commits in time).
import { seededShuffle, unitInterval } from './seededRandom.ts';

export type SplitName = 'train' | 'val' | 'test';

/** Fractions of val and test; train gets the rest. */
export interface SplitFractions {
  val: number;
  test: number;
}

export class SplitOptionsError extends Error {
  readonly code = 'INVALID_SPLIT_FRACTIONS';
  constructor(message: string) {
    super(message);
    this.name = 'SplitOptionsError';
  }
}

function checkFractions({ val, test }: SplitFractions): void {
  if (!(val >= 0 && test >= 0 && val + test <= 1)) {
    throw new SplitOptionsError(`val and test fractions must be >= 0 and sum to <= 1 (got ${val}, ${test})`);
  }
}

export const CR_FRACTIONS: Readonly<SplitFractions> = { val: 0.1, test: 0.1 };
export const IR_FRACTIONS: Readonly<SplitFractions> = { val: 0.1, test: 0.1 };
export const EVO_FRACTIONS: Readonly<SplitFractions> = { val: 0.1, test: 0.1 };

/**
 * Cross-repo split: a repo's place depends only on a stable hash of its name and the seed, so adding or removing
 * other repos never moves it.
 *
 * @example crSplitOfRepo('psf/requests', 0) // 'train' | 'val' | 'test'
 */
export function crSplitOfRepo(repo: string, seed: number, fractions: SplitFractions = CR_FRACTIONS): SplitName {
  checkFractions(fractions);
  const position = unitInterval(seed, `cr\u0000${repo}`);
  if (position < fractions.test) return 'test';
  if (position < fractions.test + fractions.val) return 'val';
  return 'train';
}

/**
 * In-repo split of one training repo's tasks, 8:1:1 by default: a seeded shuffle, then exact proportions (val and
 * test rounded down, so a small repo keeps its tasks in train). Each part keeps the input order.
 */
export function irSplitTasks<T>(
  tasks: readonly T[],
  seed: number,
  repo: string,
  fractions: SplitFractions = IR_FRACTIONS,
): Record<SplitName, T[]> {
  checkFractions(fractions);
  const order = seededShuffle(tasks.map((_, index) => index), seed, `ir\u0000${repo}`);
  const testCount = Math.floor(tasks.length * fractions.test);
  const valCount = Math.floor(tasks.length * fractions.val);
  const splitOf = new Map<number, SplitName>();
  order.forEach((index, rank) => {
    splitOf.set(index, rank < testCount ? 'test' : rank < testCount + valCount ? 'val' : 'train');
  });
  const parts: Record<SplitName, T[]> = { train: [], val: [], test: [] };
  tasks.forEach((task, index) => parts[splitOf.get(index)!].push(task));
  return parts;
}

/**
 * Evo split: commits ordered by time (oldest first; ties keep the given order), the first 80% train, the next 10%
 * val, the last 10% test. Returns each commit's split by sha.
 */
export function evoSplitCommits(
  commits: readonly { sha: string; timestamp: number }[],
  fractions: SplitFractions = EVO_FRACTIONS,
): Map<string, SplitName> {
  checkFractions(fractions);
  const ordered = commits.map((commit, index) => ({ ...commit, index }))
    .sort((a, b) => a.timestamp - b.timestamp || a.index - b.index);
  const trainEnd = Math.round(ordered.length * (1 - fractions.val - fractions.test));
  const valEnd = Math.round(ordered.length * (1 - fractions.test));
  const splits = new Map<string, SplitName>();
  ordered.forEach((commit, rank) => {
    splits.set(commit.sha, rank < trainEnd ? 'train' : rank < valEnd ? 'val' : 'test');
  });
  return splits;
}
