// The service worker's work, apart from its event wiring (serviceWorker.ts): keep one build's app files (HTML, JS, CSS, wasm) under a versioned cache name, drop other builds' caches, and answer requests for them (the page network first, so an online reload always gets the newest build; the hashed files cache first). Model files, the git proxy and other origins are left to the network.
import { APP_CACHE_PREFIX, appCacheName, isGitProxyPath, keepIfComplete, pathBelowBase, type RequestLike } from './cachePolicy.ts';

/** The build's app files, as paths below the service worker's scope ("index.html", "assets/index-abc.js"). */
export interface Precache {
  version: string;
  files: string[];
}

/** The page the app is: the scope itself and index.html both open it. */
const PAGE = 'index.html';

/**
 * Fetches every file of `precache` (past the HTTP cache) into the build's cache. All or nothing: a file that fails
 * or arrives incomplete fails the install and removes the half-filled cache, so an older build's cache stays in use.
 */
export async function installAppShell(caches: CacheStorage, scope: URL, precache: Precache, fetchFn: typeof fetch): Promise<void> {
  const name = appCacheName(precache.version);
  const cache = await caches.open(name);
  try {
    await Promise.all(precache.files.map(async (file) => {
      const url = new URL(file, scope).href;
      const response = await fetchFn(new Request(url, { cache: 'reload', credentials: 'same-origin' }));
      const { response: handedOn, kept } = keepIfComplete(cache, url, response);
      await handedOn.body?.cancel();
      if (!(await kept)) throw new Error(`Could not keep ${file} for offline use (HTTP ${response.status})`);
    }));
  } catch (error) {
    await caches.delete(name);
    throw error;
  }
}

/** Deletes the app caches of other builds (never the model cache: model files do not change with the build). */
export async function removeOtherBuilds(caches: CacheStorage, version: string): Promise<string[]> {
  const current = appCacheName(version);
  const stale = (await caches.keys()).filter((name) => name.startsWith(APP_CACHE_PREFIX) && name !== current);
  await Promise.all(stale.map((name) => caches.delete(name)));
  return stale;
}

/** What the service worker does with a request: 'page' (network first, the kept page offline), 'file' (a kept app file, cache first), or null (left to the network). */
export function appShellRoute(request: RequestLike & { mode?: string }, scope: URL, precache: Precache): 'page' | 'file' | null {
  if (request.method !== 'GET' || request.headers.has('range')) return null;
  const url = new URL(request.url);
  // The page may carry settings in its query (?model=c2l-base); files never do.
  const path = pathBelowBase(`${url.origin}${url.pathname}`, scope);
  if (path === null || isGitProxyPath(path) || path.startsWith('models/')) return null;
  if (request.mode === 'navigate') return path === '' || path === PAGE ? 'page' : null;
  return url.search === '' && url.hash === '' && precache.files.includes(path) ? 'file' : null;
}

/** The answer for a request that {@link appShellRoute} routed. */
export async function respondFromAppShell(
  route: 'page' | 'file', request: Request, caches: CacheStorage, scope: URL, precache: Precache, fetchFn: typeof fetch,
): Promise<Response> {
  const name = appCacheName(precache.version);
  if (route === 'page') {
    try {
      return await fetchFn(request);
    } catch (error) {
      const kept = await (await caches.open(name)).match(new URL(PAGE, scope).href);
      if (kept) return kept;
      throw error;
    }
  }
  const kept = await (await caches.open(name)).match(request.url);
  return kept ?? fetchFn(request);
}
