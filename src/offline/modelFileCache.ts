// The app's model files in Cache Storage: kept when first fetched, read from there while their models/index.json version still matches (and whenever the network is down), fetched again when the server has a new version. Used by the pipeline worker for every file below models/; anything else goes to the network untouched.
import { keepIfComplete, MODEL_CACHE, MODEL_INDEX_PATH, modelCacheRole, pathBelowBase, STORED_HEADER, VERSION_HEADER } from './cachePolicy.ts';

/** models/index.json (server/modelIndex.ts): the files the app serves and, per file, its content digest. */
export interface ModelIndex {
  files: string[];
  versions?: Record<string, string>;
}

export interface ModelFileCacheOptions {
  /** The app's base URL (models/ is below it). */
  appBase: URL;
  /** Cache Storage; undefined where the browser has none (an insecure context): every request then goes to the network. */
  caches?: CacheStorage;
  fetch?: typeof fetch;
  /** Told when a file could not be kept (e.g. storage full); the file is still handed on. */
  onNotKept?: (path: string) => void;
}

function parseIndex(text: string): ModelIndex | null {
  try {
    const parsed = JSON.parse(text) as Partial<ModelIndex>;
    if (!Array.isArray(parsed.files)) return null;
    const versions = parsed.versions && typeof parsed.versions === 'object' ? parsed.versions : undefined;
    return { files: parsed.files.filter((f): f is string => typeof f === 'string'), versions };
  } catch {
    return null;
  }
}

export class ModelFileCache {
  private readonly appBase: URL;
  private readonly caches: CacheStorage | undefined;
  private readonly fetch: typeof fetch;
  private readonly onNotKept: (path: string) => void;
  private indexPromise: Promise<ModelIndex | null> | null = null;
  /** Entries still being written, so a caller can wait for them (tests; nothing in the app waits). */
  private readonly writes = new Set<Promise<boolean>>();

  constructor({ appBase, caches, fetch: fetchFn, onNotKept }: ModelFileCacheOptions) {
    this.appBase = appBase;
    this.caches = caches;
    this.fetch = fetchFn ?? ((input, init) => globalThis.fetch(input, init));
    this.onNotKept = onNotKept ?? (() => undefined);
  }

  private async cache(): Promise<Cache | null> {
    try {
      return this.caches ? await this.caches.open(MODEL_CACHE) : null;
    } catch {
      return null; // e.g. storage disabled: the network alone
    }
  }

  /** Resolves once every entry being written is written or given up. */
  async settled(): Promise<void> {
    while (this.writes.size > 0) await Promise.all([...this.writes]);
  }

  private keep(cache: Cache, key: string, path: string, response: Response, headers: Record<string, string>, sha256Prefix?: string): Response {
    const { response: handedOn, kept } = keepIfComplete(cache, key, response, { [STORED_HEADER]: new Date().toISOString(), ...headers }, { sha256Prefix });
    const write = kept.then((ok) => {
      if (!ok) this.onNotKept(path);
      return ok;
    });
    this.writes.add(write);
    void write.finally(() => this.writes.delete(write));
    return handedOn;
  }

  /**
   * models/index.json, read once: from the network when it answers (and kept), else the kept copy; null when neither
   * has one (the app then probes files one by one, and kept files are used without a version check).
   */
  index(): Promise<ModelIndex | null> {
    this.indexPromise ??= (async () => {
      const key = new URL(MODEL_INDEX_PATH, this.appBase).href;
      const cache = await this.cache();
      try {
        const response = await this.fetch(key);
        if (!response.ok) {
          // No index on this server (404) means none; a server error leaves the kept one in force.
          const kept = response.status >= 500 ? await cache?.match(key, { ignoreVary: true }) : undefined;
          return kept ? parseIndex(await kept.text()) : null;
        }
        const handedOn = cache ? this.keep(cache, key, MODEL_INDEX_PATH, response, {}) : response;
        return parseIndex(await handedOn.text());
      } catch {
        const kept = await cache?.match(key, { ignoreVary: true });
        if (kept) return parseIndex(await kept.text());
        // No answer and no kept copy: asked for again next time (a Load after the network is back).
        this.indexPromise = null;
        return null;
      }
    })();
    return this.indexPromise;
  }

