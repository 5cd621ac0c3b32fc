// `npm run bench -- --repos <list|file> --methods <list> --out DIR [--tasks tasks.jsonl] [--model DIR|tiny] [--limit N] [--seed N]`:
// scores methods on assertion completion (the paper's EM and EditSim, bootstrap CIs); resumable; writes results.json, report.md, SVGs.
import { parseArgs } from 'node:util';
import { runBenchmarkCommand } from '../src/bench/benchmark.ts';
import { loadBenchModel } from '../src/bench/benchModel.ts';
import { untrainedHypernetwork } from '../src/code2lora/makeAdapter.ts';
import { METHOD_NAMES } from '../src/bench/methods.ts';
import { readRepoArgument } from '../src/bench/repoSources.ts';
import { BENCH_SPLITS, type BenchSplit } from '../src/bench/taskSet.ts';
import { loadHypernetworkDirectory, loadPeftDirectory, perRepoAdapterDirectory } from '../src/bench/weightFiles.ts';
import { initBackend } from '../src/model/backend.ts';
import { loadPythonParser } from '../src/parse/pythonParser.ts';
import { existsSync } from 'node:fs';
import { heldOutOption, integerOption, progressBar, UsageError } from './benchArgs.ts';

const DEFAULT_METHODS = 'base,rag,code2lora-static,shuffled-adapter';
const USAGE = `usage: npm run bench -- --out DIR (--repos <comma list | file> | --tasks tasks.jsonl) [--methods ${DEFAULT_METHODS}]
  [--model DIR | --model tiny] [--hypernetwork DIR] [--shared-lora DIR] [--per-repo-lora DIR] [--limit N] [--seed N]
  [--splits ${['cr_test', 'ir_test', 'evo_cr_test', 'evo_ir_test'].join(',')}] [--history N] [--held-out all|VAL,TEST]
  [--min-per-repo N] [--max-new-tokens N]
  repositories: local git work trees, git URLs, or synth:SEED; methods: ${METHOD_NAMES.join(', ')}
  Rerun the same command after an interruption to resume (DIR/results.partial.jsonl keeps every finished record).`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      repos: { type: 'string' },
      tasks: { type: 'string' },
      methods: { type: 'string', default: DEFAULT_METHODS },
      out: { type: 'string' },
      model: { type: 'string' },
      hypernetwork: { type: 'string' },
      'shared-lora': { type: 'string' },
      'per-repo-lora': { type: 'string' },
      limit: { type: 'string' },
      seed: { type: 'string' },
      splits: { type: 'string' },
      history: { type: 'string' },
      'held-out': { type: 'string' },
      'min-per-repo': { type: 'string' },
      'max-new-tokens': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.out) throw new UsageError(`--out is required\n${USAGE}`);
  if (!values.repos && !values.tasks && !existsSync(`${values.out}/tasks.jsonl`)) throw new UsageError(`give --repos or --tasks\n${USAGE}`);
  const splits = values.splits?.split(',').map((split) => split.trim()) as BenchSplit[] | undefined;
  const unknownSplit = splits?.find((split) => !BENCH_SPLITS.includes(split));
  if (unknownSplit) throw new UsageError(`unknown split ${unknownSplit} (known: ${BENCH_SPLITS.join(', ')})`);
  const minPerRepo = values['min-per-repo'] === undefined ? undefined : integerOption('min-per-repo', values['min-per-repo'], 30);

  await initBackend();
  const benchModel = await loadBenchModel(values.model);
  const modelConfig = benchModel.model.config;
  const hypernetwork = values.hypernetwork
    ? await loadHypernetworkDirectory(values.hypernetwork, modelConfig)
    : untrainedHypernetwork(benchModel.model.config);
  const sharedLora = values['shared-lora'] ? await loadPeftDirectory(values['shared-lora'], modelConfig) : null;
  const perRepoRoot = values['per-repo-lora'];
  const perRepoLora = perRepoRoot
    ? async (repo: string) => {
      const directory = perRepoAdapterDirectory(perRepoRoot, repo);
      return existsSync(directory) ? loadPeftDirectory(directory, modelConfig) : null;
    }
    : null;

  const controller = new AbortController();
  let interrupts = 0;
  process.on('SIGINT', () => {
    if (++interrupts > 1) process.exit(130);
    process.stderr.write('\ninterrupted: stopping after the task in flight (finished records are kept; rerun to resume)\n');
    controller.abort(new Error('interrupted'));
  });

  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`;
  try {
    const result = await runBenchmarkCommand({
      outDir: values.out,
      specs: values.repos ? await readRepoArgument(values.repos) : [],
      tasksPath: values.tasks,
      methods: values.methods.split(',').map((method) => method.trim()).filter(Boolean),
      benchModel, hypernetwork, sharedLora, perRepoLora,
      parser: await loadPythonParser(),
      seed: integerOption('seed', values.seed, 0),
      history: integerOption('history', values.history, 50, 1),
      heldOut: heldOutOption(values['held-out']),
      splits,
      limit: values.limit === undefined ? undefined : integerOption('limit', values.limit, 0, 1),
      maxNewTokens: integerOption('max-new-tokens', values['max-new-tokens'], 64, 1),
      limits: minPerRepo === undefined ? undefined : { minPerRepo },
      command,
      signal: controller.signal,
      onProgress: progressBar(),
      onNote: (message) => process.stderr.write(`${message}\n`),
    });
    console.log(`${result.records.length} records; wrote ${result.resultsPath} and ${result.reportPath} in ${result.wallSeconds.toFixed(1)} s`);
  } catch (error) {
    if (controller.signal.aborted) {
      console.error(`stopped; finished records are in ${values.out}/results.partial.jsonl: rerun the same command to resume`);
      process.exit(130);
    }
    throw error;
  }
}

main().catch((error: unknown) => {
  const code = (error as { code?: string }).code;
  console.error(code ? `${code}: ${(error as Error).message}` : error);
  process.exit(1);
});
