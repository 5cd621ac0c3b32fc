// `npm run bench -- --repos <list|file> --methods <list> --out DIR [--tasks tasks.jsonl] [--model DIR|tiny] [--limit N] [--seed N]`:
// scores methods on assertion completion (the paper's EM and EditSim, bootstrap CIs); resumable; writes results.json, report.md, SVGs.
import { parseArgs } from 'node:util';
import { runBenchmarkCommand } from '../src/bench/benchmark.ts';
import { DEFAULT_MODEL_DIRECTORY, defaultBenchModelSpec, loadBenchModel, TINY_MODEL } from '../src/bench/benchModel.ts';
import { untrainedHypernetwork } from '../src/code2lora/makeAdapter.ts';
import { METHOD_NAMES } from '../src/bench/methods.ts';
import { readRepoArgument } from '../src/bench/repoSources.ts';
import { BENCH_SPLITS, type BenchSplit } from '../src/bench/taskSet.ts';
import { torchModelDirectory } from '../src/bench/torchEngine.ts';
import { PER_REPO_DATA, type PerRepoData } from '../src/bench/perRepoLora.ts';
import { loadHypernetworkDirectory, loadPeftDirectory, perRepoAdapterDirectory } from '../src/bench/weightFiles.ts';
import { initBackend } from '../src/model/backend.ts';
import { loadPythonParser } from '../src/parse/pythonParser.ts';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { EVO_HYPERNETWORK_FOLDER, STATIC_HYPERNETWORK_FOLDER } from '../src/model/shippedModels.ts';
import { heldOutOption, integerOption, progressBar, UsageError } from './benchArgs.ts';

