// The decode attention kernel: its committed binary is what its source compiles to; it computes the tfjs ops it
// replaces on every shape a model gives it; decode steps with it give the logits of the tfjs path (KV cache, LoRA).
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { compileKernel, KERNELS } from '../scripts/build-kernels.ts';
import { initBackend } from '../src/model/backend.ts';
import { kernelDecodeAttention } from '../src/model/decodeAttention.ts';
import { DECODE_ATTENTION_WASM_BASE64 } from '../src/model/decodeAttentionWasm.ts';
import { KVCache, LlamaModel } from '../src/model/llama.ts';
import { disposePreparedLora, prepareLora, randomLoraAdapter } from '../src/model/lora.ts';
import { seededUniform } from '../src/util/random.ts';
import { IDS, maxAbsDiff, tinyConfig } from './fixtures/tinyModel.ts';

beforeAll(async () => {
  await initBackend();
});

it('the committed kernel binary is what kernels/decodeAttention.ts compiles to (else: npm run build:kernels)', async () => {
  const committed = Buffer.from(DECODE_ATTENTION_WASM_BASE64, 'base64');
  expect(Buffer.from(await compileKernel(KERNELS.decodeAttention)).equals(committed)).toBe(true);
}, 60_000);

describe('kernelDecodeAttention', () => {
  const randomTensor = (shape: number[], seed: number, scale: number) => {
    const random = seededUniform(seed);
    const size = shape.reduce((a, b) => a * b, 1);
    return tf.tensor(Float32Array.from({ length: size }, () => scale * (2 * random() - 1)), shape);
  };

  /** The tfjs ops attention() runs for one position: batched matmuls over kv heads, scale, softmax. */
  function reference(q: tf.Tensor2D, keys: tf.Tensor3D, values: tf.Tensor3D): tf.Tensor2D {
    const [numHeads, headDim] = q.shape;
    const [numKvHeads] = keys.shape;
    const queries = tf.reshape(q, [numKvHeads, numHeads / numKvHeads, headDim]) as tf.Tensor3D;
    const context = tf.matMul(tf.softmax(tf.mul(tf.matMul(queries, keys), 1 / Math.sqrt(headDim))), values);
    return tf.reshape(context, [1, numHeads * headDim]);
  }

  // SmolLM2's heads (9 over 3 kv heads of 64) at a long and a one-position cache, lengths that leave a SIMD tail, no GQA.
  it.each([[9, 3, 64, 2001], [9, 3, 64, 1], [4, 2, 8, 7], [4, 4, 8, 6], [2, 1, 4, 3]])(
    '%i heads over %i kv heads of %i, %i positions: the tfjs ops\' result', (numHeads, numKvHeads, headDim, length) => {
      tf.tidy(() => {
        // Large scores (scale 3 over 64 dims) make the softmax peaked: a wrong max or normalisation would show.
        const q = randomTensor([numHeads, headDim], 1, 3) as tf.Tensor2D;
        const keys = randomTensor([numKvHeads, headDim, length], 2, 1) as tf.Tensor3D;
        const values = randomTensor([numKvHeads, length, headDim], 3, 1) as tf.Tensor3D;
        const got = kernelDecodeAttention(q, keys, values);
        expect(got.shape).toEqual([1, numHeads * headDim]);
        expect(maxAbsDiff(got.dataSync(), reference(q, keys, values).dataSync())).toBeLessThan(1e-5);
      });
    });

  it('refuses shapes that do not fit together', () => {
    tf.tidy(() => {
      const q = tf.zeros([4, 8]) as tf.Tensor2D;
      expect(() => kernelDecodeAttention(q, tf.zeros([2, 4, 5]) as tf.Tensor3D, tf.zeros([2, 5, 8]) as tf.Tensor3D)).toThrow(/do not fit/);
      expect(() => kernelDecodeAttention(q, tf.zeros([3, 8, 5]) as tf.Tensor3D, tf.zeros([3, 5, 8]) as tf.Tensor3D)).toThrow(/do not fit/);
      expect(() => kernelDecodeAttention(q, tf.zeros([2, 8, 5]) as tf.Tensor3D, tf.zeros([2, 4, 8]) as tf.Tensor3D)).toThrow(/do not fit/);
    });
  });
});

describe('decode steps with the kernel', () => {
  it('give the logits of the tfjs path, with a KV cache, with LoRA, and without a cache; no tensor leaks', async () => {
    const config = tinyConfig({ max_position_embeddings: 64 });
    const model = LlamaModel.random(config, { seed: 5, std: 0.2 });
    expect(model.useDecodeAttentionKernel).toBe(true); // Node runs the WASM backend
    const lora = prepareLora(randomLoraAdapter(config, { rank: 4, seed: 6, std: 0.1 }), config);
    const run = (kernel: boolean, adapter: typeof lora | null) => {
      model.useDecodeAttentionKernel = kernel;
      const cache = new KVCache(config.numLayers);
      const steps: Float32Array[] = [model.forward(IDS, { cache, logits: 'last', lora: adapter }).dataSync() as Float32Array];
      for (const id of [4, 9, 9, 30, 2, 11]) steps.push(model.forward([id], { cache, logits: 'last', lora: adapter }).dataSync() as Float32Array);
      steps.push(model.forward([7], { lora: adapter }).dataSync() as Float32Array); // one position, no cache
      cache.dispose();
      return steps;
    };
    for (const adapter of [null, lora]) {
      const before = tf.memory().numTensors;
      const withKernel = tf.tidy(() => run(true, adapter));
      expect(tf.memory().numTensors).toBe(before);
      const plain = tf.tidy(() => run(false, adapter));
      for (let step = 0; step < plain.length; step++) expect(maxAbsDiff(withKernel[step], plain[step])).toBeLessThan(1e-5);
    }
    disposePreparedLora(lora);
    model.dispose();
  });
});
