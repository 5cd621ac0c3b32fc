// The app's state transitions: what a clone, a failure, a cancel, a commit choice, a model load and a restart keep and drop; and that the state stays plain data.
import { describe, expect, it } from 'vitest';
import {
  adapterModeOf, appReducer, failureAction, initialAppState, NO_SESSION, resumePoint, type AppAction, type AppState,
} from '../src/app/appState.ts';
import { CancelledError } from '../src/app/pipelineClient.ts';
import { GitError } from '../src/git/errors.ts';
import type { CommitInfo } from '../src/git/index.ts';
import type { AdapterInfo, BackendStatus, CommitDiff, ModelInfo, RepoInfo, RepoSummary } from '../src/app/workers/pipelineApi.ts';

const repoInfo = (name: string, head: string): RepoInfo => ({ url: `https://example.test/${name}`, name, head, branch: 'main', reused: false, bytes: 2048, seconds: 1.5 });
const commit = (sha: string): CommitInfo => ({ sha, parents: [], author: { name: 'A', email: 'a@example.test' }, timestamp: 1, message: `commit ${sha}` });
const diffOf = (sha: string): CommitDiff => ({ commit: sha, files: [], leftOut: [] });
const summaryOf = (sha: string): RepoSummary => ({
  commit: sha, pythonFiles: 3, testFiles: 1, functions: 7, classes: 2, testFunctions: 4, assertions: 9, parseErrors: 0, skipped: {}, seconds: 0.2,
});
// Only the fields the reducer reads are filled in: the rest of an adapter is the worker's to describe.
const adapterOf = (sha: string, extra: Partial<AdapterInfo> = {}) => ({ commit: sha, mode: 'static', evo: null, encodedFiles: 3, cachedFiles: 1, ...extra }) as AdapterInfo;
const modelOf = (evo: 'trained' | 'none') => ({ name: 'c2l-base', evoHypernetwork: { state: evo } }) as unknown as ModelInfo;

const run = (state: AppState, ...actions: AppAction[]) => actions.reduce(appReducer, state);

/** A repository `one` loaded at `aaaa…` with every result in. */
function loaded(): AppState {
  const repo = repoInfo('one', 'a'.repeat(40));
  return run(
    initialAppState('https://example.test/one'),
    { type: 'cloned', repo, commits: [commit(repo.head), commit('b'.repeat(40))] },
    { type: 'diffReady', diff: diffOf(repo.head) },
    { type: 'summaryReady', summary: summaryOf(repo.head) },
    { type: 'adapterReady', adapter: adapterOf(repo.head) },
    { type: 'workEnded' },
  );
}

