// Node only: runs methods over a task set, appending each finished (task, method) record so a rerun resumes; summaries.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { bootstrapMean, pairedBootstrap, scoreCompletion } from './metrics.ts';
import {
  type BenchMethod, type MethodPrediction, MethodUnavailableError, type PreparedMethod, type RepoContext, type TargetLikelihood,
} from './methods.ts';
import { nameRecall } from './repoKnowledge.ts';
import type { BenchSplit, BenchTask, TaskMode } from './taskSet.ts';
import { groupBy } from '../util/groupBy.ts';

/** One scored completion: results.json's `tasks` array and each line of results.partial.jsonl. */
export interface TaskRecord {
  task_id: string;
  repo: string;
  commit: string;
  file: string;
  line: number;
  kind: string;
  mode: TaskMode;
  method: string;
  split: BenchSplit;
  target: string;
  /** The raw greedy continuation. */
  prediction: string;
  /** After the paper's post-processing (what EM and EditSim compare). */
  prediction_clean: string;
  em: boolean;
  editsim: number;
  prompt_tokens: number;
  extra_prompt_tokens: number;
  seconds: number;
  commit_index?: number;
  commit_count?: number;
  /**
   * Mean negative log-likelihood of the target's tokens (nats a token), teacher-forced after the method's prompt
   * (methods.ts TargetLikelihood), and how many tokens it averages: absent in records made before it was measured.
   */
  target_nll?: number;
  target_tokens?: number;
  /** Tasks that need repository knowledge: the names (BenchTask.repoNames) and the share the prediction wrote. */
  repo_names?: string[];
  name_recall?: number;
}

/** The one-off per-repository cost of a method (RAG index, adapter generation), recorded apart from per-task time. */
export interface PrepareRecord {
  method: string;
  repo: string;
  commit: string;
  seconds: number;
}

export interface BenchProgress {
  done: number;
  total: number;
  /** Finished in an earlier run and read back from the partial file. */
  resumed: number;
  method: string;
  repo: string;
  elapsedSeconds: number;
  etaSeconds: number | null;
}

export interface RunBenchmarkOptions {
  tasks: readonly BenchTask[];
  methods: readonly BenchMethod[];
  /** The repository at a commit, with its donor for the shuffled control (the caller opens and caches repos). */
  loadContext: (repo: string, commit: string) => Promise<RepoContext>;
  /** Append-only record file; records already in it are skipped. */
  partialPath: string;
  /** Append-only file of per-repository preparation costs. */
  preparePath: string;
  signal?: AbortSignal;
  onProgress?: (progress: BenchProgress) => void;
  onNote?: (message: string) => void;
}

export interface BenchRun {
  records: TaskRecord[];
  prepares: PrepareRecord[];
  /** (method, repo) pairs that could not run, with the reason. */
  skipped: { method: string; repo: string; commit: string; tasks: number; reason: string }[];
}

export const recordKey = (taskId: string, method: string) => `${taskId}\u0000${method}`;

/**
 * The (task, method) pairs a run scores, and those a method refuses (BenchMethod.skipReason), counted per method,
 * repository, commit and reason for results.json's `skipped`.
 */
export function plannedPairs(tasks: readonly BenchTask[], methods: readonly BenchMethod[]): { wanted: Set<string>; refused: BenchRun['skipped'] } {
  const wanted = new Set<string>();
  const refused = new Map<string, BenchRun['skipped'][number]>();
  for (const method of methods) {
    for (const task of tasks) {
      const reason = method.skipReason?.(task) ?? null;
      if (reason === null) {
        wanted.add(recordKey(task.id, method.name));
        continue;
      }
      const key = [method.name, task.repo, task.commit, reason].join('\u0000');
      const entry = refused.get(key);
      if (entry) entry.tasks++;
      else refused.set(key, { method: method.name, repo: task.repo, commit: task.commit, tasks: 1, reason });
    }
  }
  return { wanted, refused: [...refused.values()] };
}

