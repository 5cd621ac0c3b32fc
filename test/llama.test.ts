// The decoder: cached decode equals full recompute, deterministic init, GQA/tied/Qwen2-bias configs, export round trip, no tensor leaks.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/model/backend.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { KVCache, LlamaModel, hfTensorShapes } from '../src/model/llama.ts';
import { generate } from '../src/model/generate.ts';
import { parseSafetensors, writeSafetensors } from '../src/model/safetensors.ts';
import { IDS, letters, maxAbsDiff, tinyConfig } from './fixtures/tinyModel.ts';

const CONFIGS: Record<string, ModelConfig> = {
  'llama GQA untied': tinyConfig(),
  'llama MHA tied': tinyConfig({ num_key_value_heads: 4, tie_word_embeddings: true }),
  'llama attention+mlp bias, head_dim 16': tinyConfig({ attention_bias: true, mlp_bias: true, head_dim: 16 }),
  'qwen2 q/k/v bias, 1 kv head': tinyConfig({ architectures: ['Qwen2ForCausalLM'], num_key_value_heads: 1, tie_word_embeddings: true }),
};

beforeAll(async () => {
  await initBackend();
});

describe.each(Object.entries(CONFIGS))('%s', (_name, config) => {
  it('decoding with a KV cache gives the logits of a full recompute', async () => {
    const model = LlamaModel.random(config, { seed: 1, std: 0.2 });
    const full = await model.forward(IDS).array();
    const cache = new KVCache(config.numLayers);
    const cached: number[][] = [];
    // Prefill 5, then one at a time, then a chunk of 3: every cache path.
    for (const chunk of [IDS.slice(0, 5), ...IDS.slice(5, 9).map((id) => [id]), IDS.slice(9)]) {
      const logits = model.forward(chunk, { cache });
      cached.push(...(await logits.array()));
      logits.dispose();
    }
    expect(cache.length).toBe(IDS.length);
    expect(maxAbsDiff(full.flat(), cached.flat())).toBeLessThan(1e-5);
    const last = model.forward(IDS, { logits: 'last' });
    expect(last.shape).toEqual([1, config.vocabSize]);
    expect(maxAbsDiff(await last.data(), full[IDS.length - 1])).toBe(0);
    last.dispose();
    cache.dispose();
    model.dispose();
  });

  it('causal: a position ignores the tokens after it', async () => {
    const model = LlamaModel.random(config, { seed: 2, std: 0.2 });
    const short = await model.forward(IDS.slice(0, 4)).array();
    const long = await model.forward([...IDS.slice(0, 4), 9, 9]).array();
    expect(maxAbsDiff(short.flat(), long.slice(0, 4).flat())).toBeLessThan(1e-5);
    model.dispose();
  });
});

describe('LlamaModel', () => {
  it('random init is deterministic per seed and differs across seeds', async () => {
    const config = CONFIGS['llama GQA untied'];
    const [a, b, c] = [1, 1, 2].map((seed) => LlamaModel.random(config, { seed }));
    const logits = await Promise.all([a, b, c].map((m) => m.forward(IDS.slice(0, 3)).data()));
    expect(maxAbsDiff(logits[0], logits[1])).toBe(0);
    expect(maxAbsDiff(logits[0], logits[2])).toBeGreaterThan(0);
    [a, b, c].forEach((m) => m.dispose());
  });

  it('init follows transformers: norms at 1, weights with std ~0.02, one tensor for tied embeddings', async () => {
    const model = LlamaModel.random(CONFIGS['llama MHA tied'], { seed: 3 });
    expect(Array.from(await model.weights.norm.data()).every((v) => v === 1)).toBe(true);
    expect(model.weights.embedTokens).toBeNull(); // tied: rows are read from lm_head's kernel
    const embed = (await (model.weights.lmHead as tf.Tensor2D).data()) as Float32Array;
    const std = Math.sqrt(embed.reduce((s, v) => s + v * v, 0) / embed.length);
    expect(std).toBeGreaterThan(0.018);
    expect(std).toBeLessThan(0.022);
    model.dispose();
  });

  it('exports to safetensors and loads back to identical logits', async () => {
    for (const config of Object.values(CONFIGS)) {
      const model = LlamaModel.random(config, { seed: 4 });
      const tensors = await model.toSafetensorsTensors();
      expect(new Set(Object.keys(tensors))).toEqual(new Set(hfTensorShapes(config).keys()));
      const reloaded = LlamaModel.fromSafetensors(config, parseSafetensors(writeSafetensors(tensors)));
      expect(maxAbsDiff(await model.forward(IDS).data(), await reloaded.forward(IDS).data())).toBe(0);
      model.dispose();
      reloaded.dispose();
    }
  });

  it('firstLayers runs the first layers on the same weights: all of them is the model, fewer is the residual stream without the final norm', () => {
    const model = LlamaModel.random(CONFIGS['llama GQA untied'], { seed: 3, std: 0.2 });
    const full = model.hidden(IDS);
    const all = model.firstLayers(model.config.numLayers).hidden(IDS);
    expect(maxAbsDiff(all.dataSync(), full.dataSync())).toBe(0);
    const cut = model.firstLayers(1);
    expect(cut.weights.layers[0]).toBe(model.weights.layers[0]);
    const one = cut.hidden(IDS);
    expect(one.shape).toEqual(full.shape);
    expect(maxAbsDiff(one.dataSync(), full.dataSync())).toBeGreaterThan(1e-3);
    // A one-layer model of the same weights ends with the final norm: the cut's output, normalised by hand, is its output.
    const oneLayerModel = new LlamaModel({ ...model.config, numLayers: 1 }, { ...model.weights, layers: model.weights.layers.slice(0, 1) });
    const normed = oneLayerModel.hidden(IDS);
    const byHand = tf.tidy(() => tf.mul(tf.mul(one, tf.rsqrt(tf.add(tf.mean(tf.square(one), -1, true), model.config.rmsNormEps))), model.weights.norm));
    expect(maxAbsDiff(byHand.dataSync(), normed.dataSync())).toBeLessThan(1e-5);
    expect(maxAbsDiff(one.dataSync(), normed.dataSync())).toBeGreaterThan(1e-3);
    expect(() => model.firstLayers(0)).toThrow(RangeError);
    expect(() => model.firstLayers(model.config.numLayers + 1)).toThrow(RangeError);
    tf.dispose([full, all, one, normed, byHand]);
    model.dispose();
  });

  it('rejects token ids outside the vocabulary', () => {
    const model = LlamaModel.random(CONFIGS['llama GQA untied']);
    expect(() => model.forward([61])).toThrow(RangeError);
    expect(() => model.forward([])).toThrow(RangeError);
    model.dispose();
  });

  it('forward and generate leak no tensors', async () => {
    const config = CONFIGS['qwen2 q/k/v bias, 1 kv head'];
    const model = LlamaModel.random(config, { seed: 5, std: 0.2 });
    await generate(model, IDS, { tokenizer: letters, maxNewTokens: 3 }); // warm-up: backends cache a few tensors once
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      tf.dispose(model.forward(IDS));
      await generate(model, IDS, { tokenizer: letters, maxNewTokens: 6, temperature: 0.8, topP: 0.9, seed: i });
    }
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
