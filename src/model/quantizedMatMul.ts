// Linear-layer weights kept as ggml Q4_1 / Q8_0 blocks in a WebAssembly memory of our own, multiplied by the WASM
// SIMD kernel compiled from kernels/quantizedMatMul.ts: the WASM backend's linear layers and LM head without a float32
// copy of their weights (nor the packed copy XNNPACK keeps of every matrix it multiplies).
//
// Activations travel as float32 arrays: on tfjs-wasm, reading a tensor (dataSync) and creating one are CPU copies of
// a few KB per decode step. Each matrix is two planes in the store's memory (see the kernel's header): the quantized
// values of its blocks, and their scales widened from float16 to float32 once at load, so the kernel needs no
// half-precision conversion.
import { floatToHalf, halfToFloatTable } from './safetensors.ts';
import { QUANTIZED_MATMUL_WASM_BASE64 } from './quantizedMatMulWasm.ts';
import { align16, growTo, WASM_PAGE, wasmBytes } from './wasmMemory.ts';

/** The ggml block formats the kernel multiplies. */
export type QuantizedFormat = 'Q4_1' | 'Q8_0';

/** Values per block, and bytes per block in ggml's layout (f16 scales followed by the quants) and in each plane. */
export const QUANTIZED_FORMATS: Readonly<Record<QuantizedFormat, { ggmlType: number; ggmlBlockBytes: number; quantBytes: number; scaleFloats: number }>> = {
  Q4_1: { ggmlType: 3, ggmlBlockBytes: 20, quantBytes: 16, scaleFloats: 2 },
  Q8_0: { ggmlType: 8, ggmlBlockBytes: 34, quantBytes: 32, scaleFloats: 1 },
};

export const QUANTIZED_BLOCK = 32;

interface KernelExports {
  matMulQ4_1(quants: number, scales: number, x: number, y: number, rows: number, columns: number, tokens: number, widened: number): void;
  matMulQ8_0(quants: number, scales: number, x: number, y: number, rows: number, columns: number, tokens: number, widened: number): void;
  gatherRows(isQ4_1: number, quants: number, scales: number, columns: number, rowIds: number, count: number, out: number): void;
  widenTransposed(isQ4_1: number, quants: number, scales: number, rows: number, columns: number, widened: number, out: number): void;
  addLowRank(x: number, down: number, up: number, y: number, tokens: number, columns: number, rank: number, rows: number, hidden: number): void;
}

let kernelModule: WebAssembly.Module | null = null;
const kernelBytes = () => wasmBytes(QUANTIZED_MATMUL_WASM_BASE64);

/**
 * Compiles the kernel ahead of the first store, without blocking: a browser's main thread refuses to compile a module
 * over 4 KB synchronously. Workers and Node may skip this (the store compiles it then).
 */
export async function prepareQuantizedKernel(): Promise<void> {
  kernelModule ??= await WebAssembly.compile(kernelBytes());
}

/** The compiled kernel, shared by every store. */
function compiledKernel(): WebAssembly.Module {
  kernelModule ??= new WebAssembly.Module(kernelBytes());
  return kernelModule;
}

const align = align16;

/** A weight matrix W [rows, columns] (Hugging Face's [out, in]) held in a QuantizedWeightStore. */
export class QuantizedMatrix {
  constructor(
    readonly store: QuantizedWeightStore,
    readonly format: QuantizedFormat,
    readonly rows: number,
    readonly columns: number,
    /** Byte offsets of its two planes in the store's memory. */
    readonly quantsAt: number,
    readonly scalesAt: number,
  ) {}

  get blocksPerRow(): number {
    return this.columns / QUANTIZED_BLOCK;
  }

  /** Bytes it takes in the store. */
  get byteLength(): number {
    const { quantBytes, scaleFloats } = QUANTIZED_FORMATS[this.format];
    return this.rows * this.blocksPerRow * (quantBytes + 4 * scaleFloats);
  }

  /** y [tokens, rows] = x [tokens, columns] W^T. */
  matMul(x: Float32Array, tokens: number): Float32Array {
    return this.store.matMul(this, x, tokens);
  }

  /** W^T as float32 [columns, rows]: the kernel layout tfjs multiplies (see LlamaModel's prefill). */
  transposedAsFloat32(): Float32Array {
    return this.store.widenTransposed(this);
  }

  /** The rows `rowIds` of W as float32 [rowIds.length, columns], widened exactly as dequantizeGgufTensor does. */
  rowsAsFloat32(rowIds: ArrayLike<number>): Float32Array {
    return this.store.gatherRows(this, rowIds);
  }
}

