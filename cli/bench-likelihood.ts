// `npm run bench:likelihood -- --requests FILE [--model DIR|FILE.gguf] [--n 96] [--rounds 2] [--threads N]
// [--batch-size 8]`: what scoring each task's target costs the torch engine's decode, measured in one run. The first N
// requests with a target of a benchmark's request file (OUT/torch/METHOD.requests.jsonl, written by
// `npm run bench -- --engine torch`) are decoded by training/evaluate.py with their targets and without them, in
// alternated rounds (with, without; then without, with; ...), each into a fresh output so nothing is resumed. It prints
// each round's decode time (evaluate.py's own figure, the model's load left out) and wall time, the ratio of the mean
// decode times, and whether the two decode the same completions: scoring happens in the decode's own prefill and must
// change none. Stops: the model directory's config.json eos_token_id (the benchmark passes the TypeScript model's,
// which for a GGUF is read from the same file its conversion's config.json was written from).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultBenchModelSpec } from '../src/bench/benchModel.ts';
import { pythonOf, readCompletions, runPython, torchModelDirectory } from '../src/bench/torchEngine.ts';
import { integerOption, UsageError } from './benchArgs.ts';

const USAGE = 'usage: npm run bench:likelihood -- --requests OUT/torch/METHOD.requests.jsonl [--model DIR|FILE.gguf (default: the app\'s default model)]\n'
  + '    [--n 96] [--rounds 2] [--threads N (default: torch\'s)] [--batch-size 8]';
const EVALUATE_SCRIPT = 'training/evaluate.py';

interface Request {
  id: string;
  prompt_ids: number[];
  target_ids?: number[];
}

/** The first `n` requests with a target, each line checked: the file comes from a run on disk and may be anything. */
function readRequests(path: string, n: number): Request[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read --requests ${path}: ${(error as Error).message}`);
  }
  const requests: Request[] = [];
  for (const [index, line] of text.split('\n').entries()) {
    if (requests.length === n) break;
    if (!line.trim()) continue;
    let request: Request;
    try {
      request = JSON.parse(line) as Request;
    } catch {
      throw new UsageError(`${path}:${index + 1} is not JSON`);
    }
    const ids = (value: unknown) => Array.isArray(value) && value.every((id) => Number.isInteger(id) && id >= 0);
    if (typeof request?.id !== 'string' || !ids(request.prompt_ids) || (request.target_ids !== undefined && !ids(request.target_ids))) {
      throw new UsageError(`${path}:${index + 1} is not an evaluate.py request (id, prompt_ids, target_ids)`);
    }
    if (request.target_ids?.length) requests.push(request);
  }
  if (requests.length === 0) throw new UsageError(`${path} has no request with target_ids (made before the benchmark scored targets?)`);
  return requests;
}

const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string' }, model: { type: 'string' }, n: { type: 'string' }, rounds: { type: 'string' },
      threads: { type: 'string' }, 'batch-size': { type: 'string' },
    },
  });
  if (!values.requests) throw new UsageError(USAGE);
  const n = integerOption('n', values.n, 96, 1);
  const rounds = integerOption('rounds', values.rounds, 2, 1);
  const threads = integerOption('threads', values.threads, 0);
  const batchSize = integerOption('batch-size', values['batch-size'], 8, 1);
  const requests = readRequests(resolve(values.requests), n);
  const python = pythonOf({});
  const model = await torchModelDirectory(values.model ?? defaultBenchModelSpec((note) => console.error(note)), {
    onNote: (note) => console.error(note),
  });

  const scratch = mkdtempSync(join(tmpdir(), 'bench-likelihood-'));
  try {
    const files = {
      with: join(scratch, 'with.requests.jsonl'),
      without: join(scratch, 'without.requests.jsonl'),
    };
    writeFileSync(files.with, requests.map((r) => JSON.stringify(r)).join('\n') + '\n');
    writeFileSync(files.without, requests.map(({ target_ids: _target, ...r }) => JSON.stringify(r)).join('\n') + '\n');
    const targetTokens = mean(requests.map((r) => r.target_ids!.length));
    const promptTokens = mean(requests.map((r) => r.prompt_ids.length));
    console.log(`${requests.length} requests from ${values.requests}: prompts ${promptTokens.toFixed(0)} tokens, targets ${targetTokens.toFixed(1)} tokens (means)`);
    console.log(`model ${model}; evaluate.py, float32, batch ${batchSize}, ${threads || 'torch\'s default'} threads; ${rounds} round(s) of each, alternated\n`);

    const seconds: Record<'with' | 'without', number[]> = { with: [], without: [] };
    const outputs: Record<'with' | 'without', string[]> = { with: [], without: [] };
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? (['with', 'without'] as const) : (['without', 'with'] as const);
      for (const variant of order) {
        const out = join(scratch, `${variant}-${round}.completions.jsonl`);
        const started = performance.now();
        let decodeSeconds: number | null = null;
        await runPython(python, [
          EVALUATE_SCRIPT, '--model', model, '--requests', files[variant], '--out', out, '--batch_size', String(batchSize),
          ...(threads ? ['--threads', String(threads)] : []),
        ], {
          // evaluate.py's own figure for the decode loop: the model's load, the same in both, left out.
          onLine: (line) => { decodeSeconds = Number(/^decoded \d+ in ([\d.]+) s/.exec(line)?.[1] ?? decodeSeconds); },
        });
        const wall = (performance.now() - started) / 1000;
        if (decodeSeconds === null) throw new Error(`${EVALUATE_SCRIPT} printed no "decoded N in S s" line`);
        seconds[variant].push(decodeSeconds);
        outputs[variant].push(out);
        console.log(`round ${round + 1}, ${variant === 'with' ? 'targets scored' : 'no targets    '}  decode ${(decodeSeconds as number).toFixed(1)} s  (wall ${wall.toFixed(1)} s)`);
      }
    }

    const idsOf = (completion: { completion_ids: number[] }) => completion.completion_ids.join(',');
    const reference = readCompletions(outputs.without[0]);
    let differing = 0;
    for (const out of [...outputs.with, ...outputs.without.slice(1)]) {
      for (const [id, completion] of readCompletions(out)) if (!reference.has(id) || idsOf(reference.get(id)!) !== idsOf(completion)) differing++;
    }
    const ratio = mean(seconds.with) / mean(seconds.without);
    console.log(`\nmean decode: ${mean(seconds.with).toFixed(1)} s with targets scored, ${mean(seconds.without).toFixed(1)} s without: ratio ${ratio.toFixed(3)}`);
    console.log(`rounds' spread without targets: ${(Math.max(...seconds.without) - Math.min(...seconds.without)).toFixed(1)} s (the noise a ratio is read against)`);
    console.log(`completions: ${differing === 0 ? `identical in all ${2 * rounds} decodes` : `${differing} differ from the first decode without targets`}`);
    if (differing > 0) process.exitCode = 1;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof UsageError ? error.message : error);
  process.exitCode = 1;
});
