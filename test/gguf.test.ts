// GGUF import: container parsing (v2/v3, every metadata type), hand-checked dequantization, a tiny llama loaded from GGUF
// equal to the same weights from safetensors, its embedded tokenizer, typed errors, and fuzzed files.
// Bit-exact agreement with the Python `gguf` package for every quant type is in training/tests/test_gguf_parity.py.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/model/backend.ts';
import type { ModelConfig } from '../src/model/config.ts';
import {
  dequantizeGgufTensor, GgufError, loadGgufModel, parseGguf, unpermuteRotaryRows, type GgufTensorInfo,
} from '../src/model/gguf.ts';
import { floatToHalf } from '../src/model/safetensors.ts';
import { seededUniform } from '../src/util/random.ts';
import { writeGguf, type MetadataEntry } from './fixtures/ggufWriter.ts';
import { tinyGguf } from './fixtures/tinyGguf.ts';
import { maxAbsDiff, tinyConfig } from './fixtures/tinyModel.ts';

const f32Bytes = (values: ArrayLike<number>) => new Uint8Array(Float32Array.from(values).buffer);
const infoOf = (file: Uint8Array, name: string): GgufTensorInfo => parseGguf(file).tensors.find((t) => t.name === name)!;

function expectGgufError(action: () => unknown, code: string): void {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected GgufError ${code}`).toBeInstanceOf(GgufError);
  expect((caught as GgufError).code).toBe(code);
}

beforeAll(async () => {
  await initBackend();
});

describe('parseGguf', () => {
  const metadata: MetadataEntry[] = [
    ['general.architecture', 'string', 'llama'],
    ['general.alignment', 'u32', 64],
    ['t.u8', 'u8', 250], ['t.i8', 'i8', -7], ['t.u16', 'u16', 65000], ['t.i16', 'i16', -300], ['t.i32', 'i32', -70000],
    ['t.f32', 'f32', 0.5], ['t.f64', 'f64', 1e-300], ['t.u64', 'u64', 2n ** 60n], ['t.i64', 'i64', -5], ['t.bool', 'bool', true],
    ['t.text', 'string', 'naïve ✓'],
    ['t.ids', 'array', { type: 'i32', values: [1, -2, 3] }],
    ['t.names', 'array', { type: 'string', values: ['a', '', 'βγ'] }],
    ['t.nested', 'array', { type: 'array', values: [{ type: 'u32', values: [1, 2] }, { type: 'u32', values: [] }] }],
  ];

  it.each([2, 3])('reads every metadata type and honours general.alignment (v%i)', (version) => {
    const file = writeGguf({
      version, alignment: 64, metadata,
      tensors: [
        { name: 'a', type: 0, dims: [3], data: f32Bytes([1, 2, 3]) },
        { name: 'b', type: 0, dims: [2, 2], data: f32Bytes([4, 5, 6, 7]) },
      ],
    });
    const gguf = parseGguf(file);
    expect(gguf.version).toBe(version);
    expect(gguf.alignment).toBe(64);
    expect(Object.fromEntries(gguf.metadata)).toEqual({
      'general.architecture': 'llama', 'general.alignment': 64, 't.u8': 250, 't.i8': -7, 't.u16': 65000, 't.i16': -300,
      't.i32': -70000, 't.f32': 0.5, 't.f64': 1e-300, 't.u64': 2n ** 60n, 't.i64': -5, 't.bool': true, 't.text': 'naïve ✓',
      't.ids': [1, -2, 3], 't.names': ['a', '', 'βγ'], 't.nested': [[1, 2], []],
    });
    expect(gguf.dataStart % 64).toBe(0);
    const [a, b] = gguf.tensors;
    expect([a.begin - gguf.dataStart, b.begin - gguf.dataStart]).toEqual([0, 64]);
    expect(b.shape).toEqual([2, 2]);
    expect(Array.from(dequantizeGgufTensor(file, b))).toEqual([4, 5, 6, 7]);
  });

  it('rejects malformed files with typed errors, before allocating what they claim', () => {
    const good = writeGguf({ metadata: [['k', 'u32', 1]], tensors: [{ name: 'w', type: 0, dims: [4], data: f32Bytes([1, 2, 3, 4]) }] });
    const patched = (at: number, bytes: number[]) => { const f = good.slice(); f.set(bytes, at); return f; };
    const u64 = (v: bigint) => Array.from(new Uint8Array(new BigUint64Array([v]).buffer));
    expectGgufError(() => parseGguf(new TextEncoder().encode('GGML....')), 'NOT_GGUF');
    expectGgufError(() => parseGguf(new Uint8Array(2)), 'NOT_GGUF');
    expectGgufError(() => parseGguf(patched(4, [1, 0, 0, 0])), 'UNSUPPORTED_VERSION');
    expectGgufError(() => parseGguf(patched(4, [0, 0, 0, 3])), 'UNSUPPORTED_VERSION'); // big-endian
    expectGgufError(() => parseGguf(patched(8, u64(2n ** 40n))), 'TOO_MANY'); // tensor count
    expectGgufError(() => parseGguf(patched(16, u64(2n ** 62n))), 'TOO_MANY'); // metadata count
    expectGgufError(() => parseGguf(good.subarray(0, good.length - 3)), 'TRUNCATED');
    expectGgufError(() => parseGguf(good.subarray(0, 30)), 'TRUNCATED');
    const claimsHugeArray = writeGguf({ metadata: [['a', 'array', { type: 'u32', values: [] }]] });
    claimsHugeArray.set(u64(2n ** 50n), claimsHugeArray.length - 8);
    expectGgufError(() => parseGguf(claimsHugeArray), 'TRUNCATED');
    const deep = { type: 'array', values: [{ type: 'array', values: [{ type: 'array', values: [{ type: 'array', values: [{ type: 'u32', values: [] }] }] }] }] };
    expectGgufError(() => parseGguf(writeGguf({ metadata: [['deep', 'array', deep as never]] })), 'TOO_MANY');
    expectGgufError(() => parseGguf(writeGguf({ metadata: [['k', 'u32', 1], ['k', 'u32', 2]] })), 'DUPLICATE_KEY');
    expectGgufError(() => parseGguf(writeGguf({ metadata: [['general.alignment', 'u32', 48]] })), 'BAD_ALIGNMENT');
    expectGgufError(() => parseGguf(writeGguf({ tensors: [{ name: 'w', type: 99, dims: [4], data: f32Bytes([1, 2, 3, 4]) }] })), 'UNKNOWN_TENSOR_TYPE');
    expectGgufError(() => parseGguf(writeGguf({ tensors: [{ name: 'w', type: 8, dims: [16], data: new Uint8Array(34) }] })), 'BAD_TENSOR_INFO');
    expectGgufError(() => parseGguf(writeGguf({ tensors: [{ name: 'w', type: 0, dims: [1, 1, 1, 1, 1], data: f32Bytes([1]) }] })), 'BAD_TENSOR_INFO');
    const twoTensors = writeGguf({ tensors: [{ name: 'a', type: 0, dims: [8], data: new Uint8Array(32) }, { name: 'b', type: 0, dims: [8], data: new Uint8Array(32) }] });
    const bOffset = twoTensors.indexOf(98, 24) + 1 + 4 + 8 + 4; // after name "b", dim count, dim, type
    const overlapping = twoTensors.slice();
    overlapping.set(u64(0n), bOffset);
    expectGgufError(() => parseGguf(overlapping), 'BAD_OFFSETS');
    const misaligned = twoTensors.slice();
    misaligned.set(u64(36n), bOffset);
    expectGgufError(() => parseGguf(misaligned), 'BAD_OFFSETS');
    expectGgufError(() => dequantizeGgufTensor(good, { ...infoOf(good, 'w'), type: 16, name: 'w' }), 'UNSUPPORTED_TENSOR_TYPE');
  });
});

describe('dequantizeGgufTensor (hand-built blocks)', () => {
  const half = (value: number) => [floatToHalf(value) & 255, floatToHalf(value) >> 8];
  const decode = (type: number, columns: number, block: number[]) => {
    const file = writeGguf({ tensors: [{ name: 'x', type, dims: [columns], data: Uint8Array.from(block) }] });
    return Array.from(dequantizeGgufTensor(file, infoOf(file, 'x')));
  };
  const nibbles = Array.from({ length: 16 }, (_, j) => j | ((15 - j) << 4)); // low nibble j, high nibble 15 - j

  it('Q8_0: d * int8', () => {
    const qs = Array.from({ length: 32 }, (_, j) => j - 16);
    expect(decode(8, 32, [...half(0.5), ...qs.map((q) => q & 255)])).toEqual(qs.map((q) => 0.5 * q));
  });
  it('Q4_0: d * (nibble - 8), low nibbles first', () => {
    const expected = [...Array.from({ length: 16 }, (_, j) => 2 * (j - 8)), ...Array.from({ length: 16 }, (_, j) => 2 * (7 - j))];
    expect(decode(2, 32, [...half(2), ...nibbles])).toEqual(expected);
  });
  it('Q4_1: d * nibble + m', () => {
    const expected = [...Array.from({ length: 16 }, (_, j) => 0.25 * j - 1), ...Array.from({ length: 16 }, (_, j) => 0.25 * (15 - j) - 1)];
    expect(decode(3, 32, [...half(0.25), ...half(-1), ...nibbles])).toEqual(expected);
  });
  it('Q5_0: the fifth bit comes from qh, bit i for value i', () => {
    const qh = [0b1, 0, 0, 0b10000000]; // value 0 and value 31 get the high bit
    const values = decode(6, 32, [...half(1), ...qh, ...nibbles]);
    expect(values[0]).toBe(0 + 16 - 16);
    expect(values[1]).toBe(1 - 16);
    expect(values[31]).toBe(0 + 16 - 16);
    expect(values[16]).toBe(15 - 16);
  });
  it('Q8_K: float32 d * int8, block sums ignored', () => {
    const qs = Array.from({ length: 256 }, (_, j) => (j % 200) - 100);
    const block = [...new Uint8Array(new Float32Array([0.125]).buffer), ...qs.map((q) => q & 255), ...new Array(32).fill(7)];
    expect(decode(15, 256, block)).toEqual(qs.map((q) => 0.125 * q));
  });
});

describe('unpermuteRotaryRows', () => {
  it('inverts convert_hf_to_gguf permute() for 2 heads of dim 4', () => {
    // HF rows per head: [r0 r1 | r2 r3] (two rotary halves); GGUF interleaves them: r0 r2 r1 r3.
    const gguf = Float32Array.from([0, 2, 1, 3, 10, 12, 11, 13]);
    expect(Array.from(unpermuteRotaryRows(gguf, 2, 1))).toEqual([0, 1, 2, 3, 10, 11, 12, 13]);
  });
});

// ---- whole models ----

describe('loadGgufModel', () => {
  const IDS = [5, 17, 3, 42, 8, 8, 200, 1, 33, 12, 0, 7, 259];
  // GGUF stores the epsilon as float32: pick one it holds exactly, so both models compute the same.
  const common = { vocab_size: 260, rms_norm_eps: Math.fround(1e-5) };
  const CONFIGS: Record<string, ModelConfig> = {
    'GQA untied': tinyConfig({ ...common, num_attention_heads: 4, num_key_value_heads: 2 }),
    'MHA tied, head_dim 16': tinyConfig({ ...common, num_attention_heads: 2, num_key_value_heads: 2, tie_word_embeddings: true }),
  };

  it.each(Object.entries(CONFIGS))('%s: same logits as the same weights loaded from safetensors', async (_name, config) => {
    const { file, reference } = await tinyGguf(config);
    const progress: string[] = [];
    const { model, config: loaded, tokenizer } = await loadGgufModel(file, { onProgress: (p) => progress.push(p.stage) });
    expect(loaded).toEqual({ ...config, eosTokenIds: [259] });
    expect(progress.at(-1)).toBe('done');
    const ours = await model.forward(IDS).data();
    const expected = await reference.forward(IDS).data();
    expect(maxAbsDiff(ours, expected)).toBe(0);
    expect(tokenizer.eosTokenId).toBe(259);
    model.dispose();
    reference.dispose();
  });

  it('builds the embedded tokenizer: merges, control tokens as special, digits split as llama.cpp does for "smollm"', async () => {
    const { file, reference } = await tinyGguf(CONFIGS['GQA untied']);
    reference.dispose();
    const { model, tokenizer } = await loadGgufModel(file);
    model.dispose();
    const text = 'def x:\n    12<|endoftext|>';
    const ids = tokenizer.encode(text);
    const pieces = ids.map((id) => tokenizer.idToToken(id));
    expect(pieces).toEqual(['de', 'f', 'Ġ', 'x', ':', 'Ċ', 'ĠĠĠĠ', '1', '2', '<|endoftext|>']);
    expect(tokenizer.decode(ids)).toBe(text);
    expect(tokenizer.specialTokens).toEqual([{ content: '<|endoftext|>', id: 259 }]);
  });

  it('reports what it cannot load with GgufError codes', async () => {
    const config = CONFIGS['GQA untied'];
    const { file, reference } = await tinyGguf(config, { pre: 'mystery' });
    reference.dispose();
    await expect(loadGgufModel(file)).rejects.toMatchObject({ name: 'GgufError', code: 'UNSUPPORTED_TOKENIZER' });
    const noArch = writeGguf({ metadata: [['general.architecture', 'string', 'mamba']] });
    await expect(loadGgufModel(noArch)).rejects.toMatchObject({ code: 'UNSUPPORTED_ARCHITECTURE' });
    await expect(loadGgufModel(async () => null)).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
    await expect(loadGgufModel(async () => new Response('nope', { status: 500 }))).rejects.toMatchObject({ code: 'HTTP_ERROR' });
  });

  it('streams a Response body with download progress', async () => {
    const { file, reference } = await tinyGguf(CONFIGS['GQA untied']);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < file.length; at += 4096) controller.enqueue(file.slice(at, at + 4096));
        controller.close();
      },
    });
    const downloads: number[] = [];
    const { model } = await loadGgufModel(async (name) => (name === 'tiny.gguf' ? new Response(body, { headers: { 'content-length': String(file.length) } }) : null),
      { file: 'tiny.gguf', onProgress: (p) => { if (p.stage === 'download') downloads.push(p.loaded); } });
    expect(downloads.at(-1)).toBe(file.length);
    expect(maxAbsDiff(await model.forward([1, 2, 3]).data(), await reference.forward([1, 2, 3]).data())).toBe(0);
    model.dispose();
    reference.dispose();
  });
});

describe('fuzzed files', () => {
  it('300 mutations of a model file each load or throw GgufError, never anything else', async () => {
    const config = tinyConfig({ vocab_size: 260, hidden_size: 16, intermediate_size: 24, num_attention_heads: 2, num_key_value_heads: 1, rms_norm_eps: Math.fround(1e-5) });
    const { file: base, reference } = await tinyGguf(config);
    reference.dispose();
    const headerEnd = parseGguf(base).dataStart;
    const random = seededUniform(99);
    const at = (limit: number) => Math.floor(random() * limit);
    const outcomes = { loaded: 0, rejected: 0 };
    const tensorsBefore = tf.memory().numTensors;
    for (let i = 0; i < 300; i++) {
      let file = base.slice();
      switch (at(5)) {
        case 0: for (let n = at(4) + 1; n > 0; n--) file[at(headerEnd)] ^= 1 << at(8); break; // flip header bits
        case 1: file[at(headerEnd)] = at(256); break; // replace a header byte
        case 2: file = file.subarray(0, at(file.length)); break; // truncate
        case 3: { // overwrite a little-endian u64/u32 field-sized run with a large number
          const p = at(headerEnd - 8);
          file.set([255, 255, 255, at(256), at(2) ? 0 : 255, 0, 0, 0], p);
          break;
        }
        default: for (let n = 8; n > 0; n--) file[headerEnd + at(file.length - headerEnd)] = at(256); // corrupt tensor data
      }
      try {
        const { model } = await loadGgufModel(file);
        model.dispose();
        outcomes.loaded++;
      } catch (error) {
        if (!(error instanceof GgufError)) throw new Error(`mutation ${i}: ${String((error as Error)?.stack ?? error)}`);
        outcomes.rejected++;
      }
    }
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(outcomes.rejected).toBeGreaterThan(100);
    expect(outcomes.loaded).toBeGreaterThan(20);
  }, 240_000);
});
