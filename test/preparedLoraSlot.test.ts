// PreparedLoraSlot: an adapter is uploaded once per identity and reused by every completion; a new one frees the old.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/model/backend.ts';
import { generate } from '../src/model/generate.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { randomLoraAdapter } from '../src/model/lora.ts';
import { PreparedLoraSlot } from '../src/model/preparedLoraSlot.ts';
import { IDS, letters, tinyConfig } from './fixtures/tinyModel.ts';

beforeAll(async () => {
  await initBackend();
});

describe('PreparedLoraSlot', () => {
  const config = tinyConfig();

  it('uploads an adapter once: completions with the held one allocate nothing that outlives them', async () => {
    const model = LlamaModel.random(config, { seed: 3, std: 0.2 });
    const adapter = randomLoraAdapter(config, { rank: 2, alpha: 4, seed: 5, std: 0.3 });
    const slot = new PreparedLoraSlot();
    const before = tf.memory().numTensors;
    const prepared = slot.hold('digest-a', adapter, config);
    const held = tf.memory().numTensors;
    // Two tensors (down, up) per module per layer.
    expect(held - before).toBe(2 * adapter.targetModules.length * config.numLayers);

    const texts: string[] = [];
    for (let i = 0; i < 3; i++) {
      const lora = slot.hold('digest-a', adapter, config);
      expect(lora).toBe(prepared);
      texts.push((await generate(model, IDS.slice(0, 4), { tokenizer: letters, maxNewTokens: 6, stopTokenIds: [], lora })).text);
      expect(tf.memory().numTensors).toBe(held);
    }
    expect(slot.uploads).toBe(1);
    expect(new Set(texts).size).toBe(1);
    // The same adapter prepared for one call (generate's own path) gives the same text: the held tensors are that adapter.
    expect((await generate(model, IDS.slice(0, 4), { tokenizer: letters, maxNewTokens: 6, stopTokenIds: [], lora: adapter })).text).toBe(texts[0]);
    slot.release();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('frees the previous adapter when another identity is held, and keeps it when the new one does not fit', () => {
    const other = tinyConfig({ hidden_size: 16, intermediate_size: 24, num_attention_heads: 2, num_key_value_heads: 1 });
    const first = randomLoraAdapter(config, { rank: 2, seed: 1 });
    const second = randomLoraAdapter(config, { rank: 4, seed: 2 });
    const slot = new PreparedLoraSlot();
    const before = tf.memory().numTensors;
    const a = slot.hold('a', first, config);
    const b = slot.hold('b', second, config);
    expect(b).not.toBe(a);
    expect(a.layers[0].q_proj!.down.isDisposed).toBe(true);
    expect(b.layers[0].q_proj!.down.isDisposed).toBe(false);
    expect(b.rank).toBe(4);
    expect(tf.memory().numTensors - before).toBe(2 * second.targetModules.length * config.numLayers);

    expect(() => slot.hold('c', randomLoraAdapter(other, { seed: 3 }), config)).toThrow(/should be/);
    expect(slot.current?.key).toBe('b');
    expect(b.layers[0].q_proj!.down.isDisposed).toBe(false);
    expect(slot.uploads).toBe(2);
    slot.release();
    expect(slot.current).toBeNull();
    expect(tf.memory().numTensors).toBe(before);
  });
});
