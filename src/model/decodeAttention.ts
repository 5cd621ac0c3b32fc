// One decode step's attention on the WASM backend as one call of the WASM SIMD kernel compiled from
// kernels/decodeAttention.ts: the tfjs ops it replaces (two batched matmuls, scale, softmax) ran on tfjs-wasm's scalar
// loops and grew to most of a decode step's time at long contexts.
//
// The cache's keys and values are copied from the tfjs-wasm heap into the kernel's memory at each call (3 MB per
// layer at 2,000 positions: read in place, not through dataSync, which would copy them twice); the kernel's memory
// grows to the longest context seen and is kept, one per thread.
import * as tf from '@tensorflow/tfjs';
import { DECODE_ATTENTION_WASM_BASE64 } from './decodeAttentionWasm.ts';
import { align16, growTo, wasmBytes } from './wasmMemory.ts';

interface KernelExports {
  dataEnd(): number;
  decodeAttention(q: number, keys: number, values: number, scores: number, out: number,
    numHeads: number, numKvHeads: number, headDim: number, length: number, scale: number): void;
}

const align = align16;

let kernel: { memory: WebAssembly.Memory; exports: KernelExports } | null = null;

/** The kernel instance of this thread (a module under 4 KB compiles synchronously, on a page's main thread too). */
function decodeAttentionKernel(): { memory: WebAssembly.Memory; exports: KernelExports } {
  if (!kernel) {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const module = new WebAssembly.Module(wasmBytes(DECODE_ATTENTION_WASM_BASE64));
    kernel = { memory, exports: new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports };
  }
  return kernel;
}

/** tfjs-wasm's internals that hold a tensor's data: its heap, and each tensor's offset in it. */
interface WasmBackendData {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
}

/**
 * A float32 tensor's values where the WASM backend keeps them, without a copy; valid until the next tfjs op (the heap
 * may grow and move). Falls back to dataSync (a copy) on a backend that is not laid out that way.
 */
function heapValues(tensor: tf.Tensor): Float32Array {
  const backend = tf.backend() as unknown as Partial<WasmBackendData>;
  const offset = backend.dataIdMap?.get(tensor.dataId)?.memoryOffset;
  if (tensor.dtype !== 'float32' || offset === undefined || !backend.wasm?.HEAPU8) return tensor.dataSync() as Float32Array;
  return new Float32Array(backend.wasm.HEAPU8.buffer, backend.wasm.HEAPU8.byteOffset + offset, tensor.size);
}

/**
 * softmax((q·K) / sqrt(headDim)) · V for one new position: queries [numHeads, headDim] (RoPE applied), keys
 * [numKvHeads, headDim, length] and values [numKvHeads, length, headDim] as KVCache holds them; returns the heads
 * merged, [1, numHeads * headDim], as attention() feeds o_proj. Query head h reads kv head floor(h / group).
 */
export function kernelDecodeAttention(queries: tf.Tensor2D, keys: tf.Tensor3D, values: tf.Tensor3D): tf.Tensor2D {
  const [numHeads, headDim] = queries.shape;
  const [numKvHeads, keyDim, length] = keys.shape;
  if (keyDim !== headDim || headDim % 4 !== 0 || numHeads % numKvHeads !== 0
    || values.shape.join() !== [numKvHeads, length, headDim].join()) {
    throw new Error(`kernelDecodeAttention: queries [${queries.shape}], keys [${keys.shape}] and values [${values.shape}] do not fit`);
  }
  const { memory, exports } = decodeAttentionKernel();
  const cacheFloats = numKvHeads * headDim * length;
  const qAt = align(exports.dataEnd());
  const keysAt = align(qAt + 4 * numHeads * headDim);
  const valuesAt = align(keysAt + 4 * cacheFloats);
  const scoresAt = align(valuesAt + 4 * cacheFloats);
  const outAt = align(scoresAt + 4 * (numHeads / numKvHeads) * length);
  const end = outAt + 4 * numHeads * headDim;
  growTo(memory, end);
  const { buffer } = memory;
  new Float32Array(buffer, qAt, numHeads * headDim).set(heapValues(queries));
  new Float32Array(buffer, keysAt, cacheFloats).set(heapValues(keys));
  new Float32Array(buffer, valuesAt, cacheFloats).set(heapValues(values));
  exports.decodeAttention(qAt, keysAt, valuesAt, scoresAt, outAt, numHeads, numKvHeads, headDim, length, 1 / Math.sqrt(headDim));
  return tf.tensor2d(new Float32Array(buffer, outAt, numHeads * headDim).slice(), [1, numHeads * headDim]);
}
