// Node only: the base model a benchmark runs (an HF-layout directory, or a seeded random tiny model for CI) and its hypernetwork.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { initHypernetworkWeights, type HypernetworkConfig } from '../code2lora/hypernetwork.ts';
import type { Hypernetwork } from '../code2lora/makeAdapter.ts';
import { parseModelConfig } from '../model/config.ts';
import { LlamaModel } from '../model/llama.ts';
import { filesFromDirectory, loadHfModel } from '../model/loadHfModel.ts';
import { LORA_MODULES } from '../model/lora.ts';
import { BpeTokenizer } from '../tokenizer/bpeTokenizer.ts';
import { trainBpeTokenizer } from '../tokenizer/trainBpe.ts';

export const DEFAULT_MODEL_DIRECTORY = 'public/models/c2l-base';
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

/** A seeded random 2-layer model over a byte-level tokenizer, with a 512-token context like the shipped model. */
export function tinyRandomModel(seed = 0): BenchModel {
  const tokenizer = trainBpeTokenizer({ texts: [], vocabSize: 257, specialTokens: ['<|endoftext|>'] });
  const config = parseModelConfig({
    architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: tokenizer.vocabSize, hidden_size: 64,
    intermediate_size: 176, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 512,
    rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true, eos_token_id: tokenizer.eosTokenId ?? 0, torch_dtype: 'float32',
  });
  return { model: LlamaModel.random(config, { seed }), tokenizer, description: `random tiny model (seed ${seed}, untrained)` };
}

/**
 * `tiny`, or a directory with config.json, model.safetensors and tokenizer.json; no argument means the shipped
 * default when its weights exist.
 */
export async function loadBenchModel(spec: string | undefined): Promise<BenchModel> {
  if (spec === TINY_MODEL) return tinyRandomModel();
  const directory = resolve(spec ?? DEFAULT_MODEL_DIRECTORY);
  if (!existsSync(join(directory, 'model.safetensors')) && !existsSync(join(directory, 'model.safetensors.index.json'))) {
    throw new BenchModelError(`${directory} has no model.safetensors${spec ? '' : ' yet (the base model is not exported)'}; `
      + `pass --model DIR, or --model ${TINY_MODEL} for an untrained random model`);
  }
  const tokenizer = BpeTokenizer.fromJSON(await readFile(join(directory, 'tokenizer.json'), 'utf8'));
  const { model } = await loadHfModel(filesFromDirectory(directory));
  return { model, tokenizer, description: directory };
}

/** The hypernetwork the app uses until a trained one ships: seeded random, near the base model at the start. */
export function untrainedHypernetwork(model: LlamaModel, seed = 1234): Hypernetwork {
  const config: HypernetworkConfig = {
    embeddingSize: 2 * model.config.hiddenSize, hiddenSize: 64, rank: 8, alpha: 16, targetModules: [...LORA_MODULES],
  };
  return { config, weights: initHypernetworkWeights(config, model.config, seed), trained: false };
}
