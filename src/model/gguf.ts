// GGUF import: parses llama.cpp model files (v2/v3), dequantizes their tensors to float32, and loads llama-architecture
// models with their embedded tokenizer into our runtime.
//
// Format (little-endian): magic "GGUF", u32 version, u64 tensor count, u64 metadata count, metadata key/value pairs,
// tensor infos (name, dims ne[0..n) with ne[0] varying fastest, ggml type, offset), padding to `general.alignment`,
// then the tensor data. Every count, length and offset is checked against the bytes actually present before anything is
// allocated, so a malformed file fails fast with a GgufError instead of hanging or exhausting memory.
// Dequantization follows ggml's block layouts exactly as the Python `gguf` package's `gguf.quants.dequantize` computes
// them (float32 arithmetic, same operation order), so the values agree bit for bit (training/tests/test_gguf_parity.py).
import * as tf from '@tensorflow/tfjs';
import { ModelConfigError, parseModelConfig, type ModelConfig } from './config.ts';
import { checkHfTensor, HF_NAMES, hfTensorShapes, isKernel, LlamaModel, ModelWeightsError, uploadHfTensor, weightsFromHfTensors, type LinearModule } from './llama.ts';
import {
  prepareQuantizedKernel, QUANTIZED_FORMATS, QuantizedMatrix, QuantizedStoreError, QuantizedWeightStore, type QuantizedFormat,
} from './quantizedMatMul.ts';
import type { ModelFileSource } from './loadHfModel.ts';
import { halfToFloatTable } from './safetensors.ts';
import { BpeTokenizer, TokenizerLoadError } from '../tokenizer/bpeTokenizer.ts';
import { BYTE_TO_CHAR } from '../tokenizer/byteLevel.ts';
import { checkGgufPreamble, GgufError, type GgufErrorCode } from './ggufError.ts';

export { checkGgufPreamble, GgufError, type GgufErrorCode } from './ggufError.ts';

const fail = (code: GgufErrorCode, message: string): never => {
  throw new GgufError(code, message);
};

/** ggml tensor types: id -> name, elements per block, bytes per block (ggml's type traits). */
export const GGML_TYPES: Readonly<Record<number, { name: string; blockSize: number; typeSize: number }>> = {
  0: { name: 'F32', blockSize: 1, typeSize: 4 },
  1: { name: 'F16', blockSize: 1, typeSize: 2 },
  2: { name: 'Q4_0', blockSize: 32, typeSize: 18 },
  3: { name: 'Q4_1', blockSize: 32, typeSize: 20 },
  6: { name: 'Q5_0', blockSize: 32, typeSize: 22 },
  7: { name: 'Q5_1', blockSize: 32, typeSize: 24 },
  8: { name: 'Q8_0', blockSize: 32, typeSize: 34 },
  9: { name: 'Q8_1', blockSize: 32, typeSize: 40 },
  10: { name: 'Q2_K', blockSize: 256, typeSize: 84 },
  11: { name: 'Q3_K', blockSize: 256, typeSize: 110 },
  12: { name: 'Q4_K', blockSize: 256, typeSize: 144 },
  13: { name: 'Q5_K', blockSize: 256, typeSize: 176 },
  14: { name: 'Q6_K', blockSize: 256, typeSize: 210 },
  15: { name: 'Q8_K', blockSize: 256, typeSize: 292 },
  16: { name: 'IQ2_XXS', blockSize: 256, typeSize: 66 },
  17: { name: 'IQ2_XS', blockSize: 256, typeSize: 74 },
  18: { name: 'IQ3_XXS', blockSize: 256, typeSize: 98 },
  19: { name: 'IQ1_S', blockSize: 256, typeSize: 50 },
  20: { name: 'IQ4_NL', blockSize: 32, typeSize: 18 },
  21: { name: 'IQ3_S', blockSize: 256, typeSize: 110 },
  22: { name: 'IQ2_S', blockSize: 256, typeSize: 82 },
  23: { name: 'IQ4_XS', blockSize: 256, typeSize: 136 },
  24: { name: 'I8', blockSize: 1, typeSize: 1 },
  25: { name: 'I16', blockSize: 1, typeSize: 2 },
  26: { name: 'I32', blockSize: 1, typeSize: 4 },
  27: { name: 'I64', blockSize: 1, typeSize: 8 },
  28: { name: 'F64', blockSize: 1, typeSize: 8 },
  29: { name: 'IQ1_M', blockSize: 256, typeSize: 56 },
  30: { name: 'BF16', blockSize: 1, typeSize: 2 },
  34: { name: 'TQ1_0', blockSize: 256, typeSize: 54 },
  35: { name: 'TQ2_0', blockSize: 256, typeSize: 66 },
};

/** Metadata value types, as numbered in the format. */
const VALUE_TYPES = ['UINT8', 'INT8', 'UINT16', 'INT16', 'UINT32', 'INT32', 'FLOAT32', 'BOOL', 'STRING', 'ARRAY', 'UINT64', 'INT64', 'FLOAT64'] as const;
/** Smallest encoded size of one value of each type (a string is at least its u64 length; an array its type and count). */
const VALUE_MIN_BYTES = [1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8];

/** A metadata value. 64-bit integers are numbers when they fit in 2^53, bigints otherwise. */
export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface GgufTensorInfo {
  name: string;
  /** ggml type id (see GGML_TYPES). */
  type: number;
  /** ggml order: dims[0] varies fastest. */
  dims: number[];
  /** Row-major shape as numpy/torch see it: dims reversed. */
  shape: number[];
  elementCount: number;
  /** Absolute position in the file, and byte length. */
  begin: number;
  byteLength: number;
}

export interface ParsedGguf {
  version: number;
  metadata: Map<string, GgufValue>;
  /** In file order of their infos. */
  tensors: GgufTensorInfo[];
  alignment: number;
  dataStart: number;
}

