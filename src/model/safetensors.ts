// safetensors reader and writer: validated header parsing (whole file or header first), f16/bf16 conversion, PEFT/HF-compatible output.
//
// Format: 8-byte little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]},
// "__metadata__"?: {string: string}}, then the data buffer. Offsets are relative to the data buffer, must tile it
// exactly (no gaps, no overlaps) and agree with dtype x shape. These are the checks the Rust library makes.

import { MAX_JSON_DEPTH, nestsDeeperThan } from '../util/jsonDepth.ts';

export type SafetensorsDtype =
  | 'BOOL' | 'U8' | 'I8' | 'F8_E5M2' | 'F8_E4M3' | 'I16' | 'U16' | 'F16' | 'BF16'
  | 'I32' | 'U32' | 'F32' | 'F64' | 'I64' | 'U64';

/** Bytes per element for every dtype the format defines, listed in the Rust library's enum order. */
export const DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};

/** The Rust library writes tensors in descending order of this list (then by name); we do the same. */
const DTYPE_ORDER = Object.keys(DTYPE_BYTES) as SafetensorsDtype[];

export type SafetensorsErrorCode =
  | 'TOO_SMALL' | 'HEADER_TOO_LARGE' | 'HEADER_OUT_OF_BOUNDS' | 'HEADER_NOT_UTF8' | 'HEADER_NOT_JSON'
  | 'HEADER_NOT_OBJECT' | 'BAD_METADATA' | 'BAD_TENSOR_INFO' | 'UNKNOWN_DTYPE' | 'BAD_SHAPE' | 'BAD_OFFSETS'
  | 'SIZE_MISMATCH' | 'OVERLAP_OR_GAP' | 'INCOMPLETE_BUFFER' | 'UNSUPPORTED_DTYPE' | 'BAD_INPUT';

/** Every problem with a safetensors file surfaces as this error; `code` is stable, `message` names the tensor. */
export class SafetensorsError extends Error {
  readonly code: SafetensorsErrorCode;
  constructor(code: SafetensorsErrorCode, message: string) {
    super(message);
    this.name = 'SafetensorsError';
    this.code = code;
  }
}

/** Where one tensor lives in the file: `begin`/`end` are absolute byte positions (header included). */
export interface SafetensorsTensorInfo {
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** 8 + N: where the data buffer starts. */
  dataStart: number;
  /** Total file size implied by the header (dataStart + data buffer length). */
  fileByteLength: number;
  metadata: Record<string, string>;
  /** In file order (ascending offsets). */
  tensors: Map<string, SafetensorsTensorInfo>;
}

export interface SafetensorsEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  /** A view into the parsed bytes (no copy). */
  data: Uint8Array;
}

export interface ParsedSafetensors {
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorsEntry>;
}

/** The Python library's default limit is 100 MB of header; real headers are a few hundred KB. */
export const DEFAULT_MAX_HEADER_BYTES = 100_000_000;

const fail = (code: SafetensorsErrorCode, message: string): never => {
  throw new SafetensorsError(code, message);
};

/**
 * Reads the header length from the first 8 bytes. Returns the number of bytes (8 + N) that `readSafetensorsHeader`
 * needs, so a streaming reader knows how much to buffer before the tensors begin.
 */
export function safetensorsHeaderLength(
  prefix: Uint8Array, { maxHeaderBytes = DEFAULT_MAX_HEADER_BYTES }: { maxHeaderBytes?: number } = {},
): number {
  if (prefix.byteLength < 8) fail('TOO_SMALL', `File has ${prefix.byteLength} bytes; a safetensors file starts with an 8-byte header length`);
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  const headerBytes = high * 2 ** 32 + low;
  if (high >= 2 ** 21 || headerBytes > maxHeaderBytes) {
    fail('HEADER_TOO_LARGE', `Header claims ${headerBytes} bytes, over the limit of ${maxHeaderBytes}`);
  }
  return 8 + headerBytes;
}

/**
 * Parses and validates the header. `prefix` must hold at least the first `safetensorsHeaderLength(prefix)` bytes.
 * `fileByteLength`, when known (a whole file, or an HTTP Content-Length), is checked against the header's data extent.
 */
