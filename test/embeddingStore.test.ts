// The app's persistent file-embedding cache: keyed by encoder identity + blob id, memory in front, a failing store never stops encoding; over IndexedDB (fake-indexeddb), a write cut off by an abort or a reload leaves every entry written before it whole.
import 'fake-indexeddb/auto';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/model/backend.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { trainBpeTokenizer } from '../src/tokenizer/trainBpe.ts';
import { encodeRepository } from '../src/code2lora/repoEncoder.ts';
import { loadPythonParser, type PythonParser } from '../src/parse/pythonParser.ts';
import { encoderIdentity, indexedDbStore, PersistentFileEmbeddingCache, type KeyValueStore } from '../src/app/workers/embeddingStore.ts';
import { diffEmbeddingIdentity, EvoSession } from '../src/code2lora/evoSession.ts';
import { adapterDigest, untrainedEvoHypernetwork, untrainedHypernetwork } from '../src/code2lora/makeAdapter.ts';
import { tinyRandomModel } from '../src/model/tinyRandomModel.ts';
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

/** The app's embedding database as IndexedDB holds it: every record by key. */
const DATABASE = 'code2lora-file-embeddings';
const STORE = 'embeddings';

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function withDatabase<T>(use: (db: IDBDatabase) => Promise<T>): Promise<T> {
  const db = await request(indexedDB.open(DATABASE));
  try {
    return await use(db);
  } finally {
    db.close();
  }
}

function readRecords(): Promise<Map<IDBValidKey, unknown>> {
  return withDatabase(async (db) => {
    const store = db.transaction(STORE, 'readonly').objectStore(STORE);
    const [keys, values] = await Promise.all([request(store.getAllKeys()), request(store.getAll())]);
    return new Map(keys.map((key, i) => [key, values[i]]));
  });
}

/** Puts the database back as it was at a crash point: what the next visit would open. */
function restoreRecords(records: Map<IDBValidKey, unknown>): Promise<void> {
  return withDatabase(async (db) => {
    const transaction = db.transaction(STORE, 'readwrite');
    const store = transaction.objectStore(STORE);
    store.clear();
    for (const [key, value] of records) store.put(value, key);
    await new Promise((resolve, reject) => {
      transaction.oncomplete = resolve;
      transaction.onerror = () => reject(transaction.error);
    });
  });
}

/** Makes the next put abort its transaction after it was issued, as a reload or a browser refusal mid-write would. */
function abortNextPut(): void {
  const put = IDBObjectStore.prototype.put;
  IDBObjectStore.prototype.put = function (this: IDBObjectStore, ...args: Parameters<IDBObjectStore['put']>) {
    IDBObjectStore.prototype.put = put;
    const issued = put.apply(this, args);
    this.transaction.abort();
    return issued;
  };
}

