// Network faults while the app's model files download (config.json, tokenizer.json, safetensors, GGUF, the hypernetwork): a server that answers 500, drops the connection mid-transfer, sends a cut file, stalls, or stops. Each failure names the file and its cause with a typed code, leaves nothing on the device, and the next load succeeds.
import * as tf from '@tensorflow/tfjs';
import { mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/model/backend.ts';
import { toHfConfig } from '../src/model/config.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { writeSafetensors } from '../src/model/safetensors.ts';
import { trainBpeTokenizer } from '../src/tokenizer/trainBpe.ts';
import { fetchModelFile } from '../src/model/fetchModelFile.ts';
import { loadGgufModel } from '../src/model/gguf.ts';
import { filesFromUrl, loadHfModel, loadTokenizer } from '../src/model/loadHfModel.ts';
import { loadHypernetwork } from '../src/code2lora/loadHypernetwork.ts';
import { MODEL_CACHE } from '../src/offline/cachePolicy.ts';
import { ModelFileCache } from '../src/offline/modelFileCache.ts';
import { modelIndex } from '../server/modelIndex.ts';
import { MemoryCacheStorage } from './support/memoryCacheStorage.ts';
import { tinyGguf } from './fixtures/tinyGguf.ts';
import { tinyConfig } from './fixtures/tinyModel.ts';
import { startModelFileServer, type ModelFileFault, type ModelFileServer } from './support/modelFileServer.ts';

const STALL_MS = 300;
const SMOLLM2_SHAPE = tinyConfig({
  num_hidden_layers: 30, hidden_size: 576, intermediate_size: 1536, num_attention_heads: 9, num_key_value_heads: 3, head_dim: 64, vocab_size: 49152,
});

let root: string;
let server: ModelFileServer;
const sizes = new Map<string, number>();
/** The tiny directory's vocabulary (what its tokenizer trained to). */
let tinyVocabulary = 0;

/** What the app's worker does for a Hugging Face directory (loadModelChoice.ts loadHfDirectory): tokenizer, then weights. */
async function loadDirectory(url: string) {
  const files = filesFromUrl(url, { stallMs: STALL_MS });
  const tokenizer = await loadTokenizer(files);
  const { model } = await loadHfModel(files);
  return { model, tokenizer };
}

/** The failure of `load` (it must fail), and what the device holds after it: no tensor may be left behind. */
async function failure(load: () => Promise<unknown>): Promise<{ error: Error & { code?: string; file?: string }; leakedTensors: number }> {
  const before = tf.memory().numTensors;
  const error = await load().then(() => null, (e: unknown) => e as Error);
  expect(error, 'the load should fail').not.toBeNull();
  return { error: error!, leakedTensors: tf.memory().numTensors - before };
}

beforeAll(async () => {
  await initBackend();
  root = await mkdtemp(join(tmpdir(), 'model-faults-'));
  await symlink(resolve('public/models/c2l-base'), join(root, 'c2l-base'));
  await symlink(resolve('public/models/smollm2-135m-instruct/code2lora-static'), join(root, 'code2lora-static'));
  // A tiny Hugging Face directory for the fault matrix (fast to load again after every fault); c2l-base for the stopped server.
  // The app's layout for the model file cache: models/<model>/ and models/index.json with each file's digest.
  await mkdir(join(root, 'models', 'tiny-hf'), { recursive: true });
  await symlink(join(root, 'models', 'tiny-hf'), join(root, 'tiny-hf'));
  const tokenizer = trainBpeTokenizer({ texts: ['def add(a, b):\n    return a + b\n'.repeat(50)], vocabSize: 300, specialTokens: ['<|endoftext|>'] });
  const config = tinyConfig({ vocab_size: tokenizer.vocabSize, hidden_size: 64, intermediate_size: 128 });
  const random = LlamaModel.random(config, { seed: 2, std: 0.2 });
  await writeFile(join(root, 'tiny-hf', 'config.json'), JSON.stringify(toHfConfig(config), null, 2));
  await writeFile(join(root, 'tiny-hf', 'model.safetensors'), writeSafetensors(await random.toSafetensorsTensors('F32')));
  await writeFile(join(root, 'tiny-hf', 'tokenizer.json'), JSON.stringify(tokenizer.toJSON()));
  random.dispose();
  tinyVocabulary = tokenizer.vocabSize;
  await writeFile(join(root, 'models', 'index.json'), JSON.stringify(await modelIndex(join(root, 'models'))));
  await mkdir(join(root, 'tiny-gguf'));
  const { file, reference } = await tinyGguf(tinyConfig({ vocab_size: 260, rms_norm_eps: Math.fround(1e-5), num_attention_heads: 4, num_key_value_heads: 2 }));
  reference.dispose();
  await writeFile(join(root, 'tiny-gguf', 'model.gguf'), file);
  for (const path of ['tiny-hf/config.json', 'tiny-hf/tokenizer.json', 'tiny-hf/model.safetensors', 'tiny-gguf/model.gguf',
    'code2lora-static/hypernetwork_config.json', 'code2lora-static/hypernetwork.safetensors']) {
    sizes.set(path.split('/').pop()!, (await stat(join(root, path))).size);
  }
  server = await startModelFileServer({ root });
});

afterAll(async () => {
  await server?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

/** The faults every file is tried with, sized to its length: half of it arrives before the cut, the short end or the stall. */
function faultsFor(file: string): Array<[string, ModelFileFault]> {
  const half = Math.floor(sizes.get(file)! / 2);
  return [['HTTP 500', { status: 500 }], ['a connection dropped mid-transfer', { cutAfter: half }],
    ['a cut file sent whole', { shortAfter: half }], ['a stall', { stallAfter: half }]];
}

/** What each fault must say: the typed code and the words of the message (besides the file's name). */
const EXPECTED: Record<string, (file: string) => { code: string; message: RegExp }> = {
  'HTTP 500': () => ({ code: 'HTTP_ERROR', message: /HTTP 500/ }),
  'a connection dropped mid-transfer': (file) => ({ code: 'NETWORK', message: new RegExp(`^Downloading ${file} was cut off after [\\d.]+ (B|KiB|MiB) of [\\d.]+ (B|KiB|MiB): .*Load again to retry\\.$`) }),
  'a stall': (file) => ({ code: 'STALLED', message: new RegExp(`^Downloading ${file} stalled: no data for 0.3 s after [\\d.]+ (B|KiB|MiB) of [\\d.]+ (B|KiB|MiB) \\(http://127.0.0.1:\\d+/.*${file.replace('.', '\\.')}\\)\\. Load again to retry\\.$`) }),
};

describe('a Hugging Face directory', () => {
  /** A cut file sent whole passes the transfer and fails as the format it no longer is, naming the file. */
  const CUT_FILE: Record<string, { code: string; name: string }> = {
    'config.json': { code: 'NOT_JSON', name: 'ModelConfigError' },
    'tokenizer.json': { code: 'INVALID_JSON', name: 'TokenizerLoadError' },
    'model.safetensors': { code: 'TRUNCATED', name: 'ModelLoadError' },
  };
  const cases = ['config.json', 'tokenizer.json', 'model.safetensors'].flatMap((file) => ['HTTP 500', 'a connection dropped mid-transfer', 'a cut file sent whole', 'a stall'].map((fault) => [file, fault] as const));

  it.each(cases)('%s with %s: a typed error naming the file, nothing left on the device, and the next load works', async (file, fault) => {
    const url = `${server.url}/tiny-hf/`;
    server.faults.set(file, Object.fromEntries(faultsFor(file))[fault]);
    let result: Awaited<ReturnType<typeof failure>>;
    try {
      result = await failure(() => loadDirectory(url));
    } finally {
      server.faults.clear();
    }
    const { error, leakedTensors } = result;
    expect(error.message).toContain(file);
    if (fault === 'a cut file sent whole') expect(error).toMatchObject(CUT_FILE[file]);
    else {
      const expected = EXPECTED[fault](file);
      expect(error).toMatchObject({ name: 'ModelLoadError', code: expected.code, file });
      expect(error.message).toMatch(expected.message);
    }
    expect(leakedTensors).toBe(0);

    const { model, tokenizer } = await loadDirectory(url);
    expect(model.config.hiddenSize).toBe(64);
    expect(tokenizer.vocabSize).toBe(tinyVocabulary);
    model.dispose();
  });

  it('c2l-base, its server stopped mid-transfer, then down, then back: network errors naming the file, then a clean load', async () => {
    const own = await startModelFileServer({ root });
    const url = `${own.url}/c2l-base/`;
    own.faults.set('model.safetensors', { stallAfter: 4 * 1024 * 1024 });
    // Stopped while model.safetensors is on its way (its first 4 MiB sent).
    const stopping = (async () => {
      while (!own.requests.includes('c2l-base/model.safetensors')) await new Promise((wait) => setTimeout(wait, 20));
      await new Promise((wait) => setTimeout(wait, 200));
      await own.stop();
    })();
    const stopped = await failure(() => loadHfModel(filesFromUrl(url, { stallMs: 10_000 })));
    await stopping;
    expect(stopped.error).toMatchObject({ name: 'ModelLoadError', code: 'NETWORK', file: 'model.safetensors' });
    expect(stopped.error.message).toMatch(/^Downloading model\.safetensors was cut off after [\d.]+ MiB of 18\.0 MiB: /);
    expect(stopped.leakedTensors).toBe(0);

    const down = await failure(() => loadDirectory(url));
    expect(down.error).toMatchObject({ name: 'ModelLoadError', code: 'NETWORK', file: 'tokenizer.json' });
    expect(down.error.message).toMatch(/^Downloading tokenizer\.json failed: no answer from the server \(fetch failed: ECONNREFUSED\) at http/);

    const back = await startModelFileServer({ root, port: own.port });
    try {
      const { model } = await loadDirectory(url);
      expect(model.config.numLayers).toBe(4);
      model.dispose();
    } finally {
      await back.stop();
    }
  });

  it('a download is cancelled by its signal, with the signal\'s reason', async () => {
    server.faults.set('model.safetensors', { stallAfter: 1024 });
    const controller = new AbortController();
    try {
      const response = await fetchModelFile(`${server.url}/c2l-base/model.safetensors`, { signal: controller.signal, stallMs: 10_000 });
      setTimeout(() => controller.abort(new DOMException('Cancelled', 'AbortError')), 100);
      const started = performance.now();
      await expect(response.arrayBuffer()).rejects.toMatchObject({ name: 'AbortError' });
      expect(performance.now() - started).toBeLessThan(2_000);
    } finally {
      server.faults.clear();
    }
  });
});

describe('a GGUF file', () => {
  const CUT_FILE = { name: 'GgufError', code: 'TRUNCATED' };

  it.each(['HTTP 500', 'a connection dropped mid-transfer', 'a cut file sent whole', 'a stall'])('model.gguf with %s: a typed error naming the file, and the next load works', async (fault) => {
    const files = filesFromUrl(`${server.url}/tiny-gguf/`, { stallMs: STALL_MS });
    server.faults.set('model.gguf', Object.fromEntries(faultsFor('model.gguf'))[fault]);
    let result: Awaited<ReturnType<typeof failure>>;
    try {
      result = await failure(() => loadGgufModel(files));
    } finally {
      server.faults.clear();
    }
    const { error, leakedTensors } = result;
    expect(error.message).toContain('model.gguf');
    if (fault === 'HTTP 500') expect(error).toMatchObject({ name: 'GgufError', code: 'HTTP_ERROR' });
    else if (fault === 'a cut file sent whole') expect(error).toMatchObject(CUT_FILE);
    else {
      const expected = EXPECTED[fault]('model.gguf');
      expect(error).toMatchObject({ name: 'ModelLoadError', code: expected.code, file: 'model.gguf' });
      expect(error.message).toMatch(expected.message);
    }
    expect(leakedTensors).toBe(0);
    const { model, tokenizer } = await loadGgufModel(files);
    expect(tokenizer.vocabSize).toBe(260);
    model.dispose();
  });
});

describe('a hypernetwork (SmolLM2\'s code2lora-static)', () => {
  const CUT_FILE: Record<string, { code: string; name: string }> = {
    'hypernetwork_config.json': { name: 'HypernetworkLoadError', code: 'BAD_CONFIG' },
    'hypernetwork.safetensors': { name: 'HypernetworkLoadError', code: 'BAD_WEIGHTS' },
  };
  const cases = ['hypernetwork_config.json', 'hypernetwork.safetensors'].flatMap((file) => ['HTTP 500', 'a connection dropped mid-transfer', 'a cut file sent whole', 'a stall'].map((fault) => [file, fault] as const));
  const load = () => loadHypernetwork(filesFromUrl(`${server.url}/code2lora-static/`, { stallMs: STALL_MS }), {
    baseModel: SMOLLM2_SHAPE, baseModelName: 'smollm2-135m-instruct', encoderHiddenSize: 384,
  });

  it.each(cases)('%s with %s: a typed error naming the file, and the next load works', async (file, fault) => {
    server.faults.set(file, Object.fromEntries(faultsFor(file))[fault]);
    let result: Awaited<ReturnType<typeof failure>>;
    try {
      result = await failure(load);
    } finally {
      server.faults.clear();
    }
    const { error, leakedTensors } = result;
    expect(error.message).toContain(file);
    if (fault === 'HTTP 500') expect(error).toMatchObject({ name: 'HypernetworkLoadError', code: 'HTTP_ERROR', file });
    else if (fault === 'a cut file sent whole') expect(error).toMatchObject({ ...CUT_FILE[file], file });
    else {
      const expected = EXPECTED[fault](file);
      expect(error).toMatchObject({ name: 'ModelLoadError', code: expected.code, file });
      expect(error.message).toMatch(expected.message);
    }
    expect(leakedTensors).toBe(0);
    const hypernetwork = await load();
    expect(hypernetwork).toMatchObject({ kind: 'code2lora-static', trained: true });
    for (const tensor of hypernetwork.weights.values()) tensor.dispose();
  });
});

describe('through the app\'s model file cache (Cache Storage)', () => {
  const WEIGHTS = 'models/tiny-hf/model.safetensors';

  it.each(['a connection dropped mid-transfer', 'a cut file sent whole', 'a stall', 'HTTP 500'])('model.safetensors with %s is not kept; the next load fetches it whole, keeps it, and loads from the cache with the server failing', async (fault) => {
    const storage = new MemoryCacheStorage();
    // As the worker makes it (loadModelChoice.ts): downloads through fetchModelFile, with the stall limit.
    const cache = new ModelFileCache({
      appBase: new URL(`${server.url}/`), caches: storage.asCacheStorage(),
      fetch: (input, init) => fetchModelFile(String(input), { init, stallMs: STALL_MS }),
    });
    const load = async () => {
      const files = (name: string) => cache.fetchFile(`${server.url}/models/tiny-hf/${name}`);
      const tokenizer = await loadTokenizer(files);
      return { ...(await loadHfModel(files)), tokenizer };
    };
    const kept = async () => {
      await cache.settled();
      return (storage.snapshot()[MODEL_CACHE] ?? []).map((url) => url.slice(server.url.length + 1)).sort();
    };

    server.faults.set('model.safetensors', Object.fromEntries(faultsFor('model.safetensors'))[fault]);
    try {
      const { error } = await failure(load);
      expect(error.message).toContain('model.safetensors');
    } finally {
      server.faults.clear();
    }
    expect(await kept()).not.toContain(WEIGHTS);

    (await load()).model.dispose();
    expect(await kept()).toEqual(['models/index.json', 'models/tiny-hf/config.json', WEIGHTS, 'models/tiny-hf/tokenizer.json']);
    // Whole and current: the next load reads every file from the cache, whatever the server does.
    for (const file of ['config.json', 'tokenizer.json', 'model.safetensors']) server.faults.set(file, { status: 500 });
    try {
      const { model, tokenizer } = await load();
      expect([model.config.hiddenSize, tokenizer.vocabSize]).toEqual([64, tinyVocabulary]);
      model.dispose();
    } finally {
      server.faults.clear();
    }
  });
});
