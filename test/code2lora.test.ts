// Repo encoder + hypernetwork: deterministic embeddings, padding invariance, bounded adapters in the model's shapes.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/model/backend.ts';
import { LlamaModel, linearShape } from '../src/model/llama.ts';
import { disposePreparedLora, LORA_MODULES, prepareLora } from '../src/model/lora.ts';
import { loadPythonParser, type PythonParser } from '../src/parse/pythonParser.ts';
import { generateRepo, snapshotAt } from '../src/synth/generateRepo.ts';
import { trainBpeTokenizer } from '../src/tokenizer/trainBpe.ts';
import { generateAdapter, HypernetworkError, initHypernetworkWeights, type HypernetworkConfig } from '../src/code2lora/hypernetwork.ts';
import { adapterParameterCount, makeRepoAdapter } from '../src/code2lora/makeAdapter.ts';
import { encodeRepository } from '../src/code2lora/repoEncoder.ts';
import { tinyConfig } from './fixtures/tinyModel.ts';

const tokenizer = trainBpeTokenizer({ texts: [], vocabSize: 257, specialTokens: ['<|endoftext|>'] });
const config = tinyConfig({ vocab_size: tokenizer.vocabSize });
let parser: PythonParser;
let model: LlamaModel;

function repoFiles(seed: number) {
  return Object.entries(snapshotAt(generateRepo({ seed, commits: 5 }), 4))
    .filter(([path]) => path.endsWith('.py'))
    .map(([path, content]) => ({ path, content }));
}

beforeAll(async () => {
  await initBackend();
  parser = await loadPythonParser();
  model = LlamaModel.random(config, { seed: 3, std: 0.2 });
});

describe('encodeRepository', () => {
  const budget = { chunkTokens: 96, chunksPerFile: 2, totalTokens: 2000 };

  it('gives [0.6·mean ; 1.4·max] of file vectors, deterministically, within the token budget', async () => {
    const files = repoFiles(1);
    const first = await encodeRepository({ files, model, tokenizer, parser, budget });
    const again = await encodeRepository({ files, model, tokenizer, parser, budget });
    expect(first.vector.length).toBe(2 * config.hiddenSize);
    expect(Array.from(again.vector)).toEqual(Array.from(first.vector));
    expect(first.tokens).toBeLessThanOrEqual(budget.totalTokens);
    expect(first.files).toBeGreaterThan(1);
    // max over files >= mean over files in every dimension, so 1.4·max/1.4 >= 0.6·mean/0.6.
    const d = config.hiddenSize;
    for (let i = 0; i < d; i++) expect(first.vector[d + i] / 1.4).toBeGreaterThanOrEqual(first.vector[i] / 0.6 - 1e-5);
  });

  it('is unchanged by the right-padding to shape buckets (causal attention)', async () => {
    const file = { path: 'a.py', content: 'def alpha(x):\n    return x + 1\n' };
    const ids = tokenizer.encode(file.content);
    expect(ids.length % 64).not.toBe(0);
    const unpadded = tf.tidy(() => tf.mean(model.hidden(ids), 0));
    const encoded = await encodeRepository({ files: [file], model, tokenizer, parser, budget });
    const expected = await unpadded.data();
    unpadded.dispose();
    for (let i = 0; i < config.hiddenSize; i++) expect(encoded.vector[i]).toBeCloseTo(0.6 * expected[i], 5);
  });

  it('differs between repositories', async () => {
    const a = await encodeRepository({ files: repoFiles(1), model, tokenizer, parser, budget });
    const b = await encodeRepository({ files: repoFiles(2), model, tokenizer, parser, budget });
    expect(Array.from(a.vector)).not.toEqual(Array.from(b.vector));
  });

  it('refuses a snapshot with nothing to encode', async () => {
    await expect(encodeRepository({ files: [{ path: 'empty.py', content: '  \n' }], model, tokenizer, parser, budget })).rejects.toMatchObject({ code: 'NoEncodableFiles' });
  });

  it('stops when cancelled', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(encodeRepository({ files: repoFiles(1), model, tokenizer, parser, budget, signal: controller.signal })).rejects.toThrow(/Cancelled/);
  });
});

describe('hypernetwork', () => {
  const hyper: HypernetworkConfig = { embeddingSize: 2 * config.hiddenSize, hiddenSize: 32, rank: 4, alpha: 8, targetModules: [...LORA_MODULES] };

  it('emits one bounded A [r, in] and B [out, r] per module type, shared by all layers', async () => {
    const weights = initHypernetworkWeights(hyper, config, 7);
    const embedding = new Float32Array(hyper.embeddingSize).map((_, i) => Math.sin(i));
    const adapter = await generateAdapter(hyper, weights, config, embedding);
    expect(adapter.layers).toHaveLength(config.numLayers);
    for (const module of LORA_MODULES) {
      const [out, inSize] = linearShape(config, module);
      const { A, B } = adapter.layers[0][module]!;
      expect((A as Float32Array).length).toBe(hyper.rank * inSize);
      expect((B as Float32Array).length).toBe(out * hyper.rank);
      expect(adapter.layers[config.numLayers - 1][module]).toBe(adapter.layers[0][module]);
      // tanh(·) · clamp(exp(-3.5)) at initialisation
      const bound = Math.exp(-3.5) + 1e-7;
      expect(Math.max(...Array.from(A as Float32Array, Math.abs))).toBeLessThanOrEqual(bound);
      expect(Math.max(...Array.from(B as Float32Array, Math.abs))).toBeGreaterThan(0);
    }
    expect(adapterParameterCount(adapter)).toBe(config.numLayers * LORA_MODULES.reduce((n, m) => {
      const [out, inSize] = linearShape(config, m);
      return n + hyper.rank * (inSize + out);
    }, 0));
  });

  it('rejects an embedding of the wrong size', async () => {
    const weights = initHypernetworkWeights(hyper, config, 7);
    await expect(generateAdapter(hyper, weights, config, new Float32Array(3))).rejects.toBeInstanceOf(HypernetworkError);
  });

  it('makes an adapter that moves the logits away from the base model', async () => {
    const weights = initHypernetworkWeights(hyper, config, 7);
    const { adapter, deltaNorms } = await makeRepoAdapter({
      files: repoFiles(1), model, tokenizer, parser, budget: { chunkTokens: 64, chunksPerFile: 1, totalTokens: 512 },
      hypernetwork: { config: hyper, weights, trained: false },
    });
    expect(Object.keys(deltaNorms).sort()).toEqual([...LORA_MODULES].sort());
    for (const norm of Object.values(deltaNorms)) expect(norm).toBeGreaterThan(0);
    const prompt = tokenizer.encode('def test_x():\n    assert ');
    const before = tf.tidy(() => model.forward(prompt, { logits: 'last' }));
    const prepared = prepareLora(adapter, config);
    const after = tf.tidy(() => model.forward(prompt, { logits: 'last', lora: prepared }));
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(before, after))));
    expect((await diff.data())[0]).toBeGreaterThan(1e-6);
    [before, after, diff].forEach((t) => t.dispose());
    disposePreparedLora(prepared);
  });
});
