// `npm run bench:tasks -- --repos <list|file> --out DIR [--seed N] [--history N] [--held-out all|VAL,TEST] [--min-per-repo N] [--no-evo]`:
// builds a versioned benchmark task set (DIR/tasks.jsonl + DIR/manifest.json) from repositories, deterministically from the seed.
import { parseArgs } from 'node:util';
import { buildTaskSetFromSpecs, writeTaskSet } from '../src/bench/benchmark.ts';
import { readRepoArgument } from '../src/bench/repoSources.ts';
import { loadPythonParser } from '../src/parse/pythonParser.ts';
import { heldOutOption, integerOption, UsageError } from './benchArgs.ts';

const USAGE = 'usage: npm run bench:tasks -- --repos <comma list | file of "SOURCE [NAME]" lines> --out DIR [--seed N] [--history N] '
  + '[--held-out all|VAL,TEST] [--min-per-repo N] [--no-evo]\n  SOURCE: a local git work tree, a git URL, or synth:SEED (a generated repository)';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      repos: { type: 'string' },
      out: { type: 'string' },
      seed: { type: 'string' },
      history: { type: 'string' },
      'held-out': { type: 'string' },
      'min-per-repo': { type: 'string' },
      'no-evo': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.repos || !values.out) throw new UsageError(`--repos and --out are required\n${USAGE}`);
  const started = performance.now();
  const minPerRepo = values['min-per-repo'] === undefined ? undefined : integerOption('min-per-repo', values['min-per-repo'], 30);
  const taskSet = await buildTaskSetFromSpecs({
    specs: await readRepoArgument(values.repos),
    parser: await loadPythonParser(),
    seed: integerOption('seed', values.seed, 0),
    history: integerOption('history', values.history, 50, 1),
    heldOut: heldOutOption(values['held-out']),
    evo: !values['no-evo'],
    limits: minPerRepo === undefined ? undefined : { minPerRepo },
    onNote: (message) => process.stderr.write(`${message}\n`),
  });
  await writeTaskSet(values.out, taskSet);
  const { manifest } = taskSet;
  for (const repo of manifest.repos) {
    console.log(`${repo.name} @ ${repo.head.slice(0, 12)} (CR ${repo.crSplit}): static ${repo.static.tasks} of ${repo.static.found} found`
      + `${repo.evo ? `, evo ${repo.evo.tasks} of ${repo.evo.found} over ${repo.commits} commits` : ''}`
      + `${repo.static.dropped ? ` [static dropped: ${repo.static.dropped}]` : ''}${repo.evo?.dropped ? ` [evo dropped: ${repo.evo.dropped}]` : ''}`);
  }
  console.log(`${manifest.counts.total} tasks: ${Object.entries(manifest.counts.bySplit).map(([split, n]) => `${split} ${n}`).join(', ')}`);
  console.log(`wrote ${values.out}/tasks.jsonl and manifest.json in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((error: unknown) => {
  const code = (error as { code?: string }).code;
  console.error(code ? `${code}: ${(error as Error).message}` : error);
  process.exit(1);
});
