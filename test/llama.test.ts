// The decoder: cached decode equals full recompute, deterministic init, GQA/tied/Qwen2-bias configs, generation, no tensor leaks.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/model/backend.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { KVCache, LlamaModel, hfTensorShapes } from '../src/model/llama.ts';
import { generate, type TextTokenizer } from '../src/model/generate.ts';
import { parseSafetensors, writeSafetensors } from '../src/model/safetensors.ts';
import { maxAbsDiff, tinyConfig } from './fixtures/tinyModel.ts';

const CONFIGS: Record<string, ModelConfig> = {
  'llama GQA untied': tinyConfig(),
  'llama MHA tied': tinyConfig({ num_key_value_heads: 4, tie_word_embeddings: true }),
  'llama attention+mlp bias, head_dim 16': tinyConfig({ attention_bias: true, mlp_bias: true, head_dim: 16 }),
  'qwen2 q/k/v bias, 1 kv head': tinyConfig({ architectures: ['Qwen2ForCausalLM'], num_key_value_heads: 1, tie_word_embeddings: true }),
};

const IDS = [5, 17, 3, 42, 8, 8, 60, 1, 33, 12, 0, 7];

/** Letters a.. for ids; enough to test stop sequences on decoded text. */
const letters: TextTokenizer = {
  encode: (text) => Array.from(text, (c) => c.charCodeAt(0) - 97),
  decode: (ids) => ids.map((id) => String.fromCharCode(97 + (id % 26))).join(''),
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

  it('init follows transformers: norms at 1, weights with std ~0.02, tied lm_head is the embedding', async () => {
    const model = LlamaModel.random(CONFIGS['llama MHA tied'], { seed: 3 });
    expect(Array.from(await model.weights.norm.data()).every((v) => v === 1)).toBe(true);
    const embed = (await model.weights.embedTokens.data()) as Float32Array;
    const std = Math.sqrt(embed.reduce((s, v) => s + v * v, 0) / embed.length);
    expect(std).toBeGreaterThan(0.018);
    expect(std).toBeLessThan(0.022);
    expect(model.weights.lmHead).toBe(model.weights.embedTokens);
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

describe('generate', () => {
  const config = CONFIGS['llama GQA untied'];

  it('greedy decode equals argmax over full recomputes', async () => {
    const model = LlamaModel.random(config, { seed: 6, std: 0.3 });
    const result = await generate(model, IDS.slice(0, 4), { tokenizer: letters, maxNewTokens: 8, stopTokenIds: [] });
    const sequence = IDS.slice(0, 4);
    for (let i = 0; i < 8; i++) {
      const logits = model.forward(sequence, { logits: 'last' });
      sequence.push((await tf.argMax(logits, 1).data())[0]);
    }
    expect(result.ids).toEqual(sequence.slice(4));
    expect(result.text).toBe(letters.decode(result.ids));
    expect(result.stopReason).toBe('max-tokens');
    model.dispose();
  });

  it('sampling is reproducible per seed; top-p near 0 is greedy', async () => {
    const model = LlamaModel.random(config, { seed: 7, std: 0.3 });
    const options = { tokenizer: letters, maxNewTokens: 10, temperature: 1.5, stopTokenIds: [] };
    const a = await generate(model, IDS, { ...options, seed: 1 });
    const b = await generate(model, IDS, { ...options, seed: 1 });
    const c = await generate(model, IDS, { ...options, seed: 2 });
    expect(a.ids).toEqual(b.ids);
    expect(a.ids).not.toEqual(c.ids);
    const nucleus = await generate(model, IDS, { ...options, topP: 1e-9, seed: 3 });
    const greedy = await generate(model, IDS, { ...options, temperature: 0 });
    expect(nucleus.ids).toEqual(greedy.ids);
    model.dispose();
  });

  it('stops at stop tokens and stop sequences, streaming exactly the final text', async () => {
    const model = LlamaModel.random(config, { seed: 8, std: 0.3 });
    const free = await generate(model, IDS, { tokenizer: letters, maxNewTokens: 12, stopTokenIds: [] });
    const stopId = free.ids[5];
    const byToken = await generate(model, IDS, { tokenizer: letters, maxNewTokens: 12, stopTokenIds: [stopId] });
    expect(byToken.stopReason).toBe('stop-token');
    expect(byToken.ids).toEqual(free.ids.slice(0, free.ids.indexOf(stopId)));

    const stop = free.text.slice(6, 8);
    const streamed: string[] = [];
    const bySequence = await generate(model, IDS, {
      tokenizer: letters, maxNewTokens: 12, stopTokenIds: [], stopSequences: [stop], onToken: (t) => streamed.push(t.delta),
    });
    expect(bySequence.stopReason).toBe('stop-sequence');
    expect(bySequence.text).toBe(free.text.slice(0, free.text.indexOf(stop)));
    expect(streamed.join('')).toBe(bySequence.text);
    model.dispose();
  });

  it('rejects when aborted, and frees its cache', async () => {
    const model = LlamaModel.random(config, { seed: 9 });
    const controller = new AbortController();
    const before = tf.memory().numTensors;
    const run = generate(model, IDS, {
      tokenizer: letters, maxNewTokens: 50, stopTokenIds: [], signal: controller.signal,
      onToken: (t) => { if (t.index === 2) controller.abort(); },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
