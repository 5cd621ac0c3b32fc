// `npm run bench:score -- --tasks TASKS[,TASKS...] --completions METHOD=FILE[+FILE...],... [--splits S,...] [--json OUT]`:
// scores completions that training/evaluate.py decoded (the benchmark's torch engine output) with the benchmark's own
// metrics: lenient EM and EditSim per method and per repository, 95% bootstrap CIs, and paired bootstrap differences
// between methods, over tasks and over repositories (whole repositories resampled); then the same on the tasks that need
// repository knowledge (src/bench/repoKnowledge.ts), with name recall beside EM; where the completions scored their
// targets (evaluate.py's target_nll), the targets' likelihood and its paired differences too. Several task sets (with their
// completion files joined by +) pool into one evaluation.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { bootstrapMean, pairedBootstrap, scoreCompletion } from '../src/bench/metrics.ts';
import { nameRecall } from '../src/bench/repoKnowledge.ts';
import { BENCH_SPLITS, type BenchSplit, type BenchTask, parseTaskSetJsonl } from '../src/bench/taskSet.ts';
import { UsageError } from './benchArgs.ts';

const USAGE = 'usage: npm run bench:score -- --tasks tasks.jsonl[,tasks.jsonl...] --completions METHOD=completions.jsonl[+completions.jsonl...],... [--splits cr_test,...] [--json OUT]';

const percent = (x: number) => (100 * x).toFixed(1);
/** `[lo, hi]` in percent. */
const range = ([lo, hi]: readonly [number, number]) => `[${percent(lo)}, ${percent(hi)}]`;
/** `mean [lo, hi]` in percent. */
const interval = ({ mean, ci }: { mean: number; ci: readonly [number, number] }) => `${percent(mean)} ${range(ci)}`;

/** a - b, paired over tasks, and over repositories (whole repositories resampled, then their tasks). */
function pairedOverTasksAndRepositories(a: readonly number[], b: readonly number[], clusters: readonly string[]) {
  const overTasks = pairedBootstrap(a, b, { seed: 0 });
  const overRepositories = pairedBootstrap(a, b, { seed: 0, clusters });
  return { ...overTasks, byRepository: { ci: overRepositories.ci, p: overRepositories.p } };
}

