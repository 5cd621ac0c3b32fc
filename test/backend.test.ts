// The core runs on tfjs's WASM backend in Node.
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend, probeWebGpu } from '../src/model/backend.ts';

describe('initBackend', () => {
  it('selects wasm in Node and computes a matmul', async () => {
    expect(await initBackend()).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    const product = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    expect(Array.from(await product.data())).toEqual([11]);
  });
});

describe('probeWebGpu', () => {
  afterEach(() => vi.unstubAllGlobals());
  const withAdapter = (adapter: unknown) => vi.stubGlobal('navigator', { gpu: { requestAdapter: async () => adapter } });

  it('says there is none without navigator.gpu or an adapter', async () => {
    expect(await probeWebGpu()).toEqual({ available: false, software: false, name: '' });
    withAdapter(null);
    expect(await probeWebGpu()).toEqual({ available: false, software: false, name: '' });
  });

  it('calls SwiftShader (Chromium\'s adapter info) and any fallback adapter software, a real GPU not', async () => {
    withAdapter({ info: { vendor: 'google', architecture: 'swiftshader', device: '', description: '', isFallbackAdapter: true } });
    expect(await probeWebGpu()).toEqual({ available: true, software: true, name: 'google swiftshader' });
    withAdapter({ isFallbackAdapter: true, info: { vendor: 'microsoft', architecture: '' } });
    expect((await probeWebGpu()).software).toBe(true);
    withAdapter({ info: { vendor: 'mesa', architecture: '', device: 'llvmpipe (LLVM 15.0.6, 256 bits)' } });
    expect((await probeWebGpu()).software).toBe(true);
    withAdapter({ isFallbackAdapter: false, info: { vendor: 'nvidia', architecture: 'lovelace', device: '', description: '' } });
    expect(await probeWebGpu()).toEqual({ available: true, software: false, name: 'nvidia lovelace' });
  });
});
