// User settings: plain data, validated on load (localStorage and URL parameters are untrusted), saved on change.
import type { BackendPreference } from '../../model/backend.ts';
import { DEFAULT_EVALUATION_TASKS, MAX_EVALUATION_TASKS } from '../../bench/evaluationLimits.ts';
import { isLocalModelName } from '../../offline/localModelStore.ts';
import type { AdapterMode, ModelChoice } from '../workers/pipelineApi.ts';

export interface Settings {
  /** Commits of history to fetch. */
  historyDepth: number;
  /** Prefix for cross-origin git hosts (isomorphic-git's corsProxy form); loopback URLs bypass it. */
  corsProxy: string;
  backend: BackendPreference;
  model: ModelChoice;
  maxNewTokens: number;
  /** A stage whose progress has not moved for this many seconds is reported as stalled, with a way out. */
  stallSeconds: number;
  /** Static or Evo adapters; `auto`: Evo when a trained Evo hypernetwork is loaded, else Static. */
  adapterMode: AdapterMode | 'auto';
  /** "How much does it help here?" scores at most this many of the repository's tasks (two completions each). */
  evaluationTasks: number;
}

const STORAGE_KEY = 'code2lora-settings-v1';

export function defaultSettings(origin: string): Settings {
  return {
    historyDepth: 200, corsProxy: `${origin}/git-proxy`, backend: 'auto', model: { kind: 'default' }, maxNewTokens: 32, stallSeconds: 30, adapterMode: 'auto',
    evaluationTasks: DEFAULT_EVALUATION_TASKS,
  };
}

function clampInt(value: unknown, min: number, max: number, fallback: number): number {
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isInteger(n) && n >= min && n <= max ? n : fallback;
}

function parseModel(value: unknown, fallback: ModelChoice): ModelChoice {
  const v = value as { kind?: unknown; url?: unknown; seed?: unknown; name?: unknown } | null;
  if (v?.kind === 'default') return { kind: 'default' };
  if (v?.kind === 'c2l-base') return { kind: 'c2l-base' };
  if (v?.kind === 'smollm2') return { kind: 'smollm2' };
  if (v?.kind === 'random-tiny') return { kind: 'random-tiny', seed: clampInt(v.seed, 0, 2 ** 31, 1) };
  if (v?.kind === 'url' && typeof v.url === 'string' && /^https?:\/\//.test(v.url) && v.url.length < 2048) return { kind: 'url', url: v.url };
  // Only the name is stored (files cannot be): a name that could not have been stored is never looked up.
  if (v?.kind === 'local' && isLocalModelName(v.name)) return { kind: 'local', name: v.name };
  return fallback;
}

function parseAdapterMode(value: unknown): Settings['adapterMode'] | null {
  return value === 'static' || value === 'evo' || value === 'auto' ? value : null;
}

/** Accepts anything; keeps only well-formed fields and falls back to defaults for the rest. */
export function sanitizeSettings(raw: unknown, defaults: Settings): Settings {
  const r = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const corsProxy = typeof r.corsProxy === 'string' && /^https?:\/\/[^\s]+$/.test(r.corsProxy) && r.corsProxy.length < 2048 ? r.corsProxy.replace(/\/+$/, '') : defaults.corsProxy;
  const backend = r.backend === 'webgpu' || r.backend === 'wasm' || r.backend === 'auto' ? r.backend : defaults.backend;
  return {
    historyDepth: clampInt(r.historyDepth, 1, 10_000, defaults.historyDepth),
    corsProxy,
    backend,
    model: parseModel(r.model, defaults.model),
    maxNewTokens: clampInt(r.maxNewTokens, 1, 256, defaults.maxNewTokens),
    stallSeconds: clampInt(r.stallSeconds, 1, 3600, defaults.stallSeconds),
    adapterMode: parseAdapterMode(r.adapterMode) ?? defaults.adapterMode,
    evaluationTasks: clampInt(r.evaluationTasks, 1, MAX_EVALUATION_TASKS, defaults.evaluationTasks),
  };
}

export function loadSettings(origin: string, search: string): Settings {
  const defaults = defaultSettings(origin);
  let stored: unknown = null;
  try {
    stored = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null');
  } catch {
    stored = null;
  }
  const settings = sanitizeSettings(stored, defaults);
  // URL parameters override storage for one visit (used by links and the e2e tests), e.g. ?model=random-tiny&backend=wasm&tokens=8&stall=5&mode=evo
  const params = new URLSearchParams(search);
  const model = params.get('model');
  if (model === 'random-tiny') settings.model = { kind: 'random-tiny', seed: clampInt(params.get('seed'), 0, 2 ** 31, 1) };
  else if (model === 'default' || model === 'c2l-base' || model === 'smollm2') settings.model = { kind: model };
  else if (model && /^https?:\/\//.test(model)) settings.model = { kind: 'url', url: model };
  const tokens = params.get('tokens');
  if (tokens) settings.maxNewTokens = clampInt(tokens, 1, 256, settings.maxNewTokens);
  const stall = params.get('stall');
  if (stall) settings.stallSeconds = clampInt(stall, 1, 3600, settings.stallSeconds);
  const backend = params.get('backend');
  if (backend === 'wasm' || backend === 'webgpu' || backend === 'auto') settings.backend = backend;
  settings.adapterMode = parseAdapterMode(params.get('mode')) ?? settings.adapterMode;
  return settings;
}

export function saveSettings(settings: Settings): void {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(settings));
  } catch {
    // Storage full or disabled: settings still apply for this visit.
  }
}
