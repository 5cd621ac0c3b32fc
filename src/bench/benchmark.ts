// Node only: the whole benchmark as one call (task set -> repositories -> methods -> records -> results.json, report, plots).
import { existsSync, mkdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Hypernetwork } from '../code2lora/makeAdapter.ts';
import type { RepoEncoderModel } from '../code2lora/repoEncoder.ts';
import type { LoraAdapter } from '../model/lora.ts';
import type { MiningLimits } from '../parse/mineTasks.ts';
import type { PythonParser } from '../parse/pythonParser.ts';
import { seededSample } from '../parse/seededRandom.ts';
import type { SplitFractions } from '../parse/splits.ts';
import type { BenchModel } from './benchModel.ts';
import { DiskVectorStore } from './diskVectorStore.ts';
import { type BenchMethod, type BenchRuntime, createMethod, type MethodResources, type RepoContext } from './methods.ts';
import { irTrainTasks, type PerRepoData, type PerRepoTraining, perRepoLoraTrainer } from './perRepoLora.ts';
import { openRepository, type OpenedRepo, type RepoSpec, toolVersions } from './repoSources.ts';
import { renderPlots, renderReport } from './report.ts';
import { type BenchProgress, readJsonlResumable, runBenchmark, summarizeRun, type TaskRecord } from './run.ts';
import { runTorchBenchmark, type TorchEngine } from './torchEngine.ts';
import {
  type BenchSplit, type BenchTask, buildTaskSet, DEFAULT_EVAL_SPLITS, parseManifest, parseTaskSetJsonl, type TaskSet,
  type TaskSetManifest, taskSetToJsonl,
} from './taskSet.ts';

export const RESULTS_FORMAT = 'code2lora-bench-results';
export const RESULTS_VERSION = 1;

export interface BuildOptions {
  specs: readonly RepoSpec[];
  parser: PythonParser;
  seed: number;
  history: number;
  heldOut: 'all' | SplitFractions;
  evo?: boolean;
  limits?: Partial<MiningLimits>;
  onNote?: (message: string) => void;
}

/** Opens each repository, mines and splits, closes them again. */
export async function buildTaskSetFromSpecs(options: BuildOptions): Promise<TaskSet> {
  const opened: OpenedRepo[] = [];
  try {
    for (const spec of options.specs) opened.push(await openRepository(spec, { history: options.history, onProgress: options.onNote }));
    return await buildTaskSet({
      repos: opened, parser: options.parser, seed: options.seed, history: options.history, heldOut: options.heldOut,
      evo: options.evo, limits: options.limits, tools: toolVersions(), onProgress: options.onNote,
    });
  } finally {
    for (const repo of opened) await repo.close();
  }
}

export async function writeTaskSet(directory: string, taskSet: TaskSet): Promise<void> {
  mkdirSync(directory, { recursive: true });
  await writeFile(join(directory, 'tasks.jsonl'), taskSetToJsonl(taskSet.tasks));
  await writeFile(join(directory, 'manifest.json'), JSON.stringify(taskSet.manifest, null, 2) + '\n');
}

/** tasks.jsonl and, when it lies beside it, manifest.json. */
export async function readTaskSet(tasksPath: string): Promise<{ tasks: BenchTask[]; manifest: TaskSetManifest | null }> {
  const tasks = parseTaskSetJsonl(await readFile(tasksPath, 'utf8'), tasksPath);
  const manifestPath = join(dirname(tasksPath), 'manifest.json');
  const manifest = existsSync(manifestPath) ? parseManifest(await readFile(manifestPath, 'utf8'), manifestPath) : null;
  return { tasks, manifest };
}

