// Node only: the per-repo LoRA baseline trained on the spot: a repository's IR-train tasks, or passages of its own
// code, -> training/train_hypernet.py -> PEFT directory.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelConfig } from '../model/config.ts';
import type { TextTokenizer } from '../model/generate.ts';
import { isTestPath } from '../git/pathFilters.ts';
import type { SnapshotFile } from '../parse/mineTasks.ts';
import { seededSample } from '../parse/seededRandom.ts';
import { irSplitTasks } from '../parse/splits.ts';
import { groupBy } from '../util/groupBy.ts';
import type { BenchTask } from './taskSet.ts';
import type { PerRepoLoraSource } from './methods.ts';
import { readJsonlResumable } from './run.ts';
import { PROJECT_ROOT, pythonOf, runPython } from './torchEngine.ts';
import { loadPeftDirectory, perRepoFolder } from './weightFiles.ts';

/** train_hypernet.py's per-repo-lora settings that the benchmark fixes (the rest are the script's defaults). */
export const PER_REPO_LORA = { rank: 16, alpha: 32, batchSize: 8 } as const;

/**
 * The static tasks of each repository's IR-train split, recomputed as the task set builder splits them
 * (irSplitTasks over the repository's static tasks in task-set order, with the task set's seed): the same split
 * whether the repository was held out (all its tasks are `cr_test`) or not.
 */
export function irTrainTasks(tasks: readonly BenchTask[], seed: number): Map<string, BenchTask[]> {
  const byRepo = groupBy(tasks.filter((task) => task.mode === 'static'), (task) => task.repo);
  return new Map([...byRepo].map(([repo, repoTasks]) => [repo, irSplitTasks(repoTasks, seed, repo).train]));
}

/** What a per-repo LoRA learns from: its repository's IR-train tasks (the paper's), or passages of its non-test code. */
export type PerRepoData = 'ir-train' | 'code';
export const PER_REPO_DATA: readonly PerRepoData[] = ['ir-train', 'code'];

/** A training example in train_hypernet.py's terms: loss on the target's tokens after the prompt (cut from the left). */
export interface PerRepoExample {
  prompt: string;
  target: string;
  /** The assertion kind of a task; `code` for a passage of code. */
  kind: string;
}

/** A code example's sizes, in characters (about 3.5 per SmolLM2 token): its context and the code it learns. */
export const CODE_EXAMPLE = { promptChars: 400, targetChars: 700, targetTokens: 192 } as const;

/**
 * Up to `count` passages of the repository's non-test Python code as examples (seeded, in file order): each starts at a
 * line, learns whole lines up to CODE_EXAMPLE.targetChars from the up to promptChars before it. A LoRA trained on
 * them learns the repository's own names and idioms and none of its test assertions, so it is scored on every static
 * task.
 */
export function codeExamples(files: readonly SnapshotFile[], count: number, seed: number): PerRepoExample[] {
  // Not a blank line: every example learns code.
  const starts = codeLines(files, (text) => text.trim() !== '');
  return seededSample(starts, count, seed, 'code-examples').map(({ content, line }) => codePassage(content, line));
}

/**
 * The lines of the non-test files that `keep` accepts, as offsets into their file, in file order; never a file's first
 * line, so that every passage started there has code before it.
 */
export function codeLines(files: readonly SnapshotFile[], keep: (text: string) => boolean): { content: string; line: number }[] {
  const lines: { content: string; line: number }[] = [];
  for (const file of files) {
    if (isTestPath(file.path)) continue;
    let line = 0;
    for (const text of file.content.split('\n')) {
      if (line > 0 && keep(text)) lines.push({ content: file.content, line });
      line += text.length + 1;
    }
  }
  return lines;
}

/** The example that starts at the line beginning at `line` of `content` (codeExamples' shape). */
export function codePassage(content: string, line: number): PerRepoExample {
  let begin = line;
  while (content[begin] === ' ' || content[begin] === '\t') begin++;
  let end = begin;
  while (end < content.length && (end === begin || end - begin < CODE_EXAMPLE.targetChars)) {
    const next = content.indexOf('\n', end + 1);
    end = next === -1 ? content.length : next;
  }
  return { prompt: content.slice(Math.max(0, begin - CODE_EXAMPLE.promptChars), begin), target: content.slice(begin, end).trimEnd(), kind: 'code' };
}

/** One finished training, as recorded in training.jsonl and results.json. */
export interface PerRepoTraining {
  repo: string;
  steps: number;
  train_tasks: number;
  seconds: number;
  final_loss: number | null;
  /** The PEFT folder it started from (null: PEFT's initialisation) and its peak learning rate (null: the script's default). */
  init_lora: string | null;
  learning_rate: number | null;
  /** What it learnt from (absent in records written before code could be: IR-train tasks). */
  data?: PerRepoData;
}

