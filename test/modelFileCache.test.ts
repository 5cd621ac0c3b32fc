// The model file cache: a model file is kept when first fetched and read from the cache while its models/index.json version matches; a new version is fetched again; without network the kept copies (and the kept index) are used; an incomplete download, or a file cut short but sent whole (not its version's SHA-256), is never kept; the git proxy and other origins go to the network untouched. Listing and deleting for the Caches section.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MODEL_CACHE, VERSION_HEADER } from '../src/offline/cachePolicy.ts';
import { deleteAllCachedModelFiles, deleteCachedModelFile, listCachedModelFiles, ModelFileCache } from '../src/offline/modelFileCache.ts';
import { failingBody, MemoryCacheStorage } from './support/memoryCacheStorage.ts';

const appBase = new URL('https://app.example/');
const CONFIG = 'https://app.example/models/c2l-base/config.json';
const WEIGHTS = 'https://app.example/models/c2l-base/model.safetensors';
const INDEX = 'https://app.example/models/index.json';
/** A file's version in models/index.json: the first 16 hex digits of its SHA-256 (server/modelIndex.ts). */
const v = (body: string) => createHash('sha256').update(body).digest('hex').slice(0, 16);

/** A server of `files` (path -> body) with models/index.json versions, that counts requests and can be taken offline. */
function server(files: Record<string, string>, versions: Record<string, string>) {
  const state = {
    files, versions, offline: false, requests: [] as string[],
    /** Per URL, a response to answer instead (a partial or broken one). */
    override: new Map<string, () => Response>(),
  };
  const fetchFn = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    state.requests.push(`${init?.method ?? 'GET'} ${url}`);
    if (state.offline) throw new TypeError('Failed to fetch');
    const override = state.override.get(url);
    if (override) return override();
    const path = new URL(url).pathname.slice(1);
    const body = path === 'models/index.json' ? JSON.stringify({ files: Object.keys(state.files), versions: state.versions }) : state.files[path];
    if (body === undefined) return new Response('not found', { status: 404, headers: { 'content-length': '9' } });
    return new Response(body, { headers: { 'content-length': String(new TextEncoder().encode(body).byteLength) } });
  }) as typeof fetch;
  return { state, fetchFn };
}

function setup(files: Record<string, string> = { 'models/c2l-base/config.json': '{"hidden":8}', 'models/c2l-base/model.safetensors': 'WEIGHTS-v1' },
  versions: Record<string, string> = { 'models/c2l-base/config.json': v('{"hidden":8}'), 'models/c2l-base/model.safetensors': v('WEIGHTS-v1') }) {
  const storage = new MemoryCacheStorage();
  const { state, fetchFn } = server(files, versions);
  const notKept: string[] = [];
  const make = () => new ModelFileCache({ appBase, caches: storage.asCacheStorage(), fetch: fetchFn, onNotKept: (path) => notKept.push(path) });
  return { storage, state, make, notKept };
}

