// Repo encoder, blob-id cache, hypernetwork and its loader: values pinned against hand computations, refusals by code.
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/model/backend.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { LlamaModel, linearShape } from '../src/model/llama.ts';
import type { ModelFileSource } from '../src/model/loadHfModel.ts';
import { LORA_MODULES, type LoraAdapter } from '../src/model/lora.ts';
import { writeSafetensors } from '../src/model/safetensors.ts';
import { loadPythonParser, type PythonParser } from '../src/parse/pythonParser.ts';
import { trainBpeTokenizer } from '../src/tokenizer/trainBpe.ts';
import { ENCODER_SETTINGS } from '../src/code2lora/encoderSettings.ts';
import { MemoryFileEmbeddingCache } from '../src/code2lora/fileEmbeddingCache.ts';
import { gitBlobId } from '../src/code2lora/gitBlobId.ts';
import {
  fromStateDict, generateAdapter, heldShape, hypernetworkWeightShapes, type HypernetworkConfig, type HypernetworkWeights,
} from '../src/code2lora/hypernetwork.ts';
import { loadHypernetwork } from '../src/code2lora/loadHypernetwork.ts';
import { adapterDeltaNorms, adapterParameterCount, makeRepoAdapter, untrainedHypernetwork } from '../src/code2lora/makeAdapter.ts';
import {
  embedDiff, embedFileChunks, encodeRepository, encoderAt, encoderCacheId, encoderLayerLabel, encoderModesLabel, fileChunkIds, type EmbedFileChunks,
} from '../src/code2lora/repoEncoder.ts';
import { tinyConfig } from './fixtures/tinyModel.ts';

const tokenizer = trainBpeTokenizer({ texts: [], vocabSize: 257, specialTokens: ['<|endoftext|>'] });
const config = tinyConfig({ vocab_size: tokenizer.vocabSize });
let parser: PythonParser;
let model: LlamaModel;

/** A module long enough (in byte-level tokens) for two encoder chunks, and two short ones. */
const LONG = Array.from({ length: 6 }, (_, i) => `def helper_${i}(value):\n    \"\"\"Scale by ${i}.\"\"\"\n    return value * ${i} + OFFSET\n`).join('\n\n');
const SNAPSHOT = [
  { path: 'pkg/long.py', content: `OFFSET = 7\n\n\n${LONG}` },
  { path: 'pkg/small.py', content: 'RATE = 3\n\n\ndef scaled(x):\n    return RATE * x\n' },
  { path: 'pkg/shapes.py', content: 'class Square:\n    def area(self):\n        return self.side ** 2\n' },
];

beforeAll(async () => {
  await initBackend();
  parser = await loadPythonParser();
  model = LlamaModel.random(config, { seed: 3, std: 0.2 });
});

/** training/embed.py's definition, computed without the encoder's padding: mean over chunks of the mean hidden state. */
async function expectedFileEmbedding(content: string): Promise<Float32Array> {
  const chunks = fileChunkIds(content, parser, tokenizer, ENCODER_SETTINGS);
  const vector = tf.tidy(() => tf.mean(tf.stack(chunks.map((ids) => tf.mean(model.hidden(ids), 0))), 0));
  const data = (await vector.data()) as Float32Array;
  vector.dispose();
  return data;
}