export interface GgufLimits {
  /** Most tensors a file may declare (llama.cpp models have a few thousand at most). */
  maxTensors?: number;
  /** Most metadata pairs. */
  maxMetadata?: number;
  /** Deepest nesting of arrays in metadata. */
  maxArrayDepth?: number;
}

const DEFAULT_LIMITS: Required<GgufLimits> = { maxTensors: 1 << 20, maxMetadata: 1 << 20, maxArrayDepth: 4 };
/** ggml's GGML_MAX_DIMS. */
const MAX_DIMS = 4;

/** A bounds-checked little-endian reader over the file bytes. */
class Cursor {
  private readonly view: DataView;
  private readonly decoder = new TextDecoder('utf-8');
  position = 0;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get remaining(): number {
    return this.bytes.byteLength - this.position;
  }
  private take(count: number, what: string): number {
    if (count > this.remaining) fail('TRUNCATED', `File ends inside ${what} (needs ${count} bytes at offset ${this.position}, ${this.remaining} left)`);
    const at = this.position;
    this.position += count;
    return at;
  }
  u8(what: string) { return this.view.getUint8(this.take(1, what)); }
  i8(what: string) { return this.view.getInt8(this.take(1, what)); }
  u16(what: string) { return this.view.getUint16(this.take(2, what), true); }
  i16(what: string) { return this.view.getInt16(this.take(2, what), true); }
  u32(what: string) { return this.view.getUint32(this.take(4, what), true); }
  i32(what: string) { return this.view.getInt32(this.take(4, what), true); }
  f32(what: string) { return this.view.getFloat32(this.take(4, what), true); }
  f64(what: string) { return this.view.getFloat64(this.take(8, what), true); }
  u64(what: string): number | bigint {
    const value = this.view.getBigUint64(this.take(8, what), true);
    return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }
  i64(what: string): number | bigint {
    const value = this.view.getBigInt64(this.take(8, what), true);
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value;
  }
  /** A u64 that must be a count or size: anything over 2^53 cannot fit in memory anyway. */
  size(what: string): number {
    const value = this.u64(what);
    if (typeof value === 'bigint') fail('TOO_MANY', `${what} is ${value}, far beyond any real file`);
    return value as number;
  }
  string(what: string): string {
    const length = this.size(`the length of ${what}`);
    const at = this.take(length, what);
    return this.decoder.decode(this.bytes.subarray(at, at + length));
  }
}

function readValue(cursor: Cursor, type: number, key: string, depth: number, limits: Required<GgufLimits>): GgufValue {
  const what = `metadata "${key}"`;
  switch (VALUE_TYPES[type]) {
    case 'UINT8': return cursor.u8(what);
    case 'INT8': return cursor.i8(what);
    case 'UINT16': return cursor.u16(what);
    case 'INT16': return cursor.i16(what);
    case 'UINT32': return cursor.u32(what);
    case 'INT32': return cursor.i32(what);
    case 'FLOAT32': return cursor.f32(what);
    case 'FLOAT64': return cursor.f64(what);
    case 'UINT64': return cursor.u64(what);
    case 'INT64': return cursor.i64(what);
    case 'BOOL': {
      const byte = cursor.u8(what);
      if (byte > 1) fail('BAD_METADATA', `${what} is a bool stored as ${byte}`);
      return byte === 1;
    }
    case 'STRING': return cursor.string(what);
    case 'ARRAY': {
      if (depth >= limits.maxArrayDepth) fail('TOO_MANY', `${what} nests arrays deeper than ${limits.maxArrayDepth}`);
      const elementType = cursor.u32(`the element type of ${what}`);
      if (elementType >= VALUE_TYPES.length) fail('BAD_VALUE_TYPE', `${what} is an array of unknown type ${elementType}`);
      const count = cursor.size(`the length of ${what}`);
      // Every element takes at least this many bytes: a count the file cannot hold is rejected before allocating.
      if (count * VALUE_MIN_BYTES[elementType] > cursor.remaining) fail('TRUNCATED', `${what} claims ${count} elements, more than the file holds`);
      const values: GgufValue[] = new Array(count);
      for (let i = 0; i < count; i++) values[i] = readValue(cursor, elementType, key, depth + 1, limits);
      return values;
    }
    default:
      return fail('BAD_VALUE_TYPE', `${what} has unknown value type ${type}`);
  }
}

/**
 * Parses and validates a GGUF file's header, metadata and tensor infos. Tensor data is not touched; each info's
 * `begin`/`byteLength` are checked to lie inside `bytes`, aligned, and not to overlap.
 * @example
 * const gguf = parseGguf(new Uint8Array(await file.arrayBuffer()));
 * gguf.metadata.get('general.architecture') // 'llama'
 */
