// The app's state as plain serialisable data, and the one pure function that changes it: the session derived from the repository, the backend and model, and what the user is told.
import type { CommitInfo } from '../git/index.ts';
import type { BackendName } from '../model/backend.ts';
import { CancelledError } from './pipelineClient.ts';
import type { LastSession } from './repository/lastSession.ts';
import type { Settings } from './settings/settings.ts';
import type {
  AdapterInfo, AdapterMode, BackendStatus, CommitDiff, ModelInfo, Progress, RepoInfo, RepoSummary,
} from './workers/pipelineApi.ts';

export const BACKEND_LABEL: Record<BackendName, string> = { webgpu: 'WebGPU', wasm: 'WASM' };

/** What failed, as shown: the stage it failed in, the error's code when it has one, its message. */
export interface AppError {
  stage: string;
  code?: string;
  message: string;
}

/** Everything derived from the repository; each result names the commit it was computed for. */
export interface SessionView {
  repo: RepoInfo | null;
  commits: CommitInfo[];
  selected: string | null;
  diff: CommitDiff | null;
  summary: RepoSummary | null;
  adapter: AdapterInfo | null;
}

export const NO_SESSION: SessionView = { repo: null, commits: [], selected: null, diff: null, summary: null, adapter: null };

/** What the user is told about the work in progress. */
export interface AppStatus {
  busy: boolean;
  progress: Progress | null;
  /** A neutral message (not an error), e.g. after the user cancelled. */
  notice: string | null;
  error: AppError | null;
  /** Read by screen readers (a polite live region): stages finished, results ready. */
  announcement: string;
}

export interface AppState {
  session: SessionView;
  status: AppStatus;
  backend: BackendStatus | null;
  model: ModelInfo | null;
  /** The repository URL as typed in the form. */
  url: string;
  /** Bumped by a clone: the commit list takes the keyboard focus. */
  focusCommits: number;
}

export function initialAppState(url: string): AppState {
  return {
    session: NO_SESSION,
    status: { busy: false, progress: null, notice: null, error: null, announcement: '' },
    backend: null,
    model: null,
    url,
    focusCommits: 0,
  };
}

export type AppAction =
  | { type: 'urlTyped'; url: string }
  /** A model load begins: the old model (and the adapter made for it) is gone; a notice (e.g. why the backend was switched) stays. */
  | { type: 'modelLoadStarted' }
  | { type: 'backendReady'; backend: BackendStatus }
  | { type: 'modelReady'; model: ModelInfo }
  /** A flow begins. `keepError`: the completion and the evaluation leave an earlier stage's error in view. */
  | { type: 'workStarted'; keepError?: boolean }
  | { type: 'workEnded' }
  | { type: 'progressed'; progress: Progress }
  /** The user chose a commit: its results are computed next, the shown ones are outdated until then. */
  | { type: 'commitSelected'; sha: string }
  | { type: 'cloned'; repo: RepoInfo; commits: CommitInfo[] }
  /** A stored clone reopened at `selected` (a reload or a restart); `url` fills the form unless the user typed one. */
  | { type: 'reopened'; url: string; repo: RepoInfo; commits: CommitInfo[]; selected: string }
  | { type: 'diffReady'; diff: CommitDiff }
  | { type: 'summaryReady'; summary: RepoSummary }
  /** `file`: the name of the PEFT file it was loaded from; absent when the hypernetwork made it. */
  | { type: 'adapterReady'; adapter: AdapterInfo; file?: string }
  /** The worker was replaced: its adapter is gone with it. */
  | { type: 'workerRestarted' }
  | { type: 'sessionForgotten' }
  | { type: 'failed'; error: AppError }
  | { type: 'noticed'; notice: string }
  /** A cancel did not stop the `backend` in time, so its worker was replaced: said after the cancel's own notice. */
  | { type: 'cancelOutlasted'; backend: string }
  | { type: 'announced'; announcement: string };

const short = (sha: string) => sha.slice(0, 8);

function adapterAnnouncement(adapter: AdapterInfo, file?: string): string {
  if (file) return `Adapter loaded from ${file} for ${short(adapter.commit)}.`;
  if (adapter.evo) return `Evo adapter ready for ${short(adapter.commit)}: ${adapter.evo.steps} steps, ${adapter.evo.diffsEncoded} diffs encoded.`;
  return `Adapter ready for ${short(adapter.commit)}: ${adapter.encodedFiles} files, ${adapter.cachedFiles} from cache.`;
}

