// Which requests the offline caches may keep (the app's own files and model files; never the git proxy, another origin, a Range or non-GET request) and which responses count as complete (200 with a Content-Length that the body matches).
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import {
  checkedDigest, checkedLength, completeness, DigestMismatchError, IncompleteBodyError, keepIfComplete, MODEL_CACHE, modelCacheRole, pathBelowBase,
} from '../src/offline/cachePolicy.ts';
import { failingBody, MemoryCacheStorage } from './support/memoryCacheStorage.ts';

const base = new URL('https://app.example/');
const sub = new URL('https://app.example/code2lora/');
const get = (url: string, headers: Record<string, string> = {}) => ({ url, method: 'GET', headers: new Headers(headers) });

function response(body: BodyInit | null, init: ResponseInit = {}, length?: number | null): Response {
  const headers = new Headers(init.headers);
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body).byteLength : body instanceof Uint8Array ? body.byteLength : 0;
  if (length !== null) headers.set('content-length', String(length ?? bytes));
  return new Response(body, { status: 200, ...init, headers });
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<number> {
  let total = 0;
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) total += chunk.byteLength;
  return total;
}

describe('pathBelowBase', () => {
  it('gives the path below the app base, and null for another origin, outside the base, a query or a dot segment', () => {
    expect(pathBelowBase('https://app.example/models/c2l-base/config.json', base)).toBe('models/c2l-base/config.json');
    expect(pathBelowBase('/models/a', base)).toBe('models/a');
    expect(pathBelowBase('https://app.example/code2lora/models/a', sub)).toBe('models/a');
    expect(pathBelowBase('https://app.example/models/a', sub)).toBeNull();
    expect(pathBelowBase('https://other.example/models/a', base)).toBeNull();
    expect(pathBelowBase('http://app.example/models/a', base)).toBeNull();
    expect(pathBelowBase('https://app.example:8443/models/a', base)).toBeNull();
    expect(pathBelowBase('https://app.example/models/a?v=1', base)).toBeNull();
    // URL parsing resolves encoded dot segments: this is the git proxy's path, not a model's.
    expect(pathBelowBase('https://app.example/models/%2e%2e/git-proxy/x', base)).toBe('git-proxy/x');
    expect(pathBelowBase('https://app.example/models/a%2Fb', base)).toBeNull();
  });
});

describe('modelCacheRole', () => {
  it('keeps GET requests for files below models/, with models/index.json apart', () => {
    expect(modelCacheRole(get('https://app.example/models/c2l-base/model.safetensors'), base)).toBe('model-file');
    expect(modelCacheRole(get('https://app.example/models/smollm2-135m-instruct/code2lora-static/hypernetwork.safetensors'), base)).toBe('model-file');
    expect(modelCacheRole(get('https://app.example/models/index.json'), base)).toBe('index');
    expect(modelCacheRole(get('https://app.example/code2lora/models/c2l-base/config.json'), sub)).toBe('model-file');
  });

  it('never keeps the git proxy, another origin, the app files, a folder, a query, a Range or a non-GET request', () => {
    expect(modelCacheRole(get('https://app.example/git-proxy/github.com/a/b.git/info/refs?service=git-upload-pack'), base)).toBeNull();
    expect(modelCacheRole(get('https://app.example/git-proxy/github.com/models/x'), base)).toBeNull();
    expect(modelCacheRole(get('https://app.example/models/%2e%2e/git-proxy/github.com/a/b.git/info/refs'), base)).toBeNull();
    expect(modelCacheRole(get('https://huggingface.co/models/x/config.json'), base)).toBeNull();
    expect(modelCacheRole(get('http://127.0.0.1:9000/models/x/config.json'), base)).toBeNull();
    expect(modelCacheRole(get('https://app.example/assets/index-abc.js'), base)).toBeNull();
    expect(modelCacheRole(get('https://app.example/models/c2l-base/'), base)).toBeNull();
    expect(modelCacheRole(get('https://app.example/models/c2l-base/config.json?x=1'), base)).toBeNull();
    expect(modelCacheRole(get('https://app.example/models/c2l-base/model.safetensors', { range: 'bytes=0-99' }), base)).toBeNull();
    expect(modelCacheRole({ ...get('https://app.example/models/c2l-base/config.json'), method: 'HEAD' }, base)).toBeNull();
    expect(modelCacheRole({ ...get('https://app.example/models/c2l-base/config.json'), method: 'POST' }, base)).toBeNull();
  });
});