export function parseGguf(bytes: Uint8Array, limitOptions: GgufLimits = {}): ParsedGguf {
  const limits = { ...DEFAULT_LIMITS, ...limitOptions };
  const version = checkGgufPreamble(bytes);
  const cursor = new Cursor(bytes);
  cursor.position = 8;
  const tensorCount = cursor.size('the tensor count');
  const metadataCount = cursor.size('the metadata count');
  // A tensor info takes >= 24 bytes (name length, dim count, type, offset); a pair >= 13 (key length, type, one byte).
  if (tensorCount > limits.maxTensors) fail('TOO_MANY', `File declares ${tensorCount} tensors, over the limit of ${limits.maxTensors}`);
  if (metadataCount > limits.maxMetadata) fail('TOO_MANY', `File declares ${metadataCount} metadata pairs, over the limit of ${limits.maxMetadata}`);
  if (tensorCount * 24 + metadataCount * 13 > cursor.remaining) fail('TRUNCATED', `File declares ${tensorCount} tensors and ${metadataCount} metadata pairs, more than its ${bytes.byteLength} bytes can hold`);

  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < metadataCount; i++) {
    const key = cursor.string(`metadata key #${i}`);
    if (metadata.has(key)) fail('DUPLICATE_KEY', `Metadata key "${key}" appears twice`);
    const type = cursor.u32(`the type of metadata "${key}"`);
    metadata.set(key, readValue(cursor, type, key, 0, limits));
  }

  let alignment = 32;
  if (metadata.has('general.alignment')) {
    const value = metadata.get('general.alignment');
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0 || (value & (value - 1)) !== 0 || value > 1 << 20) {
      fail('BAD_ALIGNMENT', `general.alignment must be a power of two, got ${String(value)}`);
    }
    alignment = value as number;
  }

  const infos: Array<Omit<GgufTensorInfo, 'begin'> & { offset: number }> = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = cursor.string(`the name of tensor #${i}`);
    if (names.has(name)) fail('BAD_TENSOR_INFO', `Tensor "${name}" appears twice`);
    names.add(name);
    const dimCount = cursor.u32(`the dimensions of "${name}"`);
    if (dimCount < 1 || dimCount > MAX_DIMS) fail('BAD_TENSOR_INFO', `Tensor "${name}" has ${dimCount} dimensions (1..${MAX_DIMS} allowed)`);
    const dims: number[] = [];
    let elementCount = 1;
    for (let d = 0; d < dimCount; d++) {
      const dim = cursor.size(`a dimension of "${name}"`);
      elementCount *= dim;
      if (dim < 1 || elementCount > Number.MAX_SAFE_INTEGER) fail('BAD_TENSOR_INFO', `Tensor "${name}" has an invalid dimension ${dim}`);
      dims.push(dim);
    }
    const type = cursor.u32(`the type of "${name}"`);
    const traits = GGML_TYPES[type];
    if (!traits) fail('UNKNOWN_TENSOR_TYPE', `Tensor "${name}" has unknown ggml type ${type}`);
    if (dims[0] % traits.blockSize !== 0) {
      fail('BAD_TENSOR_INFO', `Tensor "${name}" (${traits.name}) has rows of ${dims[0]} values, not a multiple of the block size ${traits.blockSize}`);
    }
    const offset = cursor.size(`the offset of "${name}"`);
    if (offset % alignment !== 0) fail('BAD_OFFSETS', `Tensor "${name}" starts at data offset ${offset}, not a multiple of the alignment ${alignment}`);
    infos.push({ name, type, dims, shape: [...dims].reverse(), elementCount, byteLength: (elementCount / traits.blockSize) * traits.typeSize, offset });
  }
  const dataStart = Math.ceil(cursor.position / alignment) * alignment;
  const tensors = infos.map(({ offset, ...info }) => ({ ...info, begin: dataStart + offset }));
  const byPosition = [...tensors].sort((a, b) => a.begin - b.begin);
  let end = dataStart;
  for (const tensor of byPosition) {
    if (tensor.begin < end) fail('BAD_OFFSETS', `Tensor "${tensor.name}" overlaps the tensor before it`);
    end = tensor.begin + tensor.byteLength;
    if (end > bytes.byteLength) fail('TRUNCATED', `Tensor "${tensor.name}" ends at byte ${end}, past the end of the file (${bytes.byteLength})`);
  }
  return { version, metadata, tensors, alignment, dataStart };
}

const f = Math.fround;

/** Q4_K/Q5_K's twelve bytes of 6-bit scales and mins, unpacked for sub-block j (0..7). */
function scaleMinK4(bytes: Uint8Array, at: number, j: number): [number, number] {
  if (j < 4) return [bytes[at + j] & 63, bytes[at + j + 4] & 63];
  return [(bytes[at + j + 4] & 0xf) | ((bytes[at + j - 4] >> 6) << 4), (bytes[at + j + 4] >> 4) | ((bytes[at + j] >> 6) << 4)];
}

/** Decodes `blocks` blocks starting at byte `at` into `out`; one function per ggml type. */
type BlockDecoder = (bytes: Uint8Array, view: DataView, at: number, out: Float32Array, blocks: number, half: Float32Array) => void;