export function appReducer(state: AppState, action: AppAction): AppState {
  const status = (patch: Partial<AppStatus>): AppState => ({ ...state, status: { ...state.status, ...patch } });
  const session = (patch: Partial<SessionView>): SessionView => ({ ...state.session, ...patch });
  switch (action.type) {
    case 'urlTyped':
      return { ...state, url: action.url };
    case 'modelLoadStarted':
      return { ...state, model: null, session: session({ adapter: null }), status: { ...state.status, busy: true, error: null } };
    case 'backendReady':
      // A status from a worker that did not ask the browser keeps what an earlier one found.
      return { ...state, backend: { ...action.backend, available: action.backend.available ?? state.backend?.available ?? null } };
    case 'modelReady': {
      const on = state.backend ? ` on ${BACKEND_LABEL[state.backend.backend]}` : '';
      return { ...status({ announcement: `Model ready: ${action.model.name}${on}.` }), model: action.model };
    }
    case 'workStarted':
      return status(action.keepError ? { busy: true, notice: null } : { busy: true, notice: null, error: null });
    case 'workEnded':
      return status({ busy: false, progress: null });
    case 'progressed':
      return status({ progress: action.progress });
    case 'commitSelected':
      return { ...state, session: session({ selected: action.sha }), status: { ...state.status, busy: true, notice: null, error: null } };
    case 'cloned': {
      const { repo, commits } = action;
      return {
        ...status({ announcement: `Cloned ${repo.name}: ${commits.length} commits. Making the adapter for ${short(repo.head)}.` }),
        session: { ...NO_SESSION, repo, commits, selected: repo.head },
        focusCommits: state.focusCommits + 1,
      };
    }
    case 'reopened': {
      const { repo, commits, selected } = action;
      return {
        ...status({ announcement: `Reopened ${repo.name} at ${short(selected)}.` }),
        session: { ...NO_SESSION, repo, commits, selected },
        url: state.url || action.url,
      };
    }
    case 'diffReady':
      return { ...state, session: session({ diff: action.diff }) };
    case 'summaryReady':
      return { ...state, session: session({ summary: action.summary }) };
    case 'adapterReady':
      return { ...status({ announcement: adapterAnnouncement(action.adapter, action.file) }), session: session({ adapter: action.adapter }) };
    case 'workerRestarted':
      return { ...state, session: session({ adapter: null }) };
    case 'sessionForgotten':
      return { ...state, session: NO_SESSION };
    case 'failed':
      return status({ error: action.error });
    case 'noticed':
      return status({ notice: action.notice });
    case 'cancelOutlasted':
      return status({ notice: `${state.status.notice ?? 'Cancelled.'} The ${action.backend} backend did not stop within a second, so it was restarted.` });
    case 'announced':
      return status({ announcement: action.announcement });
  }
}

/** Evo by default when a trained Evo hypernetwork is loaded; the user's choice otherwise. */
export function adapterModeOf(choice: Settings['adapterMode'], model: ModelInfo | null): AdapterMode {
  if (choice !== 'auto') return choice;
  return model?.evoHypernetwork.state === 'trained' ? 'evo' : 'static';
}

/** Where to reopen the session (after a reload or a restart); null before a commit is selected. */
export function resumePoint(session: SessionView, depth: number): LastSession | null {
  const { repo, selected, adapter } = session;
  if (!repo || !selected) return null;
  return { url: repo.url, depth, commit: selected, adapter: adapter?.commit === selected };
}

/** The user pressed Cancel: the git layer says so with a code, the other stages with an AbortSignal's AbortError. */
export function isCancellation(err: unknown): boolean {
  const e = err as { code?: string; name?: string };
  return e?.code === 'CANCELLED' || e?.name === 'AbortError';
}

/** The worker was replaced for another reason than Cancel (a backend switch): nothing to tell the user. */
export function isRestart(err: unknown): boolean {
  return err instanceof CancelledError && err.reason === 'restart';
}

export function toAppError(stage: string, err: unknown): AppError {
  const e = err as { code?: string; message?: string };
  return { stage, code: e?.code, message: e?.message ?? String(err) };
}

/** How an operation that failed in `stage` ends: nothing after a restart, `cancelled` as a notice after a cancel, an error otherwise. */
export function failureAction(err: unknown, stage: string, cancelled: string): AppAction | null {
  if (isRestart(err)) return null;
  if (isCancellation(err)) return { type: 'noticed', notice: cancelled };
  return { type: 'failed', error: toAppError(stage, err) };
}
