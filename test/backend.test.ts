// The core runs on tfjs's WASM backend in Node.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/model/backend.ts';

describe('initBackend', () => {
  it('selects wasm in Node and computes a matmul', async () => {
    expect(await initBackend()).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    const product = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    expect(Array.from(await product.data())).toEqual([11]);
  });
});
