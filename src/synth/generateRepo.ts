// Generates a synthetic Python repository (files, history, planted assertion targets) deterministically from a seed.
import { SeededRandom } from './random.ts';
import { applyRandomChange, createInitialState, initialCommitSubject } from './history.ts';
import { renderTree } from './renderProject.ts';
import type { PlantedAssertion } from './markers.ts';

export type { AssertionKind, PlantedAssertion } from './markers.ts';

export interface SynthAuthor {
  name: string;
  email: string;
}

export interface SynthCommit {
  message: string;
  author: SynthAuthor;
  /** Unix seconds, strictly increasing along the history; author and committer date. */
  timestamp: number;
  /** Full contents of every file this commit adds or changes; null for a deleted file. */
  files: Record<string, string | null>;
  /** Every assertion target in the tree after this commit, ordered by file, then position. */
  plantedAssertions: PlantedAssertion[];
}

export interface SynthRepo {
  seed: number;
  /** Repository (directory) name. */
  name: string;
  /** Importable Python package name. */
  packageName: string;
  commits: SynthCommit[];
}

export interface GenerateRepoOptions {
  seed: number;
  /** Number of commits, the initial one included (1-500). */
  commits?: number;
  /** Overrides the generated repository name. */
  name?: string;
}

export class SynthOptionsError extends Error {
  readonly code = 'SYNTH_BAD_OPTIONS';

  constructor(message: string) {
    super(message);
    this.name = 'SynthOptionsError';
  }
}

const FIRST_TIMESTAMP = 1_560_000_000;

/** What changed between two trees: new or changed files with their contents, removed files as null. */
function diffTrees(before: Record<string, string>, after: Record<string, string>): Record<string, string | null> {
  const changes: Record<string, string | null> = {};
  for (const path of Object.keys(after).sort()) if (before[path] !== after[path]) changes[path] = after[path];
  for (const path of Object.keys(before).sort()) if (!(path in after)) changes[path] = null;
  return changes;
}

/**
 * Generate a repository. Same options, same output, on any platform (no Node APIs, no clock, no Math.random).
 *
 * @example
 * const repo = generateRepo({ seed: 7, commits: 20 });
 * repo.commits[0].files['README.md']; // the README of the initial commit
 */
export function generateRepo({ seed, commits = 20, name }: GenerateRepoOptions): SynthRepo {
  if (!Number.isSafeInteger(seed)) throw new SynthOptionsError(`seed must be an integer, got ${seed}`);
  if (!Number.isInteger(commits) || commits < 1 || commits > 500) throw new SynthOptionsError(`commits must be an integer in 1-500, got ${commits}`);
  if (name !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name)) throw new SynthOptionsError(`not a usable repository name: ${JSON.stringify(name)}`);

  const rng = SeededRandom.derive(seed, 'history');
  const clock = SeededRandom.derive(seed, 'clock');
  const state = createInitialState(seed, rng);
  const { authors } = state.style;
  const authorWeights = authors.map((_, index) => (index === 0 ? 3 : 1));

  let tree = renderTree(state);
  let timestamp = FIRST_TIMESTAMP + clock.int(0, 100_000_000);
  const history: SynthCommit[] = [{
    message: initialCommitSubject(state),
    author: authors[0],
    timestamp,
    files: { ...tree.files },
    plantedAssertions: tree.planted,
  }];
  while (history.length < commits) {
    const message = applyRandomChange(state, rng);
    const next = renderTree(state);
    const files = diffTrees(tree.files, next.files);
    if (Object.keys(files).length === 0) throw new Error(`change "${message}" left the tree unchanged (seed ${seed})`);
    timestamp += clock.int(1_800, 3 * 86_400);
    history.push({ message, author: authors[clock.weightedIndex(authorWeights)], timestamp, files, plantedAssertions: next.planted });
    tree = next;
  }
  return { seed, name: name ?? state.distributionName, packageName: state.packageName, commits: history };
}

/** The full file tree after commit `index` (0-based). */
export function snapshotAt(repo: SynthRepo, index: number): Record<string, string> {
  if (!Number.isInteger(index) || index < 0 || index >= repo.commits.length) {
    throw new SynthOptionsError(`commit index ${index} is outside 0-${repo.commits.length - 1}`);
  }
  const files: Record<string, string> = {};
  for (const commit of repo.commits.slice(0, index + 1)) {
    for (const [path, content] of Object.entries(commit.files)) {
      if (content === null) delete files[path];
      else files[path] = content;
    }
  }
  return files;
}
