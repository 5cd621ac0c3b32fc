// Node only: the benchmark's torch engine: the TypeScript engine's prompts and adapters, decoded in batches by training/evaluate.py.
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TextTokenizer } from '../model/generate.ts';
import { exportPeftAdapter, type LoraAdapter } from '../model/lora.ts';
import { MethodUnavailableError, type PreparedMethod, type RepoContext, targetIds } from './methods.ts';
import {
  type BenchRun, groupByRepoCommit, type PrepareRecord, recordKey, resumeRun, type RunBenchmarkOptions, scoredRecord, skipUnavailable,
} from './run.ts';
import type { BenchTask } from './taskSet.ts';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The training venv (DESIGN.md section 4): torch, transformers, peft, tokenizers. */
export const TRAINING_PYTHON = join(PROJECT_ROOT, 'training/.venv/bin/python');
const EVALUATE_SCRIPT = join(PROJECT_ROOT, 'training/evaluate.py');
const CONVERT_SCRIPT = join(PROJECT_ROOT, 'training/convert_gguf.py');

export class TorchEngineError extends Error {
  constructor(readonly code: 'NO_PYTHON' | 'NO_TORCH_MODEL' | 'PYTHON_FAILED' | 'MISSING_COMPLETION', message: string) {
    super(message);
    this.name = 'TorchEngineError';
  }
}

/** How the torch engine decodes. */
export interface TorchEngine {
  /** Hugging Face directory (config.json, model.safetensors, tokenizer.json) of the checkpoint the TypeScript side loaded. */
  modelDirectory: string;
  /** Default: training/.venv/bin/python. */
  python?: string;
  /** Sequences decoded together (default 8). */
  batchSize?: number;
  /** float32 (default, what the parity test holds to the TypeScript engine) or bfloat16. */
  dtype?: 'float32' | 'bfloat16';
}

export function pythonOf(engine: Pick<TorchEngine, 'python'>): string {
  const python = engine.python ?? TRAINING_PYTHON;
  if (!existsSync(python)) {
    throw new TorchEngineError('NO_PYTHON', `${python} does not exist: create the training venv `
      + '(python3 -m venv training/.venv && training/.venv/bin/python -m pip install -r training/requirements.txt)');
  }
  return python;
}

/**
 * Runs a Python script offline (HF_HUB_OFFLINE=1), handing each line it writes to stderr or stdout to `onLine`;
 * rejects with PYTHON_FAILED (and the last lines) when it exits non-zero, and kills it when `signal` aborts.
 */
