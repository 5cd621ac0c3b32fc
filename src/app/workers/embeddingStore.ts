// File embeddings kept across visits in IndexedDB (idb-keyval), keyed by the encoder's identity and the file's git blob id.
import * as tf from '@tensorflow/tfjs';
import { clear, createStore, get, set } from 'idb-keyval';
import { ENCODER_SETTINGS } from '../../code2lora/encoderSettings.ts';
import type { FileEmbeddingCache } from '../../code2lora/fileEmbeddingCache.ts';
import { gitBlobId } from '../../code2lora/gitBlobId.ts';
import { asStorageFull } from '../../git/storageFull.ts';
import type { GitError } from '../../git/errors.ts';
import type { RepoEncoderModel } from '../../code2lora/repoEncoder.ts';

/** The two calls the cache needs from a key-value store: IndexedDB in the browser, a Map in tests. */
export interface KeyValueStore {
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown): Promise<void>;
}

/**
 * The browser's store: one IndexedDB database for every repository and commit (file embeddings, diff embeddings and
 * Evo states alike), its writes reporting quota failures (reportingStorageFull).
 */
export function indexedDbStore({ onStorageFull }: { onStorageFull?: (error: GitError) => void } = {}): KeyValueStore & { clear(): Promise<void> } {
  const store = createStore('code2lora-file-embeddings', 'embeddings');
  const reporting = reportingStorageFull({ get: (key) => get(key, store), set: (key, value) => set(key, value, store) }, onStorageFull);
  return { ...reporting, clear: () => clear(store) };
}

/**
 * `store` whose write refused for quota rejects with GitError STORAGE_FULL, passed to `onStorageFull` first: the caches
 * over it swallow their store's failures (they are caches), so this is how the user hears of it.
 */
export function reportingStorageFull(store: KeyValueStore, onStorageFull?: (error: GitError) => void): KeyValueStore {
  return {
    get: (key) => store.get(key),
    set: async (key, value) => {
      try {
        await store.set(key, value);
      } catch (err) {
        const mapped = await asStorageFull(err, 'the cache of embeddings and Evo states');
        if (mapped !== err) onStorageFull?.(mapped as GitError);
        throw mapped;
      }
    },
  };
}

/**
 * A FileEmbeddingCache over a KeyValueStore, with a Map in front for this session. Keys are `<encoderId>/<blobId>`, so
 * embeddings of another encoder (or other encoder settings, or retrained weights) are never returned. A store that
 * fails (private mode, quota) is used no further: the cache then lives in memory only, and encoding goes on.
 */
export class PersistentFileEmbeddingCache implements FileEmbeddingCache {
  private readonly memory = new Map<string, Float32Array>();
  private storeWorks = true;

  constructor(private readonly store: KeyValueStore, readonly encoderId: string) {}

  async get(blobId: string): Promise<Float32Array | undefined> {
    const hit = this.memory.get(blobId);
    if (hit || !this.storeWorks) return hit;
    try {
      const stored = await this.store.get(`${this.encoderId}/${blobId}`);
      if (stored instanceof Float32Array) {
        this.memory.set(blobId, stored);
        return stored;
      }
    } catch {
      this.storeWorks = false;
    }
    return undefined;
  }

  async set(blobId: string, embedding: Float32Array): Promise<void> {
    this.memory.set(blobId, embedding);
    if (!this.storeWorks) return;
    try {
      await this.store.set(`${this.encoderId}/${blobId}`, embedding);
    } catch {
      this.storeWorks = false;
    }
  }
}

const PROBE = 'def probe(values):\n    return sorted(values)[0]\n';

/**
 * The encoder's identity for cache keys: its name, ENCODER_SETTINGS and a fingerprint of its weights (the mean hidden
 * state of a fixed probe, to 3 decimals), so retrained weights under the same name do not reuse stale embeddings.
 * @example const id = await encoderIdentity('c2l-base', encoder) // 'c2l-base|128x2|384|3f0c…'
 */
export async function encoderIdentity(name: string, encoder: RepoEncoderModel): Promise<string> {
  const ids = encoder.tokenizer.encode(PROBE);
  const mean = tf.tidy(() => tf.mean(encoder.model.hidden(ids), 0));
  const values = (await mean.data()) as Float32Array;
  mean.dispose();
  const fingerprint = gitBlobId(Array.from(values, (v) => v.toFixed(3)).join(',')).slice(0, 16);
  return `${name}|${ENCODER_SETTINGS.chunkTokens}x${ENCODER_SETTINGS.chunksPerFile}|${values.length}|${fingerprint}`;
}
