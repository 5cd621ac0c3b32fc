// Benchmark task sets: static and evo tasks mined from repositories, CR/IR/Evo splits from a seed, tasks.jsonl + manifest.
import { isPythonTestPath, isTestPath } from '../git/pathFilters.ts';
import {
  type AssertionTask, EVO_LIMITS, type MineRepoResult, type MiningLimits, mineHistoryTasks, mineRepoTasks, PAPER_LIMITS, type SnapshotFile,
} from '../parse/mineTasks.ts';
import type { PythonParser } from '../parse/pythonParser.ts';
import {
  CR_FRACTIONS, crSplitOfRepo, evoSplitCommits, irSplitTasks, type SplitFractions, type SplitName,
} from '../parse/splits.ts';
import { definedNames, unseenRepoNames } from './repoKnowledge.ts';

export const TASK_SET_FORMAT = 'code2lora-bench-tasks';
export const TASK_SET_VERSION = 1;

export type TaskMode = 'static' | 'evo';

/**
 * Where a task belongs. Static: `cr_*` for held-out repos, `ir_*`/`train` for an 8:1:1 split of a training repo's
 * tasks. Evo (commits 80/10/10 in time): `evo_ir_*`/`evo_train` in training repos; in held-out repos `evo_cr_val` /
 * `evo_cr_test` for the last 10% of commits and `evo_cr_history` for the earlier ones.
 */
export const BENCH_SPLITS = [
  'cr_test', 'cr_val', 'ir_test', 'ir_val', 'train',
  'evo_cr_test', 'evo_cr_val', 'evo_cr_history', 'evo_ir_test', 'evo_ir_val', 'evo_train',
] as const;
export type BenchSplit = (typeof BENCH_SPLITS)[number];

/** What the evaluator scores unless told otherwise: the test splits. */
export const DEFAULT_EVAL_SPLITS: readonly BenchSplit[] = ['cr_test', 'ir_test', 'evo_cr_test', 'evo_ir_test'];

export interface BenchTask extends AssertionTask {
  /** Stable across builds with the same inputs: `repo@commit12:file:line:mode`, `#n` appended for a repeat. */
  id: string;
  mode: TaskMode;
  split: BenchSplit;
  /** Evo tasks: position of the task's commit in the mined history (0 = oldest), its length and the commit time. */
  commitIndex?: number;
  commitCount?: number;
  timestamp?: number;
  /**
   * Static tasks: the names the target uses that the repository's non-test code defines and the prompt never mentions
   * (repoKnowledge.ts); non-empty on the tasks that need repository knowledge. Absent in task sets mined before it.
   */
  repoNames?: string[];
}

/** A repository ready to mine: its name, where it came from, its history (oldest first) and a file reader. */
export interface MinableRepo {
  name: string;
  source: string;
  head: string;
  commits: readonly { sha: string; timestamp: number }[];
  readFiles: (commit: string, include: (path: string) => boolean) => Promise<SnapshotFile[]>;
}

export interface ManifestRepo {
  name: string;
  source: string;
  head: string;
  commits: number;
  crSplit: SplitName;
  static: MiningCounts;
  evo: MiningCounts | null;
}

interface MiningCounts {
  found: number;
  tasks: number;
  testFiles: number;
  dropped: string | null;
}

export interface TaskSetManifest {
  format: typeof TASK_SET_FORMAT;
  version: typeof TASK_SET_VERSION;
  seed: number;
  history: number;
  heldOut: 'all' | SplitFractions;
  limits: MiningLimits;
  repos: ManifestRepo[];
  counts: {
    total: number; bySplit: Partial<Record<BenchSplit, number>>; byKind: Record<string, number>; byMode: Record<TaskMode, number>;
    /** Tasks with repoNames (absent in manifests written before it). */
    needingRepoKnowledge?: number;
  };
  tools: Record<string, string>;
}

export interface TaskSet {
  tasks: BenchTask[];
  manifest: TaskSetManifest;
}

export interface BuildTaskSetOptions {
  repos: readonly MinableRepo[];
  parser: PythonParser;
  seed: number;
  /** Commits of history mined for evo tasks (the repos' `commits` are cut to the last this many). */
  history: number;
  /** `all`: every repo is held out (CR test), as for a benchmark of unseen repositories; else hash-split fractions. */
  heldOut?: 'all' | SplitFractions;
  evo?: boolean;
  limits?: Partial<MiningLimits>;
  tools?: Record<string, string>;
  onProgress?: (message: string) => void;
}