describe('gitBlobId', () => {
  it('is git hash-object of the UTF-8 content', () => {
    expect(gitBlobId('hello\n')).toBe('ce013625030ba8dba906f756967f9e9ca394464a');
    expect(gitBlobId('')).toBe('e69de29bb2d1d6434b8b29ae775ad8c2e48c5391');
    for (const text of ['naïve ✓ 😀\n', 'x'.repeat(55), 'y'.repeat(56), 'z'.repeat(64), 'é'.repeat(1000)]) {
      const bytes = Buffer.from(text, 'utf8');
      expect(gitBlobId(text)).toBe(createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex'));
    }
  });
});

describe('encodeRepository', () => {
  it('embeds each file as the mean over its chunks of the mean hidden state (padding changes nothing)', async () => {
    const { files, tokens, cached } = await encodeRepository({ files: SNAPSHOT, encoder: { model, tokenizer }, parser });
    expect(files.map((f) => f.path)).toEqual(SNAPSHOT.map((f) => f.path));
    expect(fileChunkIds(SNAPSHOT[0].content, parser, tokenizer, ENCODER_SETTINGS)).toHaveLength(2);
    for (const [i, file] of files.entries()) {
      expect(file.blobId).toBe(gitBlobId(SNAPSHOT[i].content));
      const expected = await expectedFileEmbedding(SNAPSHOT[i].content);
      expect(file.embedding).toHaveLength(config.hiddenSize);
      for (let d = 0; d < config.hiddenSize; d++) expect(file.embedding[d]).toBeCloseTo(expected[d], 5);
    }
    const chunkTokens = SNAPSHOT.flatMap((f) => fileChunkIds(f.content, parser, tokenizer, ENCODER_SETTINGS)).reduce((n, ids) => n + ids.length, 0);
    expect(tokens).toBe(chunkTokens);
    expect(cached).toBe(0);
  });

  it('never encodes test files, non-Python files or files without code', async () => {
    const { files } = await encodeRepository({
      files: [
        { path: 'tests/test_small.py', content: 'def test_scaled():\n    assert scaled(2) == 6\n' },
        { path: 'pkg/small_test.py', content: 'assert True\n' },
        { path: 'conftest.py', content: 'import pytest\n' },
        { path: 'README.md', content: '# Title\n' },
        { path: 'pkg/empty.py', content: ' \n\n' },
        SNAPSHOT[1],
      ],
      encoder: { model, tokenizer }, parser,
    });
    expect(files.map((f) => f.path)).toEqual(['pkg/small.py']);
  });

  it('re-encodes nothing from a warm cache, and only a changed file after a commit', async () => {
    const cache = new MemoryFileEmbeddingCache();
    const encoder = { model, tokenizer };
    const first = await encodeRepository({ files: SNAPSHOT, encoder, parser, cache });
    expect(cache.size).toBe(3);
    const hidden = vi.spyOn(model, 'hidden');
    try {
      const again = await encodeRepository({ files: SNAPSHOT, encoder, parser, cache });
      expect(hidden).not.toHaveBeenCalled();
      expect(again).toMatchObject({ tokens: 0, cached: 3 });
      expect(again.files.map((f) => f.embedding)).toEqual(first.files.map((f) => f.embedding));

      const changed = { path: 'pkg/small.py', content: SNAPSHOT[1].content.replace('RATE = 3', 'RATE = 4') };
      const next = await encodeRepository({ files: [SNAPSHOT[0], changed, SNAPSHOT[2]], encoder, parser, cache });
      expect(hidden).toHaveBeenCalledTimes(fileChunkIds(changed.content, parser, tokenizer, ENCODER_SETTINGS).length);
      expect(next.cached).toBe(2);
      expect(next.files[1].blobId).toBe(gitBlobId(changed.content));
      expect(Array.from(next.files[1].embedding)).not.toEqual(Array.from(first.files[1].embedding));
      const expected = await expectedFileEmbedding(changed.content);
      for (let d = 0; d < config.hiddenSize; d++) expect(next.files[1].embedding[d]).toBeCloseTo(expected[d], 5);
      expect(cache.size).toBe(4);
    } finally {
      hidden.mockRestore();
    }
  });

  it('reads the hidden state after an earlier layer when a hypernetwork asks, in a cache namespace of its own', async () => {
    const cut = model.firstLayers(1);
    const encoder = { model, tokenizer };
    const { files } = await encodeRepository({ files: SNAPSHOT, encoder, layer: 1, parser });
    const last = await encodeRepository({ files: SNAPSHOT, encoder, parser });
    for (const [i, file] of files.entries()) {
      const chunks = fileChunkIds(SNAPSHOT[i].content, parser, tokenizer, ENCODER_SETTINGS);
      const expected = tf.tidy(() => tf.mean(tf.stack(chunks.map((ids) => tf.mean(cut.hidden(ids), 0))), 0).dataSync());
      for (let d = 0; d < config.hiddenSize; d++) expect(file.embedding[d]).toBeCloseTo(expected[d], 5);
      expect(Array.from(file.embedding)).not.toEqual(Array.from(last.files[i].embedding));
    }
    // The last layer named is the encoder as it is, and shares the cache of "no layer"; an earlier one never does.
    const named = await encodeRepository({ files: SNAPSHOT, encoder, layer: config.numLayers, parser });
    expect(named.files.map((f) => Array.from(f.embedding))).toEqual(last.files.map((f) => Array.from(f.embedding)));
    expect(encoderAt(model, config.numLayers)).toBe(model);
    expect(encoderCacheId('c2l-base|x', undefined)).toBe('c2l-base|x');
    expect(encoderCacheId('c2l-base|x', 1)).not.toBe(encoderCacheId('c2l-base|x', undefined));
    // Labels: the layer only when it is not the last; both modes' layers only when they differ.
    const depth = config.numLayers;
    expect(encoderLayerLabel('c2l-base', model, undefined)).toBe('c2l-base');
    expect(encoderLayerLabel('c2l-base', model, depth)).toBe('c2l-base');
    expect(encoderLayerLabel('c2l-base', model, 1)).toBe(`c2l-base (layer 1 of ${depth})`);
    expect(encoderModesLabel('c2l-base', model, depth, undefined)).toBe('c2l-base');
    expect(encoderModesLabel('c2l-base', model, 1, 1)).toBe(`c2l-base (layer 1 of ${depth})`);
    expect(encoderModesLabel('c2l-base', model, 1, undefined)).toBe(`c2l-base (Static: layer 1 of ${depth}; Evo: layer ${depth} of ${depth})`);
    const diff = (await embedDiff([[5, 6, 7]], encoder, 1))!.embedding;
    const expectedDiff = tf.tidy(() => tf.mean(cut.hidden([5, 6, 7]), 0).dataSync());
    for (let d = 0; d < config.hiddenSize; d++) expect(diff[d]).toBeCloseTo(expectedDiff[d], 5); // [mean ; max] of one chunk
  });

  it('reports progress per file and refuses a snapshot with nothing to encode', async () => {
    const progress: Array<[number, number]> = [];
    await encodeRepository({ files: SNAPSHOT, encoder: { model, tokenizer }, parser, onProgress: (p) => progress.push([p.done, p.total!]) });
    expect(progress).toEqual([[1, 3], [2, 3], [3, 3]]);
    await expect(encodeRepository({ files: [{ path: 'empty.py', content: '  \n' }], encoder: { model, tokenizer }, parser }))
      .rejects.toMatchObject({ name: 'RepoEncodeError', code: 'NO_ENCODABLE_FILES' });
  });

  it('stops when cancelled', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(encodeRepository({ files: SNAPSHOT, encoder: { model, tokenizer }, parser, signal: controller.signal }))
      .rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('encodeRepository with replicas (the encoder on other threads)', () => {
  /** More files than replicas, of different lengths, so that they finish out of order. */
  const MANY = Array.from({ length: 9 }, (_, i) => ({
    path: `pkg/m${i}.py`,
    content: `VALUE_${i} = ${i}\n\n\n${LONG.slice(0, 80 + 60 * ((i * 5) % 9))}`,
  }));

  /**
   * Replicas as the app's Web Workers run them: each on its own copy of the model (LlamaModel.fromPlain of toPlain),
   * answering after a delay that differs per call. Counts the calls in flight.
   */
  function replicas(count: number, { failOn }: { failOn?: number } = {}) {
    const copies = Array.from({ length: count }, () => LlamaModel.fromPlain(model.toPlain()));
    const state = { inFlight: 0, most: 0, calls: 0 };
    const embedders: EmbedFileChunks[] = copies.map((copy) => async (chunks) => {
      const call = state.calls++;
      state.inFlight++;
      state.most = Math.max(state.most, state.inFlight);
      try {
        await new Promise((resolve) => setTimeout(resolve, 5 + ((call * 7) % 4) * 10));
        if (call === failOn) throw new Error(`replica failed on call ${call}`);
        return await embedFileChunks(chunks, copy);
      } finally {
        state.inFlight--;
      }
    });
    return { embedders, state, dispose: () => copies.forEach((copy) => copy.dispose()) };
  }

  it('gives the same embeddings, in the snapshot order, as the encoder on this thread, with at most one file per replica at a time', async () => {
    const here = await encodeRepository({ files: MANY, encoder: { model, tokenizer }, parser });
    const pool = replicas(3);
    try {
      const progress: number[] = [];
      const spread = await encodeRepository({ files: MANY, encoder: { model, tokenizer, replicas: pool.embedders }, parser, onProgress: (p) => progress.push(p.done) });
      expect(spread.files.map((f) => f.path)).toEqual(here.files.map((f) => f.path));
      expect(spread.files.map((f) => Array.from(f.embedding))).toEqual(here.files.map((f) => Array.from(f.embedding)));
      expect(spread.tokens).toBe(here.tokens);
      expect(pool.state.most).toBe(3);
      expect(progress).toEqual(MANY.map((_, i) => i + 1));
    } finally {
      pool.dispose();
    }
  });

  it('on a cancel or a replica\'s error, waits for the files in flight and runs nothing after', async () => {
    const pool = replicas(2, { failOn: 3 });
    try {
      await expect(encodeRepository({ files: MANY, encoder: { model, tokenizer, replicas: pool.embedders }, parser }))
        .rejects.toThrow('replica failed on call 3');
      expect(pool.state.inFlight).toBe(0);
      const callsThen = pool.state.calls;
      expect(callsThen).toBeLessThan(MANY.length);

      const controller = new AbortController();
      const cancelled = encodeRepository({
        files: MANY, encoder: { model, tokenizer, replicas: pool.embedders.slice(0, 1) }, parser, signal: controller.signal,
        onProgress: (p) => p.done === 2 && controller.abort(),
      });
      await expect(cancelled).rejects.toMatchObject({ name: 'AbortError' });
      expect(pool.state.inFlight).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(pool.state.calls - callsThen).toBeLessThanOrEqual(3);
    } finally {
      pool.dispose();
    }
  });

  it('a model copied to plain data and back computes the same hidden states', () => {
    const copy = LlamaModel.fromPlain(structuredClone(model.toPlain()));
    try {
      const ids = [3, 17, 42, 99, 5, 250];
      const hidden = (from: LlamaModel) => tf.tidy(() => Array.from(from.hidden(ids).dataSync()));
      expect(hidden(copy)).toEqual(hidden(model));
    } finally {
      copy.dispose();
    }
  });
});

// A hypernetwork small enough to compute by hand: E = 3, H = 2, r = 1, adapting q_proj [2, 2] and down_proj [2, 4].
const handBase = tinyConfig({ hidden_size: 2, intermediate_size: 4, num_attention_heads: 1, num_key_value_heads: 1, head_dim: 2 });
const handConfig: HypernetworkConfig = {
  embeddingSize: 3, shapes: { q_proj: [2, 2], down_proj: [2, 4] }, hiddenSize: 2, rank: 1, alpha: 2,
  meanWeight: 0.6, maxWeight: 1.4, initLogScale: -3.5,
};
const handValues: Record<string, number[]> = {
  'file_score.weight': [0.5, -1, 2], 'file_score.bias': [0.1],
  'trunk.0.weight': [0.1, -0.2, 0.3, 0.4, -0.5, 0.6, -0.3, 0.2, 0.1, -0.1, 0.2, 0.05], 'trunk.0.bias': [0.05, -0.1],
  'trunk.2.weight': [1, -0.5, 0.25, 0.75], 'trunk.2.bias': [0, 0.1],
  'heads.q_proj.A.weight': [1, 2, -1, 0.5], 'heads.q_proj.A.bias': [0.1, 0],
  'heads.q_proj.B.weight': [0.3, -0.7, 2, 1], 'heads.q_proj.B.bias': [0, 0.2],
  'heads.down_proj.A.weight': [1, 0, 0, 1, 1, 1, -1, 1], 'heads.down_proj.A.bias': [0, 0, 0, 0.5],
  'heads.down_proj.B.weight': [0.5, 0.5, -2, 1], 'heads.down_proj.B.bias': [0.1, 0.1],
  // exp(0) = 1 clamps to 0.3; exp(-20) clamps to 1e-5; the others are inside the clamp.
  'log_scale.q_proj.A': [0], 'log_scale.q_proj.B': [-2], 'log_scale.down_proj.A': [-20], 'log_scale.down_proj.B': [-3.5],
};
const handFiles = [[1, 0, -1], [0.5, 2, 0], [-1, 1, 3]];

// Format version 2's options on the same network: standardisation statistics (a mean far from the files', uneven
// scales) and an adapter per layer, each layer's values different.
const handOptionsConfig: HypernetworkConfig = { ...handConfig, standardizeRepo: true, layerBase: true, numLayers: handBase.numLayers };
const layerValues = (count: number, offset: number) => Array.from({ length: handBase.numLayers * count }, (_, i) => Math.sin(offset + 1.7 * i) * 0.2);
const handOptionValues: Record<string, number[]> = {
  'repo_norm.mean': [0.5, 1, -0.5, 2, 3, 1.5], 'repo_norm.std': [0.5, 2, 1, 0.25, 4, 1],
  'layer_base.q_proj.A': layerValues(2, 0), 'layer_base.q_proj.B': layerValues(2, 1),
  'layer_base.down_proj.A': layerValues(4, 2), 'layer_base.down_proj.B': layerValues(2, 3),
};

function handWeights(options = false): HypernetworkWeights {
  const values = options ? { ...handValues, ...handOptionValues } : handValues;
  return fromStateDict(new Map([...hypernetworkWeightShapes(options ? handOptionsConfig : handConfig)].map(([name, shape]) => [name, tf.tensor(values[name], shape)])));
}

/** erf by its Taylor series (exact to double precision for |x| < 3). */
function erf(x: number): number {
  let sum = 0;
  let term = x;
  for (let n = 0; n < 60; n++) {
    sum += term / (2 * n + 1);
    term *= (-x * x) / (n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

/** training/hypernet.py's forward for handConfig, in float64 with plain loops (with `standardize`, the repo vector
 * standardised by handOptionValues' statistics first); the heads' output, before any layer base. */
function handAdapter(standardize = false): Record<string, number[]> {
  const linear = (name: string, x: number[]) => {
    const w = handValues[`${name}.weight`];
    const b = handValues[`${name}.bias`];
    return b.map((bias, row) => bias + x.reduce((sum, value, col) => sum + w[row * x.length + col] * value, 0));
  };
  const gelu = (x: number[]) => x.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2)));
  const scores = handFiles.map((file) => linear('file_score', file)[0]);
  const top = Math.max(...scores);
  const weights = scores.map((s) => Math.exp(s - top));
  const total = weights.reduce((a, b) => a + b, 0);
  const mean = [0, 1, 2].map((d) => handFiles.reduce((sum, file, f) => sum + (weights[f] / total) * file[d], 0));
  const max = [0, 1, 2].map((d) => Math.max(...handFiles.map((file) => file[d])));
  const pooled = [...mean.map((v) => 0.6 * v), ...max.map((v) => 1.4 * v)];
  const repo = standardize ? pooled.map((v, d) => (v - handOptionValues['repo_norm.mean'][d]) / handOptionValues['repo_norm.std'][d]) : pooled;
  const h = gelu(linear('trunk.2', gelu(linear('trunk.0', repo))));
  const norm = Math.hypot(...h);
  const state = h.map((v) => (v / norm) * Math.SQRT2);
  const out: Record<string, number[]> = {};
  for (const module of ['q_proj', 'down_proj']) {
    for (const part of ['A', 'B']) {
      const bound = Math.min(Math.max(Math.exp(handValues[`log_scale.${module}.${part}`][0]), 1e-5), 0.3);
      out[`${module}.${part}`] = linear(`heads.${module}.${part}`, state).map((v) => Math.tanh(v) * bound);
    }
  }
  return out;
}

function expectClose(actual: ArrayLike<number>, expected: number[], relative = 1e-5): void {
  expect(actual).toHaveLength(expected.length);
  const scale = Math.max(...expected.map(Math.abs));
  for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i] - expected[i])).toBeLessThanOrEqual(relative * scale);
}

describe('generateAdapter', () => {
  it('equals training/hypernet.py computed by hand for a tiny network', async () => {
    const expected = handAdapter();
    const adapter = await generateAdapter({ config: handConfig, weights: handWeights() }, handBase, handFiles.map((f) => Float32Array.from(f)));
    expect(adapter).toMatchObject({ rank: 1, alpha: 2, targetModules: ['q_proj', 'down_proj'] });
    expect(adapter.layers).toHaveLength(handBase.numLayers);
    for (const module of ['q_proj', 'down_proj'] as const) {
      expect(adapter.layers[1][module]).toBe(adapter.layers[0][module]);
      expectClose(adapter.layers[0][module]!.A as Float32Array, expected[`${module}.A`]);
      expectClose(adapter.layers[0][module]!.B as Float32Array, expected[`${module}.B`]);
    }
    // The clamps: |A of q_proj| reaches at most 0.3, |A of down_proj| at most 1e-5.
    expect(Math.max(...expected['q_proj.A'].map(Math.abs))).toBeGreaterThan(0.2);
    expect(Math.max(...expected['down_proj.A'].map(Math.abs))).toBeLessThanOrEqual(1e-5);
  });

  it('with format version 2\'s options: standardises the repo vector and adds each layer\'s own base', async () => {
    const heads = handAdapter(true);
    const plain = handAdapter();
    expect(heads['q_proj.B']).not.toEqual(plain['q_proj.B']);
    const adapter = await generateAdapter({ config: handOptionsConfig, weights: handWeights(true) }, handBase, handFiles.map((f) => Float32Array.from(f)));
    expect(adapter.layers).toHaveLength(handBase.numLayers);
    for (let layer = 0; layer < handBase.numLayers; layer++) {
      for (const module of ['q_proj', 'down_proj'] as const) {
        for (const part of ['A', 'B'] as const) {
          const head = heads[`${module}.${part}`];
          const base = handOptionValues[`layer_base.${module}.${part}`].slice(layer * head.length, (layer + 1) * head.length);
          expectClose(adapter.layers[layer][module]![part] as Float32Array, base.map((v, i) => v + head[i]));
        }
      }
    }
    expect(adapter.layers[1].q_proj!.A).not.toEqual(adapter.layers[0].q_proj!.A);
    const fewerLayers = { ...handBase, numLayers: handBase.numLayers - 1 };
    await expect(generateAdapter({ config: { ...handOptionsConfig }, weights: handWeights(true) }, fewerLayers, [new Float32Array(3)]))
      .rejects.toMatchObject({ code: 'BASE_MODEL_MISMATCH' });
  });

  it('refuses no files, embeddings of another size and another base model', async () => {
    const hypernetwork = { config: handConfig, weights: handWeights() };
    await expect(generateAdapter(hypernetwork, handBase, [])).rejects.toMatchObject({ code: 'NO_FILES' });
    await expect(generateAdapter(hypernetwork, handBase, [new Float32Array(4)])).rejects.toMatchObject({ code: 'EMBEDDING_SIZE_MISMATCH' });
    await expect(generateAdapter(hypernetwork, config, [new Float32Array(3)])).rejects.toMatchObject({ code: 'BASE_MODEL_MISMATCH' });
  });
});

describe('adapterDeltaNorms', () => {
  // Two layers with their own A, B (as format version 2 makes them): q_proj [3, 2] in, [4, 3] out at rank 2.
  const adapterFrom = (values: (i: number) => number): LoraAdapter => ({
    rank: 2, alpha: 6, targetModules: ['q_proj'],
    layers: [0, 1].map((layer) => ({ q_proj: {
      A: Float32Array.from({ length: 6 }, (_, i) => values(100 * layer + i)),
      B: Float32Array.from({ length: 8 }, (_, i) => values(100 * layer + 50 + i)) } })),
  });
  /** ‖scale·(B·A − B'·A')‖_F over both layers, by forming the products in float64. */
  const byHand = (adapter: LoraAdapter, previous?: LoraAdapter) => {
    let squares = 0;
    adapter.layers.forEach((_, l) => {
      const product = (x: LoraAdapter | undefined, o: number, i: number) => {
        if (!x) return 0;
        const { A, B } = x.layers[l].q_proj! as { A: Float32Array; B: Float32Array };
        return B[o * 2] * A[i] + B[o * 2 + 1] * A[3 + i];
      };
      for (let o = 0; o < 4; o++) for (let i = 0; i < 3; i++) squares += (3 * (product(adapter, o, i) - product(previous, o, i))) ** 2;
    });
    return Math.sqrt(squares);
  };

  it('sums every layer, and measures a small change as precisely as a large one', async () => {
    const adapter = adapterFrom((i) => Math.sin(i + 1));
    const moved = adapterFrom((i) => Math.sin(i + 1) + 1e-4 * Math.cos(3 * i));
    expect((await adapterDeltaNorms(adapter)).q_proj).toBeCloseTo(byHand(adapter), 5);
    const drift = (await adapterDeltaNorms(moved, adapter)).q_proj;
    expect(Math.abs(drift - byHand(moved, adapter)) / byHand(moved, adapter)).toBeLessThan(1e-3);
    expect((await adapterDeltaNorms(adapter, adapterFrom((i) => Math.sin(i + 1)))).q_proj).toBe(0);
  });
});

describe('untrainedHypernetwork + makeRepoAdapter', () => {
  it('adapts all seven modules in the trained architecture, and composes encoder and hypernetwork', async () => {
    const hypernetwork = untrainedHypernetwork(config);
    expect(hypernetwork.trained).toBe(false);
    for (const [name, shape] of hypernetworkWeightShapes(hypernetwork.config)) expect(hypernetwork.weights.get(name)!.shape).toEqual(heldShape(name, shape));
    const made = await makeRepoAdapter({ files: SNAPSHOT, encoder: { model, tokenizer }, parser, hypernetwork, baseModel: config });
    const direct = await generateAdapter(hypernetwork, config, made.encoding.files.map((f) => f.embedding));
    expect(made.adapter.targetModules).toEqual([...LORA_MODULES]);
    for (const module of LORA_MODULES) {
      const [out, inSize] = linearShape(config, module);
      const { A, B } = made.adapter.layers[0][module]!;
      expect(A).toEqual(direct.layers[0][module]!.A);
      expect((A as Float32Array).length).toBe(8 * inSize);
      expect((B as Float32Array).length).toBe(out * 8);
      // ‖(alpha/r) B A‖_F by hand
      let sum = 0;
      for (let o = 0; o < out; o++) {
        for (let i = 0; i < inSize; i++) {
          let value = 0;
          for (let k = 0; k < 8; k++) value += (B as Float32Array)[o * 8 + k] * (A as Float32Array)[k * inSize + i];
          sum += (2 * value) ** 2;
        }
      }
      // every layer shares this A, B: the norm over all layers is sqrt(layers) times one layer's
      expect(made.deltaNorms[module]).toBeCloseTo(Math.sqrt(sum * config.numLayers), 5);
    }
    expect(made.parameters).toBe(adapterParameterCount(made.adapter));
    expect(made.parameters).toBe(config.numLayers * LORA_MODULES.reduce((n, m) => n + 8 * linearShape(config, m).reduce((a, b) => a + b), 0));
  });

  it('encodes at the layer the hypernetwork reads', async () => {
    const hypernetwork = { ...untrainedHypernetwork(config), encoderLayer: 1 };
    const made = await makeRepoAdapter({ files: SNAPSHOT, encoder: { model, tokenizer }, parser, hypernetwork, baseModel: config });
    const atLayer = await encodeRepository({ files: SNAPSHOT, encoder: { model, tokenizer }, layer: 1, parser });
    expect(made.encoding.files.map((f) => Array.from(f.embedding))).toEqual(atLayer.files.map((f) => Array.from(f.embedding)));
  });
});

describe('loadHypernetwork', () => {
  const base = (model: ModelConfig, name: string | null = 'tiny') => ({
    name, sha256: null, num_hidden_layers: model.numLayers, hidden_size: model.hiddenSize, intermediate_size: model.intermediateSize,
    num_key_value_heads: model.numKvHeads, head_dim: model.headDim, vocab_size: model.vocabSize,
  });
  const configJson = (overrides: Record<string, unknown> = {}) => ({
    format: 'code2lora-hypernetwork', format_version: 1, base_model: base(handBase),
    encoder: { model: 'c2l-base', chunk_tokens: 128, chunks_per_file: 2, include_tests: false, hidden_size: 3 },
    embedding_size: 3, shapes: handConfig.shapes, hidden_size: 2, rank: 1, alpha: 2, mean_weight: 0.6, max_weight: 1.4,
    init_log_scale: -3.5, training: { step: 1 }, ...overrides,
  });
  const weightsFile = (dtype: 'F32' | 'F16', drop?: string) => writeSafetensors(Object.fromEntries([...hypernetworkWeightShapes(handConfig)]
    .filter(([name]) => name !== drop)
    .map(([name, shape]) => [name, { dtype, shape, data: Float32Array.from(handValues[name]) }])));
  const source = (files: Record<string, unknown>): ModelFileSource => async (name) => {
    const file = files[name];
    if (file === undefined) return null;
    return file instanceof Uint8Array || file instanceof Response ? file : new TextEncoder().encode(JSON.stringify(file));
  };
  const load = (files: Record<string, unknown>, options: Partial<Parameters<typeof loadHypernetwork>[1]> = {}) =>
    loadHypernetwork(source(files), { baseModel: handBase, ...options });
  const good = () => ({ 'hypernetwork_config.json': configJson(), 'hypernetwork.safetensors': weightsFile('F32') });

  it('loads float32 and float16 weights that give the hand-computed adapter', async () => {
    const expected = handAdapter();
    for (const [dtype, tolerance] of [['F32', 1e-5], ['F16', 2e-3]] as const) {
      const hypernetwork = await load({ ...good(), 'hypernetwork.safetensors': weightsFile(dtype) }, { baseModelName: 'Tiny', encoderHiddenSize: 3 });
      expect(hypernetwork).toMatchObject({ config: handConfig, trained: true });
      const adapter = await generateAdapter(hypernetwork, handBase, handFiles.map((f) => Float32Array.from(f)));
      expectClose(adapter.layers[0].q_proj!.B as Float32Array, expected['q_proj.B'], tolerance);
      expectClose(adapter.layers[0].down_proj!.A as Float32Array, expected['down_proj.A'], tolerance);
    }
  });

  it('loads format version 2 (statistics in float32, the rest float16) and checks its options', async () => {
    const optionsWeights = (drop?: string) => writeSafetensors(Object.fromEntries([...hypernetworkWeightShapes(handOptionsConfig)]
      .filter(([name]) => name !== drop)
      .map(([name, shape]) => [name, { dtype: name.startsWith('repo_norm.') ? 'F32' : 'F16', shape, data: Float32Array.from({ ...handValues, ...handOptionValues }[name]) }])));
    const v2 = (overrides: Record<string, unknown> = {}) => configJson({
      format_version: 2, standardize_repo: true, layer_base: true, num_layers: handBase.numLayers, ...overrides });
    const hypernetwork = await load({ 'hypernetwork_config.json': v2(), 'hypernetwork.safetensors': optionsWeights() });
    expect(hypernetwork.config).toEqual(handOptionsConfig);
    expect(Array.from(hypernetwork.weights.get('repo_norm.mean')!.dataSync())).toEqual(handOptionValues['repo_norm.mean']);
    await expect(load({ 'hypernetwork_config.json': v2({ num_layers: 3 }), 'hypernetwork.safetensors': optionsWeights() }))
      .rejects.toMatchObject({ code: 'BAD_CONFIG' });
    await expect(load({ 'hypernetwork_config.json': v2({ layer_base: 'yes' }), 'hypernetwork.safetensors': optionsWeights() }))
      .rejects.toMatchObject({ code: 'BAD_CONFIG' });
    await expect(load({ 'hypernetwork_config.json': v2(), 'hypernetwork.safetensors': optionsWeights('layer_base.down_proj.B') }))
      .rejects.toMatchObject({ code: 'BAD_WEIGHTS' });
    // Weights with the options under a config without them: tensors the config does not describe.
    await expect(load({ 'hypernetwork_config.json': v2({ standardize_repo: false, layer_base: false }), 'hypernetwork.safetensors': optionsWeights() }))
      .rejects.toMatchObject({ code: 'BAD_WEIGHTS' });
  });

  it('refuses a hypernetwork trained for another base model', async () => {
    const other = tinyConfig({ hidden_size: 2, intermediate_size: 8, num_attention_heads: 1, num_key_value_heads: 1, head_dim: 2 });
    await expect(load(good(), { baseModel: other })).rejects.toMatchObject({ name: 'HypernetworkLoadError', code: 'BASE_MODEL_MISMATCH' });
    await expect(load(good(), { baseModel: { ...handBase, numLayers: 3 } })).rejects.toMatchObject({ code: 'BASE_MODEL_MISMATCH' });
    await expect(load(good(), { baseModel: { ...handBase, vocabSize: 62 } })).rejects.toMatchObject({ code: 'BASE_MODEL_MISMATCH' });
    await expect(load(good(), { baseModelName: 'smollm2-135m-instruct' })).rejects.toMatchObject({ code: 'BASE_MODEL_MISMATCH' });
  });

  it('refuses a hypernetwork trained on another encoder or other encoder settings', async () => {
    const encoder = configJson().encoder;
    for (const changed of [{ model: 'other' }, { chunk_tokens: 256 }, { chunks_per_file: 4 }, { include_tests: true }]) {
      await expect(load({ ...good(), 'hypernetwork_config.json': configJson({ encoder: { ...encoder, ...changed } }) }))
        .rejects.toMatchObject({ code: 'ENCODER_MISMATCH' });
    }
    await expect(load(good(), { encoderHiddenSize: 384 })).rejects.toMatchObject({ code: 'ENCODER_MISMATCH' });
  });

  it('reads the encoder layer a config names, refusing one the encoder lacks or a malformed one', async () => {
    const withLayer = (layer: unknown, options: Partial<Parameters<typeof loadHypernetwork>[1]> = {}) =>
      load({ ...good(), 'hypernetwork_config.json': configJson({ encoder: { ...configJson().encoder, layer } }) }, options);
    expect((await load(good(), { encoderLayers: 4 })).encoderLayer).toBeUndefined();
    expect((await withLayer(2, { encoderLayers: 4 })).encoderLayer).toBe(2);
    expect((await withLayer(2)).encoderLayer).toBe(2);
    expect((await withLayer(4, { encoderLayers: 4 })).encoderLayer).toBeUndefined(); // the last: the encoder as it is
    await expect(withLayer(5, { encoderLayers: 4 })).rejects.toMatchObject({ code: 'ENCODER_MISMATCH' });
    for (const bad of [0, -1, 1.5, '2', null]) await expect(withLayer(bad)).rejects.toMatchObject({ code: 'BAD_CONFIG' });
  });

  it('refuses bad configs, bad weights and missing files with their codes', async () => {
    const withConfig = (overrides: Record<string, unknown>) => load({ ...good(), 'hypernetwork_config.json': configJson(overrides) });
    await expect(withConfig({ format: 'peft' })).rejects.toMatchObject({ code: 'BAD_CONFIG' });
    await expect(withConfig({ format_version: 3 })).rejects.toMatchObject({ code: 'BAD_CONFIG' });
    await expect(withConfig({ format_version: 2 })).rejects.toMatchObject({ code: 'BAD_CONFIG' }); // without its two flags
    await expect(withConfig({ embedding_size: 4 })).rejects.toMatchObject({ code: 'BAD_CONFIG' });
    await expect(withConfig({ shapes: { lm_head: [2, 2] } })).rejects.toMatchObject({ code: 'BAD_CONFIG' });
    await expect(withConfig({ shapes: { q_proj: [2, 3] } })).rejects.toMatchObject({ code: 'BAD_CONFIG' });
    await expect(withConfig({ rank: 0 })).rejects.toMatchObject({ code: 'BAD_CONFIG' });
    await expect(load({ ...good(), 'hypernetwork_config.json': new TextEncoder().encode('{') })).rejects.toMatchObject({ code: 'BAD_CONFIG' });
    await expect(withConfig({ hidden_size: 3 })).rejects.toMatchObject({ code: 'BAD_WEIGHTS', file: 'hypernetwork.safetensors' });
    await expect(load({ ...good(), 'hypernetwork.safetensors': weightsFile('F32', 'log_scale.q_proj.B') })).rejects.toMatchObject({ code: 'BAD_WEIGHTS' });
    await expect(load({ ...good(), 'hypernetwork.safetensors': new Uint8Array(4) })).rejects.toMatchObject({ code: 'BAD_WEIGHTS' });
    await expect(load({ 'hypernetwork_config.json': configJson() })).rejects.toMatchObject({ code: 'FILE_NOT_FOUND', file: 'hypernetwork.safetensors' });
    await expect(load({ ...good(), 'hypernetwork_config.json': new Response('', { status: 404 }) })).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
    await expect(load({ ...good(), 'hypernetwork_config.json': new Response('', { status: 500 }) })).rejects.toMatchObject({ code: 'HTTP_ERROR' });
  });
});