export interface BenchmarkOptions {
  outDir: string;
  /** Repositories to mine (when `tasksPath` is not given) and to read for the methods' per-repo state. */
  specs: readonly RepoSpec[];
  tasksPath?: string;
  methods: readonly string[];
  benchModel: BenchModel;
  hypernetwork: Hypernetwork;
  /** Code2LoRA-Evo's hypernetwork (code2lora-evo), when one is given. */
  evoHypernetwork?: Hypernetwork | null;
  /** The repo encoder the hypernetwork was trained with (default: the base model, for an untrained hypernetwork). */
  encoder?: RepoEncoderModel;
  sharedLora?: LoraAdapter | null;
  perRepoLora?: MethodResources['perRepoLora'];
  parser: PythonParser;
  seed: number;
  history: number;
  heldOut: 'all' | SplitFractions;
  splits?: readonly BenchSplit[];
  limit?: number;
  maxNewTokens?: number;
  /** Prompt plus generation are cut to this many tokens (default: the model's context). */
  contextTokens?: number;
  limits?: Partial<MiningLimits>;
  /** `ts` (default): the TypeScript runtime, task by task; `torch`: training/evaluate.py in batches (torchEngine.ts). */
  engine?: 'ts' | 'torch';
  /** The torch engine's model directory and settings (required with engine `torch`). */
  torch?: TorchEngine;
  /**
   * Torch engine without `perRepoLora` weights: per-repo-lora trains each repository's adapter with
   * training/train_hypernet.py for this many steps (batch 8) on its IR-train tasks. Default 16 (about 2.5 minutes a repository on 2 idle cores).
   */
  perRepoSteps?: number;
  /**
   * What a per-repo LoRA trained here learns from: `ir-train` (default, the paper's: the repository's IR-train tasks,
   * so it is scored on its other static tasks) or `code` (steps x 8 passages of its non-test code, codeExamples, so
   * it is scored on every static task).
   */
  perRepoData?: PerRepoData;
  /** With per-repo-lora trained here: start each repository's LoRA from this PEFT folder (e.g. the shared LoRA), at this peak learning rate. */
  perRepoInit?: string;
  perRepoLearningRate?: number;
  /** RAG: at most this many tokens of retrieved code before each prompt (MethodResources.ragTokens; default 1,536). */
  ragTokens?: number;
  command: string;
  signal?: AbortSignal;
  onProgress?: (progress: BenchProgress) => void;
  onNote?: (message: string) => void;
}

export interface BenchmarkResult {
  resultsPath: string;
  reportPath: string;
  records: TaskRecord[];
  wallSeconds: number;
}

/**
 * Runs the benchmark into `outDir`: tasks.jsonl + manifest.json (built unless given or already there), the
 * append-only results.partial.jsonl, then results.json, report.md and the SVG plots. Rerunning the same command
 * after an interruption resumes where it stopped.
 */