function main(): void {
  const { values } = parseArgs({
    options: { tasks: { type: 'string' }, completions: { type: 'string' }, splits: { type: 'string' }, json: { type: 'string' } },
  });
  if (!values.tasks || !values.completions) throw new UsageError(USAGE);
  const splits = values.splits?.split(',').map((split) => split.trim()).filter(Boolean);
  const unknownSplit = splits?.find((split) => !BENCH_SPLITS.includes(split as BenchSplit));
  if (unknownSplit) throw new UsageError(`unknown split ${unknownSplit} (known: ${BENCH_SPLITS.join(', ')})`);
  const tasks = values.tasks.split(',').flatMap((file) => parseTaskSetJsonl(readFileSync(file, 'utf8'), file))
    .filter((task) => !splits || splits.includes(task.split));
  const ids = new Set<string>();
  for (const task of tasks) {
    if (ids.has(task.id)) throw new UsageError(`task ${task.id} is in more than one of ${values.tasks}: the sets overlap`);
    ids.add(task.id);
  }
  const methods = values.completions.split(',').map((pair) => {
    const [name, files] = pair.split('=');
    if (!name || !files) throw new UsageError(`--completions takes METHOD=FILE pairs, got ${JSON.stringify(pair)}\n${USAGE}`);
    const texts = new Map<string, string>();
    const nll = new Map<string, number>();
    for (const file of files.split('+')) {
      readFileSync(file, 'utf8').split('\n').forEach((line, index) => {
        if (!line.trim()) return;
        let record: { id?: unknown; text?: unknown; target_nll?: unknown };
        try {
          record = JSON.parse(line) as typeof record;
        } catch {
          record = {};
        }
        if (typeof record.id !== 'string' || typeof record.text !== 'string') {
          throw new UsageError(`${file}:${index + 1}: not a completion record (JSON with string "id" and "text")`);
        }
        texts.set(record.id, record.text);
        if (typeof record.target_nll === 'number' && Number.isFinite(record.target_nll)) nll.set(record.id, record.target_nll);
        else nll.delete(record.id);
      });
    }
    return { name, texts, nll };
  });
  // Only tasks every method completed: paired comparisons need the same tasks.
  const scored = tasks.filter((task) => methods.every((method) => method.texts.has(task.id)));
  const scores = new Map(methods.map((method) => [method.name, scored.map((task) => scoreCompletion(method.texts.get(task.id)!, task.target))]));
  const em = new Map([...scores].map(([name, list]) => [name, list.map((score): number => (score.em ? 1 : 0))]));
  const editsim = new Map([...scores].map(([name, list]) => [name, list.map((score) => score.editsim)]));
  const repos = [...new Set(scored.map((task) => task.repo))].sort();
  const clusters = scored.map((task) => task.repo);
  console.log(`${scored.length} of ${tasks.length} tasks${splits ? ` (splits ${splits.join(', ')})` : ''} completed by every method; repositories: ${repos.join(', ')}\n`);
  console.log(`| method | EM % [95% CI] | EditSim % | ${repos.map((repo) => `${repo} EM %`).join(' | ')} |`);
  console.log(`|---|---|---|${repos.map(() => '---').join('|')}|`);
  const summary: Record<string, unknown> = {};
  for (const { name } of methods) {
    const overall = bootstrapMean(em.get(name)!, { seed: 0 });
    const perRepo = repos.map((repo) => {
      const values = em.get(name)!.filter((_, i) => scored[i].repo === repo);
      return values.reduce((a, b) => a + b, 0) / values.length;
    });
    const sim = editsim.get(name)!.reduce((a, b) => a + b, 0) / scored.length;
    summary[name] = { em: overall, editsim: sim, perRepo: Object.fromEntries(repos.map((repo, i) => [repo, perRepo[i]])) };
    console.log(`| ${name} | ${interval(overall)} | ${percent(sim)} | ${perRepo.map(percent).join(' | ')} |`);
  }
  console.log(`\n| comparison | EM difference, pp [95% CI] | p | over ${repos.length} repositories: [95% CI] | p |\n|---|---|---|---|---|`);
  const differences: Record<string, unknown> = {};
  for (const [i, a] of methods.entries()) {
    for (const b of methods.slice(i + 1)) {
      const d = pairedOverTasksAndRepositories(em.get(a.name)!, em.get(b.name)!, clusters);
      differences[`${a.name} - ${b.name}`] = d;
      console.log(`| ${a.name} - ${b.name} | ${interval(d)} | ${d.p.toFixed(4)} | ${range(d.byRepository.ci)} | ${d.byRepository.p.toFixed(4)} |`);
    }
  }
  const counts = Object.fromEntries(repos.map((repo) => [repo, scored.filter((task) => task.repo === repo).length]));
  console.log(`\ntasks per repository: ${JSON.stringify(counts)}`);
  const likelihood = likelihoodSection(scored, methods, 'every method\'s completion scored');
  const repoKnowledge = repoKnowledgeSection(scored, methods, em);
  const knowledgeLikelihood = repoKnowledge && likelihoodSection(scored.filter((task) => task.repoNames?.length), methods, 'that need repository knowledge');
  if (knowledgeLikelihood) repoKnowledge!.likelihood = knowledgeLikelihood;
  if (values.json) {
    writeFileSync(values.json, JSON.stringify({
      tasks: scored.length, counts, methods: summary, differences, ...(likelihood ? { likelihood } : {}), ...(repoKnowledge ? { repoKnowledge } : {}),
    }, null, 2) + '\n');
  }
}

/**
 * The targets' mean NLL (nats a token; evaluate.py's target_nll) per method, and paired differences (tasks,
 * repositories), on those of `tasks` whose target every method's completion scored; null where none did. `which`
 * says which tasks in the printed heading.
 */
