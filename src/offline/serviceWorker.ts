// The service worker (built to sw.js by server/serviceWorkerPlugin.ts, which fills in the build's file list and version): keeps this build's app files for offline use and answers for them; a new build's worker takes over at once and removes the old build's files.
import { appShellRoute, installAppShell, removeOtherBuilds, respondFromAppShell, type Precache } from './appShell.ts';

declare const __CODE2LORA_PRECACHE__: Precache;

// The few parts of the ServiceWorkerGlobalScope used here (the WebWorker lib's types clash with the DOM ones the app uses).
interface ExtendableEventLike extends Event {
  waitUntil(promise: Promise<unknown>): void;
}
interface FetchEventLike extends ExtendableEventLike {
  request: Request;
  respondWith(response: Promise<Response>): void;
}
interface ServiceWorkerScopeLike {
  registration: { scope: string };
  caches: CacheStorage;
  clients: { claim(): Promise<void> };
  skipWaiting(): Promise<void>;
  addEventListener(type: 'install' | 'activate', listener: (event: ExtendableEventLike) => void): void;
  addEventListener(type: 'fetch', listener: (event: FetchEventLike) => void): void;
}

const worker = self as unknown as ServiceWorkerScopeLike;
const precache = __CODE2LORA_PRECACHE__;
const scope = new URL(worker.registration.scope);
const fetchFn: typeof fetch = (input, init) => fetch(input, init);

worker.addEventListener('install', (event) => {
  event.waitUntil(installAppShell(worker.caches, scope, precache, fetchFn).then(() => worker.skipWaiting()));
});

worker.addEventListener('activate', (event) => {
  event.waitUntil(removeOtherBuilds(worker.caches, precache.version).then(() => worker.clients.claim()));
});

worker.addEventListener('fetch', (event) => {
  const route = appShellRoute(event.request, scope, precache);
  // Anything else (model files, the git proxy, other origins) is not answered here: the browser fetches it as usual.
  if (route) event.respondWith(respondFromAppShell(route, event.request, worker.caches, scope, precache, fetchFn));
});