const DECODERS: Record<string, BlockDecoder> = {
  F32: (_bytes, view, at, out, n) => { for (let i = 0; i < n; i++) out[i] = view.getFloat32(at + 4 * i, true); },
  F16: (_bytes, view, at, out, n, half) => { for (let i = 0; i < n; i++) out[i] = half[view.getUint16(at + 2 * i, true)]; },
  BF16: (_bytes, view, at, out, n) => {
    const bits = new Uint32Array(out.buffer, out.byteOffset, n);
    for (let i = 0; i < n; i++) bits[i] = view.getUint16(at + 2 * i, true) << 16;
  },
  Q4_0: (bytes, view, at, out, n, half) => {
    for (let b = 0, o = 0; b < n; b++, at += 18, o += 32) {
      const d = half[view.getUint16(at, true)];
      for (let j = 0; j < 16; j++) {
        const q = bytes[at + 2 + j];
        out[o + j] = d * ((q & 0xf) - 8);
        out[o + j + 16] = d * ((q >> 4) - 8);
      }
    }
  },
  Q4_1: (bytes, view, at, out, n, half) => {
    for (let b = 0, o = 0; b < n; b++, at += 20, o += 32) {
      const d = half[view.getUint16(at, true)];
      const m = half[view.getUint16(at + 2, true)];
      for (let j = 0; j < 16; j++) {
        const q = bytes[at + 4 + j];
        out[o + j] = f(d * (q & 0xf)) + m;
        out[o + j + 16] = f(d * (q >> 4)) + m;
      }
    }
  },
  Q5_0: (bytes, view, at, out, n, half) => {
    for (let b = 0, o = 0; b < n; b++, at += 22, o += 32) {
      const d = half[view.getUint16(at, true)];
      const high = view.getUint32(at + 2, true);
      for (let j = 0; j < 16; j++) {
        const q = bytes[at + 6 + j];
        out[o + j] = d * (((q & 0xf) | (((high >>> j) & 1) << 4)) - 16);
        out[o + j + 16] = d * (((q >> 4) | (((high >>> (j + 16)) & 1) << 4)) - 16);
      }
    }
  },
  Q5_1: (bytes, view, at, out, n, half) => {
    for (let b = 0, o = 0; b < n; b++, at += 24, o += 32) {
      const d = half[view.getUint16(at, true)];
      const m = half[view.getUint16(at + 2, true)];
      const high = view.getUint32(at + 4, true);
      for (let j = 0; j < 16; j++) {
        const q = bytes[at + 8 + j];
        out[o + j] = f(d * ((q & 0xf) | (((high >>> j) & 1) << 4))) + m;
        out[o + j + 16] = f(d * ((q >> 4) | (((high >>> (j + 16)) & 1) << 4))) + m;
      }
    }
  },
  Q8_0: (_bytes, view, at, out, n, half) => {
    for (let b = 0, o = 0; b < n; b++, at += 34, o += 32) {
      const d = half[view.getUint16(at, true)];
      for (let j = 0; j < 32; j++) out[o + j] = d * view.getInt8(at + 2 + j);
    }
  },
  Q2_K: (bytes, view, at, out, n, half) => {
    // scales[16] (low nibble scale, high nibble min), qs[64] (2 bits), d, dmin.
    for (let b = 0, o = 0; b < n; b++, at += 84, o += 256) {
      const d = half[view.getUint16(at + 80, true)];
      const dmin = half[view.getUint16(at + 82, true)];
      for (let e = 0; e < 256; e++) {
        const scale = bytes[at + (e >> 4)];
        const q = (bytes[at + 16 + (e >> 7) * 32 + (e & 31)] >> (2 * ((e >> 5) & 3))) & 3;
        out[o + e] = f(f(d * (scale & 0xf)) * q) - f(dmin * (scale >> 4));
      }
    }
  },
  Q3_K: (bytes, view, at, out, n, half) => {
    // hmask[32], qs[64] (low 2 bits), scales[12] (6-bit, packed), d.
    const scales = new Float32Array(16);
    for (let b = 0, o = 0; b < n; b++, at += 110, o += 256) {
      const d = half[view.getUint16(at + 108, true)];
      const s = at + 96;
      for (let i = 0; i < 16; i++) {
        const low = i < 8 ? bytes[s + i] & 0xf : bytes[s + i - 8] >> 4;
        const high = (bytes[s + 8 + (i & 3)] >> (2 * (i >> 2))) & 3;
        scales[i] = f(d * ((low | (high << 4)) - 32));
      }
      for (let e = 0; e < 256; e++) {
        const low = (bytes[at + 32 + (e >> 7) * 32 + (e & 31)] >> (2 * ((e >> 5) & 3))) & 3;
        const highBit = (bytes[at + (e & 31)] >> (e >> 5)) & 1;
        out[o + e] = scales[e >> 4] * (low - (highBit ? 0 : 4));
      }
    }
  },
  Q4_K: (bytes, view, at, out, n, half) => {
    // d, dmin, scales[12], qs[128]: 8 sub-blocks of 32, each with a 6-bit scale and min.
    for (let b = 0, o = 0; b < n; b++, at += 144, o += 256) {
      const d = half[view.getUint16(at, true)];
      const dmin = half[view.getUint16(at + 2, true)];
      for (let sub = 0; sub < 8; sub++) {
        const [scale, min] = scaleMinK4(bytes, at + 4, sub);
        const ds = f(d * scale);
        const dm = f(dmin * min);
        const q = at + 16 + (sub >> 1) * 32;
        const shift = 4 * (sub & 1);
        for (let l = 0; l < 32; l++) out[o + sub * 32 + l] = f(ds * ((bytes[q + l] >> shift) & 0xf)) - dm;
      }
    }
  },
  Q5_K: (bytes, view, at, out, n, half) => {
    // d, dmin, scales[12], qh[32] (5th bit), qs[128].
    for (let b = 0, o = 0; b < n; b++, at += 176, o += 256) {
      const d = half[view.getUint16(at, true)];
      const dmin = half[view.getUint16(at + 2, true)];
      for (let sub = 0; sub < 8; sub++) {
        const [scale, min] = scaleMinK4(bytes, at + 4, sub);
        const ds = f(d * scale);
        const dm = f(dmin * min);
        const q = at + 48 + (sub >> 1) * 32;
        const shift = 4 * (sub & 1);
        for (let l = 0; l < 32; l++) {
          const value = ((bytes[q + l] >> shift) & 0xf) | (((bytes[at + 16 + l] >> sub) & 1) << 4);
          out[o + sub * 32 + l] = f(ds * value) - dm;
        }
      }
    }
  },
  Q6_K: (bytes, view, at, out, n, half) => {
    // ql[128] (low 4 bits), qh[64] (high 2 bits), scales int8[16], d.
    for (let b = 0, o = 0; b < n; b++, at += 210, o += 256) {
      const d = half[view.getUint16(at + 208, true)];
      for (let e = 0; e < 256; e++) {
        const halfIndex = e >> 7;
        const low = (bytes[at + halfIndex * 64 + (e & 63)] >> (4 * ((e >> 6) & 1))) & 0xf;
        const high = (bytes[at + 128 + halfIndex * 32 + (e & 31)] >> (2 * ((e >> 5) & 3))) & 3;
        out[o + e] = f(d * view.getInt8(at + 192 + (e >> 4))) * ((low | (high << 4)) - 32);
      }
    }
  },
  Q8_K: (_bytes, view, at, out, n) => {
    // d (float32), qs int8[256], bsums int16[16] (sums for dot products; not needed to dequantize).
    for (let b = 0, o = 0; b < n; b++, at += 292, o += 256) {
      const d = view.getFloat32(at, true);
      for (let e = 0; e < 256; e++) out[o + e] = d * view.getInt8(at + 4 + e);
    }
  },
};

