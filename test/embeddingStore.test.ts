// The app's persistent file-embedding cache: keyed by encoder identity + blob id, memory in front, a failing store never stops encoding.
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/model/backend.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { trainBpeTokenizer } from '../src/tokenizer/trainBpe.ts';
import { encodeRepository } from '../src/code2lora/repoEncoder.ts';
import { loadPythonParser, type PythonParser } from '../src/parse/pythonParser.ts';
import { encoderIdentity, PersistentFileEmbeddingCache, type KeyValueStore } from '../src/app/workers/embeddingStore.ts';
import { tinyConfig } from './fixtures/tinyModel.ts';

const tokenizer = trainBpeTokenizer({ texts: [], vocabSize: 257, specialTokens: ['<|endoftext|>'] });
const config = tinyConfig({ vocab_size: tokenizer.vocabSize });
let parser: PythonParser;

beforeAll(async () => {
  await initBackend();
  parser = await loadPythonParser();
});

/** A Map standing in for IndexedDB, counting calls. */
function mapStore(): KeyValueStore & { map: Map<string, unknown>; gets: number } {
  const map = new Map<string, unknown>();
  const store = {
    map, gets: 0,
    async get(key: string) {
      store.gets++;
      return map.get(key);
    },
    async set(key: string, value: unknown) {
      map.set(key, value);
    },
  };
  return store;
}

const FILES = [
  { path: 'pkg/a.py', content: 'RATE = 3\n\n\ndef scaled(x):\n    return RATE * x\n' },
  { path: 'pkg/b.py', content: 'class Square:\n    def area(self):\n        return self.side ** 2\n' },
];

describe('PersistentFileEmbeddingCache', () => {
  it('stores under <encoderId>/<blobId>, serves a new session from the store, and never mixes encoders', async () => {
    const store = mapStore();
    const first = new PersistentFileEmbeddingCache(store, 'enc-A');
    const embedding = Float32Array.from([1, 2, 3]);
    await first.set('blob1', embedding);
    expect([...store.map.keys()]).toEqual(['enc-A/blob1']);

    const nextVisit = new PersistentFileEmbeddingCache(store, 'enc-A');
    expect(await nextVisit.get('blob1')).toEqual(embedding);
    const getsAfterFirstRead = store.gets;
    expect(await nextVisit.get('blob1')).toEqual(embedding); // from memory now
    expect(store.gets).toBe(getsAfterFirstRead);
    expect(await new PersistentFileEmbeddingCache(store, 'enc-B').get('blob1')).toBeUndefined();
  });

  it('keeps working in memory when the store fails', async () => {
    const broken: KeyValueStore = { get: async () => { throw new Error('quota'); }, set: async () => { throw new Error('quota'); } };
    const cache = new PersistentFileEmbeddingCache(broken, 'enc');
    expect(await cache.get('x')).toBeUndefined();
    await cache.set('x', Float32Array.from([4]));
    expect(await cache.get('x')).toEqual(Float32Array.from([4]));
  });

  it('lets encodeRepository skip every file it has seen, across cache instances (a reload)', async () => {
    const model = LlamaModel.random(config, { seed: 3, std: 0.2 });
    try {
      const encoder = { model, tokenizer };
      const id = await encoderIdentity('tiny', encoder);
      const store = mapStore();
      const cold = await encodeRepository({ files: FILES, encoder, parser, cache: new PersistentFileEmbeddingCache(store, id) });
      expect(cold.cached).toBe(0);
      const warm = await encodeRepository({ files: FILES, encoder, parser, cache: new PersistentFileEmbeddingCache(store, id) });
      expect(warm.cached).toBe(2);
      expect(warm.tokens).toBe(0);
      expect(warm.files.map((f) => f.embedding)).toEqual(cold.files.map((f) => f.embedding));
    } finally {
      model.dispose();
    }
  });
});

describe('encoderIdentity', () => {
  it('names the encoder and its settings, is stable for the same weights and differs for other weights', async () => {
    const a = LlamaModel.random(config, { seed: 3, std: 0.2 });
    const again = LlamaModel.random(config, { seed: 3, std: 0.2 });
    const other = LlamaModel.random(config, { seed: 4, std: 0.2 });
    try {
      const id = await encoderIdentity('tiny', { model: a, tokenizer });
      expect(id).toMatch(/^tiny\|128x2\|32\|[0-9a-f]{16}$/);
      expect(await encoderIdentity('tiny', { model: again, tokenizer })).toBe(id);
      expect(await encoderIdentity('tiny', { model: other, tokenizer })).not.toBe(id);
    } finally {
      [a, again, other].forEach((m) => m.dispose());
    }
  });
});
