// The service worker's app shell: one build's files kept all-or-nothing under a versioned cache name, other builds' caches removed on activation, the page network first (the kept page offline), the hashed files cache first, and nothing else answered (model files, the git proxy, other origins). The build side: the file list and version written into sw.js.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appShellRoute, installAppShell, removeOtherBuilds, respondFromAppShell, type Precache } from '../src/offline/appShell.ts';
import { appCacheName, MODEL_CACHE } from '../src/offline/cachePolicy.ts';
import { isPrecached, precacheManifest } from '../server/serviceWorkerPlugin.ts';
import { MemoryCacheStorage } from './support/memoryCacheStorage.ts';

const scope = new URL('https://app.example/');
const v1: Precache = { version: 'v1', files: ['index.html', 'assets/index-a1.js', 'assets/tfjs-backend-wasm-simd-b2.wasm'] };

/** A server of the build's files; `fail` names files it answers 500 for, `offline` fails every request. */
function server(files: Record<string, string>) {
  const state = { files, offline: false, fail: new Set<string>(), requests: [] as string[] };
  const fetchFn = (async (input: RequestInfo | URL) => {
    const request = input instanceof Request ? input : new Request(input);
    state.requests.push(request.url);
    if (state.offline) throw new TypeError('Failed to fetch');
    const path = new URL(request.url).pathname.slice(1) || 'index.html';
    const body = state.files[path];
    if (body === undefined || state.fail.has(path)) return new Response('no', { status: body === undefined ? 404 : 500, headers: { 'content-length': '2' } });
    return new Response(body, { headers: { 'content-length': String(body.length) } });
  }) as typeof fetch;
  return { state, fetchFn };
}

const buildFiles = { 'index.html': '<html>v1</html>', 'assets/index-a1.js': 'app()', 'assets/tfjs-backend-wasm-simd-b2.wasm': 'wasm' };
/** A page load (Request's constructor refuses mode 'navigate': only the browser makes those). */
const navigate = (url: string) => Object.defineProperty(new Request(url), 'mode', { value: 'navigate' });

describe('installAppShell', () => {
  it("keeps every file of the build under the build's cache", async () => {
    const storage = new MemoryCacheStorage();
    const { fetchFn } = server({ ...buildFiles });
    await installAppShell(storage.asCacheStorage(), scope, v1, fetchFn);
    expect(storage.snapshot()).toEqual({ [appCacheName('v1')]: v1.files.map((file) => new URL(file, scope).href) });
  });

  it('keeps nothing when one file fails, so the previous build stays in use', async () => {
    const storage = new MemoryCacheStorage();
    const { state, fetchFn } = server({ ...buildFiles });
    state.fail.add('assets/index-a1.js');
    await expect(installAppShell(storage.asCacheStorage(), scope, v1, fetchFn)).rejects.toThrow('Could not keep assets/index-a1.js');
    expect(await storage.keys()).toEqual([]);
  });

  it('keeps nothing when a file arrives short of its Content-Length', async () => {
    const storage = new MemoryCacheStorage();
    const fetchFn = (async (input: RequestInfo | URL) => new Response('x', { headers: { 'content-length': String(input instanceof Request && input.url.endsWith('.wasm') ? 99 : 1) } })) as typeof fetch;
    await expect(installAppShell(storage.asCacheStorage(), scope, v1, fetchFn)).rejects.toThrow(/Could not keep/);
    expect(await storage.keys()).toEqual([]);
  });
});

describe('a new build', () => {
  it("replaces the old build's files on activation and leaves the model cache alone", async () => {
    const storage = new MemoryCacheStorage();
    const { state, fetchFn } = server({ ...buildFiles });
    await installAppShell(storage.asCacheStorage(), scope, v1, fetchFn);
    await (await storage.open(MODEL_CACHE)).put('https://app.example/models/c2l-base/config.json', new Response('{}'));

    state.files = { 'index.html': '<html>v2</html>', 'assets/index-c3.js': 'app2()' };
    const v2: Precache = { version: 'v2', files: ['index.html', 'assets/index-c3.js'] };
    await installAppShell(storage.asCacheStorage(), scope, v2, fetchFn);
    expect(await removeOtherBuilds(storage.asCacheStorage(), 'v2')).toEqual([appCacheName('v1')]);
    expect((await storage.keys()).sort()).toEqual([appCacheName('v2'), MODEL_CACHE].sort());

    // Offline, the page is the new build's.
    state.offline = true;
    const page = await respondFromAppShell('page', navigate('https://app.example/?model=c2l-base'), storage.asCacheStorage(), scope, v2, fetchFn);
    expect(await page.text()).toBe('<html>v2</html>');
  });
});