/** Names of the ggml types dequantizeGgufTensor supports. */
export const DEQUANTIZABLE_TYPES: readonly string[] = Object.keys(DECODERS);

/**
 * One tensor's values as float32, in ggml order (= row-major in `info.shape`). `bytes` is the whole file the info was
 * parsed from. With `into` (at least elementCount long), the values are written there and a view of it is returned.
 * Throws GgufError('UNSUPPORTED_TENSOR_TYPE') for types without a decoder (IQ*, TQ*, integer types).
 */
export function dequantizeGgufTensor(bytes: Uint8Array, info: GgufTensorInfo, into?: Float32Array): Float32Array {
  const traits = GGML_TYPES[info.type];
  const decode = traits && DECODERS[traits.name];
  if (!decode) return fail('UNSUPPORTED_TENSOR_TYPE', `Tensor "${info.name}" has type ${traits?.name ?? info.type}, which cannot be dequantized here (supported: ${DEQUANTIZABLE_TYPES.join(', ')})`);
  if (info.begin < 0 || info.begin + info.byteLength > bytes.byteLength) fail('TRUNCATED', `Tensor "${info.name}" lies outside the file`);
  const out = into && into.length >= info.elementCount ? into.subarray(0, info.elementCount) : new Float32Array(info.elementCount);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  decode(bytes, view, info.begin, out, info.elementCount / traits.blockSize, halfToFloatTable());
  return out;
}

// ---- llama-architecture models ----

/** GGUF tensor name -> Hugging Face name (llama.cpp's tensor map for LLM_ARCH_LLAMA, in one table). */
const GGUF_LINEAR: Record<string, LinearModule> = {
  attn_q: 'q_proj', attn_k: 'k_proj', attn_v: 'v_proj', attn_output: 'o_proj', ffn_gate: 'gate_proj', ffn_up: 'up_proj', ffn_down: 'down_proj',
};

export function hfNameForGgufTensor(name: string): string | null {
  if (name === 'token_embd.weight') return HF_NAMES.embedTokens;
  if (name === 'output_norm.weight') return HF_NAMES.norm;
  if (name === 'output.weight') return HF_NAMES.lmHead;
  const match = /^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$/.exec(name);
  if (!match) return null;
  const layer = Number(match[1]);
  if (match[3] === 'weight' && match[2] === 'attn_norm') return HF_NAMES.inputNorm(layer);
  if (match[3] === 'weight' && match[2] === 'ffn_norm') return HF_NAMES.postAttentionNorm(layer);
  const module = GGUF_LINEAR[match[2]];
  return module ? `${HF_NAMES.linear(layer, module)}.${match[3]}` : null;
}

/**
 * Undoes convert_hf_to_gguf's permute() of llama q/k rows: GGUF interleaves the two rotary halves of every head
 * (row 2i+h of a head holds HF row h*headDim/2 + i), which suits llama.cpp's RoPE; transformers' rotate_half wants them apart.
 * `values` is row-major [rows, columns] (a bias: columns = 1).
 */
export function unpermuteRotaryRows(values: Float32Array, heads: number, columns: number): Float32Array {
  const source = rotaryRowSource(values.length / columns, heads);
  const out = new Float32Array(values.length);
  source.forEach((from, row) => out.set(values.subarray(from * columns, (from + 1) * columns), row * columns));
  return out;
}

/** For each Hugging Face row of a q/k weight with `rows` rows, the GGUF row it is stored in (see unpermuteRotaryRows). */
function rotaryRowSource(rows: number, heads: number): Int32Array {
  const headDim = rows / heads;
  const half = headDim / 2;
  const source = new Int32Array(rows);
  for (let head = 0; head < heads; head++) {
    for (let part = 0; part < 2; part++) {
      for (let i = 0; i < half; i++) source[head * headDim + part * half + i] = head * headDim + 2 * i + part;
    }
  }
  return source;
}

/** The kernel's format for a GGUF tensor's type, when it has one. */
function quantizedFormatOf(type: number): QuantizedFormat | null {
  for (const [format, { ggmlType }] of Object.entries(QUANTIZED_FORMATS)) if (ggmlType === type) return format as QuantizedFormat;
  return null;
}

function metadataNumber(metadata: Map<string, GgufValue>, key: string, fallback?: number): number {
  const value = metadata.get(key) ?? fallback;
  if (value === undefined) return fail('MISSING_METADATA', `GGUF metadata lacks "${key}"`);
  if (typeof value !== 'number') return fail('BAD_METADATA', `GGUF metadata "${key}" must be a number, got ${typeof value}`);
  return value;
}

/**
 * The transformers config.json a llama GGUF describes, from its llama.* metadata (tied embeddings when the file has
 * no output.weight, as llama.cpp does).
 */