describe('appReducer', () => {
  it('a clone replaces the whole session, selects the head, moves the focus to the commits and says so', () => {
    const before = loaded();
    const repo = repoInfo('two', 'c'.repeat(40));
    const after = appReducer(before, { type: 'cloned', repo, commits: [commit(repo.head)] });
    expect(after.session).toEqual({ ...NO_SESSION, repo, commits: [commit(repo.head)], selected: repo.head });
    expect(after.focusCommits).toBe(before.focusCommits + 1);
    expect(after.status.announcement).toBe('Cloned two: 1 commits. Making the adapter for cccccccc.');
  });

  it('a clone that fails leaves the loaded session as it was and names the stage and code', () => {
    const before = loaded();
    const started = run(before, { type: 'urlTyped', url: 'https://example.test/typo' }, { type: 'workStarted' }, { type: 'progressed', progress: { stage: 'clone', done: 3, unit: 'objects' } });
    const failure = failureAction(new GitError('NOT_FOUND', 'No repository at that URL'), 'clone', 'Cancelled: the clone was stopped.');
    const after = run(started, failure!, { type: 'workEnded' });
    expect(after.session).toBe(before.session);
    expect(after.status).toEqual({ busy: false, progress: null, notice: null, error: { stage: 'clone', code: 'NOT_FOUND', message: 'No repository at that URL' }, announcement: before.status.announcement });
    expect(after.url).toBe('https://example.test/typo');
  });

  it('a cancel is a notice, not an error; a restart says nothing', () => {
    expect(failureAction(new CancelledError('cancel'), 'parse', 'Cancelled: the parse was stopped.')).toEqual({ type: 'noticed', notice: 'Cancelled: the parse was stopped.' });
    expect(failureAction(new DOMException('stopped', 'AbortError'), 'adapter', 'x')).toEqual({ type: 'noticed', notice: 'x' });
    expect(failureAction(new CancelledError('restart'), 'adapter', 'x')).toBeNull();
    expect(failureAction(new Error('boom'), 'adapter', 'x')).toEqual({ type: 'failed', error: { stage: 'adapter', code: undefined, message: 'boom' } });
  });

  it('selecting a commit keeps the older results, which then name another commit (outdated), and clears what was said', () => {
    const before = run(loaded(), { type: 'noticed', notice: 'Cancelled: the diff was stopped.' }, { type: 'failed', error: { stage: 'parse', message: 'bad' } });
    const other = 'b'.repeat(40);
    const after = appReducer(before, { type: 'commitSelected', sha: other });
    expect(after.session.selected).toBe(other);
    expect(after.session.summary?.commit).not.toBe(other);
    expect(after.session.diff).toBe(before.session.diff);
    expect(after.session.adapter).toBe(before.session.adapter);
    expect(after.status).toMatchObject({ busy: true, notice: null, error: null });
    // The adapter no longer belongs to the selected commit: a reload would not reopen it.
    expect(resumePoint(after.session, 20)).toEqual({ url: 'https://example.test/one', depth: 20, commit: other, adapter: false });
  });

  it('a worker restart drops the adapter and keeps the rest of the session', () => {
    const before = loaded();
    const after = appReducer(before, { type: 'workerRestarted' });
    expect(after.session).toEqual({ ...before.session, adapter: null });
  });

  it('a model load drops the model and the adapter, clears the error, and keeps the notice that explains it', () => {
    const before = run(loaded(), { type: 'modelReady', model: modelOf('none') }, { type: 'failed', error: { stage: 'adapter', message: 'x' } }, { type: 'noticed', notice: 'Switched to WASM.' });
    const after = appReducer(before, { type: 'modelLoadStarted' });
    expect(after.model).toBeNull();
    expect(after.session).toEqual({ ...before.session, adapter: null });
    expect(after.status).toMatchObject({ busy: true, error: null, notice: 'Switched to WASM.' });
  });

  it('a backend status that did not ask the browser keeps the backends an earlier one found', () => {
    const first: BackendStatus = { backend: 'webgpu', note: null, available: ['webgpu', 'wasm'] };
    const second: BackendStatus = { backend: 'wasm', note: 'switched', available: null };
    const after = run(initialAppState(''), { type: 'backendReady', backend: first }, { type: 'backendReady', backend: second });
    expect(after.backend).toEqual({ backend: 'wasm', note: 'switched', available: ['webgpu', 'wasm'] });
    expect(appReducer(after, { type: 'modelReady', model: modelOf('none') }).status.announcement).toBe('Model ready: c2l-base on WASM.');
  });

  it('the completion and the evaluation leave an earlier error in view; the other flows clear it', () => {
    const failed = appReducer(loaded(), { type: 'failed', error: { stage: 'adapter', message: 'x' } });
    expect(appReducer(failed, { type: 'workStarted', keepError: true }).status.error).toEqual({ stage: 'adapter', message: 'x' });
    expect(appReducer(failed, { type: 'workStarted' }).status.error).toBeNull();
  });

  it('a reopened session fills the URL field only when the user typed nothing', () => {
    const repo = repoInfo('one', 'a'.repeat(40));
    const reopen: AppAction = { type: 'reopened', url: 'https://example.test/one', repo, commits: [commit(repo.head)], selected: repo.head };
    expect(appReducer(initialAppState(''), reopen).url).toBe('https://example.test/one');
    expect(appReducer(initialAppState('https://example.test/typed'), reopen).url).toBe('https://example.test/typed');
    expect(appReducer(initialAppState(''), reopen).status.announcement).toBe('Reopened one at aaaaaaaa.');
  });

  it('announces each kind of adapter by what made it', () => {
    const sha = 'd'.repeat(40);
    const announce = (action: AppAction) => appReducer(initialAppState(''), action).status.announcement;
    expect(announce({ type: 'adapterReady', adapter: adapterOf(sha) })).toBe('Adapter ready for dddddddd: 3 files, 1 from cache.');
    expect(announce({ type: 'adapterReady', adapter: adapterOf(sha, { mode: 'evo', evo: { steps: 5, diffsEncoded: 4 } as AdapterInfo['evo'] }) }))
      .toBe('Evo adapter ready for dddddddd: 5 steps, 4 diffs encoded.');
    expect(announce({ type: 'adapterReady', adapter: adapterOf(sha), file: 'adapter.safetensors' })).toBe('Adapter loaded from adapter.safetensors for dddddddd.');
  });

  it('a cancel that outlasted the grace period adds the restart to what the cancel said', () => {
    const said = appReducer(initialAppState(''), { type: 'noticed', notice: 'Cancelled: the parse was stopped.' });
    expect(appReducer(said, { type: 'cancelOutlasted', backend: 'WebGPU' }).status.notice)
      .toBe('Cancelled: the parse was stopped. The WebGPU backend did not stop within a second, so it was restarted.');
    expect(appReducer(initialAppState(''), { type: 'cancelOutlasted', backend: 'WASM' }).status.notice)
      .toBe('Cancelled. The WASM backend did not stop within a second, so it was restarted.');
  });

  it('progress reports leave the session object alone (what is saved for the next visit is not written again)', () => {
    const before = loaded();
    expect(appReducer(before, { type: 'progressed', progress: { stage: 'parse', done: 1, total: 3, unit: 'files' } }).session).toBe(before.session);
  });

  it('forgetting the session empties it', () => {
    expect(appReducer(loaded(), { type: 'sessionForgotten' }).session).toEqual(NO_SESSION);
  });

  it('is plain data: it survives a JSON round trip', () => {
    const state = run(loaded(), { type: 'modelReady', model: modelOf('trained') }, { type: 'failed', error: { stage: 'parse', code: 'NOT_PYTHON', message: 'm' } });
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
  });
});

describe('adapterModeOf', () => {
  it('follows the user’s choice, else Evo only with a trained Evo hypernetwork', () => {
    expect(adapterModeOf('static', modelOf('trained'))).toBe('static');
    expect(adapterModeOf('evo', null)).toBe('evo');
    expect(adapterModeOf('auto', modelOf('trained'))).toBe('evo');
    expect(adapterModeOf('auto', modelOf('none'))).toBe('static');
    expect(adapterModeOf('auto', null)).toBe('static');
  });
});

describe('resumePoint', () => {
  it('is null until a commit is selected, and reopens the adapter only when it is the selected commit’s', () => {
    expect(resumePoint(NO_SESSION, 20)).toBeNull();
    expect(resumePoint(loaded().session, 50)).toEqual({ url: 'https://example.test/one', depth: 50, commit: 'a'.repeat(40), adapter: true });
  });
});