export async function runBenchmarkCommand(options: BenchmarkOptions): Promise<BenchmarkResult> {
  const started = performance.now();
  const { outDir, benchModel, parser, seed, onNote } = options;
  mkdirSync(outDir, { recursive: true });
  const ownTasks = join(outDir, 'tasks.jsonl');
  let tasksPath = options.tasksPath;
  if (!tasksPath && existsSync(ownTasks)) {
    onNote?.(`using the task set already in ${ownTasks} (resuming)`);
    tasksPath = ownTasks;
  }
  let taskSet: { tasks: BenchTask[]; manifest: TaskSetManifest | null };
  if (tasksPath) {
    taskSet = await readTaskSet(tasksPath);
  } else {
    if (options.specs.length === 0) throw new Error('no repositories given (--repos) and no task set (--tasks)');
    taskSet = await buildTaskSetFromSpecs({ specs: options.specs, parser, seed, history: options.history, heldOut: options.heldOut, limits: options.limits, onNote });
    await writeTaskSet(outDir, taskSet as TaskSet);
  }
  // Synthetic repositories are generated with as many commits as the history asked for: reopen them the same way.
  const history = taskSet.manifest?.history ?? options.history;
  const splits = new Set(options.splits ?? DEFAULT_EVAL_SPLITS);
  let tasks = taskSet.tasks.filter((task) => splits.has(task.split));
  if (options.limit !== undefined) tasks = seededSample(tasks, options.limit, seed, 'bench-limit');
  onNote?.(`${tasks.length} tasks in splits ${[...splits].join(', ')} × ${options.methods.length} methods`);

  // Repositories: the sources the manifest recorded; without a manifest, every --repos entry, opened to learn its name.
  const specByName = new Map<string, RepoSpec>();
  for (const repo of taskSet.manifest?.repos ?? []) specByName.set(repo.name, { source: repo.source, name: repo.name });
  const opened = new Map<string, Promise<OpenedRepo>>();
  if (!taskSet.manifest) {
    for (const spec of options.specs) {
      const repo = await openRepository(spec, { history, onProgress: onNote });
      opened.set(repo.name, Promise.resolve(repo));
    }
  }
  const openedByRepo = (name: string): Promise<OpenedRepo> => {
    if (!opened.has(name)) {
      const spec = specByName.get(name);
      if (!spec) throw new Error(`repository ${name} of the task set is neither in its manifest nor among --repos`);
      opened.set(name, openRepository(spec, { history, onProgress: onNote }));
    }
    return opened.get(name)!;
  };
  const repoNames = [...new Set(taskSet.tasks.map((task) => task.repo))].sort();
  const contexts = new Map<string, Promise<RepoContext>>();
  const contextOf = (repo: string, commit: string, withDonor: boolean): Promise<RepoContext> => {
    const key = `${repo}\u0000${commit}\u0000${withDonor}`;
    if (!contexts.has(key)) {
      contexts.set(key, (async () => {
        const source = await openedByRepo(repo);
        const files = await source.readPythonFiles(commit);
        let donor: RepoContext | null = null;
        if (withDonor && repoNames.length > 1) {
          const donorName = repoNames[(repoNames.indexOf(repo) + 1) % repoNames.length];
          const donorRepo = await openedByRepo(donorName);
          donor = await contextOf(donorName, donorRepo.head, false);
        }
        const history = { commits: source.commits.map((c) => c.sha), readPythonFiles: source.readPythonFiles, diff: source.diff };
        return { repo, commit, files, donor, history };
      })());
    }
    return contexts.get(key)!;
  };

  const engine = options.engine ?? 'ts';
  if (engine === 'torch' && !options.torch) throw new Error('the torch engine needs its model directory (options.torch)');
  const runtime: BenchRuntime = {
    model: benchModel.model, tokenizer: benchModel.tokenizer, parser, maxNewTokens: options.maxNewTokens ?? 64,
    contextTokens: Math.min(options.contextTokens ?? Infinity, benchModel.model.config.maxPositionEmbeddings),
  };
  if (runtime.contextTokens <= runtime.maxNewTokens) {
    throw new Error(`the context (${runtime.contextTokens} tokens) leaves no room for a prompt and ${runtime.maxNewTokens} new tokens`);
  }
  // The IR split of every repository, held out or not: per-repo LoRA trains on IR-train and is scored on the rest,
  // unless it learns from the repository's code instead.
  const perRepoData = options.perRepoData ?? 'ir-train';
  const trainTasks = perRepoData === 'ir-train' ? irTrainTasks(taskSet.tasks, taskSet.manifest?.seed ?? seed) : new Map<string, BenchTask[]>();
  const perRepoWork = join(outDir, 'per-repo-lora');
  const perRepoSteps = options.perRepoSteps ?? 16;
  let perRepoLora = options.perRepoLora;
  if (!perRepoLora && engine === 'torch' && options.methods.includes('per-repo-lora')) {
    perRepoLora = perRepoLoraTrainer({
      modelDirectory: options.torch!.modelDirectory, modelConfig: benchModel.model.config, tokenizer: benchModel.tokenizer,
      data: perRepoData, trainTasks, seed, steps: perRepoSteps, initLora: options.perRepoInit, learningRate: options.perRepoLearningRate, promptTokens: 256,
      workDirectory: perRepoWork, python: options.torch!.python, onNote,
    });
  }
  const resources: MethodResources = {
    hypernetwork: options.hypernetwork, evoHypernetwork: options.evoHypernetwork, encoder: options.encoder,
    // Kept in OUT across reruns (another method, a resumed run): files and diffs are encoded once per encoder.
    embeddingCache: DiskVectorStore.open(join(outDir, `embedding-cache.${options.encoder ? 'encoder' : 'base-model'}.bin`)),
    sharedLora: options.sharedLora, perRepoLora, ragTokens: options.ragTokens,
    irTrainTaskIds: new Set([...trainTasks.values()].flat().map((task) => task.id)),
  };
  const methods: BenchMethod[] = options.methods.map((name) => createMethod(name, runtime, resources));

  try {
    const runOptions = {
      tasks, methods, loadContext: (repo: string, commit: string) => contextOf(repo, commit, true),
      partialPath: join(outDir, 'results.partial.jsonl'), preparePath: join(outDir, 'prepare.partial.jsonl'),
      signal: options.signal, onProgress: options.onProgress, onNote,
    };
    const run = engine === 'torch'
      ? await runTorchBenchmark({
        ...runOptions, engine: options.torch!, tokenizer: benchModel.tokenizer, eosTokenIds: benchModel.model.config.eosTokenIds,
        maxNewTokens: runtime.maxNewTokens, workDirectory: join(outDir, 'torch'),
      })
      : await runBenchmark(runOptions);
    const perRepoTraining = readJsonlResumable<PerRepoTraining>(join(perRepoWork, 'training.jsonl'));
    const methodNames = methods.map((method) => method.name);
    const summary = summarizeRun(run, { seed, methodOrder: methodNames });
    const wallSeconds = (performance.now() - started) / 1000;
    const engineNote = engine === 'torch'
      ? `Engine: torch (training/evaluate.py: transformers + peft on ${options.torch!.modelDirectory}, ${options.torch!.dtype ?? 'float32'}, batches of ${options.torch!.batchSize ?? 8}; per-task seconds are shares of batch time)`
      : 'Engine: ts (the TypeScript runtime, one task at a time)';
    const notes = [
      engineNote,
      ...(perRepoTraining.length > 0
        ? [`per-repo-lora: trained here with training/train_hypernet.py, ${perRepoSteps} steps of batch 8 on each repository's `
          + `${perRepoData === 'ir-train' ? 'IR-train tasks' : 'non-test code (passages of it as examples)'} `
          + `from ${options.perRepoInit ?? "PEFT's initialisation"}${options.perRepoLearningRate !== undefined ? ` at lr ${options.perRepoLearningRate}` : ''} `
          + `(${perRepoTraining.map((t) => `${t.repo} ${t.train_tasks} examples ${t.seconds.toFixed(0)} s`).join('; ')}); `
          + `scored on ${perRepoData === 'ir-train' ? 'its other' : 'every'} static task`]
        : []),
      // Said only where a method made adapters with it: a per-repo-lora or shared-lora run never loads one.
      ...(methodNames.some((m) => m.startsWith('code2lora') || m === 'shuffled-adapter')
        ? [`Hypernetwork: ${options.hypernetwork.trained ? `trained (repo encoder: ${options.encoder ? 'its own' : 'the base model'})` : 'untrained (seeded random initialisation): code2lora adapters carry no repository knowledge yet'}`]
        : []),
      `Decoding: greedy, at most ${runtime.maxNewTokens} new tokens, context ${runtime.contextTokens} tokens (longer prompts lose their start)`,
      `Seed ${seed}; splits ${[...splits].join(', ')}${options.limit !== undefined ? `; --limit ${options.limit}` : ''}`,
    ];
    const results = {
      format: RESULTS_FORMAT, version: RESULTS_VERSION, created: new Date().toISOString(), command: options.command,
      wall_seconds: wallSeconds, model: benchModel.description, engine,
      ...(engine === 'torch' ? { torch: { model_directory: options.torch!.modelDirectory, dtype: options.torch!.dtype ?? 'float32', batch_size: options.torch!.batchSize ?? 8 } } : {}),
      per_repo_training: perRepoTraining, hypernetwork_trained: options.hypernetwork.trained,
      max_new_tokens: runtime.maxNewTokens, context_tokens: runtime.contextTokens, seed, methods: methodNames,
      task_set: taskSet.manifest ? { seed: taskSet.manifest.seed, repos: taskSet.manifest.repos.map(({ name, source, head }) => ({ name, source, head })), counts: taskSet.manifest.counts } : null,
      tools: toolVersions(), skipped: run.skipped, prepare: run.prepares,
      tasks: run.records, summary: summary.summary, paired: summary.paired, per_repo: summary.perRepo, evo_timeline: summary.evoTimeline,
      repo_knowledge: summary.repoKnowledge, repo_knowledge_paired: summary.repoKnowledgePaired,
    };
    const resultsPath = join(outDir, 'results.json');
    await writeFile(resultsPath, JSON.stringify(results, null, 1) + '\n');
    const plots = renderPlots(summary, methodNames);
    for (const [file, svg] of Object.entries(plots)) await writeFile(join(outDir, file), svg);
    const reportPath = join(outDir, 'report.md');
    await writeFile(reportPath, renderReport(summary, {
      command: options.command, wallSeconds, model: benchModel.description,
      computeSeconds: run.records.reduce((sum, r) => sum + r.seconds, 0) + run.prepares.reduce((sum, p) => sum + p.seconds, 0),
      taskSet: taskSet.manifest
        ? `${taskSet.manifest.repos.length} repositories (${taskSet.manifest.repos.map((r) => `${r.name}@${r.head.slice(0, 12)}`).join(', ')}), ${taskSet.manifest.counts.total} tasks in all`
        : `${taskSet.tasks.length} tasks from ${tasksPath}`,
      methods: methodNames, notes, skipped: run.skipped,
    }, Object.keys(plots)));
    return { resultsPath, reportPath, records: run.records, wallSeconds };
  } finally {
    for (const repo of opened.values()) await (await repo.catch(() => null))?.close();
  }
}