export function readSafetensorsHeader(
  prefix: Uint8Array,
  { maxHeaderBytes = DEFAULT_MAX_HEADER_BYTES, fileByteLength }: { maxHeaderBytes?: number; fileByteLength?: number } = {},
): SafetensorsHeader {
  const dataStart = safetensorsHeaderLength(prefix, { maxHeaderBytes });
  if (prefix.byteLength < dataStart || (fileByteLength !== undefined && fileByteLength < dataStart)) {
    fail('HEADER_OUT_OF_BOUNDS', `Header claims ${dataStart - 8} bytes but the file has only ${fileByteLength ?? prefix.byteLength}`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(prefix.subarray(8, dataStart));
  } catch {
    return fail('HEADER_NOT_UTF8', 'Header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail('HEADER_NOT_JSON', 'Header does not start with "{"');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return fail('HEADER_NOT_JSON', `Header is not valid JSON: ${(error as Error).message}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail('HEADER_NOT_OBJECT', 'Header JSON is not an object');
  if (nestsDeeperThan(json)) fail('HEADER_NOT_JSON', `Header JSON nests deeper than ${MAX_JSON_DEPTH} levels`);

  const metadata: Record<string, string> = {};
  const raw: Array<[string, SafetensorsTensorInfo]> = [];
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('BAD_METADATA', '__metadata__ is not an object');
      for (const [key, entry] of Object.entries(value as Record<string, unknown>)) {
        if (typeof entry !== 'string') fail('BAD_METADATA', `__metadata__["${key}"] is not a string`);
        metadata[key] = entry as string;
      }
      continue;
    }
    raw.push([name, parseTensorInfo(name, value, dataStart)]);
  }

  raw.sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  let expectedBegin = dataStart;
  for (const [name, info] of raw) {
    if (info.begin !== expectedBegin) {
      fail('OVERLAP_OR_GAP', `Tensor "${name}" starts at data offset ${info.begin - dataStart}, expected ${expectedBegin - dataStart} (tensors must tile the data buffer)`);
    }
    expectedBegin = info.end;
  }
  const implied = expectedBegin;
  if (fileByteLength !== undefined && fileByteLength !== implied) {
    fail('INCOMPLETE_BUFFER', `Header describes ${implied - dataStart} data bytes but the file holds ${fileByteLength - dataStart}`);
  }
  return { dataStart, fileByteLength: implied, metadata, tensors: new Map(raw) };
}

function parseTensorInfo(name: string, value: unknown, dataStart: number): SafetensorsTensorInfo {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('BAD_TENSOR_INFO', `Tensor "${name}" is not an object`);
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== 'string') return fail('BAD_TENSOR_INFO', `Tensor "${name}" has no dtype`);
  if (!Object.hasOwn(DTYPE_BYTES, dtype)) fail('UNKNOWN_DTYPE', `Tensor "${name}" has unknown dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail('BAD_SHAPE', `Tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    return fail('BAD_OFFSETS', `Tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) fail('BAD_OFFSETS', `Tensor "${name}" has data_offsets end ${end} < begin ${begin}`);
  const elements = (shape as number[]).reduce((product, d) => product * d, 1);
  const expectedBytes = elements * DTYPE_BYTES[dtype as SafetensorsDtype];
  if (!Number.isSafeInteger(expectedBytes) || expectedBytes !== end - begin) {
    fail('SIZE_MISMATCH', `Tensor "${name}": ${dtype}${JSON.stringify(shape)} needs ${expectedBytes} bytes, data_offsets span ${end - begin}`);
  }
  return { dtype: dtype as SafetensorsDtype, shape: [...(shape as number[])], begin: dataStart + begin, end: dataStart + end };
}

/**
 * Parses a whole safetensors file held in memory. Tensor data are views into `bytes` (no copy).
 * @example
 * const { tensors } = parseSafetensors(new Uint8Array(await (await fetch(url)).arrayBuffer()));
 * const embed = toFloat32(tensors.get('model.embed_tokens.weight')!);
 */
export function parseSafetensors(bytes: Uint8Array, { maxHeaderBytes }: { maxHeaderBytes?: number } = {}): ParsedSafetensors {
  if (!(bytes instanceof Uint8Array)) fail('BAD_INPUT', 'parseSafetensors expects a Uint8Array');
  const header = readSafetensorsHeader(bytes, { maxHeaderBytes, fileByteLength: bytes.byteLength });
  const tensors = new Map<string, SafetensorsEntry>();
  for (const [name, info] of header.tensors) {
    tensors.set(name, { dtype: info.dtype, shape: info.shape, data: bytes.subarray(info.begin, info.end) });
  }
  return { metadata: header.metadata, tensors };
}

/** Widens F32/F16/BF16/F64 tensor bytes to a fresh Float32Array (little-endian, any alignment). */
export function toFloat32(entry: { dtype: SafetensorsDtype; data: Uint8Array }): Float32Array {
  const { dtype, data } = entry;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const count = data.byteLength / DTYPE_BYTES[dtype];
  const out = new Float32Array(count);
  switch (dtype) {
    case 'F32':
      if (data.byteOffset % 4 === 0) out.set(new Float32Array(data.buffer, data.byteOffset, count));
      else for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    case 'F16':
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      return out;
    case 'BF16': {
      // bf16 is the top half of an f32: shift the bits up and reinterpret.
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(i * 2, true) << 16;
      return out;
    }
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    default:
      return fail('UNSUPPORTED_DTYPE', `Cannot convert ${dtype} to float32`);
  }
}

const halfExponentTable = (() => {
  const table = new Float64Array(32);
  for (let e = 0; e < 32; e++) table[e] = 2 ** (e - 15);
  return table;
})();

/** IEEE binary16 bits -> number (subnormals, infinities and NaN included). */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * halfExponentTable[exponent] * (1 + fraction / 1024);
}

let halfTable: Float32Array | null = null;
/** All 65536 float16 values, so widening is one table lookup. */
export function halfToFloatTable(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let bits = 0; bits < 65536; bits++) halfTable[bits] = halfToFloat(bits);
  }
  return halfTable;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** number -> IEEE binary16 bits, round to nearest even (as torch's .half()). */
export function floatToHalf(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >> shift;
    const remainder = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (remainder > halfway || (remainder === halfway && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >> 13);
  const remainder = mantissa & 0x1fff;
  if (remainder > 0x1000 || (remainder === 0x1000 && (half & 1))) half++;
  return sign | half; // a carry into the exponent (or to infinity) is the correct rounding
}

/** number -> bfloat16 bits, round to nearest even (as torch's .bfloat16()). */
export function floatToBfloat16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff)) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export interface TensorToWrite {
  dtype: SafetensorsDtype;
  shape: number[];
  /**
   * Raw element bits in the file's dtype (Float32Array for F32, Uint16Array for F16/BF16, Uint8Array for any dtype
   * as little-endian bytes), or a Float32Array for F16/BF16, which is rounded to nearest even.
   */
  data: Float32Array | Uint16Array | Uint8Array;
}

function tensorBytes(name: string, tensor: TensorToWrite): Uint8Array {
  const { dtype, data } = tensor;
  let bytes: Uint8Array;
  if (data instanceof Float32Array && (dtype === 'F16' || dtype === 'BF16')) {
    const round = dtype === 'F16' ? floatToHalf : floatToBfloat16;
    const bits = new Uint16Array(data.length);
    for (let i = 0; i < data.length; i++) bits[i] = round(data[i]);
    bytes = new Uint8Array(bits.buffer);
  } else if (data instanceof Float32Array && dtype !== 'F32') {
    return fail('BAD_INPUT', `Tensor "${name}": Float32Array data cannot be written as ${dtype}`);
  } else if (data instanceof Uint16Array && DTYPE_BYTES[dtype] !== 2) {
    return fail('BAD_INPUT', `Tensor "${name}": Uint16Array data cannot be written as ${dtype}`);
  } else {
    bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  const elements = tensor.shape.reduce((product, d) => product * d, 1);
  if (!tensor.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || elements * DTYPE_BYTES[dtype] !== bytes.byteLength) {
    fail('SIZE_MISMATCH', `Tensor "${name}": ${dtype}${JSON.stringify(tensor.shape)} does not match ${bytes.byteLength} bytes of data`);
  }
  return bytes;
}

/**
 * Serialises tensors byte for byte as the Python library does: tensors ordered by dtype (its enum order, descending) then name,
 * compact JSON header padded with spaces to a multiple of 8 bytes so every tensor starts 8-byte aligned.
 * @example
 * const bytes = writeSafetensors({ 'w': { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } }, { format: 'pt' });
 */
export function writeSafetensors(tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Uint8Array {
  const rank = (name: string) => DTYPE_ORDER.indexOf(tensors[name].dtype);
  const names = Object.keys(tensors).sort((a, b) => rank(b) - rank(a) || (a < b ? -1 : a > b ? 1 : 0));
  if (names.includes('__metadata__')) fail('BAD_INPUT', '"__metadata__" is reserved and cannot name a tensor');
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const bytes = tensorBytes(name, tensors[name]);
    header[name] = { dtype: tensors[name].dtype, shape: tensors[name].shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  let headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(headerBytes.byteLength / 8) * 8;
  if (padded !== headerBytes.byteLength) {
    const withPadding = new Uint8Array(padded).fill(0x20);
    withPadding.set(headerBytes);
    headerBytes = withPadding;
  }
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(headerBytes, 8);
  let position = 8 + padded;
  for (const chunk of chunks) {
    out.set(chunk, position);
    position += chunk.byteLength;
  }
  return out;
}

/**
 * Reads a safetensors byte stream tensor by tensor, in file order, handing each tensor's bytes to `onTensor` and then
 * dropping them, so a caller that converts as it goes never holds the whole file. Returns the header.
 */
export async function streamSafetensors(
  stream: ReadableStream<Uint8Array>,
  onTensor: (name: string, entry: SafetensorsEntry) => void | Promise<void>,
  { maxHeaderBytes, fileByteLength, onHeader, onBytes }: {
    maxHeaderBytes?: number;
    fileByteLength?: number;
    /** Called once the header is read and validated, before the first tensor. */
    onHeader?: (header: SafetensorsHeader) => void;
    /** Called with the number of bytes consumed so far, after each chunk. */
    onBytes?: (loaded: number) => void;
  } = {},
): Promise<SafetensorsHeader> {
  const reader = stream.getReader();
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let consumed = 0;
  let done = false;

  // Gathers exactly `count` bytes from the stream (fewer only at end of stream).
  const take = async (count: number): Promise<Uint8Array> => {
    while (pendingBytes < count && !done) {
      const chunk = await reader.read();
      if (chunk.done) done = true;
      else if (chunk.value.byteLength) {
        pending.push(chunk.value);
        pendingBytes += chunk.value.byteLength;
      }
    }
    const size = Math.min(count, pendingBytes);
    const out = pending.length === 1 && pending[0].byteLength === size ? pending[0] : new Uint8Array(size);
    if (out !== pending[0]) {
      // Drop used chunks once at the end: shifting them one by one is quadratic when a stream sends many small ones.
      let filled = 0;
      let used = 0;
      while (filled < size) {
        const head = pending[used];
        const taken = Math.min(head.byteLength, size - filled);
        out.set(head.subarray(0, taken), filled);
        filled += taken;
        if (taken === head.byteLength) used++;
        else pending[used] = head.subarray(taken);
      }
      pending = pending.slice(used);
    } else {
      pending = [];
    }
    pendingBytes -= size;
    consumed += size;
    onBytes?.(consumed);
    return out;
  };

  try {
    const lengthBytes = await take(8);
    const dataStart = safetensorsHeaderLength(lengthBytes, { maxHeaderBytes });
    const rest = await take(dataStart - 8);
    if (rest.byteLength < dataStart - 8) fail('HEADER_OUT_OF_BOUNDS', `Stream ended inside the ${dataStart - 8}-byte header`);
    const prefix = new Uint8Array(dataStart);
    prefix.set(lengthBytes);
    prefix.set(rest, 8);
    const header = readSafetensorsHeader(prefix, { maxHeaderBytes, fileByteLength });
    onHeader?.(header);
    for (const [name, info] of header.tensors) {
      const data = await take(info.end - info.begin);
      if (data.byteLength < info.end - info.begin) {
        fail('INCOMPLETE_BUFFER', `Stream ended inside tensor "${name}" (${consumed} of ${header.fileByteLength} bytes)`);
      }
      await onTensor(name, { dtype: info.dtype, shape: info.shape, data });
    }
    if ((await take(1)).byteLength) fail('INCOMPLETE_BUFFER', `Stream holds more than the ${header.fileByteLength} bytes its header describes`);
    return header;
  } catch (error) {
    await reader.cancel().catch(() => undefined); // stop the download
    throw error;
  } finally {
    reader.releaseLock();
  }
}
