// User settings are untrusted (localStorage, URL parameters): anything malformed falls back to defaults, field by field.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaultSettings, loadSettings, sanitizeSettings } from '../src/app/settings/settings.ts';

const defaults = defaultSettings('http://127.0.0.1:5173');

describe('sanitizeSettings', () => {
  it('keeps well-formed values', () => {
    const settings = { historyDepth: 50, corsProxy: 'https://proxy.example/git/', backend: 'wasm', model: { kind: 'url', url: 'https://host/m/' }, maxNewTokens: 12, stallSeconds: 20, adapterMode: 'evo', evaluationTasks: 7 };
    expect(sanitizeSettings(settings, defaults)).toEqual({ ...settings, corsProxy: 'https://proxy.example/git' });
  });

  it.each([null, undefined, 42, 'text', [], { historyDepth: 'x' }])('falls back to the defaults for %j', (raw) => {
    expect(sanitizeSettings(raw, defaults)).toEqual(defaults);
  });

  it('rejects each malformed field on its own', () => {
    const sanitized = sanitizeSettings({
      historyDepth: -3, corsProxy: 'javascript:alert(1)', backend: 'cuda', model: { kind: 'url', url: 'file:///etc/passwd' }, maxNewTokens: 1e9,
    }, defaults);
    expect(sanitized).toEqual(defaults);
  });

  it('accepts every model kind, and only integers in range', () => {
    expect(sanitizeSettings({ model: { kind: 'smollm2' } }, defaults).model).toEqual({ kind: 'smollm2' });
    expect(sanitizeSettings({ model: { kind: 'c2l-base' } }, defaults).model).toEqual({ kind: 'c2l-base' });
    expect(sanitizeSettings({ model: { kind: 'default' } }, defaults).model).toEqual({ kind: 'default' });
    expect(sanitizeSettings({ model: { kind: 'random-tiny', seed: 7 } }, defaults).model).toEqual({ kind: 'random-tiny', seed: 7 });
    expect(sanitizeSettings({ model: { kind: 'random-tiny', seed: 1.5 } }, defaults).model).toEqual({ kind: 'random-tiny', seed: 1 });
    expect(sanitizeSettings({ historyDepth: 10_001 }, defaults).historyDepth).toBe(defaults.historyDepth);
    expect(sanitizeSettings({ historyDepth: 10_000 }, defaults).historyDepth).toBe(10_000);
    expect(sanitizeSettings({ evaluationTasks: 200 }, defaults).evaluationTasks).toBe(200);
    for (const evaluationTasks of [0, 201, 2.5, 'many']) expect(sanitizeSettings({ evaluationTasks }, defaults).evaluationTasks).toBe(defaults.evaluationTasks);
    expect(sanitizeSettings({ model: { kind: 'url', url: `https://h/${'x'.repeat(3000)}` } }, defaults).model).toEqual(defaults.model);
  });

  it('keeps a local model by a name that could have been stored, and falls back to the default for any other', () => {
    expect(sanitizeSettings({ model: { kind: 'local', name: 'c2l-base' } }, defaults).model).toEqual({ kind: 'local', name: 'c2l-base' });
    expect(sanitizeSettings({ model: { kind: 'local', name: 'SmolLM2.Q8_0', files: ['x'] } }, defaults).model).toEqual({ kind: 'local', name: 'SmolLM2.Q8_0' });
    for (const name of [undefined, '', '../../etc', '.hidden', 'a/b', 'x'.repeat(101), 7, { toString: 'c2l-base' }]) {
      expect(sanitizeSettings({ model: { kind: 'local', name } }, defaults).model).toEqual({ kind: 'default' });
    }
  });
});

describe('loadSettings', () => {
  afterEach(() => vi.unstubAllGlobals());
  const withStored = (stored: unknown) => vi.stubGlobal('localStorage', { getItem: () => JSON.stringify(stored), setItem: () => undefined });

  it('keeps settings stored before c2l-base became a choice of its own', () => {
    // code2lora-settings-v1 as earlier versions wrote it: "default" then meant c2l-base and now means SmolLM2 when installed.
    withStored({ historyDepth: 30, corsProxy: 'http://127.0.0.1:5173/git-proxy', backend: 'wasm', model: { kind: 'default' }, maxNewTokens: 16 });
    expect(loadSettings('http://127.0.0.1:5173', '')).toEqual({
      historyDepth: 30, corsProxy: 'http://127.0.0.1:5173/git-proxy', backend: 'wasm', model: { kind: 'default' }, maxNewTokens: 16, stallSeconds: 30, adapterMode: 'auto', evaluationTasks: 20,
    });
  });

  it('lets ?model= choose every kind for one visit', () => {
    withStored({ model: { kind: 'smollm2' } });
    const model = (search: string) => loadSettings('http://127.0.0.1:5173', search).model;
    expect(model('')).toEqual({ kind: 'smollm2' });
    expect(model('?model=c2l-base')).toEqual({ kind: 'c2l-base' });
    expect(model('?model=default')).toEqual({ kind: 'default' });
    expect(model('?model=random-tiny&seed=4')).toEqual({ kind: 'random-tiny', seed: 4 });
    expect(model('?model=https://host/m/')).toEqual({ kind: 'url', url: 'https://host/m/' });
    expect(model('?model=nonsense')).toEqual({ kind: 'smollm2' });
  });

  it('lets ?mode= choose Static or Evo adapters for one visit, and keeps only known modes', () => {
    withStored({ adapterMode: 'static' });
    const mode = (search: string) => loadSettings('http://127.0.0.1:5173', search).adapterMode;
    expect(mode('')).toBe('static');
    expect(mode('?mode=evo')).toBe('evo');
    expect(mode('?mode=auto')).toBe('auto');
    expect(mode('?mode=turbo')).toBe('static');
    expect(sanitizeSettings({ adapterMode: 'turbo' }, defaults).adapterMode).toBe('auto');
  });
});