/** Tasks grouped by repository and commit (each method prepares once per group), in first-seen order. */
export function groupByRepoCommit(tasks: readonly BenchTask[]): BenchTask[][] {
  const groups = new Map<string, BenchTask[]>();
  for (const task of tasks) {
    const key = `${task.repo}\u0000${task.commit}`;
    const group = groups.get(key);
    if (group) group.push(task);
    else groups.set(key, [task]);
  }
  return [...groups.values()];
}

/** A task's record: the raw prediction scored with the paper's post-processing (the same for every engine). */
export function scoredRecord(task: BenchTask, method: string, predicted: MethodPrediction, seconds: number): TaskRecord {
  const score = scoreCompletion(predicted.prediction, task.target);
  return {
    task_id: task.id, repo: task.repo, commit: task.commit, file: task.file, line: task.line, kind: task.kind,
    mode: task.mode, method, split: task.split, target: task.target, prediction: predicted.prediction,
    prediction_clean: score.prediction, em: score.em, editsim: score.editsim, prompt_tokens: predicted.promptTokens,
    extra_prompt_tokens: predicted.extraPromptTokens, seconds,
    ...(task.commitIndex !== undefined ? { commit_index: task.commitIndex, commit_count: task.commitCount } : {}),
    ...(predicted.likelihood ? { target_nll: predicted.likelihood.nll, target_tokens: predicted.likelihood.tokens } : {}),
    ...(task.repoNames?.length ? { repo_names: task.repoNames, name_recall: nameRecall(predicted.prediction, task.target, task.repoNames) } : {}),
  };
}

/** An earlier record with its target's likelihood added (its completion and decode time as they were). */
function withLikelihood(record: TaskRecord, likelihood: TargetLikelihood | null): TaskRecord {
  return likelihood ? { ...record, target_nll: likelihood.nll, target_tokens: likelihood.tokens } : record;
}

/**
 * Reads an append-only JSONL file, dropping a last line cut short by a crash (and truncating the file there, so the
 * next append starts on a fresh line).
 */
export function readJsonlResumable<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  let text = readFileSync(path, 'utf8');
  if (text.length > 0 && !text.endsWith('\n')) {
    text = text.slice(0, text.lastIndexOf('\n') + 1);
    writeFileSync(path, text);
  }
  return text.split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as T);
}

/**
 * What a rerun starts from: the preparation costs already recorded, the planned (task, method) pairs and the refused
 * ones, and the records of earlier runs that are still wanted, the last one of each pair (a rescored record is appended
 * after the one it completes). Those with a likelihood or nothing to score (keys in `done`) are `kept`; those made
 * before the target was scored are `unscored`: the pair is run again, and only its target scored where the engine can.
 */
export function resumeRun(tasks: readonly BenchTask[], methods: readonly BenchMethod[], partialPath: string, preparePath: string) {
  const prepares = readJsonlResumable<PrepareRecord>(preparePath);
  const { wanted, refused } = plannedPairs(tasks, methods);
  const latest = new Map<string, TaskRecord>();
  for (const record of readJsonlResumable<TaskRecord>(partialPath)) {
    const key = recordKey(record.task_id, record.method);
    if (wanted.has(key)) latest.set(key, record);
  }
  const done = new Set<string>();
  const kept: TaskRecord[] = [];
  const unscored = new Map<string, TaskRecord>();
  for (const [key, record] of latest) {
    if (record.target_nll === undefined && record.target !== '') {
      unscored.set(key, record);
    } else {
      done.add(key);
      kept.push(record);
    }
  }
  return { prepares, wanted, refused, done, kept, unscored };
}

/**
 * A method that cannot run on a group's `tasks` now (MethodUnavailableError): its earlier records of them stay as they
 * were, unscored, rather than be lost; the tasks it never did go to `skipped` with the reason. Returns how many.
 */
