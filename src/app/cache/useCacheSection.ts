// What the cache sections share: a list read again when the section is open (and when `refreshKey` changes), and
// actions that say what they did or why they failed, each followed by reading the list again.
import { useCallback, useEffect, useState } from 'react';

export function useCacheSection<View>({ read, readError, refreshKey }: {
  /** Reads the list; null: nothing to read here (e.g. no Cache Storage). */
  read: (() => Promise<View>) | null;
  /** The message when reading fails, before the error's own. */
  readError: string;
  refreshKey: string;
}) {
  const [expanded, setExpanded] = useState(false);
  const [view, setView] = useState<View | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const refresh = useCallback(async () => {
    if (!read) return;
    try {
      setView(await read());
    } catch (err) {
      setError(`${readError}: ${(err as Error).message}`);
    }
  }, [read, readError]);

  useEffect(() => {
    if (expanded) void refresh();
  }, [expanded, refresh, refreshKey]);

  /** Runs one action, says what it did (its result) or why it failed (the error's code and message), and reads the list again. */
  async function act(action: () => Promise<string>) {
    setDone(null);
    setError(null);
    try {
      setDone(await action());
    } catch (err) {
      const e = err as { code?: string; message?: string };
      setError(`${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`);
    }
    await refresh();
  }

  return { expanded, setExpanded, view, done, error, act };
}