export function hfConfigFromGguf(gguf: ParsedGguf): Record<string, unknown> {
  const { metadata } = gguf;
  const architecture = metadata.get('general.architecture');
  if (architecture !== 'llama') fail('UNSUPPORTED_ARCHITECTURE', `GGUF architecture ${JSON.stringify(architecture)} is not supported (llama only)`);
  const key = (name: string) => `llama.${name}`;
  for (const scaling of ['rope.scaling.type', 'rope.scaling.factor']) {
    const value = metadata.get(key(scaling));
    if (value !== undefined && value !== 'none' && value !== 1) fail('BAD_MODEL', `GGUF uses ${key(scaling)} = ${String(value)}, which the runtime does not implement`);
  }
  if (gguf.tensors.some((t) => t.name === 'rope_freqs.weight')) fail('BAD_MODEL', 'GGUF carries rope_freqs (Llama-3.1 rope scaling), which the runtime does not implement');
  const hiddenSize = metadataNumber(metadata, key('embedding_length'));
  const numHeads = metadataNumber(metadata, key('attention.head_count'));
  const tokens = metadata.get('tokenizer.ggml.tokens');
  const embedding = gguf.tensors.find((t) => t.name === 'token_embd.weight');
  const vocabSize = metadataNumber(metadata, key('vocab_size'), Array.isArray(tokens) ? tokens.length : embedding?.shape[0]);
  const hasBias = gguf.tensors.some((t) => /^blk\.\d+\.attn_q\.bias$/.test(t.name));
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: vocabSize,
    hidden_size: hiddenSize,
    intermediate_size: metadataNumber(metadata, key('feed_forward_length')),
    num_hidden_layers: metadataNumber(metadata, key('block_count')),
    num_attention_heads: numHeads,
    num_key_value_heads: metadataNumber(metadata, key('attention.head_count_kv'), numHeads),
    head_dim: metadataNumber(metadata, key('rope.dimension_count'), hiddenSize / numHeads),
    max_position_embeddings: metadataNumber(metadata, key('context_length'), 2048),
    rms_norm_eps: metadataNumber(metadata, key('attention.layer_norm_rms_epsilon'), 1e-5),
    rope_theta: metadataNumber(metadata, key('rope.freq_base'), 10000),
    tie_word_embeddings: !gguf.tensors.some((t) => t.name === 'output.weight'),
    attention_bias: hasBias,
    mlp_bias: gguf.tensors.some((t) => /^blk\.\d+\.ffn_up\.bias$/.test(t.name)),
    torch_dtype: 'float32',
    bos_token_id: metadata.get('tokenizer.ggml.bos_token_id') ?? null,
    eos_token_id: metadata.get('tokenizer.ggml.eos_token_id') ?? null,
  };
}

// ---- tokenizer ----

const LLAMA3_SPLIT = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const QWEN2_SPLIT = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

/**
 * tokenizer.ggml.pre -> how text is split before BPE, following llama.cpp's llama-vocab.cpp (which names the regexes
 * each pre-tokenizer type uses): GPT-2's split; digits one by one and then GPT-2's split (StarCoder-family vocabularies,
 * SmolLM's included, were trained so); or one regex. A file without the key gets GPT-2's, as in llama.cpp.
 */
const PRE_TOKENIZERS: Record<string, 'gpt2' | 'digits-then-gpt2' | { regex: string }> = {
  default: 'gpt2', gpt2: 'gpt2', mpt: 'gpt2', olmo: 'gpt2', jais: 'gpt2',
  starcoder: 'digits-then-gpt2', refact: 'digits-then-gpt2', 'command-r': 'digits-then-gpt2', smollm: 'digits-then-gpt2',
  codeshell: 'digits-then-gpt2', exaone: 'digits-then-gpt2', minerva: 'digits-then-gpt2',
  llama3: { regex: LLAMA3_SPLIT }, 'llama-v3': { regex: LLAMA3_SPLIT }, 'llama-bpe': { regex: LLAMA3_SPLIT },
  falcon3: { regex: LLAMA3_SPLIT }, 'smaug-bpe': { regex: LLAMA3_SPLIT }, dbrx: { regex: LLAMA3_SPLIT },
  qwen2: { regex: QWEN2_SPLIT }, 'deepseek-r1-qwen': { regex: QWEN2_SPLIT }, stablelm2: { regex: QWEN2_SPLIT },
};

/** The tokenizer.json pre_tokenizer for one PRE_TOKENIZERS entry. */
function preTokenizerJson(kind: (typeof PRE_TOKENIZERS)[string], addPrefixSpace: boolean): object {
  const byteLevel = (useRegex: boolean) => ({ type: 'ByteLevel', add_prefix_space: addPrefixSpace, trim_offsets: true, use_regex: useRegex });
  if (kind === 'gpt2') return byteLevel(true);
  if (kind === 'digits-then-gpt2') return { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel(true)] };
  return {
    type: 'Sequence',
    pretokenizers: [{ type: 'Split', pattern: { Regex: kind.regex }, behavior: 'Isolated', invert: false }, byteLevel(false)],
  };
}

/** llama.cpp's token types. */
const TOKEN_TYPE_CONTROL = 3;
const TOKEN_TYPE_USER_DEFINED = 4;

function stringArray(metadata: Map<string, GgufValue>, key: string): string[] {
  const value = metadata.get(key);
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) fail('BAD_TOKENIZER', `GGUF metadata "${key}" must be an array of strings`);
  return value as string[];
}

/**
 * The Hugging Face tokenizer.json that a GGUF's `tokenizer.ggml.*` metadata describes (byte-level BPE, `gpt2` model
 * only): vocab and merges as stored, control tokens as special added tokens, user-defined ones as plain added tokens,
 * the pre-tokenizer picked by `tokenizer.ggml.pre`, and BOS prepended when `tokenizer.ggml.add_bos_token` says so.
 */
