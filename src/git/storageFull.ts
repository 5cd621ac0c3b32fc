// Storage full: a browser write refused for quota becomes GitError STORAGE_FULL, saying how full storage is and what to delete.
import { GitError } from './errors.ts';
import { formatBytes } from './guardedHttp.ts';

/** What the user can delete to make room: the app's "Stored repositories" section offers both. */
export const STORAGE_FULL_ADVICE = 'remove repositories you no longer need under Stored repositories, or clear cached embeddings';

/**
 * True for the browser's "storage full" failure. IndexedDB rejects a write (idb-keyval's and LightningFS's promises
 * pass the transaction's error on unchanged) with a DOMException named QuotaExceededError; old Firefox names it
 * NS_ERROR_DOM_QUOTA_REACHED, and legacy code 22 is the same error.
 */
export function isQuotaExceeded(err: unknown): boolean {
  const e = err as { name?: unknown; code?: unknown } | null;
  return !!e && (e.name === 'QuotaExceededError' || e.name === 'NS_ERROR_DOM_QUOTA_REACHED' || (e instanceof DOMException && e.code === 22));
}

/** The origin's usage and quota as the browser reports them, or null where it does not (Node, old browsers, a refusal). */
export async function storageEstimate(): Promise<{ usage: number; quota: number } | null> {
  const storage = (globalThis as { navigator?: { storage?: { estimate?: () => Promise<StorageEstimate> } } }).navigator?.storage;
  if (!storage?.estimate) return null;
  try {
    const { usage, quota } = await storage.estimate();
    return typeof usage === 'number' && typeof quota === 'number' ? { usage, quota } : null;
  } catch {
    return null;
  }
}

/**
 * `err` as GitError STORAGE_FULL when it is a quota failure (`what` names the write: "the clone", "the embedding
 * cache"), with the usage of the quota when the browser says it; any other error is returned unchanged.
 * @example throw await asStorageFull(err, 'the clone') // STORAGE_FULL: Browser storage is full (1.9 GiB of 2.0 GiB used) ...
 */
export async function asStorageFull(err: unknown, what: string): Promise<unknown> {
  if (!isQuotaExceeded(err)) return err;
  const estimate = await storageEstimate();
  const used = estimate ? ` (${formatBytes(estimate.usage)} of ${formatBytes(estimate.quota)} used)` : '';
  return new GitError('STORAGE_FULL', `Browser storage is full${used}: ${what} could not be saved. To make room, ${STORAGE_FULL_ADVICE}.`, {
    usage: estimate?.usage, quota: estimate?.quota,
  });
}
