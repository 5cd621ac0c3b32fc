// `npm run bench:encoders -- --repo DIR [--commit SHA] [--encoders c2l-base:4,c2l-base:2,smollm2:4] [--json FILE]`:
// what each candidate repo encoder costs the runtime the browser runs (tfjs WASM, in Node), on one repository's
// snapshot, in one run. The companion of training/encoder_candidates.py, which embeds the training data with the same
// candidates so that a hypernetwork can be trained on each (docs/results.md, "Choosing the repo encoder").
//
// Every candidate embeds the same text: the shipped chunking (ENCODER_SETTINGS, c2l-base's tokenizer: code-unit
// chunks of at most 128 tokens, the first 2 per non-test Python file), each chunk tokenized by the candidate's own
// tokenizer. `NAME:L` runs the model's first L layers (the hidden state after layer L); c2l-base:4 is what the app
// runs today, smollm2:L is SmolLM2-135M-Instruct as the app loads it (GGUF, quantized weights on WASM). The files are
// taken in turn, each by every candidate, so that the machine's load falls on all of them alike.
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_MODEL_DIRECTORY, loadBenchModel, SMOLLM2_GGUF, type BenchModel } from '../src/bench/benchModel.ts';
import { openRepository } from '../src/bench/repoSources.ts';
import { ENCODER_SETTINGS } from '../src/code2lora/encoderSettings.ts';
import { fileChunkIds } from '../src/code2lora/repoEncoder.ts';
import { isTestPath } from '../src/git/pathFilters.ts';
import { initBackend } from '../src/model/backend.ts';
import type { LlamaModel } from '../src/model/llama.ts';
import { loadPythonParser } from '../src/parse/pythonParser.ts';
import { UsageError } from './benchArgs.ts';

const USAGE = 'usage: npm run bench:encoders -- --repo DIR [--commit SHA] [--encoders c2l-base:4,c2l-base:2,smollm2:4] [--json FILE]';
const MODELS: Record<string, string> = { 'c2l-base': DEFAULT_MODEL_DIRECTORY, smollm2: SMOLLM2_GGUF };

interface Candidate {
  name: string;
  encoder: LlamaModel;
  tokenizer: BenchModel['tokenizer'];
  tokens: number;
  milliseconds: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      repo: { type: 'string' },
      commit: { type: 'string' },
      encoders: { type: 'string', default: 'c2l-base:4,c2l-base:2,smollm2:4' },
      json: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return console.log(USAGE);
  if (!values.repo) throw new UsageError(`--repo is required\n${USAGE}`);
  await initBackend({ preference: 'wasm' });
  const loaded = new Map<string, BenchModel>();
  const candidates: Candidate[] = [];
  for (const name of values.encoders.split(',')) {
    const [model, layers] = name.split(':');
    if (!MODELS[model] || layers === undefined) throw new UsageError(`--encoders: ${name} is not MODEL:LAYERS with MODEL one of ${Object.keys(MODELS).join(', ')}`);
    if (!loaded.has(model)) loaded.set(model, await loadBenchModel(MODELS[model]));
    const { model: full, tokenizer } = loaded.get(model)!;
    let encoder: LlamaModel;
    try {
      encoder = full.firstLayers(Number(layers)); // checks the depth
    } catch (error) {
      throw error instanceof RangeError ? new UsageError(`--encoders: ${name}: ${error.message}`) : error;
    }
    candidates.push({ name, encoder, tokenizer, tokens: 0, milliseconds: 0 });
  }
  const chunker = loaded.get('c2l-base') ?? await loadBenchModel(DEFAULT_MODEL_DIRECTORY);
  const parser = await loadPythonParser();

  const repo = await openRepository({ source: values.repo }, { history: 1 });
  const commit = values.commit ?? repo.head;
  const files = (await repo.readPythonFiles(commit)).filter((file) => !isTestPath(file.path));
  console.log(`${repo.name}@${commit.slice(0, 12)}: ${files.length} non-test Python files; load average ${(await readFile('/proc/loadavg', 'utf8')).split(' ')[0]}`);

  for (const candidate of candidates) candidate.encoder.hidden([1, 2, 3]).dispose(); // first-use costs out of the figures
  for (const [index, file] of files.entries()) {
    const texts = fileChunkIds(file.content, parser, chunker.tokenizer, ENCODER_SETTINGS).map((ids) => chunker.tokenizer.decode(ids));
    for (const candidate of candidates) {
      const chunks = texts.map((text) => candidate.tokenizer.encode(text)).filter((ids) => ids.length > 0);
      const started = performance.now();
      for (const ids of chunks) {
        const hidden = candidate.encoder.hidden(ids);
        const mean = tf.mean(hidden, 0);
        await mean.data();
        tf.dispose([hidden, mean]);
      }
      candidate.milliseconds += performance.now() - started;
      candidate.tokens += chunks.reduce((sum, ids) => sum + ids.length, 0);
    }
    if ((index + 1) % 10 === 0 || index + 1 === files.length) process.stdout.write(`\r${index + 1}/${files.length} files`);
  }
  console.log();

  const reference = candidates[0];
  const rows = candidates.map(({ name, tokens, milliseconds }) => ({
    encoder: name, tokens, seconds: milliseconds / 1000, tokens_per_second: tokens / (milliseconds / 1000),
    cost_vs_first: milliseconds / reference.milliseconds,
  }));
  for (const row of rows) {
    console.log(`${row.encoder.padEnd(12)} ${String(row.tokens).padStart(8)} tokens  ${row.seconds.toFixed(2).padStart(8)} s  `
      + `${row.tokens_per_second.toFixed(0).padStart(6)} tokens/s  ${row.cost_vs_first.toFixed(2)}x ${reference.name}'s time`);
  }
  if (values.json) {
    await writeFile(values.json, JSON.stringify({ repo: repo.name, commit, files: files.length, backend: tf.getBackend(), rows }, null, 2));
  }
}

main().catch((error) => {
  console.error(error instanceof UsageError ? error.message : error);
  process.exit(error instanceof UsageError ? 2 : 1);
});
