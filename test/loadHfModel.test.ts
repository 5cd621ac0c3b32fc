// Loading Hugging Face model directories: single file, sharded, bf16, from disk, bytes and HTTP; clear errors for broken ones.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/model/backend.ts';
import { ModelConfigError, toHfConfig, type ModelConfig } from '../src/model/config.ts';
import { LlamaModel, ModelWeightsError } from '../src/model/llama.ts';
import {
  filesFromDirectory, filesFromUrl, loadHfModel, ModelLoadError, type LoadProgress, type ModelFileSource,
} from '../src/model/loadHfModel.ts';
import { writeSafetensors, type TensorToWrite } from '../src/model/safetensors.ts';
import { maxAbsDiff, tinyConfig } from './fixtures/tinyModel.ts';

const IDS = [3, 8, 13, 21, 34, 55];
const config = tinyConfig({ attention_bias: true });
let directory: string;
let reference: LlamaModel;
let referenceLogits: Float32Array;
let tensors: Record<string, TensorToWrite>;

/** Writes a model directory the way transformers' save_pretrained lays it out. */
async function writeModelDirectory(
  name: string,
  { modelConfig = config, weights = tensors, dtype, shards = 1 }:
    { modelConfig?: ModelConfig | object; weights?: Record<string, TensorToWrite>; dtype?: 'BF16' | 'F16'; shards?: number } = {},
): Promise<string> {
  const dir = join(directory, name);
  await import('node:fs/promises').then((fs) => fs.mkdir(dir, { recursive: true }));
  const hfConfig = 'architecture' in modelConfig ? toHfConfig(modelConfig as ModelConfig) : modelConfig;
  await writeFile(join(dir, 'config.json'), JSON.stringify(hfConfig, null, 2));
  const converted = Object.fromEntries(Object.entries(weights).map(([key, t]) => [key, dtype ? { ...t, dtype } : t]));
  if (shards === 1) {
    await writeFile(join(dir, 'model.safetensors'), writeSafetensors(converted, { format: 'pt' }));
    return dir;
  }
  const names = Object.keys(converted).sort();
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  for (let shard = 0; shard < shards; shard++) {
    const file = `model-0000${shard + 1}-of-0000${shards}.safetensors`;
    const part = names.filter((_, i) => i % shards === shard);
    const subset = Object.fromEntries(part.map((key) => [key, converted[key]]));
    for (const key of part) weightMap[key] = file;
    const bytes = writeSafetensors(subset, { format: 'pt' });
    totalSize += bytes.length;
    await writeFile(join(dir, file), bytes);
  }
  await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }));
  return dir;
}

async function logitsOf(model: LlamaModel): Promise<Float32Array> {
  const out = model.forward(IDS);
  const values = (await out.data()) as Float32Array;
  out.dispose();
  return values;
}

beforeAll(async () => {
  await initBackend();
  directory = await mkdtemp(join(tmpdir(), 'c2l-load-'));
  reference = LlamaModel.random(config, { seed: 42, std: 0.2 });
  referenceLogits = await logitsOf(reference);
  tensors = await reference.toSafetensorsTensors();
});

afterAll(async () => {
  reference.dispose();
  await rm(directory, { recursive: true, force: true });
});