export function runPython(python: string, args: readonly string[], { signal, onLine }: {
  signal?: AbortSignal;
  onLine?: (line: string) => void;
} = {}): Promise<void> {
  signal?.throwIfAborted();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(python, args, {
      cwd: PROJECT_ROOT, env: { ...process.env, HF_HUB_OFFLINE: '1', PYTHONUNBUFFERED: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tail: string[] = [];
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split(/[\r\n]+/)) {
        if (!line.trim()) continue;
        tail.push(line);
        if (tail.length > 20) tail.shift();
        onLine?.(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const abort = () => child.kill('SIGTERM');
    signal?.addEventListener('abort', abort, { once: true });
    child.on('error', (error) => reject(new TorchEngineError('PYTHON_FAILED', `${python}: ${error.message}`)));
    child.on('close', (code, killedBy) => {
      signal?.removeEventListener('abort', abort);
      if (signal?.aborted) reject(signal.reason);
      else if (code === 0) resolvePromise();
      else reject(new TorchEngineError('PYTHON_FAILED', `${basename(args[0])} exited with ${code ?? killedBy}:\n${tail.join('\n')}`));
    });
  });
}

/**
 * The Hugging Face directory the torch engine loads for a benchmark model: a directory as is; a GGUF file through
 * its conversion data/models/<folder of the GGUF>/ (made by training/convert_gguf.py when missing, checked there
 * against transformers' own GGUF load).
 */
export async function torchModelDirectory(spec: string, { python, signal, onNote }: {
  python?: string;
  signal?: AbortSignal;
  onNote?: (message: string) => void;
} = {}): Promise<string> {
  const path = resolve(spec);
  if (path.endsWith('.gguf')) {
    const directory = join(PROJECT_ROOT, 'data/models', basename(dirname(path)));
    if (!existsSync(join(directory, 'model.safetensors'))) {
      onNote?.(`converting ${spec} into ${directory} for the torch engine (training/convert_gguf.py)`);
      await runPython(pythonOf({ python }), [CONVERT_SCRIPT, '--gguf', path, '--out', directory], { signal, onLine: onNote });
    }
    return directory;
  }
  for (const file of ['config.json', 'model.safetensors', 'tokenizer.json']) {
    if (!existsSync(join(path, file))) {
      throw new TorchEngineError('NO_TORCH_MODEL', `the torch engine needs a Hugging Face directory or a GGUF file; ${join(path, file)} is missing`);
    }
  }
  return path;
}

/** An adapter as a PEFT directory (adapter_model.safetensors + adapter_config.json), as the app's download writes it. */
export async function writePeftDirectory(adapter: LoraAdapter, directory: string, baseModelNameOrPath = ''): Promise<void> {
  const { safetensors, adapterConfig } = await exportPeftAdapter(adapter, { baseModelNameOrPath });
  mkdirSync(directory, { recursive: true });
  await writeFile(join(directory, 'adapter_model.safetensors'), safetensors);
  await writeFile(join(directory, 'adapter_config.json'), JSON.stringify(adapterConfig, null, 2) + '\n');
}

/** One line of evaluate.py's input. */
interface DecodeRequest {
  id: string;
  prompt_ids: number[];
  adapter: string | null;
  one_line: boolean;
  /** The task's target (methods.ts targetIds), scored after the prompt; absent when it has no tokens. */
  target_ids?: number[];
}

/** One line of evaluate.py's output. */
export interface DecodeCompletion {
  id: string;
  completion_ids: number[];
  text: string;
  stop: 'eos' | 'first_line' | 'max_tokens';
  margins: number[];
  seconds: number;
  /** With target_ids: the target's mean negative log-likelihood (nats a token) and its token count. */
  target_nll?: number;
  target_tokens?: number;
}

/** evaluate.py's output file, by request id (a later line for an id replaces an earlier one, as evaluate.py appends a rescored one). */
export function readCompletions(path: string): Map<string, DecodeCompletion> {
  const completions = new Map<string, DecodeCompletion>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const completion = JSON.parse(line) as DecodeCompletion;
    completions.set(completion.id, completion);
  }
  return completions;
}

/**
 * The raw prediction the TypeScript engine returns for the same tokens: the ids decoded by our tokenizer, and, when
 * generation stopped at a complete first line, without a trailing partial UTF-8 character (the text generate() had
 * released at that token).
 */
export function predictionText(completion: DecodeCompletion, tokenizer: TextTokenizer): string {
  const text = tokenizer.decode(completion.completion_ids);
  return completion.stop === 'first_line' ? text.replace(/\uFFFD+$/, '') : text;
}

const safeName = (text: string) => text.replace(/[^\w.@-]+/g, '__');

export interface TorchRunOptions extends RunBenchmarkOptions {
  engine: TorchEngine;
  /** The TypeScript runtime's tokenizer: completions are decoded with it, as the TypeScript engine decodes. */
  tokenizer: TextTokenizer;
  /** The TypeScript model's stop tokens, passed on so both engines stop at the same ids. */
  eosTokenIds: readonly number[];
  maxNewTokens: number;
  /** Requests, completions and adapters go here (a rerun resumes from the completions). */
  workDirectory: string;
}

/**
 * runBenchmark with the torch engine. Method by method: every (repository, commit) group is prepared as in the
 * TypeScript engine (RAG index, adapter: written as a PEFT directory), every task's prompt ids become a request,
 * then training/evaluate.py decodes them all in one call and each completion is scored and appended to the partial
 * file. A task's `seconds` is its share of its batch's decode time. A record made before targets were scored is
 * requested again: evaluate.py finds its completion in the work directory and only scores the target.
 */
export async function runTorchBenchmark(options: TorchRunOptions): Promise<BenchRun> {
  const { tasks, methods, loadContext, partialPath, preparePath, signal, onProgress, onNote, engine, tokenizer, workDirectory } = options;
  const python = pythonOf(engine);
  mkdirSync(workDirectory, { recursive: true });
  const resume = resumeRun(tasks, methods, partialPath, preparePath);
  const { prepares, wanted, refused, done, kept } = resume;
  const resumed = kept.length;
  const skipped: BenchRun['skipped'] = [...refused];
  const started = performance.now();
  let skippedCount = 0;
  const report = (method: string, repo: string) => {
    const elapsedSeconds = (performance.now() - started) / 1000;
    const finishedHere = kept.length - resumed + skippedCount;
    const remaining = wanted.size - kept.length - skippedCount;
    onProgress?.({
      done: kept.length + skippedCount, total: wanted.size, resumed, method, repo, elapsedSeconds,
      etaSeconds: finishedHere > 0 ? (elapsedSeconds / finishedHere) * remaining : null,
    });
  };
  const contexts = new Map<string, Promise<RepoContext>>();
  const contextOf = (repo: string, commit: string) => {
    const key = `${repo}\u0000${commit}`;
    if (!contexts.has(key)) contexts.set(key, loadContext(repo, commit));
    return contexts.get(key)!;
  };

  for (const method of methods) {
    const requests: DecodeRequest[] = [];
    const pending = new Map<string, { task: BenchTask; promptTokens: number; extraPromptTokens: number }>();
    const adapterDirectories = new Map<LoraAdapter, string>();
    for (const groupTasks of groupByRepoCommit(tasks)) {
      const todo = groupTasks.filter((task) => wanted.has(recordKey(task.id, method.name)) && !done.has(recordKey(task.id, method.name)));
      if (todo.length === 0) continue;
      signal?.throwIfAborted();
      const { repo, commit } = todo[0];
      report(method.name, repo);
      let prepared: PreparedMethod;
      const prepareStarted = performance.now();
      try {
        prepared = await method.prepare(await contextOf(repo, commit), signal);
      } catch (error) {
        if (!(error instanceof MethodUnavailableError)) throw error;
        skippedCount += skipUnavailable(resume, skipped, { method: method.name, repo, commit, tasks: todo, reason: error.message }, onNote);
        continue;
      }
      try {
        let adapterDirectory: string | null = null;
        if (prepared.adapter) {
          adapterDirectory = adapterDirectories.get(prepared.adapter) ?? null;
          if (!adapterDirectory) {
            adapterDirectory = join(workDirectory, 'adapters', safeName(method.name), safeName(`${repo}@${commit.slice(0, 12)}`));
            await writePeftDirectory(prepared.adapter, adapterDirectory);
            adapterDirectories.set(prepared.adapter, adapterDirectory);
          }
        }
        const prepareRecord: PrepareRecord = { method: method.name, repo, commit, seconds: (performance.now() - prepareStarted) / 1000 };
        appendFileSync(preparePath, JSON.stringify(prepareRecord) + '\n');
        prepares.push(prepareRecord);
        for (const task of todo) {
          const { ids, extraPromptTokens } = prepared.prompt(task);
          const target = targetIds({ tokenizer, maxNewTokens: options.maxNewTokens }, task.target);
          requests.push({
            id: task.id, prompt_ids: ids, adapter: adapterDirectory, one_line: !task.target.includes('\n'),
            ...(target.length > 0 ? { target_ids: target } : {}),
          });
          pending.set(task.id, { task, promptTokens: ids.length, extraPromptTokens });
        }
      } finally {
        prepared.dispose();
      }
    }
    if (requests.length === 0) continue;

    const requestsPath = join(workDirectory, `${safeName(method.name)}.requests.jsonl`);
    const completionsPath = join(workDirectory, `${safeName(method.name)}.completions.jsonl`);
    await writeFile(requestsPath, requests.map((request) => JSON.stringify(request)).join('\n') + '\n');
    onNote?.(`${method.name}: decoding ${requests.length} prompts with training/evaluate.py (${engine.dtype ?? 'float32'})`);
    report(method.name, '');
    await runPython(python, [
      EVALUATE_SCRIPT, '--model', engine.modelDirectory, '--requests', requestsPath, '--out', completionsPath,
      '--max_new_tokens', String(options.maxNewTokens), '--batch_size', String(engine.batchSize ?? 8),
      '--dtype', engine.dtype ?? 'float32', '--eos_ids', options.eosTokenIds.join(','),
    ], { signal, onLine: (line) => onNote?.(`  ${line}`) });

    const completions = readCompletions(completionsPath);
    let textMismatches = 0;
    for (const request of requests) {
      const completion = completions.get(request.id);
      if (!completion) throw new TorchEngineError('MISSING_COMPLETION', `${completionsPath} has no completion for ${request.id}`);
      const { task, promptTokens, extraPromptTokens } = pending.get(request.id)!;
      const prediction = predictionText(completion, tokenizer);
      if (tokenizer.decode(completion.completion_ids) !== completion.text) textMismatches++;
      const likelihood = completion.target_nll !== undefined ? { nll: completion.target_nll, tokens: completion.target_tokens! } : null;
      const record = scoredRecord(task, method.name, { prediction, promptTokens, extraPromptTokens, likelihood }, completion.seconds);
      appendFileSync(partialPath, JSON.stringify(record) + '\n');
      done.add(recordKey(task.id, method.name));
      kept.push(record);
    }
    if (textMismatches > 0) {
      onNote?.(`${method.name}: ${textMismatches} completions decode differently with tokenizers (Python) than with our tokenizer; scored with ours`);
    }
    // Every record of the method is in the partial file: its adapters (one per repository and commit for Static re-run
    // per commit and Evo, ~20 MB each on SmolLM2) have served. A rerun that needs them writes them again.
    rmSync(join(workDirectory, 'adapters', safeName(method.name)), { recursive: true, force: true });
    report(method.name, '');
  }
  report('', '');
  return { records: kept, prepares, skipped };
}