/**
 * The paper's per-repo LoRA budget (the authors' trainer, DESIGN.md section 1): r16 on all 7 modules, alpha 32,
 * lr 2e-4, 3 epochs at batch 16. `npm run bench:perf` trains with it; the benchmark's quick baseline (`perRepoSteps`
 * steps of PER_REPO_LORA.batchSize) does not.
 */
export const AUTHORS_PER_REPO_LORA = { rank: 16, alpha: 32, learningRate: 2e-4, epochs: 3, batchSize: 16 } as const;

/** Optimizer steps of `epochs` over `tasks` at `batchSize` (train_hypernet.py drops the last partial batch of an epoch). */
export function perRepoLoraSteps(tasks: number, epochs: number, batchSize: number): number {
  return epochs * Math.max(1, Math.floor(tasks / Math.min(batchSize, tasks)));
}

export interface TrainPerRepoLoraOptions {
  repo: string;
  /** What it trains on: the repository's IR-train tasks, or passages of its code (codeExamples). */
  tasks: readonly PerRepoExample[];
  tokenizer: TextTokenizer;
  /** Hugging Face directory of the base model (train_hypernet.py's --base_model). */
  modelDirectory: string;
  /** data/tasks.jsonl and run/ (checkpoint.pt, log.jsonl) go here. */
  folder: string;
  steps: number;
  batchSize: number;
  rank: number;
  alpha: number;
  learningRate?: number;
  /** A PEFT folder of the same rank and alpha to start from (train_hypernet.py's --init_lora), e.g. the shared LoRA; absent: PEFT's initialisation. */
  initLora?: string;
  /** Prompts keep their last this many tokens (train_hypernet.py's prompt_tokens). */
  promptTokens: number;
  /** Targets keep their first this many tokens (train_hypernet.py's max_target_tokens; default its own, 48). */
  targetTokens?: number;
  /** torch's threads (train_hypernet.py --threads); 0: torch's default. */
  threads?: number;
  python?: string;
  signal?: AbortSignal;
  onNote?: (message: string) => void;
}

/** What one training run took: the whole process, and its optimizer steps alone (the sum of log.jsonl's step_seconds). */
export interface PerRepoLoraRun {
  /** Wall time of train_hypernet.py: start-up, model loading, the validation passes and the steps. */
  seconds: number;
  /** The optimizer steps alone: forward, backward, clipping and AdamW of every step. */
  stepSeconds: number[];
  steps: number;
  finalLoss: number | null;
  /** train_hypernet.py's start record: threads, autocast dtype, trainable parameters, task counts. */
  start: Record<string, unknown>;
}

/**
 * Trains one repository's LoRA with training/train_hypernet.py (method per-repo-lora) on `tasks`: the tasks are
 * tokenized here as cli/hypernet-data.ts does, written to folder/data/tasks.jsonl, and trained for `steps` steps;
 * validation runs only at the last step. Checkpoint at folder/run/checkpoint.pt (training/export_lora.py makes it PEFT).
 */
export async function trainPerRepoLora(options: TrainPerRepoLoraOptions): Promise<PerRepoLoraRun> {
  const { repo, tasks, tokenizer, modelDirectory, folder, steps, batchSize, rank, alpha, promptTokens, onNote, signal } = options;
  mkdirSync(join(folder, 'data'), { recursive: true });
  // train_hypernet.py's task format (cli/hypernet-data.ts writes the same fields).
  await writeFile(join(folder, 'data/tasks.jsonl'), tasks.map((task) => {
    const promptIds = tokenizer.encode(task.prompt);
    return JSON.stringify({
      repo, split: 'train', ir_split: 'train', kind: task.kind, target: task.target,
      prompt_ids: promptIds.slice(Math.max(0, promptIds.length - promptTokens)), target_ids: tokenizer.encode(`${task.target}\n`),
    });
  }).join('\n') + '\n');
  rmSync(join(folder, 'run'), { recursive: true, force: true }); // a fresh run, never a resumed one
  const started = performance.now();
  await runPython(pythonOf(options), [
    join(PROJECT_ROOT, 'training/train_hypernet.py'), '--method=per-repo-lora', `--repos=${repo}`,
    `--data_dir=${join(folder, 'data')}`, `--out_dir=${join(folder, 'run')}`, `--base_model=${modelDirectory}`,
    `--max_steps=${steps}`, `--batch_size=${Math.min(batchSize, tasks.length)}`, `--rank=${rank}`, `--alpha=${alpha}`,
    ...(options.learningRate !== undefined ? [`--learning_rate=${options.learningRate}`] : []),
    ...(options.initLora ? [`--init_lora=${options.initLora}`] : []),
    ...(options.threads ? [`--threads=${options.threads}`] : []),
    `--prompt_tokens=${promptTokens}`, ...(options.targetTokens ? [`--max_target_tokens=${options.targetTokens}`] : []), `--checkpoint_interval=${steps}`, `--eval_interval=${steps}`, '--time_budget_minutes=100000',
  ], { signal, onLine: (line) => onNote?.(`  ${line}`) });
  const seconds = (performance.now() - started) / 1000;
  const log = readFileSync(join(folder, 'run/log.jsonl'), 'utf8').split('\n').filter(Boolean)
    .map((line) => JSON.parse(line) as { event?: string; loss?: number; step_seconds?: number });
  const stepRecords = log.filter((entry) => entry.loss !== undefined);
  return {
    seconds, stepSeconds: stepRecords.map((entry) => entry.step_seconds ?? 0), steps: stepRecords.length,
    finalLoss: stepRecords.at(-1)?.loss ?? null, start: log.find((entry) => entry.event === 'start') ?? {},
  };
}

