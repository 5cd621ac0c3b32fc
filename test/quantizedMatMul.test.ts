// The quantized-weights kernel: its committed binary is what its source compiles to; its products equal
// dequantize-then-matmul on random Q4_1/Q8_0 blocks; models that keep GGUF weights quantized compute the logits of the
// float32 path (tiny models, and SmolLM2 when its file is present), with KV cache, LoRA unmerged, export and copy intact.
import { existsSync, readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { compileKernel, KERNELS } from '../scripts/build-kernels.ts';
import { initBackend } from '../src/model/backend.ts';
import { dequantizeGgufTensor, GgufError, loadGgufModel, parseGguf } from '../src/model/gguf.ts';
import { KVCache, LlamaModel, type ForwardOptions } from '../src/model/llama.ts';
import { loadHfModel } from '../src/model/loadHfModel.ts';
import { LoraError, mergeLora, prepareLora, randomLoraAdapter, disposePreparedLora } from '../src/model/lora.ts';
import {
  LowRankTerms, QUANTIZED_FORMATS, QuantizedMatrix, QuantizedStoreError, QuantizedWeightStore, type QuantizedFormat,
} from '../src/model/quantizedMatMul.ts';
import { QUANTIZED_MATMUL_WASM_BASE64 } from '../src/model/quantizedMatMulWasm.ts';
import { floatToHalf, writeSafetensors } from '../src/model/safetensors.ts';
import { toHfConfig } from '../src/model/config.ts';
import { seededUniform } from '../src/util/random.ts';
import { tinyGguf } from './fixtures/tinyGguf.ts';
import { IDS, maxAbsDiff, tinyConfig } from './fixtures/tinyModel.ts';

beforeAll(async () => {
  await initBackend();
});

it('the committed kernel binary is what kernels/quantizedMatMul.ts compiles to (else: npm run build:kernels)', async () => {
  const committed = Buffer.from(QUANTIZED_MATMUL_WASM_BASE64, 'base64');
  expect(Buffer.from(await compileKernel(KERNELS.quantizedMatMul)).equals(committed)).toBe(true);
}, 60_000);

/** `rows` x `columns` of random ggml blocks: random quants, scales of a plausible size (as float16). */
function randomBlocks(format: QuantizedFormat, rows: number, columns: number, seed: number): Uint8Array {
  const random = seededUniform(seed);
  const { ggmlBlockBytes } = QUANTIZED_FORMATS[format];
  const blocks = (rows * columns) / 32;
  const bytes = new Uint8Array(blocks * ggmlBlockBytes);
  const view = new DataView(bytes.buffer);
  for (let b = 0; b < blocks; b++) {
    const at = b * ggmlBlockBytes;
    view.setUint16(at, floatToHalf(0.001 + 0.05 * random()), true);
    if (format === 'Q4_1') view.setUint16(at + 2, floatToHalf(-0.4 * random()), true);
    for (let j = format === 'Q4_1' ? 4 : 2; j < ggmlBlockBytes; j++) bytes[at + j] = Math.floor(256 * random());
  }
  return bytes;
}

/** What dequantizeGgufTensor makes of those blocks: W [rows, columns] as float32. */
function dequantized(format: QuantizedFormat, bytes: Uint8Array, rows: number, columns: number): Float32Array {
  const { ggmlType } = QUANTIZED_FORMATS[format];
  return dequantizeGgufTensor(bytes, {
    name: 'w', type: ggmlType, dims: [columns, rows], shape: [rows, columns], elementCount: rows * columns, begin: 0, byteLength: bytes.byteLength,
  });
}

describe('kernel products equal dequantize-then-matmul', () => {
  const cases: Array<[QuantizedFormat, number, number, number]> = [];
  for (const format of ['Q4_1', 'Q8_0'] as const) {
    for (const [rows, columns] of [[1, 32], [7, 96], [13, 160], [5, 576]]) {
      for (const tokens of [1, 3, 8, 11, 17]) cases.push([format, rows, columns, tokens]);
    }
  }
  it.each(cases)('%s [%i, %i] x %i tokens', async (format, rows, columns, tokens) => {
    const bytes = randomBlocks(format, rows, columns, rows * 1000 + columns + tokens);
    const weights = dequantized(format, bytes, rows, columns);
    const random = seededUniform(tokens);
    const x = Float32Array.from({ length: tokens * columns }, () => 2 * random() - 1);
    const store = new QuantizedWeightStore();
    const matrix = store.addGgmlBlocks(format, bytes, 0, rows, columns);
    const ours = matrix.matMul(x, tokens);
    // The float32 path: tfjs-wasm's matMul of the dequantized weights.
    const theirs = tf.tidy(() => tf.matMul(tf.tensor2d(x, [tokens, columns]), tf.tensor2d(weights, [rows, columns]), false, true).dataSync());
    // Both differ from the exact sum only by float32 rounding: bounded by columns * 2^-24 * sum |x w|.
    for (let t = 0; t < tokens; t++) {
      for (let r = 0; r < rows; r++) {
        let exact = 0;
        let magnitude = 0;
        for (let c = 0; c < columns; c++) {
          exact += x[t * columns + c] * weights[r * columns + c];
          magnitude += Math.abs(x[t * columns + c] * weights[r * columns + c]);
        }
        const bound = columns * 2 ** -24 * magnitude;
        expect(Math.abs(ours[t * rows + r] - exact)).toBeLessThanOrEqual(bound);
        expect(Math.abs(ours[t * rows + r] - theirs[t * rows + r])).toBeLessThanOrEqual(2 * bound);
      }
    }
    // Widening alone is exact: rows and the transposed matrix hold dequantizeGgufTensor's very values.
    expect(maxAbsDiff(matrix.rowsAsFloat32([rows - 1, 0]), [...weights.subarray((rows - 1) * columns), ...weights.subarray(0, columns)])).toBe(0);
    const transposed = matrix.transposedAsFloat32();
    expect(transposed.every((value, i) => value === weights[(i % rows) * columns + Math.floor(i / rows)])).toBe(true);
    store.dispose();
  });

  it('keeps matrices apart: a row order, several matrices in one store, products after more were added', () => {
    const store = new QuantizedWeightStore();
    const first = randomBlocks('Q4_1', 4, 64, 1);
    const second = randomBlocks('Q8_0', 3, 32, 2);
    const reversed = store.addGgmlBlocks('Q4_1', first, 0, 4, 64, [3, 2, 1, 0]);
    const plain = store.addGgmlBlocks('Q8_0', second, 0, 3, 32);
    const weights = dequantized('Q4_1', first, 4, 64);
    expect(Array.from(reversed.rowsAsFloat32([0]))).toEqual(Array.from(weights.subarray(3 * 64)));
    expect(Array.from(plain.rowsAsFloat32([2]))).toEqual(Array.from(dequantized('Q8_0', second, 3, 32).subarray(64)));
    expect(store.byteLength).toBeGreaterThanOrEqual(reversed.byteLength + plain.byteLength);
  });

  it('rejects what it cannot multiply with QuantizedStoreError codes', () => {
    const store = new QuantizedWeightStore();
    const bytes = randomBlocks('Q8_0', 2, 32, 3);
    const code = (action: () => unknown) => {
      try {
        action();
      } catch (error) {
        expect(error).toBeInstanceOf(QuantizedStoreError);
        return (error as QuantizedStoreError).code;
      }
      return 'no error';
    };
    expect(code(() => store.addGgmlBlocks('Q8_0', bytes, 0, 2, 48))).toBe('BAD_SHAPE'); // not whole blocks
    expect(code(() => store.addGgmlBlocks('Q8_0', bytes, 0, 3, 32))).toBe('BAD_SHAPE'); // more than the bytes hold
    expect(code(() => store.addGgmlBlocks('Q8_0', bytes, 0, 2, 32, [0, 2]))).toBe('BAD_SHAPE'); // row outside
    const matrix = store.addGgmlBlocks('Q8_0', bytes, 0, 2, 32);
    expect(code(() => matrix.matMul(new Float32Array(33), 1))).toBe('BAD_SHAPE');
    expect(code(() => matrix.rowsAsFloat32([2]))).toBe('BAD_SHAPE');
    store.dispose();
    expect(code(() => matrix.matMul(new Float32Array(32), 1))).toBe('DISPOSED');
  });
});

describe('LowRankTerms: unmerged LoRA terms added by the kernel', () => {
  const random = seededUniform(9);
  const values = (n: number) => Float32Array.from({ length: n }, () => 2 * random() - 1);
  // SmolLM2's q_proj at rank 16 (vector paths only), and a rank and width that leave scalar tails.
  it.each([[576, 16, 576, 1], [576, 16, 192, 9], [40, 3, 10, 2], [8, 5, 7, 1]])(
    '[%i -> rank %i -> %i], %i tokens: y + (x down) up as tfjs computes it, y changed in place', (columns, rank, rows, tokens) => {
      const down = values(columns * rank);
      const up = values(rank * rows);
      const x = values(tokens * columns);
      const y = values(tokens * rows);
      const expected = tf.tidy(() => tf.add(tf.tensor2d(y, [tokens, rows]), tf.matMul(tf.matMul(tf.tensor2d(x, [tokens, columns]), tf.tensor2d(down, [columns, rank])), tf.tensor2d(up, [rank, rows]))).dataSync());
      const terms = new LowRankTerms([{ key: 'other', down: values(4), up: values(4), columns: 2, rank: 2, rows: 2 }, { key: '3.q_proj', down, up, columns, rank, rows }]);
      expect(terms.has('3.q_proj') && !terms.has('3.k_proj')).toBe(true);
      terms.addTo('3.q_proj', x, y, tokens);
      expect(maxAbsDiff(y, expected)).toBeLessThan(1e-5);
    });

  it('rejects what does not fit with QuantizedStoreError', () => {
    expect(() => new LowRankTerms([{ key: 'a', down: new Float32Array(5), up: new Float32Array(4), columns: 2, rank: 2, rows: 2 }])).toThrow(QuantizedStoreError);
    const terms = new LowRankTerms([{ key: 'a', down: new Float32Array(4), up: new Float32Array(6), columns: 2, rank: 2, rows: 3 }]);
    expect(() => terms.addTo('b', new Float32Array(2), new Float32Array(3), 1)).toThrow(/No LoRA term b/);
    expect(() => terms.addTo('a', new Float32Array(3), new Float32Array(3), 1)).toThrow(QuantizedStoreError);
    expect(() => terms.addTo('a', new Float32Array(4), new Float32Array(3), 2)).toThrow(QuantizedStoreError);
  });
});

describe('a GGUF model with its weights kept quantized', () => {
  // Hidden and intermediate sizes in whole blocks of 32, as every real model has them.
  const common = { vocab_size: 260, hidden_size: 64, intermediate_size: 96, rms_norm_eps: Math.fround(1e-5) };
  const CONFIGS = {
    'GQA untied': tinyConfig({ ...common, num_attention_heads: 4, num_key_value_heads: 2 }),
    'MHA tied': tinyConfig({ ...common, num_attention_heads: 2, num_key_value_heads: 2, tie_word_embeddings: true }),
  };
  /** Float32 noise through 2 layers: the same sums in another order. */
  const TOLERANCE = 1e-4;

  /** Logits as an array, the tensor freed. */
  const logitsOf = async (model: LlamaModel, ids: number[], options: ForwardOptions = {}) => {
    const logits = model.forward(ids, options);
    const values = await logits.data();
    logits.dispose();
    return values;
  };

  const quantizedMatrices = (model: LlamaModel) => [model.weights.lmHead, ...model.weights.layers.flatMap((layer) => Object.values(layer.linear).map((l) => l.kernel))]
    .filter((w) => w instanceof QuantizedMatrix).length;

  it.each(Object.entries(CONFIGS))('%s: the logits of the float32 path, with a KV cache, LoRA unmerged, and exported', async (_name, config) => {
    const tensorsBefore = tf.memory().numTensors;
    const { file, reference } = await tinyGguf(config, { quantized: true });
    const tensorsOfReference = tf.memory().numTensors;
    const { model } = await loadGgufModel(file, { keepQuantized: true });
    expect(quantizedMatrices(model)).toBe(1 + 7 * config.numLayers);
    // Only the norms (and the untied embedding) are tfjs tensors.
    expect(tf.memory().numTensors - tensorsOfReference).toBe(2 * config.numLayers + 1 + (config.tieWordEmbeddings ? 0 : 1));
    const ids = IDS.map((id) => id * 4);
    const expected = await logitsOf(reference, ids);
    expect(maxAbsDiff(await logitsOf(model, ids), expected)).toBeLessThan(TOLERANCE);

    // Prefill (the 8-token tile), then one token at a time (the one-token path), then 3 more.
    const cache = new KVCache(config.numLayers);
    const steps: number[] = [];
    for (const chunk of [ids.slice(0, 8), [ids[8]], [ids[9]], ids.slice(10)]) {
      const logits = model.forward(chunk, { cache });
      steps.push(...(await logits.data()));
      logits.dispose();
    }
    cache.dispose();
    expect(maxAbsDiff(steps, expected)).toBeLessThan(TOLERANCE);

    const adapter = randomLoraAdapter(config, { rank: 4, alpha: 8, seed: 5, std: 0.3 });
    const [ours, theirs] = [model, reference].map((m) => prepareLora(adapter, m.config));
    const adapted = await logitsOf(model, ids, { lora: ours });
    expect(maxAbsDiff(adapted, await logitsOf(reference, ids, { lora: theirs }))).toBeLessThan(TOLERANCE);
    expect(maxAbsDiff(adapted, expected)).toBeGreaterThan(1e-2);
    [ours, theirs].forEach(disposePreparedLora);
    expect(() => mergeLora(model, adapter)).toThrow(LoraError);

    // Exported weights are the dequantized values: loaded back as float32 they give the reference's logits exactly.
    const files: Record<string, Uint8Array> = {
      'config.json': new TextEncoder().encode(JSON.stringify(toHfConfig(config))),
      'model.safetensors': writeSafetensors(await model.toSafetensorsTensors('F32')),
    };
    const exported = (await loadHfModel(async (name) => files[name] ?? null)).model;
    expect(maxAbsDiff(await logitsOf(exported, ids), expected)).toBe(0);
    exported.dispose();
    // The copy for another thread is float32 too, with the same values.
    const copy = LlamaModel.fromPlain(model.toPlain());
    expect(maxAbsDiff(await logitsOf(copy, ids), expected)).toBe(0);
    copy.dispose();
    model.dispose();
    reference.dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('stays float32 on request (keepQuantized: false) and for formats the kernel lacks', async () => {
    const { file, reference } = await tinyGguf(CONFIGS['MHA tied'], { quantized: true });
    const { model } = await loadGgufModel(file, { keepQuantized: false });
    expect(quantizedMatrices(model)).toBe(0);
    expect(maxAbsDiff(await logitsOf(model, IDS), await logitsOf(reference, IDS))).toBe(0);
    model.dispose();
    reference.dispose();
    const { file: f32File, reference: f32Reference } = await tinyGguf(CONFIGS['MHA tied']);
    const { model: f32Model } = await loadGgufModel(f32File, { keepQuantized: true });
    expect(quantizedMatrices(f32Model)).toBe(0);
    f32Model.dispose();
    f32Reference.dispose();
  });

  it('100 mutations of a quantized model file each load or throw GgufError, never anything else', async () => {
    const { file: base, reference } = await tinyGguf(CONFIGS['GQA untied'], { quantized: true });
    reference.dispose();
    const headerEnd = parseGguf(base).dataStart;
    const random = seededUniform(7);
    const at = (limit: number) => Math.floor(random() * limit);
    const outcomes = { loaded: 0, rejected: 0 };
    for (let i = 0; i < 100; i++) {
      const file = base.slice();
      if (i % 2) for (let n = at(4) + 1; n > 0; n--) file[at(headerEnd)] ^= 1 << at(8); // header bits
      else for (let n = 8; n > 0; n--) file[headerEnd + at(file.length - headerEnd)] = at(256); // blocks and scales
      try {
        const { model } = await loadGgufModel(file, { keepQuantized: true });
        model.forward([1, 2]).dispose();
        model.dispose();
        outcomes.loaded++;
      } catch (error) {
        if (!(error instanceof GgufError)) throw new Error(`mutation ${i}: ${String((error as Error)?.stack ?? error)}`);
        outcomes.rejected++;
      }
    }
    expect(outcomes.loaded).toBeGreaterThan(40);
    expect(outcomes.rejected).toBeGreaterThan(5);
  }, 120_000);
});

const SMOLLM2 = 'public/models/smollm2-135m-instruct/model.gguf';

describe.skipIf(!existsSync(SMOLLM2))('SmolLM2-135M (Q4_1, Q8_0 embedding) with the kernel', () => {
  it('gives the float32 path\'s logits within the cross-backend tolerance, holding ~100 MB of weights instead of 538', async () => {
    const bytes = new Uint8Array(readFileSync(SMOLLM2));
    const ids = Array.from({ length: 24 }, (_, i) => (i * 7919 + 11) % 49152);
    const before = tf.memory().numBytes;
    const { model } = await loadGgufModel(bytes, { keepQuantized: true });
    const tensorBytes = tf.memory().numBytes - before;
    const storeBytes = model.weights.quantizedStore!.byteLength;
    const ours = await model.forward(ids).data();
    model.dispose();
    const { model: float32 } = await loadGgufModel(bytes, { keepQuantized: false });
    const theirs = await float32.forward(ids).data();
    float32.dispose();
    // e2e/runtime.spec.ts's tolerance between backends: the same model computed with other float32 sums.
    expect(maxAbsDiff(ours, theirs)).toBeLessThan(1e-3);
    expect(storeBytes).toBeLessThan(110 * 2 ** 20);
    expect(tensorBytes).toBeLessThan(2 ** 20); // the norms
  }, 120_000);
});