export class TaskSetError extends Error {
  constructor(readonly code: 'DUPLICATE_REPO' | 'BAD_TASK_FILE' | 'BAD_MANIFEST', message: string) {
    super(message);
    this.name = 'TaskSetError';
  }
}

function staticSplitOf(crSplit: SplitName, irSplit: SplitName): BenchSplit {
  if (crSplit !== 'train') return crSplit === 'test' ? 'cr_test' : 'cr_val';
  return irSplit === 'train' ? 'train' : irSplit === 'test' ? 'ir_test' : 'ir_val';
}

function evoSplitOf(crSplit: SplitName, timeSplit: SplitName): BenchSplit {
  if (crSplit === 'train') return timeSplit === 'train' ? 'evo_train' : timeSplit === 'test' ? 'evo_ir_test' : 'evo_ir_val';
  if (timeSplit !== 'test') return 'evo_cr_history';
  return crSplit === 'test' ? 'evo_cr_test' : 'evo_cr_val';
}

function countsOf(result: MineRepoResult): MiningCounts {
  return { found: result.found, tasks: result.tasks.length, testFiles: result.testFiles, dropped: result.dropped?.message ?? null };
}

/** Gives every task a stable id; a second task at the same place gets `#1`, and so on. */
function withIds(tasks: Omit<BenchTask, 'id'>[]): BenchTask[] {
  const seen = new Map<string, number>();
  return tasks.map((task) => {
    const base = `${task.repo}@${task.commit.slice(0, 12)}:${task.file}:${task.line}:${task.mode}`;
    const repeat = seen.get(base) ?? 0;
    seen.set(base, repeat + 1);
    return { id: repeat === 0 ? base : `${base}#${repeat}`, ...task };
  });
}

/**
 * Mines each repository (static tasks at its head, evo tasks over its history) and splits them deterministically:
 * the same repositories, seed and limits always give the same tasks in the same order.
 *
 * @example const { tasks, manifest } = await buildTaskSet({ repos, parser, seed: 0, history: 50, heldOut: 'all' })
 */
export async function buildTaskSet(options: BuildTaskSetOptions): Promise<TaskSet> {
  const { parser, seed, history, heldOut = { ...CR_FRACTIONS }, evo = true, tools = {}, onProgress } = options;
  const limits: MiningLimits = { ...PAPER_LIMITS, ...options.limits };
  const repos = [...options.repos].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const duplicate = repos.find((repo, index) => index > 0 && repos[index - 1].name === repo.name);
  if (duplicate) throw new TaskSetError('DUPLICATE_REPO', `repository ${duplicate.name} is listed twice`);

  const tasks: Omit<BenchTask, 'id'>[] = [];
  const manifestRepos: ManifestRepo[] = [];
  for (const repo of repos) {
    const crSplit = heldOut === 'all' ? 'test' : crSplitOfRepo(repo.name, seed, heldOut);
    onProgress?.(`${repo.name}: mining static tasks at ${repo.head.slice(0, 12)} (CR ${crSplit})`);
    const staticResult = mineRepoTasks({
      repo: repo.name, commit: repo.head, files: await repo.readFiles(repo.head, isPythonTestPath), parser, mode: 'static', seed, limits,
    });
    const defined = definedNames(await repo.readFiles(repo.head, (path) => !isTestPath(path)), parser);
    const ir = irSplitTasks(staticResult.tasks, seed, repo.name);
    const irSplitOf = new Map<AssertionTask, SplitName>();
    for (const part of ['train', 'val', 'test'] as const) for (const task of ir[part]) irSplitOf.set(task, part);
    for (const task of staticResult.tasks) {
      tasks.push({
        ...task, mode: 'static', split: staticSplitOf(crSplit, irSplitOf.get(task)!),
        repoNames: unseenRepoNames(task.prompt, task.target, defined),
      });
    }

    let evoCounts: MiningCounts | null = null;
    const commits = repo.commits.slice(-history);
    if (evo && commits.length > 1) {
      onProgress?.(`${repo.name}: mining evo tasks over ${commits.length} commits`);
      // The authors' Evo caps (as npm run data:evo trains with); the first commit's assertions are the starting test
      // suite, not changes, so no task is placed there.
      const evoResult = await mineHistoryTasks({
        repo: repo.name, commits, parser, seed, limits: { ...EVO_LIMITS, minPerRepo: limits.minPerRepo, maxPromptLines: limits.maxPromptLines },
        skipFirstCommit: true, readFiles: (sha) => repo.readFiles(sha, isPythonTestPath),
      });
      const timeSplits = evoSplitCommits(commits);
      const position = new Map(commits.map((commit, index) => [commit.sha, { index, timestamp: commit.timestamp }]));
      for (const task of evoResult.tasks) {
        const at = position.get(task.commit)!;
        tasks.push({
          ...task, mode: 'evo', split: evoSplitOf(crSplit, timeSplits.get(task.commit)!),
          commitIndex: at.index, commitCount: commits.length, timestamp: at.timestamp,
        });
      }
      evoCounts = countsOf(evoResult);
    }
    manifestRepos.push({
      name: repo.name, source: repo.source, head: repo.head, commits: commits.length, crSplit,
      static: countsOf(staticResult), evo: evoCounts,
    });
  }

  const withId = withIds(tasks);
  const bySplit: Partial<Record<BenchSplit, number>> = {};
  const byKind: Record<string, number> = {};
  const byMode: Record<TaskMode, number> = { static: 0, evo: 0 };
  let needingRepoKnowledge = 0;
  for (const task of withId) {
    bySplit[task.split] = (bySplit[task.split] ?? 0) + 1;
    byKind[task.kind] = (byKind[task.kind] ?? 0) + 1;
    byMode[task.mode]++;
    if (task.repoNames?.length) needingRepoKnowledge++;
  }
  return {
    tasks: withId,
    manifest: {
      format: TASK_SET_FORMAT, version: TASK_SET_VERSION, seed, history, heldOut, limits, repos: manifestRepos,
      counts: { total: withId.length, bySplit, byKind, byMode, needingRepoKnowledge }, tools,
    },
  };
}