describe('completeness', () => {
  it('takes a 200 with a Content-Length, expecting that many bytes', () => {
    expect(completeness(response('abc'))).toEqual({ complete: true, bytes: 3 });
    expect(completeness(response('', {}, 0))).toEqual({ complete: true, bytes: 0 });
  });

  it('refuses a partial, failed, redirected, opaque, no-store or unmeasured response', () => {
    expect(completeness(response('ab', { status: 206, headers: { 'content-range': 'bytes 0-1/10' } }))).toMatchObject({ complete: false, reason: 'HTTP 206' });
    expect(completeness(response('missing', { status: 404 }))).toMatchObject({ complete: false, reason: 'HTTP 404' });
    expect(completeness(response('oops', { status: 500 }))).toMatchObject({ complete: false });
    expect(completeness({ status: 200, type: 'opaque', headers: new Headers({ 'content-length': '3' }) })).toMatchObject({ complete: false });
    expect(completeness({ status: 200, type: 'basic', redirected: true, headers: new Headers({ 'content-length': '3' }) })).toMatchObject({ complete: false });
    expect(completeness(response('abc', { headers: { 'content-range': 'bytes 0-2/3' } }))).toMatchObject({ complete: false });
    expect(completeness(response('abc', { headers: { 'cache-control': 'private, no-store' } }))).toMatchObject({ complete: false });
    expect(completeness(response('abc', {}, null))).toEqual({ complete: false, reason: 'no Content-Length' });
    expect(completeness(response('abc', { headers: { 'content-length': 'lots' } }, null))).toEqual({ complete: false, reason: 'no Content-Length' });
  });

  it('takes a body compressed in transit without comparing lengths (the header counts compressed bytes)', () => {
    expect(completeness(response('{"a":1}', { headers: { 'content-encoding': 'gzip' } }, 20))).toEqual({ complete: true, bytes: null });
    expect(completeness(response('{"a":1}', { headers: { 'content-encoding': 'br' } }, null))).toEqual({ complete: true, bytes: null });
  });
});

describe('checkedLength', () => {
  const chunks = (...sizes: number[]) => new ReadableStream<Uint8Array>({
    start(controller) {
      for (const size of sizes) controller.enqueue(new Uint8Array(size));
      controller.close();
    },
  });

  it('passes a body of the expected length through', async () => {
    expect(await readAll(checkedLength(chunks(3, 4), 7))).toBe(7);
    expect(await readAll(checkedLength(chunks(3, 4), null))).toBe(7);
  });

  it('fails a body that ends short or runs long', async () => {
    await expect(readAll(checkedLength(chunks(3, 3), 7))).rejects.toBeInstanceOf(IncompleteBodyError);
    await expect(readAll(checkedLength(chunks(5, 5), 7))).rejects.toThrow('The body ended after 10 of 7 bytes');
  });
});

describe('checkedDigest', () => {
  const body = (chunks: string[]) => new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
      controller.close();
    },
  });
  const prefix = createHash('sha256').update('model weights, whole').digest('hex').slice(0, 16);

  it('passes a body whose SHA-256 begins with the prefix, in any chunking', async () => {
    expect(await readAll(checkedDigest(body(['model weights, whole']), prefix))).toBe(20);
    expect(await readAll(checkedDigest(body(['model', ' weights,', ' wh', 'ole']), prefix))).toBe(20);
  });

  it('fails a body with other content, e.g. the same file cut short', async () => {
    await expect(readAll(checkedDigest(body(['model weights, wh']), prefix))).rejects.toBeInstanceOf(DigestMismatchError);
  });
});

describe('keepIfComplete', () => {
  it('keeps a complete response (with extra headers) and hands on the same body', async () => {
    const cache = await new MemoryCacheStorage().open(MODEL_CACHE);
    const { response: handedOn, kept } = keepIfComplete(cache, 'https://app.example/models/a', response('weights'), { 'x-extra': '1' });
    expect(await handedOn.text()).toBe('weights');
    expect(await kept).toBe(true);
    const stored = (await cache.match('https://app.example/models/a'))!;
    expect(await stored.text()).toBe('weights');
    expect(stored.headers.get('x-extra')).toBe('1');
    expect(stored.headers.get('content-length')).toBe('7');
    expect(handedOn.headers.get('x-extra')).toBeNull();
  });

  it('keeps nothing when the body is shorter than its Content-Length; the caller sees the failure too', async () => {
    const cache = await new MemoryCacheStorage().open(MODEL_CACHE);
    const { response: handedOn, kept } = keepIfComplete(cache, 'https://app.example/models/a', response('only part', {}, 100));
    expect(await kept).toBe(false);
    expect(cache.entries.size).toBe(0);
    expect((await handedOn.text()).length).toBe(9); // the caller's own checks (the loaders compare with Content-Length) see it short
  });

  it('keeps nothing when the connection drops mid-body', async () => {
    const cache = await new MemoryCacheStorage().open(MODEL_CACHE);
    const broken = new Response(failingBody(new Uint8Array(10)), { headers: { 'content-length': '100' } });
    const { response: handedOn, kept } = keepIfComplete(cache, 'https://app.example/models/a', broken);
    await expect(handedOn.arrayBuffer()).rejects.toThrow();
    expect(await kept).toBe(false);
    expect(cache.entries.size).toBe(0);
  });

  it('does not keep a 206 or a 404, and hands it on untouched', async () => {
    const cache = await new MemoryCacheStorage().open(MODEL_CACHE);
    for (const partial of [response('ab', { status: 206, headers: { 'content-range': 'bytes 0-1/10' } }), response('no', { status: 404 })]) {
      const { response: handedOn, kept } = keepIfComplete(cache, 'https://app.example/models/a', partial);
      expect(handedOn).toBe(partial);
      expect(await kept).toBe(false);
    }
    expect(cache.entries.size).toBe(0);
  });

  it('keeps nothing when storage is full', async () => {
    const cache = await new MemoryCacheStorage().open(MODEL_CACHE);
    cache.quotaExceeded = true;
    const { response: handedOn, kept } = keepIfComplete(cache, 'https://app.example/models/a', response('weights'));
    expect(await handedOn.text()).toBe('weights');
    expect(await kept).toBe(false);
  });
});