export function tokenizerJsonFromGguf(metadata: Map<string, GgufValue>): Record<string, unknown> {
  const model = metadata.get('tokenizer.ggml.model');
  if (model === undefined) fail('MISSING_METADATA', 'GGUF has no embedded tokenizer (tokenizer.ggml.model)');
  if (model !== 'gpt2') fail('UNSUPPORTED_TOKENIZER', `GGUF tokenizer model ${JSON.stringify(model)} is not supported (byte-level BPE "gpt2" only)`);
  const pre = metadata.get('tokenizer.ggml.pre') ?? 'default';
  const preTokenizer = typeof pre === 'string' && Object.hasOwn(PRE_TOKENIZERS, pre) ? PRE_TOKENIZERS[pre] : undefined;
  if (!preTokenizer) fail('UNSUPPORTED_TOKENIZER', `GGUF pre-tokenizer ${JSON.stringify(pre)} is not supported (${Object.keys(PRE_TOKENIZERS).join(', ')})`);
  const tokens = stringArray(metadata, 'tokenizer.ggml.tokens');
  const merges = metadata.has('tokenizer.ggml.merges') ? stringArray(metadata, 'tokenizer.ggml.merges') : [];
  const types = (metadata.get('tokenizer.ggml.token_type') ?? []) as GgufValue[];
  if (!Array.isArray(types) || (types.length !== 0 && types.length !== tokens.length)) fail('BAD_TOKENIZER', 'tokenizer.ggml.token_type must list one type per token');

  const vocab: Record<string, number> = Object.create(null);
  tokens.forEach((token, id) => {
    if (token in vocab) fail('BAD_TOKENIZER', `Token ${JSON.stringify(token)} appears twice (ids ${vocab[token]} and ${id})`);
    vocab[token] = id;
  });
  // A control token spelled outside the byte alphabet is a llama.cpp mislabel; transformers skips those too.
  const byteAlphabet = new Set(BYTE_TO_CHAR);
  const addedTokens = tokens.flatMap((content, id) => {
    const type = types[id];
    const special = type === TOKEN_TYPE_CONTROL && [...content].every((c) => byteAlphabet.has(c));
    if (!special && type !== TOKEN_TYPE_USER_DEFINED) return [];
    return [{ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special }];
  });

  const tokenId = (key: string) => {
    const id = metadata.get(key);
    if (id === undefined) return undefined;
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= tokens.length) fail('BAD_TOKENIZER', `${key} = ${String(id)} is not a token id`);
    return id as number;
  };
  const bos = tokenId('tokenizer.ggml.bos_token_id');
  const addBos = metadata.get('tokenizer.ggml.add_bos_token') === true && bos !== undefined;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: preTokenizerJson(preTokenizer!, metadata.get('tokenizer.ggml.add_space_prefix') === true),
    post_processor: addBos
      ? {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: tokens[bos!], type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [{ SpecialToken: { id: tokens[bos!], type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
        special_tokens: { [tokens[bos!]]: { id: tokens[bos!], ids: [bos], tokens: [tokens[bos!]] } },
      }
      : { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false,
      byte_fallback: false, ignore_merges: false, vocab, merges,
    },
  };
}

/** The tokenizer a GGUF embeds, as our BpeTokenizer (EOS from tokenizer.ggml.eos_token_id). */
export function tokenizerFromGguf(metadata: Map<string, GgufValue>): BpeTokenizer {
  const json = tokenizerJsonFromGguf(metadata);
  const eos = metadata.get('tokenizer.ggml.eos_token_id');
  const tokens = metadata.get('tokenizer.ggml.tokens') as string[];
  try {
    const eosToken = typeof eos === 'number' ? tokens[eos] : undefined;
    // Byte-level vocabularies may lack a few byte tokens (SmolLM2's does); llama.cpp drops such bytes, and so do we.
    return BpeTokenizer.fromJSON(json, { eosToken, allowMissingByteTokens: true });
  } catch (error) {
    if (error instanceof TokenizerLoadError) throw new GgufError('BAD_TOKENIZER', `GGUF tokenizer: ${error.message}`, { cause: error });
    throw error;
  }
}

export interface GgufLoadProgress {
  /** download: file bytes received; weights: tensor bytes dequantized; done. */
  stage: 'download' | 'weights' | 'done';
  file: string;
  loaded: number;
  total: number;
}

async function readSource(
  source: Uint8Array | ModelFileSource, file: string, onProgress?: (progress: GgufLoadProgress) => void, signal?: AbortSignal,
): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  const response = await source(file);
  if (response === null) return fail('FILE_NOT_FOUND', `No ${file}`);
  if (response instanceof Uint8Array) return response;
  if (!response.ok) return fail(response.status === 404 ? 'FILE_NOT_FOUND' : 'HTTP_ERROR', `Fetching ${file} failed: HTTP ${response.status} ${response.statusText}`);
  const length = Number(response.headers.get('content-length'));
  const compressed = response.headers.has('content-encoding') && response.headers.get('content-encoding') !== 'identity';
  if (!response.body) return new Uint8Array(await response.arrayBuffer());
  // With a trustworthy length, read into one buffer of that size; otherwise collect chunks and join them.
  const known = Number.isSafeInteger(length) && length > 0 && !compressed ? length : 0;
  const chunks: Uint8Array[] = [];
  const whole = known ? new Uint8Array(known) : null;
  let received = 0;
  const reader = response.body.getReader();
  for (;;) {
    signal?.throwIfAborted();
    const { done, value } = await reader.read();
    if (done) break;
    if (whole) {
      if (received + value.byteLength > known) fail('HTTP_ERROR', `${file} is longer than its Content-Length (${known})`);
      whole.set(value, received);
    } else chunks.push(value);
    received += value.byteLength;
    onProgress?.({ stage: 'download', file, loaded: received, total: known });
  }
  if (whole) return received === known ? whole : whole.subarray(0, received);
  const joined = new Uint8Array(received);
  let at = 0;
  for (const chunk of chunks) joined.set(chunk, (at += chunk.byteLength) - chunk.byteLength);
  return joined;
}

