// File embeddings cached by git blob id, so a new commit re-encodes only the files it changed.

/** Float vectors by key, async so that the browser can back it with IndexedDB (file embeddings, Evo states). */
export interface VectorStore {
  get(key: string): Promise<Float32Array | undefined>;
  set(key: string, vector: Float32Array): Promise<void>;
}

/** Embeddings of one encoder (model + ENCODER_SETTINGS) keyed by git blob id; never shared between encoders. */
export type FileEmbeddingCache = VectorStore;

/**
 * Vector caches that outlive a repository session, by namespace (file embeddings per encoder, Evo states per
 * hypernetwork and encoder, diff embeddings per encoder): IndexedDB in the browser, memory in Node. The same namespace
 * gives the same store each time.
 */
export type VectorStores = (namespace: string) => VectorStore;

/**
 * VectorStores made by `make`, one per namespace; `clear` forgets them (the next call makes new ones).
 * @example const stores = vectorStores(() => new MemoryFileEmbeddingCache()); // the CLI's, the benchmark's
 */
export function vectorStores(make: (namespace: string) => VectorStore): VectorStores & { clear(): void } {
  const stores = new Map<string, VectorStore>();
  const storeFor = (namespace: string) => {
    let store = stores.get(namespace);
    if (!store) stores.set(namespace, store = make(namespace));
    return store;
  };
  return Object.assign(storeFor, { clear: () => stores.clear() });
}

/**
 * The vectors of one hypernetwork's encoder layer in a store shared with other layers (the benchmark's one cache file):
 * keys prefixed by the layer; the last layer (undefined) keeps the store's own keys.
 */
export function layerStore(store: VectorStore, layer: number | undefined): VectorStore {
  if (layer === undefined) return store;
  const prefix = `layer ${layer}|`;
  return { get: (key) => store.get(prefix + key), set: (key, vector) => store.set(prefix + key, vector) };
}

/** A FileEmbeddingCache in memory (one session, or the CLI and tests). */
export class MemoryFileEmbeddingCache implements FileEmbeddingCache {
  private readonly entries = new Map<string, Float32Array>();

  async get(blobId: string): Promise<Float32Array | undefined> {
    return this.entries.get(blobId);
  }

  async set(blobId: string, embedding: Float32Array): Promise<void> {
    this.entries.set(blobId, embedding);
  }

  /** Number of cached files. */
  get size(): number {
    return this.entries.size;
  }
}
