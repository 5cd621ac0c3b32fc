// `npm run eval:base [-- --model DIR|FILE.gguf] [--repo PATH] [--max-bytes N] [--samples N] [--json FILE]`: held-out bits per
// byte and next-line exact match of a base model, on our validation packages or on any repository's .py files.
import * as fs from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readSnapshot } from '../src/git/index.ts';
import { initBackend } from '../src/model/backend.ts';
import { loadPythonParser } from '../src/parse/pythonParser.ts';
import { bitsPerByte, nextLineExactMatch } from '../src/bench/baseModelEval.ts';
import { DEFAULT_MODEL_DIRECTORY, loadBenchModel } from '../src/bench/benchModel.ts';
import { seededUniform } from '../src/util/random.ts';
import { readWorkingTree } from './readWorkingTree.ts';

const VALIDATION_SHARDS = 'data/corpus/val';

function progress(label: string) {
  const started = performance.now();
  return (done: number, total: number) => {
    const seconds = (performance.now() - started) / 1000;
    const eta = done > 0 ? (seconds / done) * (total - done) : 0;
    process.stderr.write(`\r${label} ${done}/${total} (${seconds.toFixed(0)} s, ETA ${eta.toFixed(0)} s)   ${done === total ? '\n' : ''}`);
  };
}

/** All validation documents (whole files from the held-out packages; ~16 MB), in shard order. */
async function validationFiles(): Promise<Array<{ path: string; content: string }>> {
  if (!fs.existsSync(VALIDATION_SHARDS)) throw new Error(`${VALIDATION_SHARDS} is missing: build the corpus with \`npm run data:corpus\` or pass --repo PATH`);
  const files: Array<{ path: string; content: string }> = [];
  for (const shard of fs.readdirSync(VALIDATION_SHARDS).filter((f) => f.endsWith('.jsonl')).sort()) {
    for (const line of (await readFile(join(VALIDATION_SHARDS, shard), 'utf8')).split('\n')) {
      if (!line.trim()) continue;
      const record = JSON.parse(line) as { package: string; path: string; text: string };
      files.push({ path: `${record.package}/${record.path}`, content: record.text });
    }
  }
  return files;
}

/** A seeded sample of files up to `maxBytes`, so a small budget still spans every package. */
function sampleFiles<T extends { content: string }>(files: readonly T[], maxBytes: number, seed: number): T[] {
  const random = seededUniform(seed);
  const order = files.map((file) => ({ file, key: random() })).sort((a, b) => a.key - b.key);
  const chosen: T[] = [];
  let bytes = 0;
  for (const { file } of order) {
    if (bytes + file.content.length > maxBytes) continue;
    chosen.push(file);
    bytes += file.content.length;
  }
  return chosen;
}

async function repositoryFiles(path: string): Promise<Array<{ path: string; content: string }>> {
  if (fs.existsSync(join(path, '.git')) || fs.existsSync(join(path, 'HEAD'))) {
    return (await readSnapshot({ fs, dir: path, commit: 'HEAD' })).files;
  }
  return readWorkingTree(path);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: DEFAULT_MODEL_DIRECTORY },
      repo: { type: 'string' },
      'max-bytes': { type: 'string', default: '300000' },
      samples: { type: 'string', default: '200' },
      seed: { type: 'string', default: '0' },
      json: { type: 'string' },
    },
  });
  const maxBytes = Number(values['max-bytes']);
  const samples = Number(values.samples);
  if (!(maxBytes > 0) || !Number.isInteger(samples) || samples < 0) throw new Error('--max-bytes and --samples must be positive numbers');
  const modelDir = resolve(values.model!);
  await initBackend();
  const { model, tokenizer } = await loadBenchModel(modelDir);
  const { config } = model;
  const parser = await loadPythonParser();
  const source = values.repo ? resolve(values.repo) : VALIDATION_SHARDS;
  const files = (values.repo ? await repositoryFiles(source) : await validationFiles()).filter((f) => f.content.trim());
  const budgeted = sampleFiles(files, maxBytes, Number(values.seed));
  console.log(`model ${modelDir}: ${config.numLayers} layers, d ${config.hiddenSize}, vocab ${config.vocabSize}; ${budgeted.length} files from ${source}`);
  const started = performance.now();
  const perplexity = await bitsPerByte(model, tokenizer, budgeted.map((f) => f.content), { onProgress: progress('bits per byte') });
  const perplexitySeconds = (performance.now() - started) / 1000;
  const nextLine = await nextLineExactMatch(model, tokenizer, parser, budgeted, { samples, seed: Number(values.seed), onProgress: progress('next line') });
  const result = {
    model: modelDir,
    source,
    files: budgeted.length,
    bytes: perplexity.bytes,
    tokens: perplexity.tokens,
    bits_per_byte: perplexity.bitsPerByte,
    next_line_exact_match: nextLine.exactMatch,
    next_line_samples: nextLine.samples.length,
    prefill_tokens_per_s: perplexity.tokens / perplexitySeconds,
    examples: nextLine.samples.slice(0, 8),
  };
  console.log(`bits per byte          ${result.bits_per_byte.toFixed(4)}  (${result.tokens} tokens, ${result.bytes} bytes)`);
  console.log(`next-line exact match  ${(100 * result.next_line_exact_match).toFixed(1)}%  (${result.next_line_samples} lines)`);
  for (const example of result.examples) console.log(`  ${example.file}:${example.line}\n    real: ${example.expected.trim()}\n    model: ${example.predicted.trim()}`);
  if (values.json) await writeFile(values.json, JSON.stringify(result, null, 2) + '\n');
}

main().catch((err) => {
  console.error(`eval:base failed: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
