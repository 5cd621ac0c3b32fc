// safetensors: byte-identical output to the Python library, f16/bf16 rounding as torch, header validation, fuzzed files.
import { describe, expect, it } from 'vitest';
import {
  floatToBfloat16, floatToHalf, halfToFloat, parseSafetensors, readSafetensorsHeader, SafetensorsError, streamSafetensors,
  toFloat32, writeSafetensors, type ParsedSafetensors, type TensorToWrite,
} from '../src/model/safetensors.ts';
import { seededUniform } from '../src/util/random.ts';

// safetensors.numpy.save({'weight': f32 [[1.5,-2],[0.25,3]], 'bias': f16 [1,-1,0.5], 'alpha.x': u8 [7], 'emb': f32 [0.1,1e-3]},
// metadata={'format': 'pt'}) with safetensors 0.8.0.
const PYTHON_FILE = 'EAEAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJmb3JtYXQiOiJwdCJ9LCJlbWIiOnsiZHR5cGUiOiJGMzIiLCJzaGFwZSI6WzJdLCJkYXRhX29mZnNldHMiOlswLDhdfSwid2VpZ2h0Ijp7ImR0eXBlIjoiRjMyIiwic2hhcGUiOlsyLDJdLCJkYXRhX29mZnNldHMiOls4LDI0XX0sImJpYXMiOnsiZHR5cGUiOiJGMTYiLCJzaGFwZSI6WzNdLCJkYXRhX29mZnNldHMiOlsyNCwzMF19LCJhbHBoYS54Ijp7ImR0eXBlIjoiVTgiLCJzaGFwZSI6WzFdLCJkYXRhX29mZnNldHMiOlszMCwzMV19fSAgICAgIM3MzD1vEoM6AADAPwAAAMAAAIA+AABAQAA8ALwAOAc=';

const PYTHON_TENSORS: Record<string, TensorToWrite> = {
  weight: { dtype: 'F32', shape: [2, 2], data: new Float32Array([1.5, -2, 0.25, 3]) },
  bias: { dtype: 'F16', shape: [3], data: new Float32Array([1, -1, 0.5]) },
  'alpha.x': { dtype: 'U8', shape: [1], data: new Uint8Array([7]) },
  emb: { dtype: 'F32', shape: [2], data: new Float32Array([0.1, 1e-3]) },
};

// torch.tensor(VALUES, dtype=float32).half() / .bfloat16() bit patterns (as int16), torch 2.13.
const VALUES = [0, -0, 1, -2.5, 65504, 65520, 65519, 1e-5, 6e-8, 2.9e-8, 3.0e-8, 1 / 3, 3.14159265, 1e5, -1e-7, 1.0014653205871582,
  1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.4e38, Infinity, -Infinity, 5.960464477539063e-8,
  1.1754943508222875e-38, 9.183549615799121e-41];
const TORCH_HALF = [0, -32768, 15360, -16128, 31743, 31744, 31743, 168, 1, 0, 1, 13653, 16968, 31744, -32766, 15362, 15360, 15362,
  15364, 15372, 31744, 31744, -1024, 1, 0, 0];
const TORCH_BF16 = [0, -32768, 16256, -16352, 18304, 18304, 18304, 14120, 13185, 13049, 13057, 16043, 16457, 18371, -19497, 16256,
  16256, 16256, 16256, 16258, 32640, 32640, -128, 13184, 128, 1];

const fromBase64 = (text: string) => new Uint8Array(Buffer.from(text, 'base64'));

function expectSafetensorsError(action: () => unknown, code: string): void {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(SafetensorsError);
    expect((error as SafetensorsError).code).toBe(code);
    return;
  }
  throw new Error(`expected SafetensorsError ${code}`);
}