export function skipUnavailable(
  resume: Pick<ReturnType<typeof resumeRun>, 'done' | 'kept' | 'unscored'>, skipped: BenchRun['skipped'],
  { method, repo, commit, tasks, reason }: { method: string; repo: string; commit: string; tasks: readonly BenchTask[]; reason: string },
  onNote?: (message: string) => void,
): number {
  const unrun = tasks.filter((task) => {
    const key = recordKey(task.id, method);
    const earlier = resume.unscored.get(key);
    if (!earlier) return true;
    resume.done.add(key);
    resume.kept.push(earlier);
    return false;
  });
  if (unrun.length < tasks.length) onNote?.(`${method} on ${repo}: ${tasks.length - unrun.length} earlier records kept, their targets unscored: ${reason}`);
  if (unrun.length > 0) {
    skipped.push({ method, repo, commit, tasks: unrun.length, reason });
    onNote?.(`skipped ${method} on ${repo} (${unrun.length} tasks): ${reason}`);
  }
  return unrun.length;
}

/**
 * Runs every method on every task, grouped by repository and commit so each method prepares once per group.
 * Each finished record is appended to `partialPath` before the next task starts; an abort (Ctrl-C) rejects with
 * the signal's reason and loses only the task in flight. A rerun with the same file skips what is done, and scores
 * the targets of records made before the benchmark scored them without decoding them again.
 */
export async function runBenchmark(options: RunBenchmarkOptions): Promise<BenchRun> {
  const { tasks, methods, loadContext, partialPath, preparePath, signal, onProgress, onNote } = options;
  const resume = resumeRun(tasks, methods, partialPath, preparePath);
  const { prepares, wanted, refused, done, kept, unscored } = resume;
  const resumed = kept.length;
  const total = wanted.size;
  const skipped: BenchRun['skipped'] = [...refused];
  const started = performance.now();
  let finishedHere = 0;
  let skippedCount = 0;
  const report = (method: string, repo: string) => {
    const elapsedSeconds = (performance.now() - started) / 1000;
    const remaining = total - kept.length - skippedCount;
    const etaSeconds = finishedHere > 0 ? (elapsedSeconds / finishedHere) * remaining : null;
    onProgress?.({ done: kept.length + skippedCount, total, resumed, method, repo, elapsedSeconds, etaSeconds });
  };

  for (const groupTasks of groupByRepoCommit(tasks)) {
    const { repo, commit } = groupTasks[0];
    let context: RepoContext | null = null;
    for (const method of methods) {
      const todo = groupTasks.filter((task) => wanted.has(recordKey(task.id, method.name)) && !done.has(recordKey(task.id, method.name)));
      if (todo.length === 0) continue;
      signal?.throwIfAborted();
      context ??= await loadContext(repo, commit);
      let prepared: PreparedMethod;
      const prepareStarted = performance.now();
      try {
        prepared = await method.prepare(context, signal);
      } catch (error) {
        if (!(error instanceof MethodUnavailableError)) throw error;
        skippedCount += skipUnavailable(resume, skipped, { method: method.name, repo, commit, tasks: todo, reason: error.message }, onNote);
        report(method.name, repo);
        continue;
      }
      const prepareRecord: PrepareRecord = { method: method.name, repo, commit, seconds: (performance.now() - prepareStarted) / 1000 };
      appendFileSync(preparePath, JSON.stringify(prepareRecord) + '\n');
      prepares.push(prepareRecord);
      try {
        for (const task of todo) {
          report(method.name, repo);
          const earlier = unscored.get(recordKey(task.id, method.name));
          const taskStarted = performance.now();
          const record = earlier
            ? withLikelihood(earlier, await prepared.scoreOnly(task))
            : scoredRecord(task, method.name, await prepared.predict(task, signal), (performance.now() - taskStarted) / 1000);
          appendFileSync(partialPath, JSON.stringify(record) + '\n');
          done.add(recordKey(task.id, method.name));
          kept.push(record);
          finishedHere++;
        }
      } finally {
        prepared.dispose();
      }
    }
  }
  report('', '');
  return { records: kept, prepares, skipped };
}

