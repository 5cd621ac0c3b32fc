// Long prompts and prompt reuse: chunked prefill equals one pass, the prompt cache changes no token and runs only what
// changed, it never crosses adapters, a cancelled prefill leaves it usable, over-long prompts lose their start, no leaks.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/model/backend.ts';
import { generate, type GenerateOptions } from '../src/model/generate.ts';
import { KVCache, LlamaModel } from '../src/model/llama.ts';
import { disposePreparedLora, prepareLora, randomLoraAdapter } from '../src/model/lora.ts';
import { PromptCache } from '../src/model/promptCache.ts';
import { IDS, letters, maxAbsDiff, tinyConfig } from './fixtures/tinyModel.ts';

beforeAll(async () => {
  await initBackend();
});

const config = tinyConfig({ max_position_embeddings: 64 });
/** A prompt of `length` ids inside the vocabulary, varied by `salt`. */
const promptOf = (length: number, salt = 0) => Array.from({ length }, (_, i) => (i * 7 + salt * 13 + 3) % config.vocabSize);

describe('chunked prefill', () => {
  it('gives the logits of one pass, with and without a cache, for every chunk size', async () => {
    const model = LlamaModel.random(config, { seed: 11, std: 0.2 });
    const ids = promptOf(40);
    model.prefillChunkTokens = 1000;
    const whole = await model.forward(ids).data();
    for (const chunk of [1, 3, 16, 39]) {
      model.prefillChunkTokens = chunk;
      expect(maxAbsDiff(await model.forward(ids).data(), whole)).toBeLessThan(1e-5);
      const cache = new KVCache(config.numLayers);
      const last = model.forward(ids, { cache, logits: 'last' });
      expect(cache.length).toBe(ids.length);
      expect(maxAbsDiff(await last.data(), whole.slice(-config.vocabSize))).toBeLessThan(1e-5);
      last.dispose();
      cache.dispose();
    }
    model.dispose();
  });

  it('attention per kv head (the WASM path) equals the batched matmul', async () => {
    const model = LlamaModel.random(config, { seed: 20, std: 0.2 });
    expect(model.splitAttentionMatMuls).toBe(true); // Node runs the WASM backend
    const ids = promptOf(30);
    const perHead = await model.forward(ids).data();
    model.splitAttentionMatMuls = false;
    expect(maxAbsDiff(await model.forward(ids).data(), perHead)).toBeLessThan(1e-5);
    model.dispose();
  });

  it('frees every intermediate: tensors after a long prefill are the cache and the result only', async () => {
    const model = LlamaModel.random(config, { seed: 12 });
    model.prefillChunkTokens = 8;
    const before = tf.memory().numTensors;
    const cache = new KVCache(config.numLayers);
    const logits = model.forward(promptOf(50), { cache, logits: 'last' });
    expect(tf.memory().numTensors - before).toBe(2 * config.numLayers + 1);
    logits.dispose();
    cache.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('truncating a cache keeps exactly the prefix it had', async () => {
    const model = LlamaModel.random(config, { seed: 13, std: 0.2 });
    const ids = promptOf(20);
    const cache = new KVCache(config.numLayers);
    model.forward(ids, { cache }).dispose();
    cache.truncate(12);
    expect(cache.length).toBe(12);
    const continued = model.forward(ids.slice(12), { cache });
    const fresh = model.forward(ids);
    expect(maxAbsDiff(await continued.data(), (await fresh.data()).slice(12 * config.vocabSize))).toBeLessThan(1e-5);
    expect(() => cache.truncate(-1)).toThrow(RangeError);
    [continued, fresh].forEach((t) => t.dispose());
    cache.dispose();
    model.dispose();
  });
});

describe('generate with a prompt cache', () => {
  const options: GenerateOptions = { tokenizer: letters, maxNewTokens: 6, stopTokenIds: [] };

  it('returns what a cold run returns, and runs only the tokens after the shared prefix', async () => {
    const model = LlamaModel.random(config, { seed: 14, std: 0.3 });
    model.prefillChunkTokens = 4;
    const promptCache = new PromptCache(config.numLayers, 64);
    const base = promptOf(30);
    const requests = [
      { prompt: base, reused: 0 },
      { prompt: [...base, 5], reused: 30 }, // typed one more token
      { prompt: [...base.slice(0, 29), 9], reused: 29 }, // changed the last token
      { prompt: [...base.slice(0, 10), 1, ...base.slice(11)], reused: 10 }, // edited earlier text
      { prompt: [...base.slice(0, 10), 1, ...base.slice(11)], reused: 29 }, // the same prompt again: all but the last
    ];
    for (const { prompt, reused } of requests) {
      const cold = await generate(model, prompt, options);
      const warm = await generate(model, prompt, { ...options, promptCache });
      expect(warm.ids).toEqual(cold.ids);
      expect(warm.reusedPromptTokens).toBe(reused);
      // The cache now holds the prompt and every generated token but the last (which was never run).
      expect(promptCache.length).toBe(prompt.length + warm.ids.length - 1);
    }
    // Accepting the completion: the next prompt is prompt + generated text, all of it served but the last token.
    const last = requests[requests.length - 1].prompt;
    const { ids } = await generate(model, last, { ...options, promptCache });
    const accepted = await generate(model, [...last, ...ids], { ...options, promptCache });
    expect(accepted.reusedPromptTokens).toBe(last.length + ids.length - 1);
    expect(accepted.ids).toEqual((await generate(model, [...last, ...ids], options)).ids);
    promptCache.clear();
    model.dispose();
  });

  it('never reuses positions computed under another adapter', async () => {
    const model = LlamaModel.random(config, { seed: 15, std: 0.3 });
    const adapter = randomLoraAdapter(config, { rank: 4, seed: 2, std: 0.3 });
    const prepared = prepareLora(adapter, config);
    const promptCache = new PromptCache(config.numLayers, 64);
    const prompt = promptOf(20, 1);
    await generate(model, prompt, { ...options, promptCache });
    const adapted = await generate(model, prompt, { ...options, promptCache, lora: prepared });
    expect(adapted.reusedPromptTokens).toBe(0);
    expect(adapted.ids).toEqual((await generate(model, prompt, { ...options, lora: prepared })).ids);
    expect((await generate(model, prompt, { ...options, promptCache, lora: prepared })).reusedPromptTokens).toBe(19);
    // A plain adapter is prepared per request: nothing it computed is reused.
    await generate(model, prompt, { ...options, promptCache, lora: adapter });
    expect((await generate(model, prompt, { ...options, promptCache, lora: adapter })).reusedPromptTokens).toBe(0);
    promptCache.clear();
    disposePreparedLora(prepared);
    model.dispose();
  });

  it('a request cancelled during prefill keeps the positions it finished, and the next one is still right', async () => {
    const model = LlamaModel.random(config, { seed: 16, std: 0.3 });
    model.prefillChunkTokens = 4;
    const promptCache = new PromptCache(config.numLayers, 64);
    const prompt = promptOf(24, 2);
    const controller = new AbortController();
    const cancelled = generate(model, prompt, {
      ...options, promptCache, signal: controller.signal,
      onPrefill: (done) => { if (done >= 8) controller.abort(); },
    });
    await expect(cancelled).rejects.toThrow(/abort/i);
    expect(promptCache.length).toBe(8);
    const resumed = await generate(model, prompt, { ...options, promptCache });
    expect(resumed.reusedPromptTokens).toBe(8);
    expect(resumed.ids).toEqual((await generate(model, prompt, options)).ids);
    promptCache.clear();
    model.dispose();
  });

  it('two requests at once do not share positions', async () => {
    const model = LlamaModel.random(config, { seed: 17, std: 0.3 });
    model.prefillChunkTokens = 4;
    const promptCache = new PromptCache(config.numLayers, 64);
    const [a, b] = [promptOf(20, 3), promptOf(20, 4)];
    const [warmA, warmB] = await Promise.all([a, b].map((prompt) => generate(model, prompt, { ...options, promptCache })));
    expect(warmA.ids).toEqual((await generate(model, a, options)).ids);
    expect(warmB.ids).toEqual((await generate(model, b, options)).ids);
    promptCache.clear();
    model.dispose();
  });

  it('is bounded: a sequence longer than maxTokens is not kept', async () => {
    const model = LlamaModel.random(config, { seed: 18 });
    const promptCache = new PromptCache(config.numLayers, 16);
    await generate(model, promptOf(20), { ...options, promptCache });
    expect(promptCache.length).toBe(0);
    await generate(model, promptOf(8), { ...options, promptCache });
    expect(promptCache.length).toBe(8 + options.maxNewTokens! - 1);
    promptCache.clear();
    model.dispose();
  });

  it('drops the start of a prompt longer than the context, in steps, and leaks nothing', async () => {
    const model = LlamaModel.random(config, { seed: 19 });
    const before = tf.memory().numTensors;
    // Context 64, 6 new tokens: room for 58; steps of floor(58 / 4) = 14.
    const result = await generate(model, promptOf(70), options);
    expect(result.droppedPromptTokens).toBe(14);
    expect(result.promptTokens).toBe(56);
    expect(result.ids).toEqual((await generate(model, promptOf(70).slice(14), options)).ids);
    expect((await generate(model, promptOf(58), options)).droppedPromptTokens).toBe(0);
    await expect(generate(model, IDS, { ...options, maxNewTokens: 64 })).rejects.toThrow(/no room for a prompt/);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