export type QuantizedStoreErrorCode = 'BAD_SHAPE' | 'DISPOSED' | 'OUT_OF_MEMORY';

export class QuantizedStoreError extends Error {
  readonly code: QuantizedStoreErrorCode;
  constructor(code: QuantizedStoreErrorCode, message: string) {
    super(message);
    this.name = 'QuantizedStoreError';
    this.code = code;
  }
}

/**
 * One model's quantized matrices in one WebAssembly memory, with the kernel instance that multiplies them. Matrices
 * are appended while the model loads; each product's inputs and outputs pass through a scratch area after the last
 * matrix, grown as needed. Memory is never given back until the store itself is dropped (dispose).
 * @example
 * const store = new QuantizedWeightStore();
 * const w = store.addGgmlBlocks('Q4_1', fileBytes, info.begin, rows, columns);
 * const y = w.matMul(x, 1);
 */
export class QuantizedWeightStore {
  private memory: WebAssembly.Memory | null;
  private readonly kernel: KernelExports;
  /** End of the last matrix: the scratch area starts here. */
  private used = 0;

  constructor() {
    this.memory = new WebAssembly.Memory({ initial: 1 });
    this.kernel = new WebAssembly.Instance(compiledKernel(), { env: { memory: this.memory } }).exports as unknown as KernelExports;
  }

  /** Bytes of memory the store holds (matrices and scratch). */
  get byteLength(): number {
    return this.memory?.buffer.byteLength ?? 0;
  }

  /** Grows the memory to hold at least `bytes` after the matrices (call once before many additions to grow once). */
  reserve(bytes: number): void {
    const memory = this.live();
    const needed = this.used + bytes;
    try {
      growTo(memory, needed);
    } catch {
      throw new QuantizedStoreError('OUT_OF_MEMORY', `Could not grow the quantized weights' memory to ${Math.ceil(needed / 2 ** 20)} MiB`);
    }
  }