export interface SplitSummary {
  method: string;
  split: string;
  n: number;
  /** Percent. */
  em: number;
  em_ci: [number, number];
  editsim: number;
  editsim_ci: [number, number];
  prompt_tokens_mean: number;
  extra_prompt_tokens_mean: number;
  seconds_per_task: number;
  /** Mean one-off preparation time per repository (and commit) for this method, over the whole run. */
  prepare_seconds_mean: number;
  /** Mean target NLL (nats a token) and its CI over the `nll_n` records that measured it; absent where none did. */
  target_nll?: number;
  target_nll_ci?: [number, number];
  nll_n?: number;
}

export interface PairedSummary {
  method: string;
  /** The method subtracted: base, or the other side of one of CLAIM_COMPARISONS. */
  baseline: string;
  split: string;
  n: number;
  /** Percentage points, method minus baseline, over the tasks both scored. */
  em_diff: number;
  em_diff_ci: [number, number];
  p: number;
  editsim_diff: number;
  /** Target NLL, method minus baseline (nats a token; negative: the method makes the targets likelier), over `nll_n` tasks. */
  target_nll_diff?: number;
  target_nll_diff_ci?: [number, number];
  target_nll_p?: number;
  nll_n?: number;
}

/**
 * The comparisons the product's claims rest on, paired beside every method's difference from base: a generated adapter
 * against one shared LoRA and against another repository's adapter; Evo against Static re-run per commit and the shared LoRA.
 */
export const CLAIM_COMPARISONS: readonly (readonly [string, string])[] = [
  ['code2lora-static', 'shared-lora'], ['code2lora-static', 'shuffled-adapter'],
  ['code2lora-evo', 'code2lora-static'], ['code2lora-evo', 'shared-lora'],
];

export interface RepoSummary {
  method: string;
  repo: string;
  n: number;
  em: number;
  em_ci: [number, number];
  /** Mean target NLL over the `nll_n` records that measured it; absent where none did. */
  target_nll?: number;
  target_nll_ci?: [number, number];
  nll_n?: number;
}

export interface TimelinePoint {
  method: string;
  /** Bin of the task's commit position in its history, 0 (oldest) .. bins-1 (newest). */
  bin: number;
  bins: number;
  n: number;
  em: number;
}

/** On the tasks that need repository knowledge (those with repo_names), per (method, split). */
export interface RepoKnowledgeSummary {
  method: string;
  split: string;
  n: number;
  /** Percent. */
  em: number;
  em_ci: [number, number];
  /** Percent of the needed names the scored predictions wrote, averaged over tasks. */
  name_recall: number;
  name_recall_ci: [number, number];
  /** Mean target NLL (nats a token) and its CI over the `nll_n` records that measured it; absent where none did. */
  target_nll?: number;
  target_nll_ci?: [number, number];
  nll_n?: number;
  /** Against the baseline on the same tasks, percentage points (NLL: nats a token); absent for the baseline itself or without it. */
  em_diff?: { mean: number; ci: [number, number]; p: number };
  name_recall_diff?: { mean: number; ci: [number, number]; p: number };
  target_nll_diff?: { mean: number; ci: [number, number]; p: number };
}

export interface BenchSummary {
  summary: SplitSummary[];
  paired: PairedSummary[];
  perRepo: RepoSummary[];
  evoTimeline: TimelinePoint[];
  repoKnowledge: RepoKnowledgeSummary[];
  /** CLAIM_COMPARISONS on the tasks that need repository knowledge: where an adapter's specificity should show first. */
  repoKnowledgePaired: PairedSummary[];
}

/** SplitSummary's likelihood fields, over the records of `group` that measured it (none: no fields). */
function likelihoodSummary(group: readonly TaskRecord[], seed: number): Pick<SplitSummary, 'target_nll' | 'target_nll_ci' | 'nll_n'> {
  const values = group.flatMap((r) => (r.target_nll !== undefined ? [r.target_nll] : []));
  if (values.length === 0) return {};
  const nll = bootstrapMean(values, { seed });
  return { target_nll: nll.mean, target_nll_ci: nll.ci, nll_n: values.length };
}