describe('ModelFileCache', () => {
  it('keeps a model file when first fetched and reads it from the cache on the next visit, with no request for it', async () => {
    const { storage, state, make } = setup();
    const first = make();
    expect(await (await first.fetchFile(WEIGHTS)).text()).toBe('WEIGHTS-v1');
    await first.settled();
    expect(storage.snapshot()[MODEL_CACHE]).toEqual(expect.arrayContaining([INDEX, WEIGHTS]));
    expect((await (await storage.open(MODEL_CACHE)).match(WEIGHTS))!.headers.get(VERSION_HEADER)).toBe(v('WEIGHTS-v1'));

    state.requests.length = 0;
    const second = make(); // a new visit: a new worker
    expect(await (await second.fetchFile(WEIGHTS)).text()).toBe('WEIGHTS-v1');
    expect(state.requests).toEqual([`GET ${INDEX}`]);
  });

  it('fetches a file again when the index gives it a new version, and replaces the kept copy', async () => {
    const { storage, state, make } = setup();
    const first = make();
    await (await first.fetchFile(WEIGHTS)).text();
    await first.settled();
    state.files['models/c2l-base/model.safetensors'] = 'WEIGHTS-v2';
    state.versions['models/c2l-base/model.safetensors'] = v('WEIGHTS-v2');
    const second = make();
    expect(await (await second.fetchFile(WEIGHTS)).text()).toBe('WEIGHTS-v2');
    await second.settled();
    const kept = (await (await storage.open(MODEL_CACHE)).match(WEIGHTS))!;
    expect(kept.headers.get(VERSION_HEADER)).toBe(v('WEIGHTS-v2'));
    expect(await kept.text()).toBe('WEIGHTS-v2');
  });

  it('without network, uses the kept index and the kept files; a file never fetched fails as a network error', async () => {
    const { state, make } = setup();
    const online = make();
    await (await online.fetchFile(CONFIG)).text();
    await online.settled();
    state.offline = true;
    const offline = make();
    expect((await offline.index())?.files).toContain('models/c2l-base/model.safetensors');
    expect(await (await offline.fetchFile(CONFIG)).text()).toBe('{"hidden":8}');
    await expect(offline.fetchFile(WEIGHTS)).rejects.toThrow('Failed to fetch');
  });

  it('without network and without a kept index, still uses a kept file', async () => {
    const { storage, state, make } = setup();
    const online = make();
    await (await online.fetchFile(CONFIG)).text();
    await online.settled();
    await (await storage.open(MODEL_CACHE)).delete(INDEX);
    state.offline = true;
    const offline = make();
    expect(await offline.index()).toBeNull();
    expect(await (await offline.fetchFile(CONFIG)).text()).toBe('{"hidden":8}');
  });

  it('never keeps a download that ends short of its Content-Length, or one cut off mid-body', async () => {
    const { storage, state, make, notKept } = setup();
    state.override.set(WEIGHTS, () => new Response('WEIG', { headers: { 'content-length': '10' } }));
    const cache = make();
    await (await cache.fetchFile(WEIGHTS)).arrayBuffer();
    await cache.settled();
    expect(storage.snapshot()[MODEL_CACHE]).not.toContain(WEIGHTS);

    state.override.set(WEIGHTS, () => new Response(failingBody(new TextEncoder().encode('WEIG')), { headers: { 'content-length': '10' } }));
    await expect((await cache.fetchFile(WEIGHTS)).arrayBuffer()).rejects.toThrow();
    await cache.settled();
    expect(storage.snapshot()[MODEL_CACHE]).not.toContain(WEIGHTS);
    expect(notKept).toEqual(['models/c2l-base/model.safetensors', 'models/c2l-base/model.safetensors']);

    // The next, complete download is kept.
    state.override.clear();
    expect(await (await cache.fetchFile(WEIGHTS)).text()).toBe('WEIGHTS-v1');
    await cache.settled();
    expect(storage.snapshot()[MODEL_CACHE]).toContain(WEIGHTS);
  });

  it('never keeps a file cut short but sent whole (its own short Content-Length, or compressed and ended cleanly early): not its version\'s content', async () => {
    const { storage, state, make, notKept } = setup();
    const cache = make();
    for (const headers of [{ 'content-length': '4' }, { 'content-encoding': 'gzip' }] as Record<string, string>[]) {
      state.override.set(WEIGHTS, () => new Response('WEIG', { headers }));
      // The caller gets the bytes as they came (the loader refuses them with its own error); the cache keeps none.
      expect(await (await cache.fetchFile(WEIGHTS)).text()).toBe('WEIG');
      await cache.settled();
      expect(storage.snapshot()[MODEL_CACHE]).not.toContain(WEIGHTS);
    }
    expect(notKept).toEqual(['models/c2l-base/model.safetensors', 'models/c2l-base/model.safetensors']);
    // Load again: not from the cache but the network, and the whole file is kept.
    state.override.clear();
    state.requests.length = 0;
    expect(await (await cache.fetchFile(WEIGHTS)).text()).toBe('WEIGHTS-v1');
    expect(state.requests).toEqual([`GET ${WEIGHTS}`]);
    await cache.settled();
    expect(storage.snapshot()[MODEL_CACHE]).toContain(WEIGHTS);
  });

  it('does not keep an error answer, nor a file the index gives no version', async () => {
    const { storage, make } = setup({ 'models/c2l-base/config.json': '{}', 'models/extra/unlisted.bin': 'xyz' }, { 'models/c2l-base/config.json': v('{}') });
    const cache = make();
    expect((await cache.fetchFile('https://app.example/models/c2l-base/absent.json')).status).toBe(404);
    expect(await (await cache.fetchFile('https://app.example/models/extra/unlisted.bin')).text()).toBe('xyz');
    await cache.settled();
    expect(storage.snapshot()[MODEL_CACHE]).toEqual([INDEX]);
  });

  it('leaves the git proxy, other origins and HEAD requests to the network and keeps none of them', async () => {
    const { storage, state, make } = setup();
    const cache = make();
    const proxied = 'https://app.example/git-proxy/github.com/a/b.git/info/refs?service=git-upload-pack';
    state.override.set(proxied, () => new Response('refs', { headers: { 'content-length': '4' } }));
    state.override.set('https://huggingface.co/models/x/config.json', () => new Response('{}', { headers: { 'content-length': '2' } }));
    await (await cache.fetchFile(proxied)).text();
    await (await cache.fetchFile('https://huggingface.co/models/x/config.json')).text();
    expect((await cache.fetchFile(WEIGHTS, { method: 'HEAD' })).ok).toBe(true);
    await cache.settled();
    expect(state.requests).toEqual([`GET ${proxied}`, 'GET https://huggingface.co/models/x/config.json', `HEAD ${WEIGHTS}`]);
    expect(storage.snapshot()).toEqual({});
  });

  it('keeps a file compressed in transit (no length to compare) and lists its decoded size', async () => {
    const { storage, state, make } = setup();
    state.override.set(CONFIG, () => new Response('{"hidden":8}', { headers: { 'content-encoding': 'gzip', 'content-length': '5' } }));
    const cache = make();
    expect(await (await cache.fetchFile(CONFIG)).text()).toBe('{"hidden":8}');
    await cache.settled();
    // Kept decoded, with headers that say so, and listed with its decoded size.
    const kept = (await (await storage.open(MODEL_CACHE)).match(CONFIG))!;
    expect([kept.headers.get('content-encoding'), kept.headers.get('content-length')]).toEqual([null, null]);
    expect((await listCachedModelFiles(storage.asCacheStorage(), appBase)).map((f) => [f.path, f.bytes])).toEqual([['models/c2l-base/config.json', 12]]);
  });

  it('works without Cache Storage (an insecure context): plain fetches', async () => {
    const { fetchFn, state } = server({ 'models/c2l-base/config.json': '{}' }, { 'models/c2l-base/config.json': 'c1' });
    const cache = new ModelFileCache({ appBase, fetch: fetchFn });
    expect(await (await cache.fetchFile(CONFIG)).text()).toBe('{}');
    expect(await (await cache.fetchFile(CONFIG)).text()).toBe('{}');
    expect(state.requests.filter((r) => r === `GET ${CONFIG}`)).toHaveLength(2);
  });
});