/** A file with a raw header JSON (for hand-made bad headers); data is `dataBytes` zero bytes. */
function fileWithHeader(header: unknown, dataBytes: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

function streamOf(bytes: Uint8Array, chunk: number): ReadableStream<Uint8Array> {
  let position = 0;
  return new ReadableStream({
    pull(controller) {
      if (position >= bytes.length) controller.close();
      else controller.enqueue(bytes.slice(position, (position += chunk)));
    },
  });
}

describe('writeSafetensors', () => {
  it('writes the same bytes as the Python library', () => {
    expect(Buffer.from(writeSafetensors(PYTHON_TENSORS, { format: 'pt' })).toString('base64')).toBe(PYTHON_FILE);
  });

  it('pads the header with spaces so tensor data starts 8-byte aligned', () => {
    for (let nameLength = 1; nameLength < 20; nameLength++) {
      const bytes = writeSafetensors({ ['n'.repeat(nameLength)]: { dtype: 'F32', shape: [1], data: new Float32Array([1]) } });
      const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      expect(headerLength % 8).toBe(0);
      expect(bytes[8 + headerLength - 1] === 0x7d || bytes[8 + headerLength - 1] === 0x20).toBe(true);
    }
  });

  it('round-trips f32, f16 and bf16 tensors', () => {
    const values = new Float32Array([0.1, -3.75, 1e-4, 65000, 0]);
    const bytes = writeSafetensors({
      f32: { dtype: 'F32', shape: [5], data: values },
      f16: { dtype: 'F16', shape: [5], data: values },
      bf16: { dtype: 'BF16', shape: [1, 5], data: values },
      bits: { dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0xc000]) },
    });
    const { tensors } = parseSafetensors(bytes);
    expect(Array.from(toFloat32(tensors.get('f32')!))).toEqual(Array.from(values));
    expect(Array.from(toFloat32(tensors.get('f16')!))).toEqual(Array.from(values, (v) => halfToFloat(floatToHalf(v))));
    expect(tensors.get('bf16')!.shape).toEqual([1, 5]);
    expect(Array.from(toFloat32(tensors.get('bf16')!))).toEqual([0.10009765625, -3.75, 0.00010013580322265625, 65024, 0]);
    expect(Array.from(toFloat32(tensors.get('bits')!))).toEqual([1, -2]);
  });

  it('refuses data that does not match dtype x shape', () => {
    expectSafetensorsError(() => writeSafetensors({ x: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }), 'SIZE_MISMATCH');
    expectSafetensorsError(() => writeSafetensors({ x: { dtype: 'I32', shape: [2], data: new Float32Array(2) } }), 'BAD_INPUT');
  });
});

describe('float conversion', () => {
  it('rounds to f16 and bf16 exactly as torch', () => {
    expect(VALUES.map((v) => (floatToHalf(v) << 16) >> 16)).toEqual(TORCH_HALF);
    expect(VALUES.map((v) => (floatToBfloat16(v) << 16) >> 16)).toEqual(TORCH_BF16);
  });

  it('widens every f16 bit pattern consistently (round trip through float)', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = halfToFloat(bits);
      if (Number.isNaN(value)) continue;
      expect(floatToHalf(value)).toBe(bits);
    }
  });
});

