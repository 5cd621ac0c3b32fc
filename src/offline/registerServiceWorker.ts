// Registers the service worker of a built app (sw.js beside index.html) so that a later visit works without network; the dev server has none, and removes one left by a built app on the same address.

/** Registers `${base}sw.js` for the app's base; resolves with the registration, or null where there is none. */
export async function registerServiceWorker({ production, base }: { production: boolean; base: string }): Promise<ServiceWorkerRegistration | null> {
  if (typeof navigator === 'undefined' || !('serviceWorker' in navigator)) return null;
  try {
    if (!production) {
      // `vite` (dev) serves no sw.js: a worker from an earlier `npm start` on this address would answer with that build's page.
      for (const registration of await navigator.serviceWorker.getRegistrations()) await registration.unregister();
      return null;
    }
    return await navigator.serviceWorker.register(`${base}sw.js`, { scope: base });
  } catch (error) {
    // No offline use (e.g. an insecure context, or storage turned off); the app works on.
    console.warn(`Offline use is not available: ${(error as Error).message}`);
    return null;
  }
}
