// Generation: greedy equals argmax over full recomputes, seeded sampling, stop tokens/sequences, streaming, abort, LoRA per request.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/model/backend.ts';
import { generate } from '../src/model/generate.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { disposePreparedLora, prepareLora, randomLoraAdapter } from '../src/model/lora.ts';
import { IDS, letters, tinyConfig } from './fixtures/tinyModel.ts';

beforeAll(async () => {
  await initBackend();
});

describe('generate', () => {
  const config = tinyConfig();

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

  it('applies a LoRA adapter per request, prepared or plain, and frees what it prepared', async () => {
    const model = LlamaModel.random(config, { seed: 10, std: 0.3 });
    const adapter = randomLoraAdapter(config, { rank: 4, alpha: 8, seed: 11, std: 0.5 });
    const options = { tokenizer: letters, maxNewTokens: 8, stopTokenIds: [] };
    const base = await generate(model, IDS, options);
    const before = tf.memory().numTensors;
    const plain = await generate(model, IDS, { ...options, lora: adapter });
    expect(tf.memory().numTensors).toBe(before);
    const prepared = prepareLora(adapter, config);
    const reused = await generate(model, IDS, { ...options, lora: prepared });
    disposePreparedLora(prepared);
    expect(plain.ids).toEqual(reused.ids);
    expect(plain.ids).not.toEqual(base.ids);
    expect((await generate(model, IDS, options)).ids).toEqual(base.ids);
    model.dispose();
  });
});