describe('indexedDbStore: interrupted writes', () => {
  it('a write whose transaction aborts leaves every entry written before, and nothing of itself; the session goes on in memory', async () => {
    const store = indexedDbStore();
    await store.clear();
    const cache = new PersistentFileEmbeddingCache(store, 'enc');
    const a = Float32Array.from({ length: 64 }, (_, i) => i / 7);
    const b = Float32Array.from({ length: 64 }, (_, i) => -i / 3);
    await cache.set('blob-a', a);
    await cache.set('blob-b', b);
    abortNextPut();
    // idb-keyval rejects with the transaction's error, which an abort leaves null.
    expect(await store.set('enc/blob-c', Float32Array.from([1])).then(() => 'written', () => 'refused')).toBe('refused');
    // Through the cache: the aborted write is swallowed and the value stays in this session's memory.
    abortNextPut();
    const c = Float32Array.from({ length: 64 }, () => 0.5);
    await cache.set('blob-c', c);
    expect(await cache.get('blob-c')).toEqual(c);

    const nextVisit = new PersistentFileEmbeddingCache(indexedDbStore(), 'enc');
    expect(await nextVisit.get('blob-a')).toEqual(a);
    expect(await nextVisit.get('blob-b')).toEqual(b);
    expect(await nextVisit.get('blob-c')).toBeUndefined();
    expect([...(await readRecords()).keys()].sort()).toEqual(['enc/blob-a', 'enc/blob-b']);
  });

  it('Evo: a reload after any write finds every state and embedding written before it, and the next visit steps on to the same adapter', async () => {
    const encoder = tinyRandomModel({ seed: 5 });
    const evo = untrainedEvoHypernetwork(untrainedHypernetwork(encoder.model.config));
    const commits = Array.from({ length: 6 }, (_, i) => String(i + 1).repeat(40));
    const coreAt = (i: number) => Array.from({ length: i + 1 }, (_, k) => `def step_${k}(x):\n    return x * ${k + 2}\n`).join('\n');
    const history = {
      commits,
      readFiles: async (commit: string) => [{ path: 'pkg/core.py', content: coreAt(commits.indexOf(commit)) }],
      diff: async (commit: string) => {
        const i = commits.indexOf(commit);
        const patch = `--- a/pkg/core.py\n+++ b/pkg/core.py\n@@ -${2 * i},0 +${2 * i},2 @@\n+def step_${i}(x):\n+    return x * ${i + 2}\n`;
        return [{ path: 'pkg/core.py', status: 'modified' as const, binary: false, tooLarge: false, hunks: [], patch }];
      },
    };
    /** A visit: the worker's three caches over the app's IndexedDB store (as evoWorker.ts makes them). */
    const session = (store: KeyValueStore) => new EvoSession({
      hypernetwork: evo, baseModel: encoder.model.config, encoder, parser, history,
      fileEmbeddings: new PersistentFileEmbeddingCache(store, 'tiny'),
      states: new PersistentFileEmbeddingCache(store, 'evo-state|tiny'),
      diffEmbeddings: new PersistentFileEmbeddingCache(store, diffEmbeddingIdentity('tiny')),
    });
    const last = commits.length - 1;

    const base = indexedDbStore();
    await base.clear();
    const points: Array<Map<IDBValidKey, unknown>> = [];
    const recording: KeyValueStore = {
      get: (key) => base.get(key),
      set: async (key, value) => {
        await base.set(key, value);
        points.push(await readRecords());
      },
    };
    const whole = await session(recording).select(last);
    const digest = await adapterDigest(whole.adapter);
    // 1 file embedding, then per commit a state (and from the second on its diff embedding first): 1 + 1 + 2 * 5.
    expect(points).toHaveLength(12);
    const complete = points[points.length - 1];

    const fileKey = [...complete.keys()].map(String).find((key) => key.startsWith('tiny/'))!;
    const stepsFrom: number[] = [];
    for (const [i, records] of points.entries()) {
      // Whatever a crash left is whole: each record equals the one the uninterrupted run ended with.
      for (const [key, value] of records) expect(value, `after write ${i}: ${String(key)}`).toEqual(complete.get(key));
      await restoreRecords(records);
      const reopened = await session(indexedDbStore()).select(last);
      expect(await adapterDigest(reopened.adapter), `after write ${i}`).toBe(digest);
      const storedStates = [...records.keys()].filter((key) => String(key).startsWith('evo-state|tiny/')).length;
      // It steps on from the last state stored (none: from the first commit's files, their embedding read if stored).
      expect(reopened.report.steps, `after write ${i}`).toBe(last - Math.max(storedStates - 1, 0));
      expect(reopened.report.filesEncoded, `after write ${i}`).toBe(storedStates === 0 && !records.has(fileKey) ? 1 : 0);
      stepsFrom.push(reopened.report.steps);
    }
    expect(stepsFrom[stepsFrom.length - 1]).toBe(0);
    console.log(`Evo: ${points.length} crash points, GRU steps the next visit ran: ${stepsFrom.join(', ')}`);
    encoder.model.dispose();
  });
});