describe('the Caches section', () => {
  it('lists the kept model files (not the index) with their sizes, deletes one, then all', async () => {
    const { storage, make } = setup();
    const cache = make();
    await (await cache.fetchFile(WEIGHTS)).text();
    await (await cache.fetchFile(CONFIG)).text();
    await cache.settled();
    const caches = storage.asCacheStorage();
    const listed = await listCachedModelFiles(caches, appBase);
    expect(listed.map(({ path, bytes, version }) => ({ path, bytes, version }))).toEqual([
      { path: 'models/c2l-base/config.json', bytes: 12, version: v('{"hidden":8}') },
      { path: 'models/c2l-base/model.safetensors', bytes: 10, version: v('WEIGHTS-v1') },
    ]);
    expect(Number.isNaN(Date.parse(listed[0].stored!))).toBe(false);

    expect(await deleteCachedModelFile(caches, WEIGHTS)).toBe(true);
    expect((await listCachedModelFiles(caches, appBase)).map((f) => f.path)).toEqual(['models/c2l-base/config.json']);
    expect(await deleteCachedModelFile(caches, WEIGHTS)).toBe(false);

    await deleteAllCachedModelFiles(caches);
    expect(await listCachedModelFiles(caches, appBase)).toEqual([]);
    expect(await storage.keys()).toEqual([]);
  });
});