describe('loadHfModel', () => {
  it('loads a single-file f32 checkpoint from disk, streaming, with progress', async () => {
    const dir = await writeModelDirectory('single');
    const progress: LoadProgress[] = [];
    const { model, config: loadedConfig } = await loadHfModel(filesFromDirectory(dir), { onProgress: (p) => progress.push(p) });
    expect(loadedConfig).toEqual(config);
    expect(maxAbsDiff(await logitsOf(model), referenceLogits)).toBe(0);
    const weights = progress.filter((p) => p.stage === 'weights');
    expect(weights.length).toBe(Object.keys(tensors).length);
    expect(weights.every((p, i) => i === 0 || p.loaded > weights[i - 1].loaded)).toBe(true);
    const done = progress.at(-1)!;
    expect(done.stage).toBe('done');
    expect(done.loaded).toBe(done.total);
    expect(weights[0].total).toBe(done.total);
    model.dispose();
  });

  it('loads from in-memory bytes and over HTTP', async () => {
    const dir = await writeModelDirectory('served');
    const fromBytes: ModelFileSource = async (name) => readFile(join(dir, name)).then((b) => new Uint8Array(b), () => null);
    const a = await loadHfModel(fromBytes);
    expect(maxAbsDiff(await logitsOf(a.model), referenceLogits)).toBe(0);
    a.model.dispose();

    const server: Server = createServer(async (request, response) => {
      try {
        const body = await readFile(join(dir, decodeURIComponent(request.url!.slice('/m/'.length))));
        response.writeHead(200, { 'content-length': body.length }).end(body);
      } catch {
        response.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const b = await loadHfModel(filesFromUrl(`http://127.0.0.1:${port}/m`));
      expect(maxAbsDiff(await logitsOf(b.model), referenceLogits)).toBe(0);
      b.model.dispose();
      await expect(loadHfModel(filesFromUrl(`http://127.0.0.1:${port}/missing/`))).rejects.toMatchObject({ code: 'FILE_NOT_FOUND', file: 'config.json' });
    } finally {
      server.close();
    }
  });

  it('loads a sharded checkpoint through model.safetensors.index.json', async () => {
    const dir = await writeModelDirectory('sharded', { shards: 3 });
    const { model } = await loadHfModel(filesFromDirectory(dir));
    expect(maxAbsDiff(await logitsOf(model), referenceLogits)).toBe(0);
    model.dispose();
  });

  it('loads bf16 and f16 checkpoints, widened to float32', async () => {
    for (const dtype of ['BF16', 'F16'] as const) {
      const dir = await writeModelDirectory(`half-${dtype}`, { dtype, modelConfig: { ...toHfConfig(config), torch_dtype: dtype === 'BF16' ? 'bfloat16' : 'float16' } });
      const { model, config: loaded } = await loadHfModel(filesFromDirectory(dir));
      expect(loaded.torchDtype).toBe(dtype === 'BF16' ? 'bfloat16' : 'float16');
      const difference = maxAbsDiff(await logitsOf(model), referenceLogits);
      expect(difference).toBeGreaterThan(0); // rounded weights
      expect(difference).toBeLessThan(dtype === 'BF16' ? 0.1 : 0.01);
      model.dispose();
    }
  });

  describe('broken directories fail clearly and free what they loaded', () => {
    const cases: Array<[string, () => Promise<string>, (error: unknown) => void]> = [
      ['no config.json', async () => {
        const dir = await writeModelDirectory('no-config');
        await rm(join(dir, 'config.json'));
        return dir;
      }, (e) => expect(e).toMatchObject({ name: 'ModelLoadError', code: 'FILE_NOT_FOUND', file: 'config.json' })],
      ['no weights', async () => {
        const dir = await writeModelDirectory('no-weights');
        await rm(join(dir, 'model.safetensors'));
        return dir;
      }, (e) => expect(e).toMatchObject({ code: 'FILE_NOT_FOUND', file: 'model.safetensors' })],
      ['a config that is not JSON', async () => {
        const dir = await writeModelDirectory('bad-json');
        await writeFile(join(dir, 'config.json'), '{"hidden_size": ');
        return dir;
      }, (e) => expect(e).toMatchObject({ name: 'ModelConfigError', code: 'NOT_JSON' })],
      ['an unsupported architecture', () => writeModelDirectory('gpt2', { modelConfig: { ...toHfConfig(config), architectures: ['GPT2LMHeadModel'] } }),
        (e) => expect(e).toMatchObject({ code: 'UNSUPPORTED_ARCHITECTURE' })],
      ['rope scaling', () => writeModelDirectory('rope', { modelConfig: { ...toHfConfig(config), rope_scaling: { rope_type: 'llama3', factor: 8 } } }),
        (e) => expect(e).toMatchObject({ code: 'UNSUPPORTED_FEATURE', field: 'rope_scaling' })],
      ['heads that do not divide', () => writeModelDirectory('heads', { modelConfig: { ...toHfConfig(config), num_key_value_heads: 3 } }),
        (e) => expect(e).toBeInstanceOf(ModelConfigError)],
      ['a missing tensor', () => writeModelDirectory('MISSING_TENSOR', {
        weights: Object.fromEntries(Object.entries(tensors).filter(([key]) => key !== 'model.layers.1.mlp.up_proj.weight')),
      }), (e) => expect(e).toMatchObject({ name: 'ModelWeightsError', code: 'MISSING_TENSOR', tensor: 'model.layers.1.mlp.up_proj.weight' })],
      ['a tensor of the wrong shape', () => writeModelDirectory('wrong-shape', {
        modelConfig: { ...toHfConfig(config), intermediate_size: 40 },
      }), (e) => expect(e).toMatchObject({ code: 'SHAPE_MISMATCH' })],
      ['an unexpected tensor', () => writeModelDirectory('extra', {
        weights: { ...tensors, 'model.layers.0.self_attn.extra.weight': { dtype: 'F32', shape: [1], data: new Float32Array(1) } },
      }), (e) => expect(e).toBeInstanceOf(ModelWeightsError)],
      ['a truncated safetensors file', async () => {
        const dir = await writeModelDirectory('TRUNCATED');
        const bytes = await readFile(join(dir, 'model.safetensors'));
        await writeFile(join(dir, 'model.safetensors'), bytes.subarray(0, bytes.length - 100));
        return dir;
      }, (e) => expect(e).toMatchObject({ name: 'ModelLoadError', code: 'TRUNCATED', file: 'model.safetensors' })],
      ['a corrupt safetensors header', async () => {
        const dir = await writeModelDirectory('corrupt');
        const bytes = await readFile(join(dir, 'model.safetensors'));
        bytes[8] = 0x5d; // the opening "{" of the JSON header
        await writeFile(join(dir, 'model.safetensors'), bytes);
        return dir;
      }, (e) => expect(e).toMatchObject({ name: 'SafetensorsError', code: 'HEADER_NOT_JSON' })],
      ['a shard index pointing outside the directory', async () => {
        const dir = await writeModelDirectory('BAD_INDEX', { shards: 2 });
        await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'model.norm.weight': '../secret.safetensors' } }));
        return dir;
      }, (e) => expect(e).toMatchObject({ name: 'ModelLoadError', code: 'BAD_INDEX' })],
    ];
    it.each(cases)('%s', async (_what, make, check) => {
      const dir = await make();
      const before = tf.memory().numTensors;
      const error = await loadHfModel(filesFromDirectory(dir)).then(() => null, (e: unknown) => e);
      expect(error).not.toBeNull();
      check(error);
      expect(tf.memory().numTensors).toBe(before);
    });

    it('HTTP errors other than 404 are reported as such', async () => {
      const source: ModelFileSource = async () => new Response('nope', { status: 503, statusText: 'Service Unavailable' });
      await expect(loadHfModel(source)).rejects.toBeInstanceOf(ModelLoadError);
      await expect(loadHfModel(source)).rejects.toMatchObject({ code: 'HTTP_ERROR' });
    });

    it('can be cancelled', async () => {
      const dir = await writeModelDirectory('cancelled');
      const controller = new AbortController();
      const before = tf.memory().numTensors;
      const run = loadHfModel(filesFromDirectory(dir), {
        signal: controller.signal,
        onProgress: (p) => { if (p.stage === 'weights' && p.loaded > 2000) controller.abort(); },
      });
      await expect(run).rejects.toMatchObject({ name: 'AbortError' });
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});
