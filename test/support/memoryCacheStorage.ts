// An in-memory CacheStorage with the browser's semantics that the offline code relies on: Cache.put reads the whole body and commits the entry only when the body ends without error; match answers a fresh Response each time; keys and deletes by URL.

interface Entry {
  body: Uint8Array;
  status: number;
  statusText: string;
  headers: [string, string][];
}

function keyOf(request: RequestInfo | URL): string {
  return typeof request === 'string' ? new URL(request).href : request instanceof URL ? request.href : request.url;
}

export class MemoryCache {
  readonly entries = new Map<string, Entry>();
  /** Set to make every put fail as a full browser store does. */
  quotaExceeded = false;

  async put(request: RequestInfo | URL, response: Response): Promise<void> {
    const body = new Uint8Array(await response.arrayBuffer()); // rejects when the body fails: nothing is stored
    if (this.quotaExceeded) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    this.entries.set(keyOf(request), { body, status: response.status, statusText: response.statusText, headers: [...response.headers] });
  }

  async match(request: RequestInfo | URL, _options?: CacheQueryOptions): Promise<Response | undefined> {
    const entry = this.entries.get(keyOf(request));
    if (!entry) return undefined;
    return new Response(entry.body.slice(), { status: entry.status, statusText: entry.statusText, headers: entry.headers });
  }

  async delete(request: RequestInfo | URL, _options?: CacheQueryOptions): Promise<boolean> {
    return this.entries.delete(keyOf(request));
  }

  async keys(): Promise<Request[]> {
    return [...this.entries.keys()].map((url) => new Request(url));
  }
}

export class MemoryCacheStorage {
  readonly caches = new Map<string, MemoryCache>();

  async open(name: string): Promise<MemoryCache> {
    let cache = this.caches.get(name);
    if (!cache) this.caches.set(name, (cache = new MemoryCache()));
    return cache;
  }

  async has(name: string): Promise<boolean> {
    return this.caches.has(name);
  }

  async delete(name: string): Promise<boolean> {
    return this.caches.delete(name);
  }

  async keys(): Promise<string[]> {
    return [...this.caches.keys()];
  }

  async match(request: RequestInfo | URL): Promise<Response | undefined> {
    for (const cache of this.caches.values()) {
      const found = await cache.match(request);
      if (found) return found;
    }
    return undefined;
  }

  /** Every kept URL, by cache name. */
  snapshot(): Record<string, string[]> {
    return Object.fromEntries([...this.caches].map(([name, cache]) => [name, [...cache.entries.keys()]]));
  }

  asCacheStorage(): CacheStorage {
    return this as unknown as CacheStorage;
  }
}

/** A body that sends `bytes` and then fails, as a connection that drops mid-transfer does. */
export function failingBody(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    pull(controller) {
      if (sent) controller.error(new TypeError('network error: connection reset'));
      else controller.enqueue(bytes);
      sent = true;
    },
  });
}