export function taskSetToJsonl(tasks: readonly BenchTask[]): string {
  return tasks.map((task) => JSON.stringify(task)).join('\n') + (tasks.length > 0 ? '\n' : '');
}

const REQUIRED_STRINGS = ['id', 'repo', 'commit', 'file', 'kind', 'prompt', 'target', 'functionName', 'mode', 'split'] as const;

/** Parses tasks.jsonl, checking every record's fields, with the line number of the first bad one. */
export function parseTaskSetJsonl(text: string, source = 'tasks.jsonl'): BenchTask[] {
  const tasks: BenchTask[] = [];
  const ids = new Set<string>();
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    const where = `${source}:${index + 1}`;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new TaskSetError('BAD_TASK_FILE', `${where}: not JSON`);
    }
    for (const field of REQUIRED_STRINGS) {
      if (typeof record[field] !== 'string') throw new TaskSetError('BAD_TASK_FILE', `${where}: "${field}" must be a string`);
    }
    if (!Number.isInteger(record.line)) throw new TaskSetError('BAD_TASK_FILE', `${where}: "line" must be an integer`);
    if (!BENCH_SPLITS.includes(record.split as BenchSplit)) throw new TaskSetError('BAD_TASK_FILE', `${where}: unknown split ${JSON.stringify(record.split)}`);
    if (record.mode !== 'static' && record.mode !== 'evo') throw new TaskSetError('BAD_TASK_FILE', `${where}: unknown mode ${JSON.stringify(record.mode)}`);
    if (record.repoNames !== undefined && !(Array.isArray(record.repoNames) && record.repoNames.every((name) => typeof name === 'string'))) {
      throw new TaskSetError('BAD_TASK_FILE', `${where}: "repoNames" must be a list of strings`);
    }
    if (ids.has(record.id as string)) throw new TaskSetError('BAD_TASK_FILE', `${where}: duplicate id ${record.id}`);
    ids.add(record.id as string);
    tasks.push(record as unknown as BenchTask);
  });
  return tasks;
}

export function parseManifest(text: string, source = 'manifest.json'): TaskSetManifest {
  let manifest: Partial<TaskSetManifest>;
  try {
    manifest = JSON.parse(text) as Partial<TaskSetManifest>;
  } catch {
    throw new TaskSetError('BAD_MANIFEST', `${source}: not JSON`);
  }
  if (manifest.format !== TASK_SET_FORMAT) throw new TaskSetError('BAD_MANIFEST', `${source}: not a ${TASK_SET_FORMAT} manifest`);
  if (manifest.version !== TASK_SET_VERSION) {
    throw new TaskSetError('BAD_MANIFEST', `${source}: version ${manifest.version}, this build reads version ${TASK_SET_VERSION}`);
  }
  if (!Array.isArray(manifest.repos)) throw new TaskSetError('BAD_MANIFEST', `${source}: "repos" must be a list`);
  return manifest as TaskSetManifest;
}