describe('parseSafetensors', () => {
  it('reads the Python file: metadata, dtypes, shapes, values', () => {
    const { metadata, tensors } = parseSafetensors(fromBase64(PYTHON_FILE));
    expect(metadata).toEqual({ format: 'pt' });
    expect([...tensors.keys()]).toEqual(['emb', 'weight', 'bias', 'alpha.x']);
    expect(Array.from(toFloat32(tensors.get('weight')!))).toEqual([1.5, -2, 0.25, 3]);
    expect(Array.from(toFloat32(tensors.get('bias')!))).toEqual([1, -1, 0.5]);
    expect(Array.from(tensors.get('alpha.x')!.data)).toEqual([7]);
  });

  it('reads tensors from an unaligned view of the bytes', () => {
    const file = fromBase64(PYTHON_FILE);
    const shifted = new Uint8Array(file.length + 3);
    shifted.set(file, 3);
    const { tensors } = parseSafetensors(shifted.subarray(3));
    expect(Array.from(toFloat32(tensors.get('emb')!))).toEqual(Array.from(new Float32Array([0.1, 1e-3])));
  });

  it('accepts an empty file with only metadata', () => {
    expect(parseSafetensors(writeSafetensors({}, { a: 'b' })).tensors.size).toBe(0);
  });

  const bad: Array<[string, () => Uint8Array, string]> = [
    ['shorter than 8 bytes', () => new Uint8Array(5), 'TOO_SMALL'],
    ['a header length past the file', () => fileWithHeader('{}', 0).subarray(0, 9), 'HEADER_OUT_OF_BOUNDS'],
    ['not JSON', () => fileWithHeader('{"a":', 0), 'HEADER_NOT_JSON'],
    ['not starting with {', () => fileWithHeader(' {}', 0), 'HEADER_NOT_JSON'],
    ['a JSON array', () => fileWithHeader('[]', 0), 'HEADER_NOT_JSON'],
    ['invalid UTF-8', () => { const f = fileWithHeader('{"\u00e9":1}', 0); f[10] = 0xff; return f; }, 'HEADER_NOT_UTF8'],
    ['metadata values that are not strings', () => fileWithHeader({ __metadata__: { a: 1 } }, 0), 'BAD_METADATA'],
    ['an unknown dtype', () => fileWithHeader({ x: { dtype: 'F7', shape: [1], data_offsets: [0, 1] } }, 1), 'UNKNOWN_DTYPE'],
    ['a negative dimension', () => fileWithHeader({ x: { dtype: 'U8', shape: [-1], data_offsets: [0, 1] } }, 1), 'BAD_SHAPE'],
    ['end before begin', () => fileWithHeader({ x: { dtype: 'U8', shape: [0], data_offsets: [1, 0] } }, 1), 'BAD_OFFSETS'],
    ['bytes disagreeing with the shape', () => fileWithHeader({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, 4), 'SIZE_MISMATCH'],
    ['overlapping tensors', () => fileWithHeader({
      x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8), 'OVERLAP_OR_GAP'],
    ['a gap', () => fileWithHeader({ x: { dtype: 'U8', shape: [2], data_offsets: [1, 3] } }, 3), 'OVERLAP_OR_GAP'],
    ['trailing bytes', () => fileWithHeader({ x: { dtype: 'U8', shape: [2], data_offsets: [0, 2] } }, 3), 'INCOMPLETE_BUFFER'],
    ['missing bytes', () => fileWithHeader({ x: { dtype: 'U8', shape: [4], data_offsets: [0, 4] } }, 3), 'INCOMPLETE_BUFFER'],
    ['an element count that overflows', () => fileWithHeader({ x: { dtype: 'F64', shape: [2 ** 40, 2 ** 20], data_offsets: [0, 8] } }, 8), 'SIZE_MISMATCH'],
  ];
  it.each(bad)('rejects a file with %s', (_what, make, code) => {
    expectSafetensorsError(() => parseSafetensors(make()), code);
  });

  it('enforces the header size limit before reading the header', () => {
    const bytes = writeSafetensors(PYTHON_TENSORS);
    expectSafetensorsError(() => parseSafetensors(bytes, { maxHeaderBytes: 64 }), 'HEADER_TOO_LARGE');
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 2n ** 62n, true);
    expectSafetensorsError(() => parseSafetensors(huge), 'HEADER_TOO_LARGE');
  });
});

describe('streamSafetensors', () => {
  it('yields the same tensors as parseSafetensors, whatever the chunk size', async () => {
    const bytes = writeSafetensors(PYTHON_TENSORS, { format: 'pt' });
    const whole = parseSafetensors(bytes);
    for (const chunk of [1, 3, 8, 64, 100_000]) {
      const seen = new Map<string, number[]>();
      const header = await streamSafetensors(streamOf(bytes, chunk), (name, entry) => {
        seen.set(name, Array.from(entry.data));
      }, { fileByteLength: bytes.length });
      expect(header.metadata).toEqual({ format: 'pt' });
      expect(seen).toEqual(new Map([...whole.tensors].map(([name, entry]) => [name, Array.from(entry.data)])));
    }
  });

  it('reports a truncated stream', async () => {
    const bytes = writeSafetensors(PYTHON_TENSORS);
    await expect(streamSafetensors(streamOf(bytes.subarray(0, bytes.length - 2), 7), () => {}))
      .rejects.toMatchObject({ name: 'SafetensorsError', code: 'INCOMPLETE_BUFFER' });
  });

  it('readSafetensorsHeader needs only the header bytes', () => {
    const bytes = writeSafetensors(PYTHON_TENSORS);
    const dataStart = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = readSafetensorsHeader(bytes.subarray(0, dataStart));
    expect(header.fileByteLength).toBe(bytes.length);
    expect(header.tensors.get('weight')).toMatchObject({ dtype: 'F32', shape: [2, 2] });
  });
});

describe('fuzzed files', () => {
  /** Parsed files must be self-consistent: every tensor's bytes inside the file and matching dtype x shape. */
  function checkConsistent(parsed: ParsedSafetensors, file: Uint8Array): void {
    for (const entry of parsed.tensors.values()) {
      expect(entry.data.buffer).toBe(file.buffer);
      expect(entry.data.byteOffset + entry.data.byteLength).toBeLessThanOrEqual(file.byteOffset + file.byteLength);
      if (['F32', 'F16', 'BF16'].includes(entry.dtype)) toFloat32(entry);
    }
  }

  function mutate(base: Uint8Array, random: () => number): Uint8Array {
    const file = base.slice();
    const headerEnd = 8 + Number(new DataView(file.buffer).getBigUint64(0, true));
    const at = (limit: number) => Math.floor(random() * limit);
    switch (at(6)) {
      case 0: // flip bits in the header JSON
        for (let i = at(4) + 1; i > 0; i--) file[8 + at(headerEnd - 8)] ^= 1 << at(8);
        return file;
      case 1: // change one digit in the header (offsets and shapes)
      {
        const digits = [...file.subarray(8, headerEnd).keys()].filter((i) => file[8 + i] >= 0x30 && file[8 + i] <= 0x39);
        file[8 + digits[at(digits.length)]] = 0x30 + at(10);
        return file;
      }
      case 2: // corrupt the length prefix
        file[at(8)] = at(256);
        return file;
      case 3: // truncate
        return file.subarray(0, at(file.length));
      case 4: // append bytes
        return Uint8Array.from([...file, ...Array.from({ length: at(16) + 1 }, () => at(256))]);
      default: // swap a header byte for a JSON-significant character
        file[8 + at(headerEnd - 8)] = '{}[]",:-0 '.charCodeAt(at(10));
        return file;
    }
  }

  it('300 mutations each parse consistently or throw SafetensorsError, never anything else', async () => {
    const base = writeSafetensors({
      ...PYTHON_TENSORS, bf: { dtype: 'BF16', shape: [3, 1], data: new Float32Array([1, 2, 3]) },
    }, { format: 'pt' });
    const random = seededUniform(1234);
    const outcomes = { parsed: 0, rejected: 0 };
    for (let i = 0; i < 300; i++) {
      const file = mutate(base, random);
      let whole: ParsedSafetensors | null = null;
      try {
        whole = parseSafetensors(file);
        checkConsistent(whole, file);
        outcomes.parsed++;
      } catch (error) {
        if (!(error instanceof SafetensorsError)) throw new Error(`mutation ${i}: ${String(error)}`);
        outcomes.rejected++;
      }
      // The streaming reader must agree with the whole-file reader.
      const streamed = await streamSafetensors(streamOf(file, 5), () => {}).then(() => true, (error) => {
        if (!(error instanceof SafetensorsError)) throw new Error(`mutation ${i} (stream): ${String(error)}`);
        return false;
      });
      expect(streamed).toBe(whole !== null);
    }
    expect(outcomes.rejected).toBeGreaterThan(100);
    expect(outcomes.parsed).toBeGreaterThan(5);
  });
});
