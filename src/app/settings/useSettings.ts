// The user's settings: read once (localStorage, then the URL's parameters), saved whenever they change.
import { useCallback, useEffect, useState } from 'react';
import { loadSettings, saveSettings, type Settings } from './settings.ts';

export function useSettings() {
  const [settings, setSettings] = useState<Settings>(() => loadSettings(location.origin, location.search));
  useEffect(() => saveSettings(settings), [settings]);
  /** Stable: changes the given fields of the settings as they are when it runs. */
  const changeSettings = useCallback((patch: Partial<Settings>) => setSettings((s) => ({ ...s, ...patch })), []);
  return { settings, changeSettings };
}
