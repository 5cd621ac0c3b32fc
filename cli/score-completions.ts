// `npm run bench:score -- --tasks TASKS[,TASKS...] --completions METHOD=FILE[+FILE...],... [--splits S,...] [--json OUT]`:
// scores completions that training/evaluate.py decoded (the benchmark's torch engine output) with the benchmark's own
// metrics: lenient EM and EditSim per method and per repository, 95% bootstrap CIs, and paired bootstrap differences
// between methods, over tasks and over repositories (whole repositories resampled). Several task sets (with their
// completion files joined by +) pool into one evaluation.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { bootstrapMean, pairedBootstrap, scoreCompletion } from '../src/bench/metrics.ts';
import { BENCH_SPLITS, parseTaskSetJsonl, type BenchSplit } from '../src/bench/taskSet.ts';
import { UsageError } from './benchArgs.ts';

const USAGE = 'usage: npm run bench:score -- --tasks tasks.jsonl[,tasks.jsonl...] --completions METHOD=completions.jsonl[+completions.jsonl...],... [--splits cr_test,...] [--json OUT]';

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
    for (const file of files.split('+')) {
      readFileSync(file, 'utf8').split('\n').forEach((line, index) => {
        if (!line.trim()) return;
        let record: { id?: unknown; text?: unknown };
        try {
          record = JSON.parse(line) as typeof record;
        } catch {
          record = {};
        }
        if (typeof record.id !== 'string' || typeof record.text !== 'string') {
          throw new UsageError(`${file}:${index + 1}: not a completion record (JSON with string "id" and "text")`);
        }
        texts.set(record.id, record.text);
      });
    }
    return { name, texts };
  });
  // Only tasks every method completed: paired comparisons need the same tasks.
  const scored = tasks.filter((task) => methods.every((method) => method.texts.has(task.id)));
  const em = new Map(methods.map((method) => [method.name, scored.map((task): number => (scoreCompletion(method.texts.get(task.id)!, task.target).em ? 1 : 0))]));
  const editsim = new Map(methods.map((method) => [method.name, scored.map((task) => scoreCompletion(method.texts.get(task.id)!, task.target).editsim)]));
  const repos = [...new Set(scored.map((task) => task.repo))].sort();
  const percent = (x: number) => (100 * x).toFixed(1);
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
    console.log(`| ${name} | ${percent(overall.mean)} [${percent(overall.ci[0])}, ${percent(overall.ci[1])}] | ${percent(sim)} | ${perRepo.map(percent).join(' | ')} |`);
  }
  console.log(`\n| comparison | EM difference, pp [95% CI] | p | over ${repos.length} repositories: [95% CI] | p |\n|---|---|---|---|---|`);
  const differences: Record<string, unknown> = {};
  for (const [i, a] of methods.entries()) {
    for (const b of methods.slice(i + 1)) {
      const d = pairedBootstrap(em.get(a.name)!, em.get(b.name)!, { seed: 0 });
      const byRepo = pairedBootstrap(em.get(a.name)!, em.get(b.name)!, { seed: 0, clusters });
      differences[`${a.name} - ${b.name}`] = { ...d, byRepository: { ci: byRepo.ci, p: byRepo.p } };
      console.log(`| ${a.name} - ${b.name} | ${percent(d.mean)} [${percent(d.ci[0])}, ${percent(d.ci[1])}] | ${d.p.toFixed(4)} `
        + `| [${percent(byRepo.ci[0])}, ${percent(byRepo.ci[1])}] | ${byRepo.p.toFixed(4)} |`);
    }
  }
  const counts = Object.fromEntries(repos.map((repo) => [repo, scored.filter((task) => task.repo === repo).length]));
  console.log(`\ntasks per repository: ${JSON.stringify(counts)}`);
  if (values.json) writeFileSync(values.json, JSON.stringify({ tasks: scored.length, counts, methods: summary, differences }, null, 2) + '\n');
}

try {
  main();
} catch (error) {
  const code = (error as { code?: string }).code;
  console.error(code ? `${code}: ${(error as Error).message}` : error);
  process.exit(1);
}
