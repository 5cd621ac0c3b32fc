// What the app keeps in Cache Storage for offline use, and the rules for it: which requests may be cached (the app's own files and model files, never the git CORS proxy or another origin) and which responses are complete enough to keep (a model file: only with the content digest its index gives).
import { Sha256 } from '../util/sha256.ts';

/** The app's own files (HTML, JS, CSS, wasm) of one build: `code2lora-app-<version>`, written by the service worker. */
export const APP_CACHE_PREFIX = 'code2lora-app-';
/** Model files under models/ (and models/index.json), kept when first fetched by the pipeline worker. */
export const MODEL_CACHE = 'code2lora-models';
/** The models/index.json version of a kept model file (its content digest), so a changed file on the server is fetched again. */
export const VERSION_HEADER = 'x-code2lora-version';
/** When a model file was kept (ISO 8601). */
export const STORED_HEADER = 'x-code2lora-stored';
/** The model index's path below the app's base. */
export const MODEL_INDEX_PATH = 'models/index.json';
/** The git CORS proxy's route below the app's base (server/gitProxy.ts): its answers are never cached. */
export const GIT_PROXY_PATH = 'git-proxy';

export function appCacheName(version: string): string {
  return `${APP_CACHE_PREFIX}${version}`;
}

/** A request as far as the cache rules look at it (a Request fits). */
export interface RequestLike {
  url: string;
  method: string;
  headers: { has(name: string): boolean };
}

/**
 * The path of `url` below the app's base ("models/c2l-base/config.json"), or null for another origin or a URL
 * outside the base. Queries and fragments are not part of a cacheable file's identity: a URL with a query is null too.
 */
export function pathBelowBase(url: string | URL, appBase: URL): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url, appBase);
  } catch {
    return null;
  }
  if (parsed.origin !== appBase.origin || parsed.search !== '') return null;
  const base = appBase.pathname.endsWith('/') ? appBase.pathname : `${appBase.pathname}/`;
  if (!parsed.pathname.startsWith(base)) return null;
  const path = parsed.pathname.slice(base.length);
  // Percent-encoded dots or slashes would let "models/..%2F" name something else on the server.
  if (/%2e|%2f|%5c/i.test(path) || path.split('/').some((segment) => segment === '..' || segment === '.')) return null;
  return path;
}

/** True for the git CORS proxy's route: relayed git traffic, never cached. */
export function isGitProxyPath(path: string): boolean {
  return path === GIT_PROXY_PATH || path.startsWith(`${GIT_PROXY_PATH}/`);
}

/**
 * What the model cache does with a request: 'index' (models/index.json, network first), 'model-file' (a file below
 * models/, kept once fetched), or null (not cached: another origin, the git proxy, not a GET, a Range request, a query).
 */
export function modelCacheRole(request: RequestLike, appBase: URL): 'index' | 'model-file' | null {
  if (request.method !== 'GET' || request.headers.has('range')) return null;
  const path = pathBelowBase(request.url, appBase);
  if (path === null || isGitProxyPath(path) || !path.startsWith('models/') || path.endsWith('/')) return null;
  return path === MODEL_INDEX_PATH ? 'index' : 'model-file';
}

/** A response as far as the completeness rules look at it (a Response fits). */
export interface ResponseLike {
  status: number;
  type: string;
  redirected?: boolean;
  headers: { get(name: string): string | null };
}

export type Completeness = { complete: true; bytes: number | null } | { complete: false; reason: string };

/**
 * Whether a response may be kept as the whole file: 200 (not a 206 part, an error or a redirect to elsewhere), from
 * this origin, not marked no-store, and with a Content-Length to check the stored body against. `bytes` is the body
 * length to expect once it is read: the Content-Length, or null when the body is compressed in transit (a header
 * would count compressed bytes: only a body that ends without error, which the browser checks against the transfer's
 * own framing, is known to be whole then).
 */