  /**
   * Copies a matrix stored as ggml blocks (`rows` rows of `columns` values, rows contiguous, as a GGUF tensor is) from
   * `bytes` at `begin` into the store. `rowSource[r]`, when given, is the stored row that becomes row r.
   */
  addGgmlBlocks(format: QuantizedFormat, bytes: Uint8Array, begin: number, rows: number, columns: number, rowSource?: ArrayLike<number>): QuantizedMatrix {
    const { ggmlBlockBytes, quantBytes, scaleFloats } = QUANTIZED_FORMATS[format];
    if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(columns) || columns < QUANTIZED_BLOCK || columns % QUANTIZED_BLOCK !== 0) {
      throw new QuantizedStoreError('BAD_SHAPE', `A ${format} matrix needs whole rows of 32-value blocks, not [${rows}, ${columns}]`);
    }
    const blocks = columns / QUANTIZED_BLOCK;
    if (begin < 0 || begin + rows * blocks * ggmlBlockBytes > bytes.byteLength) {
      throw new QuantizedStoreError('BAD_SHAPE', `A ${format} matrix [${rows}, ${columns}] does not fit in the ${bytes.byteLength} bytes given`);
    }
    const quantsAt = align(this.used);
    const scalesAt = align(quantsAt + rows * blocks * quantBytes);
    const end = scalesAt + rows * blocks * scaleFloats * 4;
    this.reserve(end - this.used);
    this.used = end;
    const buffer = this.live().buffer;
    const quants = new Uint8Array(buffer, quantsAt, rows * blocks * quantBytes);
    const scales = new Float32Array(buffer, scalesAt, rows * blocks * scaleFloats);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const half = halfToFloatTable();
    const scaleBytes = 2 * scaleFloats;
    for (let r = 0; r < rows; r++) {
      const from = rowSource ? rowSource[r] : r;
      if (!Number.isInteger(from) || from < 0 || from >= rows) throw new QuantizedStoreError('BAD_SHAPE', `Row ${r} is taken from row ${from}, outside 0..${rows - 1}`);
      for (let b = 0; b < blocks; b++) {
        const at = begin + (from * blocks + b) * ggmlBlockBytes;
        const block = r * blocks + b;
        for (let s = 0; s < scaleFloats; s++) scales[block * scaleFloats + s] = half[view.getUint16(at + 2 * s, true)];
        quants.set(bytes.subarray(at + scaleBytes, at + ggmlBlockBytes), block * quantBytes);
      }
    }
    return new QuantizedMatrix(this, format, rows, columns, quantsAt, scalesAt);
  }

  /** Quantizes float32 rows [rows, columns] the way ggml does, then stores them (random models, benchmarks, tests). */
  addFloat32(format: QuantizedFormat, values: Float32Array, rows: number, columns: number): QuantizedMatrix {
    return this.addGgmlBlocks(format, quantizeToGgmlBlocks(format, values), 0, rows, columns);
  }

  matMul(matrix: QuantizedMatrix, x: Float32Array, tokens: number): Float32Array {
    const { rows, columns } = matrix;
    if (matrix.store !== this) throw new QuantizedStoreError('BAD_SHAPE', 'The matrix belongs to another store');
    if (!Number.isInteger(tokens) || tokens < 1 || x.length !== tokens * columns) {
      throw new QuantizedStoreError('BAD_SHAPE', `x has ${x.length} values, not ${tokens} rows of ${columns}`);
    }
    // The kernel's scratch (one widened block, then block sums of x), x, then y.
    const widened = align(this.used);
    const xAt = align(widened + 128 + tokens * matrix.blocksPerRow * 4);
    const yAt = align(xAt + x.byteLength);
    this.reserve(yAt + tokens * rows * 4 - this.used);
    const buffer = this.live().buffer;
    new Float32Array(buffer, xAt, x.length).set(x);
    const multiply = matrix.format === 'Q4_1' ? this.kernel.matMulQ4_1 : this.kernel.matMulQ8_0;
    multiply(matrix.quantsAt, matrix.scalesAt, xAt, yAt, rows, columns, tokens, widened);
    return new Float32Array(buffer, yAt, tokens * rows).slice();
  }

  gatherRows(matrix: QuantizedMatrix, rowIds: ArrayLike<number>): Float32Array {
    const { rows, columns } = matrix;
    for (let i = 0; i < rowIds.length; i++) {
      if (!Number.isInteger(rowIds[i]) || rowIds[i] < 0 || rowIds[i] >= rows) throw new QuantizedStoreError('BAD_SHAPE', `Row ${rowIds[i]} is outside 0..${rows - 1}`);
    }
    const idsAt = align(this.used);
    const outAt = align(idsAt + 4 * rowIds.length);
    this.reserve(outAt + rowIds.length * columns * 4 - this.used);
    const buffer = this.live().buffer;
    new Int32Array(buffer, idsAt, rowIds.length).set(rowIds);
    this.kernel.gatherRows(matrix.format === 'Q4_1' ? 1 : 0, matrix.quantsAt, matrix.scalesAt, columns, idsAt, rowIds.length, outAt);
    return new Float32Array(buffer, outAt, rowIds.length * columns).slice();
  }

  widenTransposed(matrix: QuantizedMatrix): Float32Array {
    const { rows, columns } = matrix;
    const widened = align(this.used);
    const outAt = widened + 128;
    this.reserve(outAt + rows * columns * 4 - this.used);
    this.kernel.widenTransposed(matrix.format === 'Q4_1' ? 1 : 0, matrix.quantsAt, matrix.scalesAt, rows, columns, widened, outAt);
    return new Float32Array(this.live().buffer, outAt, rows * columns).slice();
  }

  /** Drops the memory (the garbage collector frees it); any later product throws QuantizedStoreError('DISPOSED'). */
  dispose(): void {
    this.memory = null;
  }

  private live(): WebAssembly.Memory {
    if (!this.memory) throw new QuantizedStoreError('DISPOSED', 'The quantized weights were disposed (the model was unloaded)');
    return this.memory;
  }
}

/** One adapted linear layer's matrices in a LowRankTerms memory: down = A^T [columns, rank], up = scaled B^T [rank, rows]. */
interface LowRankPair {
  downAt: number;
  upAt: number;
  columns: number;
  rank: number;
  rows: number;
}

/**
 * An adapter's unmerged LoRA terms for the quantized linear layers: every pair's down and up matrices (float32, as
 * prepareLora makes them) in one WebAssembly memory of their own, added by the kernel to the product the weight store
 * computed, without the three tfjs ops (two matmuls and an add) per adapted layer that took a fifth of a decode step.
 * The memory is the adapter's alone, so swapping adapters never grows the weight store; it is dropped with this object.
 * @example
 * const terms = new LowRankTerms([{ key: '0.q_proj', down, up, columns: 576, rank: 16, rows: 576 }]);
 * terms.addTo('0.q_proj', x, y, 1); // y += (x down) up
 */
export class LowRankTerms {
  private readonly memory: WebAssembly.Memory;
  private readonly kernel: KernelExports;
  private readonly pairs = new Map<string, LowRankPair>();
  /** End of the matrices: scratch for x, y and the hidden values starts here. */
  private readonly used: number;