const DEFAULT_METHODS = 'base,rag,code2lora-static,shuffled-adapter';
const USAGE = `usage: npm run bench -- --out DIR (--repos <comma list | file> | --tasks tasks.jsonl) [--methods ${DEFAULT_METHODS}]
  [--model DIR | FILE.gguf | tiny] [--hypernetwork DIR] [--evo-hypernetwork DIR] [--shared-lora DIR] [--per-repo-lora DIR] [--limit N] [--seed N]
  [--splits ${['cr_test', 'ir_test', 'evo_cr_test', 'evo_ir_test'].join(',')}] [--history N] [--held-out all|VAL,TEST]
  [--min-per-repo N] [--max-new-tokens N] [--context-tokens N]
  [--engine ts|torch] [--torch-model DIR] [--batch-size N] [--torch-dtype float32|bfloat16]
  [--per-repo-steps N] [--per-repo-init PEFT_DIR] [--per-repo-lr LR] [--per-repo-data ir-train|code] [--rag-tokens N]
  repositories: local git work trees, git URLs, or synth:SEED; methods: ${METHOD_NAMES.join(', ')}
  model: default SmolLM2-135M-Instruct (public/models/smollm2-135m-instruct/model.gguf, npm run models:smollm2), else c2l-base;
    --hypernetwork, --evo-hypernetwork and --shared-lora default to code2lora-static/, code2lora-evo/ and shared-lora/
    beside the model when they exist (a trained hypernetwork encodes repositories with c2l-base, the encoder it was trained with)
  --engine torch: the same prompts and adapters decoded in batches by training/evaluate.py (PyTorch, training/.venv) from
    the model's Hugging Face directory (--torch-model; for a GGUF, data/models/<its folder>, converted when missing);
    per-repo-lora without --per-repo-lora trains each repository's LoRA there (--per-repo-steps, default 16: ~2.5 min a repository on 2 idle cores),
    from PEFT's initialisation or from --per-repo-init (a PEFT folder of rank 16, alpha 32, e.g. the shared LoRA),
    on its IR-train tasks (scored on its other static tasks) or with --per-repo-data code on passages of its non-test code
    (scored on every static task)
  --per-repo-lora DIR: each repository's PEFT folder as DIR/<repo> or DIR/<repo>/adapter (a run's OUT/per-repo-lora as is)
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
      'evo-hypernetwork': { type: 'string' },
      'shared-lora': { type: 'string' },
      'per-repo-lora': { type: 'string' },
      limit: { type: 'string' },
      seed: { type: 'string' },
      splits: { type: 'string' },
      history: { type: 'string' },
      'held-out': { type: 'string' },
      'min-per-repo': { type: 'string' },
      'max-new-tokens': { type: 'string' },
      'context-tokens': { type: 'string' },
      engine: { type: 'string', default: 'ts' },
      'torch-model': { type: 'string' },
      'batch-size': { type: 'string' },
      'torch-dtype': { type: 'string', default: 'float32' },
      'per-repo-steps': { type: 'string' },
      'per-repo-init': { type: 'string' },
      'per-repo-lr': { type: 'string' },
      'per-repo-data': { type: 'string' },
      'rag-tokens': { type: 'string' },
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

  const engine = values.engine;
  if (engine !== 'ts' && engine !== 'torch') throw new UsageError(`--engine must be ts or torch, got ${engine}`);
  const dtype = values['torch-dtype'];
  if (dtype !== 'float32' && dtype !== 'bfloat16') throw new UsageError(`--torch-dtype must be float32 or bfloat16, got ${dtype}`);
  const modelSpec = values.model ?? defaultBenchModelSpec((message) => process.stderr.write(`${message}\n`));
  if (engine === 'torch' && modelSpec === TINY_MODEL && !values['torch-model']) {
    throw new UsageError('--engine torch needs model files: --model tiny exists only in memory (give --torch-model DIR or another --model)');
  }

  const perRepoInit = values['per-repo-init'] === undefined ? undefined : resolve(values['per-repo-init']);
  if (perRepoInit && !existsSync(join(perRepoInit, 'adapter_model.safetensors'))) throw new UsageError(`--per-repo-init ${perRepoInit} holds no adapter_model.safetensors`);
  const perRepoData = (values['per-repo-data'] ?? 'ir-train') as PerRepoData;
  if (!PER_REPO_DATA.includes(perRepoData)) throw new UsageError(`--per-repo-data must be one of ${PER_REPO_DATA.join(', ')}, got ${values['per-repo-data']}`);
  const perRepoLearningRate = values['per-repo-lr'] === undefined ? undefined : Number(values['per-repo-lr']);
  if (perRepoLearningRate !== undefined && !(perRepoLearningRate > 0 && perRepoLearningRate < 1)) throw new UsageError(`--per-repo-lr must be a number in (0, 1), got ${values['per-repo-lr']}`);

  await initBackend();
  const benchModel = await loadBenchModel(modelSpec);
  const torch = engine === 'torch'
    ? {
      modelDirectory: values['torch-model'] ?? await torchModelDirectory(modelSpec, { onNote: (message) => process.stderr.write(`${message}\n`) }),
      batchSize: integerOption('batch-size', values['batch-size'], 8, 1), dtype: dtype as 'float32' | 'bfloat16',
    }
    : undefined;
  const modelConfig = benchModel.model.config;
  const methods = values.methods.split(',').map((method) => method.trim()).filter(Boolean);
  // Weights shipped beside the model (public/models/<base>/code2lora-static/, shared-lora/) are the defaults.
  const beside = (folder: string, file: string, wanted: boolean) => {
    if (!wanted || modelSpec === TINY_MODEL) return undefined;
    const directory = join(modelSpec.endsWith('.gguf') ? dirname(modelSpec) : modelSpec, folder);
    if (!existsSync(join(directory, file))) return undefined;
    process.stderr.write(`using ${directory}, shipped beside the model\n`);
    return directory;
  };
  const hypernetworkDirectory = values.hypernetwork
    ?? beside(STATIC_HYPERNETWORK_FOLDER, 'hypernetwork_config.json', methods.some((m) => m === 'code2lora-static' || m === 'shuffled-adapter'));
  const evoDirectory = values['evo-hypernetwork'] ?? beside(EVO_HYPERNETWORK_FOLDER, 'hypernetwork_config.json', methods.includes('code2lora-evo'));
  // A trained hypernetwork reads the file embeddings of the repo encoder it was trained with (c2l-base).
  const encoder = !hypernetworkDirectory && !evoDirectory ? undefined
    : resolve(modelSpec) === resolve(DEFAULT_MODEL_DIRECTORY) ? benchModel : await loadBenchModel(DEFAULT_MODEL_DIRECTORY);
  const hypernetwork = hypernetworkDirectory
    ? await loadHypernetworkDirectory(hypernetworkDirectory, modelConfig, encoder!.model.config)
    : untrainedHypernetwork(modelConfig);
  const evoHypernetwork = evoDirectory ? await loadHypernetworkDirectory(evoDirectory, modelConfig, encoder!.model.config) : null;
  const sharedLoraDirectory = values['shared-lora'] ?? beside('shared-lora', 'adapter_config.json', methods.includes('shared-lora'));
  const sharedLora = sharedLoraDirectory ? await loadPeftDirectory(sharedLoraDirectory, modelConfig) : null;
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
      methods, benchModel, hypernetwork, evoHypernetwork, encoder, sharedLora, perRepoLora,
      parser: await loadPythonParser(),
      seed: integerOption('seed', values.seed, 0),
      history: integerOption('history', values.history, 50, 1),
      heldOut: heldOutOption(values['held-out']),
      splits,
      limit: values.limit === undefined ? undefined : integerOption('limit', values.limit, 0, 1),
      maxNewTokens: integerOption('max-new-tokens', values['max-new-tokens'], 64, 1),
      contextTokens: values['context-tokens'] === undefined ? undefined : integerOption('context-tokens', values['context-tokens'], 0, 2),
      engine, torch, perRepoSteps: integerOption('per-repo-steps', values['per-repo-steps'], 16, 1), perRepoInit, perRepoLearningRate, perRepoData,
      ragTokens: values['rag-tokens'] === undefined ? undefined : integerOption('rag-tokens', values['rag-tokens'], 0, 1),
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