export interface PerRepoTrainerOptions {
  /** Hugging Face directory of the base model (train_hypernet.py's --base_model). */
  modelDirectory: string;
  modelConfig: ModelConfig;
  tokenizer: TextTokenizer;
  /** What each LoRA learns from: `trainTasks` (IR-train), or steps x batch passages of the repository's code. */
  data: PerRepoData;
  /** IR-train tasks by repository (irTrainTasks), for data `ir-train`. */
  trainTasks?: ReadonlyMap<string, readonly BenchTask[]>;
  /** Seeds the choice of code passages, for data `code`. */
  seed: number;
  /** Optimizer steps per repository (batch 8). */
  steps: number;
  /** Start every repository's LoRA from this PEFT folder (e.g. the shared LoRA) instead of PEFT's initialisation. */
  initLora?: string;
  learningRate?: number;
  /** Prompts keep their last this many tokens (train_hypernet.py's prompt_tokens). */
  promptTokens: number;
  /** One folder per repository: data/tasks.jsonl, run/ (checkpoints, log.jsonl), adapter/ (PEFT); and training.jsonl. */
  workDirectory: string;
  python?: string;
  onNote?: (message: string) => void;
}

/**
 * A `perRepoLora` resource that trains each repository's adapter the first time it is asked for (wall time recorded
 * in workDirectory/training.jsonl) and reads the exported PEFT directory back on a rerun. Returns null for a
 * repository without training examples.
 */
export function perRepoLoraTrainer(options: PerRepoTrainerOptions): PerRepoLoraSource {
  const { modelDirectory, modelConfig, tokenizer, data, steps, initLora, learningRate, promptTokens, workDirectory, onNote } = options;
  const settings = { steps, init_lora: initLora ?? null, learning_rate: learningRate ?? null, data };
  return async (repo, files, signal) => {
    const folder = perRepoFolder(workDirectory, repo);
    const adapterDirectory = join(folder, 'adapter');
    if (existsSync(join(adapterDirectory, 'adapter_model.safetensors'))) {
      // A rerun reuses the adapter only if it was trained as asked: another budget, start or data is another method.
      const recorded = readJsonlResumable<PerRepoTraining>(join(workDirectory, 'training.jsonl')).findLast((t) => t.repo === repo);
      const was = recorded && { steps: recorded.steps, init_lora: recorded.init_lora, learning_rate: recorded.learning_rate, data: recorded.data ?? 'ir-train' };
      if (was && JSON.stringify(was) !== JSON.stringify(settings)) {
        throw new Error(`per-repo-lora: ${repo}'s adapter in ${adapterDirectory} was trained with ${JSON.stringify(was)}, not ${JSON.stringify(settings)}: give another --out`);
      }
      return loadPeftDirectory(adapterDirectory, modelConfig);
    }
    const tasks: readonly PerRepoExample[] = data === 'code'
      ? codeExamples(files, steps * PER_REPO_LORA.batchSize, options.seed)
      : options.trainTasks?.get(repo) ?? [];
    if (tasks.length === 0) return null;
    onNote?.(`per-repo-lora: training ${repo} on ${tasks.length} ${data === 'code' ? 'passages of its code' : 'IR-train tasks'}, ${steps} steps`);
    const started = performance.now();
    const run = await trainPerRepoLora({
      repo, tasks, tokenizer, modelDirectory, folder, steps, batchSize: PER_REPO_LORA.batchSize, rank: PER_REPO_LORA.rank,
      targetTokens: data === 'code' ? CODE_EXAMPLE.targetTokens : undefined,
      alpha: PER_REPO_LORA.alpha, initLora, learningRate, promptTokens, python: options.python, signal, onNote,
    });
    await runPython(pythonOf(options), [
      join(PROJECT_ROOT, 'training/export_lora.py'), '--checkpoint', join(folder, 'run/checkpoint.pt'), '--base', modelDirectory,
      '--out', adapterDirectory, '--alpha', String(PER_REPO_LORA.alpha),
    ], { signal, onLine: (line) => onNote?.(`  ${line}`) });
    const training: PerRepoTraining = {
      repo, train_tasks: tasks.length, seconds: (performance.now() - started) / 1000, final_loss: run.finalLoss, ...settings,
    };
    appendFileSync(join(workDirectory, 'training.jsonl'), JSON.stringify(training) + '\n');
    return loadPeftDirectory(adapterDirectory, modelConfig);
  };
}