  constructor(pairs: ReadonlyArray<{ key: string; down: Float32Array; up: Float32Array; columns: number; rank: number; rows: number }>) {
    let used = 0;
    const placed = pairs.map((pair) => {
      if (pair.down.length !== pair.columns * pair.rank || pair.up.length !== pair.rank * pair.rows) {
        throw new QuantizedStoreError('BAD_SHAPE', `LoRA term ${pair.key}: down has ${pair.down.length} values and up ${pair.up.length}, not [${pair.columns}, ${pair.rank}] and [${pair.rank}, ${pair.rows}]`);
      }
      const downAt = align(used);
      const upAt = align(downAt + 4 * pair.down.length);
      used = upAt + 4 * pair.up.length;
      return { ...pair, downAt, upAt };
    });
    this.used = align(used);
    try {
      this.memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(this.used / WASM_PAGE)) });
    } catch {
      throw new QuantizedStoreError('OUT_OF_MEMORY', `Could not allocate ${Math.ceil(this.used / 2 ** 20)} MiB for an adapter's LoRA terms`);
    }
    this.kernel = new WebAssembly.Instance(compiledKernel(), { env: { memory: this.memory } }).exports as unknown as KernelExports;
    for (const { key, down, up, downAt, upAt, columns, rank, rows } of placed) {
      new Float32Array(this.memory.buffer, downAt, down.length).set(down);
      new Float32Array(this.memory.buffer, upAt, up.length).set(up);
      this.pairs.set(key, { downAt, upAt, columns, rank, rows });
    }
  }

  /** Whether it holds a term for `key`. */
  has(key: string): boolean {
    return this.pairs.has(key);
  }

  /** y [tokens, rows] += (x [tokens, columns] down) up for the term `key`; y is changed in place. */
  addTo(key: string, x: Float32Array, y: Float32Array, tokens: number): void {
    const pair = this.pairs.get(key);
    if (!pair) throw new QuantizedStoreError('BAD_SHAPE', `No LoRA term ${key}`);
    const { downAt, upAt, columns, rank, rows } = pair;
    if (x.length !== tokens * columns || y.length !== tokens * rows) {
      throw new QuantizedStoreError('BAD_SHAPE', `LoRA term ${key}: x has ${x.length} values and y ${y.length}, not ${tokens} rows of ${columns} and ${rows}`);
    }
    const xAt = this.used;
    const yAt = align(xAt + x.byteLength);
    const hiddenAt = align(yAt + y.byteLength);
    const end = hiddenAt + 4 * rank;
    growTo(this.memory, end);
    const { buffer } = this.memory;
    new Float32Array(buffer, xAt, x.length).set(x);
    new Float32Array(buffer, yAt, y.length).set(y);
    this.kernel.addLowRank(xAt, downAt, upAt, yAt, tokens, columns, rank, rows, hiddenAt);
    y.set(new Float32Array(buffer, yAt, y.length));
  }
}

/**
 * float32 rows -> ggml blocks, as ggml's quantize_row_q4_1_ref / quantize_row_q8_0_ref compute them (per block of 32:
 * Q4_1 takes d = (max - min) / 15 and m = min; Q8_0 takes d = max|x| / 127; both round to the nearest step).
 */
export function quantizeToGgmlBlocks(format: QuantizedFormat, values: Float32Array): Uint8Array {
  const { ggmlBlockBytes } = QUANTIZED_FORMATS[format];
  if (values.length % QUANTIZED_BLOCK !== 0) throw new QuantizedStoreError('BAD_SHAPE', `${values.length} values are not whole blocks of 32`);
  const blocks = values.length / QUANTIZED_BLOCK;
  const out = new Uint8Array(blocks * ggmlBlockBytes);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const block = values.subarray(b * QUANTIZED_BLOCK, (b + 1) * QUANTIZED_BLOCK);
    const at = b * ggmlBlockBytes;
    if (format === 'Q4_1') {
      let min = Infinity;
      let max = -Infinity;
      for (const v of block) {
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      const d = (max - min) / 15;
      const inverse = d ? 1 / d : 0;
      view.setUint16(at, floatToHalf(d), true);
      view.setUint16(at + 2, floatToHalf(min), true);
      for (let j = 0; j < 16; j++) {
        const low = Math.min(15, Math.trunc((block[j] - min) * inverse + 0.5));
        const high = Math.min(15, Math.trunc((block[j + 16] - min) * inverse + 0.5));
        out[at + 4 + j] = low | (high << 4);
      }
    } else {
      let amax = 0;
      for (const v of block) amax = Math.max(amax, Math.abs(v));
      const d = amax / 127;
      const inverse = d ? 1 / d : 0;
      view.setUint16(at, floatToHalf(d), true);
      for (let j = 0; j < 32; j++) view.setInt8(at + 2 + j, Math.round(block[j] * inverse));
    }
  }
  return out;
}