describe('appShellRoute', () => {
  it('answers the page (with any query) and the build files; nothing else', () => {
    expect(appShellRoute(navigate('https://app.example/'), scope, v1)).toBe('page');
    expect(appShellRoute(navigate('https://app.example/?model=c2l-base&backend=wasm'), scope, v1)).toBe('page');
    expect(appShellRoute(navigate('https://app.example/index.html'), scope, v1)).toBe('page');
    expect(appShellRoute(new Request('https://app.example/assets/index-a1.js'), scope, v1)).toBe('file');

    expect(appShellRoute(navigate('https://app.example/other.html'), scope, v1)).toBeNull();
    expect(appShellRoute(new Request('https://app.example/assets/unknown.js'), scope, v1)).toBeNull();
    expect(appShellRoute(new Request('https://app.example/assets/index-a1.js?x'), scope, v1)).toBeNull();
    expect(appShellRoute(new Request('https://app.example/models/index.json'), scope, v1)).toBeNull();
    expect(appShellRoute(new Request('https://app.example/models/c2l-base/model.safetensors'), scope, v1)).toBeNull();
    expect(appShellRoute(new Request('https://app.example/git-proxy/github.com/a/b.git/info/refs?service=git-upload-pack'), scope, v1)).toBeNull();
    expect(appShellRoute(new Request('https://app.example/git-proxy/github.com/a/b.git/git-upload-pack', { method: 'POST', body: 'x' }), scope, v1)).toBeNull();
    expect(appShellRoute(new Request('https://cdn.example/assets/index-a1.js'), scope, v1)).toBeNull();
    expect(appShellRoute(new Request('http://127.0.0.1:9000/repo.git/info/refs'), scope, v1)).toBeNull();
    expect(appShellRoute(new Request('https://app.example/assets/index-a1.js', { headers: { range: 'bytes=0-1' } }), scope, v1)).toBeNull();
  });
});

describe('respondFromAppShell', () => {
  it('gives the page from the network when it answers (a new build shows at once), the kept page when it does not', async () => {
    const storage = new MemoryCacheStorage();
    const { state, fetchFn } = server({ ...buildFiles });
    await installAppShell(storage.asCacheStorage(), scope, v1, fetchFn);
    state.files['index.html'] = '<html>newer build</html>';
    const online = await respondFromAppShell('page', navigate('https://app.example/'), storage.asCacheStorage(), scope, v1, fetchFn);
    expect(await online.text()).toBe('<html>newer build</html>');
    state.offline = true;
    const offline = await respondFromAppShell('page', navigate('https://app.example/'), storage.asCacheStorage(), scope, v1, fetchFn);
    expect(await offline.text()).toBe('<html>v1</html>');
  });

  it('gives a build file from the cache without a request, and from the network if it is not kept', async () => {
    const storage = new MemoryCacheStorage();
    const { state, fetchFn } = server({ ...buildFiles });
    await installAppShell(storage.asCacheStorage(), scope, v1, fetchFn);
    state.requests.length = 0;
    state.offline = true;
    const kept = await respondFromAppShell('file', new Request('https://app.example/assets/index-a1.js'), storage.asCacheStorage(), scope, v1, fetchFn);
    expect(await kept.text()).toBe('app()');
    expect(state.requests).toEqual([]);
    await (await storage.open(appCacheName('v1'))).delete('https://app.example/assets/index-a1.js');
    await expect(respondFromAppShell('file', new Request('https://app.example/assets/index-a1.js'), storage.asCacheStorage(), scope, v1, fetchFn)).rejects.toThrow('Failed to fetch');
  });
});

describe('precacheManifest (sw.js)', () => {
  it('lists the build but model files, sw.js and source maps; its version changes with any file', async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'precache-'));
    try {
      mkdirSync(join(outDir, 'assets'));
      mkdirSync(join(outDir, 'models', 'c2l-base'), { recursive: true });
      writeFileSync(join(outDir, 'index.html'), '<html></html>');
      writeFileSync(join(outDir, 'assets', 'index-a1.js'), 'app()');
      writeFileSync(join(outDir, 'assets', 'index-a1.js.map'), '{}');
      writeFileSync(join(outDir, 'sw.js'), 'old worker');
      writeFileSync(join(outDir, 'models', 'index.json'), '{"files":[]}');
      writeFileSync(join(outDir, 'models', 'c2l-base', 'model.safetensors'), 'weights');
      const first = await precacheManifest(outDir);
      expect(first.files).toEqual(['assets/index-a1.js', 'index.html']);
      expect(first.version).toMatch(/^[0-9a-f]{16}$/);

      writeFileSync(join(outDir, 'models', 'c2l-base', 'model.safetensors'), 'other weights');
      writeFileSync(join(outDir, 'sw.js'), 'another old worker');
      expect((await precacheManifest(outDir)).version).toBe(first.version);
      writeFileSync(join(outDir, 'index.html'), '<html>new build</html>');
      expect((await precacheManifest(outDir)).version).not.toBe(first.version);
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  });

  it('isPrecached', () => {
    expect(isPrecached('assets/tree-sitter-python-x.wasm')).toBe(true);
    expect(isPrecached('models/index.json')).toBe(false);
    expect(isPrecached('sw.js')).toBe(false);
  });
});