  /**
   * Fetches `input` like fetch(). A model file below models/ that the index gives a version comes from the cache
   * when the kept copy has that version, else from the network (kept when complete); when the network fails, any kept
   * copy is used. Everything else (other origins, the git proxy, HEAD and Range requests) is a plain fetch.
   */
  async fetchFile(input: string | URL, init?: RequestInit): Promise<Response> {
    const url = new URL(input, this.appBase).href;
    const method = (init?.method ?? 'GET').toUpperCase();
    const role = modelCacheRole({ url, method, headers: new Headers(init?.headers) }, this.appBase);
    if (role === null) return this.fetch(url, init);
    if (role === 'index') {
      const index = await this.index();
      if (index) return new Response(JSON.stringify(index), { headers: { 'content-type': 'application/json' } });
      return this.fetch(url, init);
    }
    const path = pathBelowBase(url, this.appBase)!;
    const cache = await this.cache();
    if (!cache) return this.fetch(url, init);
    const version = (await this.index())?.versions?.[path];
    const kept = await cache.match(url, { ignoreVary: true });
    if (kept && version !== undefined && kept.headers.get(VERSION_HEADER) === version) return kept;
    let response: Response;
    try {
      response = await this.fetch(url, init);
    } catch (error) {
      if (kept) return kept; // offline (or the server is down): the kept copy, whatever its version
      throw error;
    }
    if (kept && (response.status === 404 || response.status === 410)) await cache.delete(url, { ignoreVary: true });
    // Only a file the index vouches for is kept (its version says when the copy is out of date), and only a whole one:
    // the version is the file's SHA-256, which a file cut short but sent whole does not have.
    if (version === undefined || response.status !== 200) return response;
    return this.keep(cache, url, path, response, { [VERSION_HEADER]: version }, version);
  }
}

/** A kept model file, as the Caches section lists it. */
export interface CachedModelFile {
  /** The full URL (the cache key). */
  url: string;
  /** Below the app's base: "models/c2l-base/model.safetensors". */
  path: string;
  bytes: number;
  version: string | null;
  stored: string | null;
}

/**
 * The size of a kept body: its Content-Length (checked against the body when it was kept), or, for one that was
 * compressed in transit and so kept without a length, its blob's size (a handle on the stored body: nothing is read).
 */
async function keptBytes(response: Response): Promise<number> {
  const length = response.headers.get('content-length');
  if (length !== null && /^\d+$/.test(length)) return Number(length);
  return (await response.blob()).size;
}

/** The kept model files (not models/index.json), sorted by path. */
export async function listCachedModelFiles(caches: CacheStorage, appBase: URL): Promise<CachedModelFile[]> {
  if (!(await caches.has(MODEL_CACHE))) return [];
  const cache = await caches.open(MODEL_CACHE);
  const files: CachedModelFile[] = [];
  for (const request of await cache.keys()) {
    const path = pathBelowBase(request.url, appBase);
    if (path === null || path === MODEL_INDEX_PATH) continue;
    const response = await cache.match(request, { ignoreVary: true });
    if (!response) continue;
    files.push({
      url: request.url, path, bytes: await keptBytes(response),
      version: response.headers.get(VERSION_HEADER), stored: response.headers.get(STORED_HEADER),
    });
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Deletes one kept model file; false when it was not there. */
export async function deleteCachedModelFile(caches: CacheStorage, url: string): Promise<boolean> {
  if (!(await caches.has(MODEL_CACHE))) return false;
  return (await caches.open(MODEL_CACHE)).delete(url, { ignoreVary: true });
}

/** Deletes every kept model file (and the kept index). */
export async function deleteAllCachedModelFiles(caches: CacheStorage): Promise<void> {
  await caches.delete(MODEL_CACHE);
}

/** The app's own files kept for offline use by the service worker: how many and their size, or null when none are. */
export async function appShellSize(caches: CacheStorage, cacheNamePrefix: string): Promise<{ files: number; bytes: number } | null> {
  const names = (await caches.keys()).filter((name) => name.startsWith(cacheNamePrefix));
  if (names.length === 0) return null;
  // The newest build's cache is the last one written; while an update is being installed there may be two.
  const cache = await caches.open(names[names.length - 1]);
  let bytes = 0;
  const requests = await cache.keys();
  for (const request of requests) {
    const response = await cache.match(request);
    if (response) bytes += await keptBytes(response);
  }
  return { files: requests.length, bytes };
}