export function completeness(response: ResponseLike): Completeness {
  if (response.status !== 200) return { complete: false, reason: `HTTP ${response.status}` };
  if (response.type !== 'basic' && response.type !== 'default') return { complete: false, reason: `a ${response.type} response` };
  if (response.redirected) return { complete: false, reason: 'redirected' };
  if (response.headers.get('content-range')) return { complete: false, reason: 'a partial response (Content-Range)' };
  if (/(^|,)\s*no-store\s*(,|$)/i.test(response.headers.get('cache-control') ?? '')) return { complete: false, reason: 'Cache-Control: no-store' };
  const encoding = (response.headers.get('content-encoding') ?? 'identity').trim().toLowerCase();
  // A body compressed in transit reaches us decoded: its Content-Length (if any) counts other bytes than ours.
  if (encoding !== '' && encoding !== 'identity') return { complete: true, bytes: null };
  const lengthHeader = response.headers.get('content-length')?.trim() ?? null;
  if (lengthHeader === null || !/^\d+$/.test(lengthHeader) || !Number.isSafeInteger(Number(lengthHeader))) {
    return { complete: false, reason: 'no Content-Length' };
  }
  return { complete: true, bytes: Number(lengthHeader) };
}

/** The error a stored body fails with when it is not as long as its Content-Length. */
export class IncompleteBodyError extends Error {
  constructor(readonly expected: number, readonly received: number) {
    super(`The body ended after ${received} of ${expected} bytes`);
    this.name = 'IncompleteBodyError';
  }
}

/**
 * `body` passed through unchanged, failing at its end when it did not carry exactly `expected` bytes (null: any
 * length), so that Cache.put, which commits an entry only for a body that ends without error, keeps nothing.
 */
export function checkedLength(body: ReadableStream<Uint8Array>, expected: number | null): ReadableStream<Uint8Array> {
  let received = 0;
  return body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      received += chunk.byteLength;
      if (expected !== null && received > expected) throw new IncompleteBodyError(expected, received);
      controller.enqueue(chunk);
    },
    flush() {
      if (expected !== null && received !== expected) throw new IncompleteBodyError(expected, received);
    },
  }));
}

/** The error a stored body fails with when its SHA-256 is not the one its index gives. */
export class DigestMismatchError extends Error {
  constructor(readonly expected: string, readonly actual: string) {
    super(`The body's SHA-256 begins ${actual}, not ${expected}`);
    this.name = 'DigestMismatchError';
  }
}

/**
 * `body` passed through unchanged, failing at its end when its SHA-256 does not begin with `sha256Prefix` (hex), so
 * that Cache.put keeps nothing: a file cut short but sent whole (a short Content-Length, or a compressed answer that
 * ends cleanly early) has the length it says, not the content.
 */
export function checkedDigest(body: ReadableStream<Uint8Array>, sha256Prefix: string): ReadableStream<Uint8Array> {
  const hash = new Sha256();
  return body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      hash.update(chunk);
      controller.enqueue(chunk);
    },
    flush() {
      const actual = hash.hex().slice(0, sha256Prefix.length);
      if (actual !== sha256Prefix.toLowerCase()) throw new DigestMismatchError(sha256Prefix, actual);
    },
  }));
}

/**
 * Keeps `response` under `key` in `cache` only if it is complete ({@link completeness}) and its body is as long as
 * it says; returns the response to hand on (the original's body teed: the caller reads it while the copy is
 * written) and a promise of whether it was kept. A body that fails or ends short leaves no entry (Cache.put commits
 * nothing then); the caller's copy fails as the original does (a dropped connection) or arrives as it came (short:
 * the loaders check lengths themselves). `extraHeaders` are added to the kept copy. With `sha256Prefix` (a model
 * file's version in models/index.json) the body is kept only if its SHA-256 begins with it.
 */
export function keepIfComplete(
  cache: Pick<Cache, 'put'>, key: string, response: Response, extraHeaders: Record<string, string> = {}, { sha256Prefix }: { sha256Prefix?: string } = {},
): { response: Response; kept: Promise<boolean> } {
  const verdict = completeness(response);
  if (!verdict.complete || !response.body) return { response, kept: Promise.resolve(false) };
  const [forCaller, forCache] = response.body.tee();
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(extraHeaders)) headers.set(name, value);
  // A body compressed in transit is kept decoded: its headers then say so (no encoding, no length of other bytes).
  if (verdict.bytes === null) for (const name of ['content-encoding', 'content-length', 'transfer-encoding']) headers.delete(name);
  const init = { status: response.status, statusText: response.statusText };
  const checked = checkedLength(forCache, verdict.bytes);
  const kept = cache.put(key, new Response(sha256Prefix ? checkedDigest(checked, sha256Prefix) : checked, { ...init, headers }))
    .then(() => true, () => false);
  return { response: new Response(forCaller, { ...init, headers: response.headers }), kept };
}