/**
 * Loads a llama-architecture GGUF (any mix of F32/F16/BF16/Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/Q2_K..Q6_K/Q8_K tensors) into a
 * LlamaModel on the current tfjs backend, with its config and embedded tokenizer. Tensors are dequantized one at a
 * time; q/k rows are un-permuted back to Hugging Face layout. With `keepQuantized` (the default on the WASM backend),
 * Q4_1 and Q8_0 linear weights and LM head stay in their blocks, multiplied by the WASM kernel of quantizedMatMul.ts
 * (6 and 9 bits a weight instead of 32, and no packed float32 copy in XNNPACK); the rest becomes float32 tensors.
 * Peak memory: the file plus the model.
 * Errors: GgufError (a ModelConfigError, ModelWeightsError or TokenizerLoadError from the file is wrapped, with `cause`).
 * @example
 * const { model, tokenizer } = await loadGgufModel(new Uint8Array(await file.arrayBuffer()));
 * const { text } = await generate(model, tokenizer.encode('def add(a, b):'), { tokenizer, maxNewTokens: 16 });
 */
export async function loadGgufModel(
  source: Uint8Array | ModelFileSource,
  { file = 'model.gguf', onProgress, signal, keepQuantized = tf.getBackend() === 'wasm' }: {
    file?: string; onProgress?: (progress: GgufLoadProgress) => void; signal?: AbortSignal; keepQuantized?: boolean;
  } = {},
): Promise<{ model: LlamaModel; config: ModelConfig; tokenizer: BpeTokenizer; metadata: Map<string, GgufValue> }> {
  const bytes = await readSource(source, file, onProgress, signal);
  let gguf: ParsedGguf;
  try {
    gguf = parseGguf(bytes);
  } catch (error) {
    // A file cut short by a server that announced the short length parses as a truncated GGUF: say which file.
    if (error instanceof GgufError) throw new GgufError(error.code, `${file}: ${error.message}`, { cause: error });
    throw error;
  }
  let config: ModelConfig;
  try {
    config = parseModelConfig(hfConfigFromGguf(gguf));
  } catch (error) {
    if (error instanceof ModelConfigError) throw new GgufError('BAD_MODEL', `GGUF metadata: ${error.message}`, { cause: error });
    throw error;
  }
  const tokenizer = tokenizerFromGguf(gguf.metadata);
  if (tokenizer.vocabSize > config.vocabSize) fail('BAD_TOKENIZER', `The tokenizer has ${tokenizer.vocabSize} tokens, the model ${config.vocabSize}`);

  const expected = hfTensorShapes(config);
  const tensors = new Map<string, tf.Tensor | QuantizedMatrix>();
  const total = gguf.tensors.reduce((sum, t) => sum + t.byteLength, 0);
  const staysQuantized = (info: GgufTensorInfo, name: string) => keepQuantized && info.shape.length === 2 && isKernel(config, name) && quantizedFormatOf(info.type) !== null;
  const quantized = gguf.tensors.filter((info) => {
    const name = hfNameForGgufTensor(info.name);
    return name !== null && expected.has(name) && staysQuantized(info, name);
  });
  if (quantized.length > 0) await prepareQuantizedKernel();
  const store = quantized.length > 0 ? new QuantizedWeightStore() : null;
  // One growth for all of them: each matrix's two planes, each aligned to 16 bytes.
  store?.reserve(quantized.reduce((sum, info) => {
    const { quantBytes, scaleFloats } = QUANTIZED_FORMATS[quantizedFormatOf(info.type)!];
    return sum + (info.elementCount / 32) * (quantBytes + 4 * scaleFloats) + 32;
  }, 0));
  let loaded = 0;
  // Every tensor is dequantized into one buffer, which the upload copies from: a model's worth of float32 arrays
  // would otherwise wait for the garbage collector, adding their size to the page's peak memory.
  // Sized by the tensors that lie inside the file (the others fail below): a forged element count allocates nothing.
  const inside = gguf.tensors.filter((info) => info.begin >= 0 && info.begin + info.byteLength <= bytes.byteLength && !quantized.includes(info));
  const scratch = new Float32Array(Math.max(0, ...inside.map((info) => info.elementCount)));
  try {
    for (const info of gguf.tensors) {
      signal?.throwIfAborted();
      const name = hfNameForGgufTensor(info.name);
      if (name === null) fail('UNKNOWN_TENSOR', `GGUF tensor "${info.name}" has no place in a llama model`);
      if (!checkHfTensor(expected, name!, info.shape)) continue;
      const rotary = /\.attn_(q|k)\./.exec(info.name);
      const heads = rotary?.[1] === 'q' ? config.numHeads : config.numKvHeads;
      if (staysQuantized(info, name!)) {
        const [rows, columns] = info.shape;
        tensors.set(name!, store!.addGgmlBlocks(quantizedFormatOf(info.type)!, bytes, info.begin, rows, columns, rotary ? rotaryRowSource(rows, heads) : undefined));
      } else {
        let values = dequantizeGgufTensor(bytes, info, scratch);
        if (rotary) values = unpermuteRotaryRows(values, heads, info.shape.length === 2 ? info.shape[1] : 1);
        tensors.set(name!, uploadHfTensor(config, name!, values, info.shape));
      }
      loaded += info.byteLength;
      onProgress?.({ stage: 'weights', file, loaded, total });
    }
    const model = new LlamaModel(config, weightsFromHfTensors(config, tensors, store));
    onProgress?.({ stage: 'done', file, loaded, total });
    return { model, config, tokenizer, metadata: gguf.metadata };
  } catch (error) {
    for (const tensor of tensors.values()) if (tensor instanceof tf.Tensor) tensor.dispose();
    store?.dispose();
    if (error instanceof ModelWeightsError) throw new GgufError('BAD_MODEL', `GGUF tensors: ${error.message}`, { cause: error });
    if (error instanceof QuantizedStoreError) {
      throw new GgufError(error.code === 'OUT_OF_MEMORY' ? 'OUT_OF_MEMORY' : 'BAD_MODEL', `GGUF quantized weights: ${error.message}`, { cause: error });
    }
    throw error;
  }
}