function likelihoodSection(
  tasks: readonly BenchTask[], methods: readonly { name: string; nll: Map<string, number> }[], which: string,
): Record<string, unknown> | null {
  const measured = tasks.filter((task) => methods.every((method) => method.nll.has(task.id)));
  if (measured.length === 0) return null;
  const clusters = measured.map((task) => task.repo);
  const values = new Map(methods.map((m) => [m.name, measured.map((task) => m.nll.get(task.id)!)]));
  const nats = (x: number) => x.toFixed(4);
  const natsInterval = ({ mean, ci }: { mean: number; ci: readonly [number, number] }) => `${nats(mean)} [${nats(ci[0])}, ${nats(ci[1])}]`;
  console.log(`\nlikelihood of the target on the ${measured.length} tasks ${which} (nats a token, lower is better; evaluate.py's target_nll)\n`);
  console.log('| method | target NLL [95% CI] |\n|---|---|');
  const perMethod: Record<string, unknown> = {};
  for (const { name } of methods) {
    const mean = bootstrapMean(values.get(name)!, { seed: 0 });
    perMethod[name] = mean;
    console.log(`| ${name} | ${natsInterval(mean)} |`);
  }
  console.log('\n| comparison | NLL difference [95% CI] | p | over repositories: [95% CI] |\n|---|---|---|---|');
  const differences: Record<string, unknown> = {};
  for (const [i, a] of methods.entries()) {
    for (const b of methods.slice(i + 1)) {
      const d = pairedOverTasksAndRepositories(values.get(a.name)!, values.get(b.name)!, clusters);
      differences[`${a.name} - ${b.name}`] = d;
      console.log(`| ${a.name} - ${b.name} | ${natsInterval(d)} | ${d.p.toFixed(4)} | [${nats(d.byRepository.ci[0])}, ${nats(d.byRepository.ci[1])}] |`);
    }
  }
  return { tasks: measured.length, methods: perMethod, differences };
}

/**
 * EM and name recall on the scored tasks that need repository knowledge, with paired differences (tasks, repositories).
 * `em`: each method's EM over `scored`, as the main table has it.
 */
function repoKnowledgeSection(
  scored: readonly BenchTask[], methods: readonly { name: string; texts: Map<string, string> }[], em: ReadonlyMap<string, readonly number[]>,
): Record<string, unknown> | null {
  const needing = scored.flatMap((task, index) => (task.repoNames?.length ? [{ task, index }] : []));
  if (needing.length === 0) return null;
  const clusters = needing.map(({ task }) => task.repo);
  const needingEm = new Map([...em].map(([name, values]) => [name, needing.map(({ index }) => values[index])]));
  const recall = new Map(methods.map((m) => [m.name, needing.map(({ task }) => nameRecall(m.texts.get(task.id)!, task.target, task.repoNames!))]));
  console.log(`\n${needing.length} tasks need repository knowledge (a name the repository defines that the prompt never mentions)\n`);
  console.log('| method | EM % [95% CI] | name recall % [95% CI] |\n|---|---|---|');
  const perMethod: Record<string, unknown> = {};
  for (const { name } of methods) {
    const e = bootstrapMean(needingEm.get(name)!, { seed: 0 });
    const r = bootstrapMean(recall.get(name)!, { seed: 0 });
    perMethod[name] = { em: e, nameRecall: r };
    console.log(`| ${name} | ${interval(e)} | ${interval(r)} |`);
  }
  console.log('\n| comparison | measure | difference, pp [95% CI] | p | over repositories: [95% CI] |\n|---|---|---|---|---|');
  const differences: Record<string, unknown> = {};
  for (const [i, a] of methods.entries()) {
    for (const b of methods.slice(i + 1)) {
      const entry: Record<string, unknown> = {};
      for (const [measure, values] of [['EM', needingEm], ['name recall', recall]] as const) {
        const d = pairedOverTasksAndRepositories(values.get(a.name)!, values.get(b.name)!, clusters);
        entry[measure === 'EM' ? 'em' : 'nameRecall'] = d;
        console.log(`| ${a.name} - ${b.name} | ${measure} | ${interval(d)} | ${d.p.toFixed(4)} | ${range(d.byRepository.ci)} |`);
      }
      differences[`${a.name} - ${b.name}`] = entry;
    }
  }
  return { tasks: needing.length, methods: perMethod, differences };
}

try {
  main();
} catch (error) {
  const code = (error as { code?: string }).code;
  console.error(code ? `${code}: ${(error as Error).message}` : error);
  process.exit(1);
}
