// Node only: the base model a benchmark or evaluation runs (an HF-layout directory, a GGUF file, or a seeded random tiny model for CI).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadGgufModel } from '../model/gguf.ts';
import type { LlamaModel } from '../model/llama.ts';
import { filesFromDirectory, loadHfModel } from '../model/loadHfModel.ts';
import { tinyRandomModel as tinyModel } from '../model/tinyRandomModel.ts';
import { BpeTokenizer } from '../tokenizer/bpeTokenizer.ts';

export const DEFAULT_MODEL_DIRECTORY = 'public/models/c2l-base';
/** The product's default base model (DESIGN.md section 2), from `npm run models:smollm2`. */
export const SMOLLM2_GGUF = 'public/models/smollm2-135m-instruct/model.gguf';
/** `--model tiny`: untrained, byte-level; exercises the whole benchmark fast (CI), says nothing about quality. */
export const TINY_MODEL = 'tiny';

export interface BenchModel {
  model: LlamaModel;
  tokenizer: BpeTokenizer;
  /** For reports: which model, and whether it is trained. */
  description: string;
}

export class BenchModelError extends Error {
  readonly code = 'NO_MODEL';
  constructor(message: string) {
    super(message);
    this.name = 'BenchModelError';
  }
}

/** The tiny random model with a 512-token context like the shipped model. */
export function tinyRandomModel(seed = 0): BenchModel {
  return { ...tinyModel({ seed, contextLength: 512 }), description: `random tiny model (seed ${seed}, untrained)` };
}

/**
 * The model the benchmark runs when none is named: SmolLM2-135M-Instruct's GGUF when it is installed, else c2l-base
 * (with a notice through `onNote`).
 */
export function defaultBenchModelSpec(onNote?: (message: string) => void): string {
  if (existsSync(SMOLLM2_GGUF)) return SMOLLM2_GGUF;
  onNote?.(`${SMOLLM2_GGUF} is not installed (npm run models:smollm2): benchmarking ${DEFAULT_MODEL_DIRECTORY} instead`);
  return DEFAULT_MODEL_DIRECTORY;
}

/**
 * `tiny`, a llama GGUF file, or a directory with config.json, model.safetensors and tokenizer.json; no argument means
 * the shipped default when its weights exist.
 */
export async function loadBenchModel(spec: string | undefined): Promise<BenchModel> {
  if (spec === TINY_MODEL) return tinyRandomModel();
  if (spec?.endsWith('.gguf')) {
    const { model, tokenizer } = await loadGgufModel(await readFile(spec));
    return { model, tokenizer, description: resolve(spec) };
  }
  const directory = resolve(spec ?? DEFAULT_MODEL_DIRECTORY);
  if (!existsSync(join(directory, 'model.safetensors')) && !existsSync(join(directory, 'model.safetensors.index.json'))) {
    throw new BenchModelError(`${directory} has no model.safetensors${spec ? '' : ' yet (the base model is not exported)'}; `
      + `pass --model DIR, or --model ${TINY_MODEL} for an untrained random model`);
  }
  const tokenizer = BpeTokenizer.fromJSON(await readFile(join(directory, 'tokenizer.json'), 'utf8'));
  const { model } = await loadHfModel(filesFromDirectory(directory));
  return { model, tokenizer, description: directory };
}
