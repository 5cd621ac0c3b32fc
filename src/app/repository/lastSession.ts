// The session to reopen after a reload: which repository, which commit, whether its adapter was made. Plain data in localStorage; the clone and the file embeddings themselves stay in IndexedDB.

export interface LastSession {
  /** The repository URL as the user typed it. */
  url: string;
  depth: number;
  commit: string;
  /** True once the adapter for `commit` was made: reopening remakes it from cached embeddings. */
  adapter: boolean;
}

const STORAGE_KEY = 'code2lora-last-session-v1';

/** The saved session, or null when there is none or it is malformed (localStorage is untrusted). */
export function loadLastSession(): LastSession | null {
  try {
    const raw = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null') as Partial<LastSession> | null;
    if (!raw || typeof raw.url !== 'string' || raw.url.length > 2048 || typeof raw.commit !== 'string' || !/^[0-9a-f]{40}$/.test(raw.commit)) return null;
    const depth = Number.isInteger(raw.depth) && raw.depth! >= 1 && raw.depth! <= 10_000 ? raw.depth! : 200;
    return { url: raw.url, depth, commit: raw.commit, adapter: raw.adapter === true };
  } catch {
    return null;
  }
}

export function saveLastSession(session: LastSession): void {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  } catch {
    // Storage full or disabled: the session is not reopened after a reload, nothing else changes.
  }
}

/** Forgets the saved session (its repository was deleted): a reload starts empty instead of failing to reopen it. */
export function clearLastSession(): void {
  try {
    localStorage.removeItem(STORAGE_KEY);
  } catch {
    // Storage disabled: there is nothing saved to forget.
  }
}