const average = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
const percent = ([lo, hi]: [number, number]): [number, number] => [lo * 100, hi * 100];

/**
 * Summaries with seeded bootstrap CIs: per (method, split), paired differences against `baseline` and the
 * CLAIM_COMPARISONS (same tasks), per (method, repo), and evo EM along commit time in `timelineBins` bins.
 */
export function summarizeRun(
  run: Pick<BenchRun, 'records' | 'prepares'>,
  { seed = 0, baseline = 'base', timelineBins = 10, methodOrder }: { seed?: number; baseline?: string; timelineBins?: number; methodOrder?: string[] } = {},
): BenchSummary {
  const { records, prepares } = run;
  const order = methodOrder ?? [...new Set(records.map((record) => record.method))];
  const rank = (method: string) => (order.includes(method) ? order.indexOf(method) : order.length);
  const prepareMean = new Map([...groupBy(prepares, (p) => p.method)].map(([method, list]) => [method, average(list.map((p) => p.seconds))]));

  const summary: SplitSummary[] = [];
  for (const [key, group] of groupBy(records, (r) => `${r.method}\u0000${r.split}`)) {
    const [method, split] = key.split('\u0000');
    const em = bootstrapMean(group.map((r) => Number(r.em)), { seed });
    const editsim = bootstrapMean(group.map((r) => r.editsim), { seed });
    summary.push({
      method, split, n: group.length, em: em.mean * 100, em_ci: percent(em.ci), editsim: editsim.mean, editsim_ci: editsim.ci,
      prompt_tokens_mean: average(group.map((r) => r.prompt_tokens)),
      extra_prompt_tokens_mean: average(group.map((r) => r.extra_prompt_tokens)),
      seconds_per_task: average(group.map((r) => r.seconds)),
      prepare_seconds_mean: prepareMean.get(method) ?? 0,
      ...likelihoodSummary(group, seed),
    });
  }
  summary.sort((a, b) => rank(a.method) - rank(b.method) || a.split.localeCompare(b.split));

  const baselineByTask = new Map(records.filter((r) => r.method === baseline).map((r) => [r.task_id, r]));
  /** Each record of `group` with `against`'s record of the same task, where it scored it. */
  const withBaseline = (group: readonly TaskRecord[], against = baselineByTask) =>
    group.flatMap((r) => (against.has(r.task_id) ? [[r, against.get(r.task_id)!] as const] : []));
  /** The paired NLL difference (with its n) over the pairs whose both records measured it; null: none did. */
  const nllDifference = (pairs: readonly (readonly [TaskRecord, TaskRecord])[]) => {
    const measured = pairs.filter(([r, b]) => r.target_nll !== undefined && b.target_nll !== undefined);
    return measured.length > 0 ? pairedBootstrap(measured.map(([r]) => r.target_nll!), measured.map(([, b]) => b.target_nll!), { seed }) : null;
  };
  /** Each comparison's paired differences per split, over the records of `among` (both sides' records of a task). */
  const pairedOn = (among: readonly TaskRecord[], comparisons: readonly (readonly [string, string])[]): PairedSummary[] => {
    const amongByMethod = groupBy(among, (r) => r.method);
    const result: PairedSummary[] = [];
    for (const [method, against] of comparisons) {
      if (!amongByMethod.has(method) || !amongByMethod.has(against)) continue;
      const againstByTask = new Map(amongByMethod.get(against)!.map((r) => [r.task_id, r]));
      for (const [split, group] of groupBy(amongByMethod.get(method)!, (r) => r.split)) {
        const pairs = withBaseline(group, againstByTask);
        if (pairs.length === 0) continue;
        const em = pairedBootstrap(pairs.map(([r]) => Number(r.em)), pairs.map(([, b]) => Number(b.em)), { seed });
        const nll = nllDifference(pairs);
        result.push({
          method, baseline: against, split, n: pairs.length, em_diff: em.mean * 100, em_diff_ci: percent(em.ci), p: em.p,
          editsim_diff: average(pairs.map(([r, b]) => r.editsim - b.editsim)),
          ...(nll ? { target_nll_diff: nll.mean, target_nll_diff_ci: nll.ci, target_nll_p: nll.p, nll_n: nll.n } : {}),
        });
      }
    }
    return result;
  };
  const paired = pairedOn(records, [...order.filter((method) => method !== baseline).map((method) => [method, baseline] as const), ...CLAIM_COMPARISONS]);
  const byMethods = (a: PairedSummary, b: PairedSummary) => (a.baseline === baseline ? 0 : 1) - (b.baseline === baseline ? 0 : 1)
    || rank(a.method) - rank(b.method) || rank(a.baseline) - rank(b.baseline) || a.split.localeCompare(b.split);
  paired.sort(byMethods);

  const perRepo: RepoSummary[] = [];
  for (const [key, group] of groupBy(records, (r) => `${r.method}\u0000${r.repo}`)) {
    const [method, repo] = key.split('\u0000');
    const em = bootstrapMean(group.map((r) => Number(r.em)), { seed });
    perRepo.push({ method, repo, n: group.length, em: em.mean * 100, em_ci: percent(em.ci), ...likelihoodSummary(group, seed) });
  }
  perRepo.sort((a, b) => a.repo.localeCompare(b.repo) || rank(a.method) - rank(b.method));

  const evoTimeline: TimelinePoint[] = [];
  const evoRecords = records.filter((r) => r.mode === 'evo' && r.commit_index !== undefined && r.commit_count);
  const binOf = (r: TaskRecord) => Math.min(timelineBins - 1, Math.floor((r.commit_index! / Math.max(1, r.commit_count! - 1)) * timelineBins));
  for (const [key, group] of groupBy(evoRecords, (r) => `${r.method}\u0000${binOf(r)}`)) {
    const [method, bin] = key.split('\u0000');
    evoTimeline.push({ method, bin: Number(bin), bins: timelineBins, n: group.length, em: average(group.map((r) => Number(r.em))) * 100 });
  }
  evoTimeline.sort((a, b) => rank(a.method) - rank(b.method) || a.bin - b.bin);

  const repoKnowledge: RepoKnowledgeSummary[] = [];
  const needing = records.filter((r) => r.name_recall !== undefined);
  for (const [key, group] of groupBy(needing, (r) => `${r.method}\u0000${r.split}`)) {
    const [method, split] = key.split('\u0000');
    const em = bootstrapMean(group.map((r) => Number(r.em)), { seed });
    const recall = bootstrapMean(group.map((r) => r.name_recall!), { seed });
    const entry: RepoKnowledgeSummary = {
      method, split, n: group.length, em: em.mean * 100, em_ci: percent(em.ci), name_recall: recall.mean * 100, name_recall_ci: percent(recall.ci),
      ...likelihoodSummary(group, seed),
    };
    // The baseline's record of a task that needs the repository needs it too: it carries name_recall.
    const pairs = method === baseline ? [] : withBaseline(group);
    if (pairs.length > 0) {
      const difference = (pick: (r: TaskRecord) => number) => {
        const d = pairedBootstrap(pairs.map(([r]) => pick(r)), pairs.map(([, b]) => pick(b)), { seed });
        return { mean: d.mean * 100, ci: percent(d.ci), p: d.p };
      };
      entry.em_diff = difference((r) => Number(r.em));
      entry.name_recall_diff = difference((r) => r.name_recall!);
      const nll = nllDifference(pairs);
      if (nll) entry.target_nll_diff = { mean: nll.mean, ci: nll.ci, p: nll.p };
    }
    repoKnowledge.push(entry);
  }
  repoKnowledge.sort((a, b) => rank(a.method) - rank(b.method) || a.split.localeCompare(b.split));
  const repoKnowledgePaired = pairedOn(needing, CLAIM_COMPARISONS).sort(byMethods);
  return { summary, paired, perRepo, evoTimeline, repoKnowledge, repoKnowledgePaired };
}
