// The app shell: repository -> commits -> summary -> adapter -> completion, each stage with progress and errors; the session (repository, commit, adapter) survives a failed load, a cancel, a backend switch and a reload.
import { useCallback, useEffect, useRef, useState } from 'react';
import type { CommitInfo } from '../git/index.ts';
import type { BackendName } from '../model/backend.ts';
import { ProgressBar } from './shared/ProgressBar.tsx';
import { CommitList } from './timeline/CommitList.tsx';
import { DiffView } from './timeline/DiffView.tsx';
import { EditorPanel } from './editor/EditorPanel.tsx';
import { EvaluationPanel } from './evaluation/EvaluationPanel.tsx';
import { AdapterModeSwitch } from './adapter/AdapterModeSwitch.tsx';
import { AdapterFileInput, type AdapterFiles } from './adapter/AdapterFileInput.tsx';
import { AdapterPanel } from './adapter/AdapterPanel.tsx';
import { ModelPicker } from './settings/ModelPicker.tsx';
import { ModelStatus } from './settings/ModelStatus.tsx';
import { PipelineStages } from './repository/PipelineStages.tsx';
import { StallNotice, useStalled } from './shared/StallNotice.tsx';
import { clearLastSession, loadLastSession, saveLastSession, type LastSession } from './repository/lastSession.ts';
import { CancelledError } from './pipelineClient.ts';
import { loadSettings, saveSettings, type Settings } from './settings/settings.ts';
import { CachedModelFiles } from './cache/CachedModelFiles.tsx';
import { StoredRepositories } from './cache/StoredRepositories.tsx';
import { usePipeline } from './usePipeline.ts';
import type { EvaluationRequest } from './workers/evaluateRepo.ts';
import type {
  AdapterInfo, AdapterMode, BackendStatus, CommitDiff, CompletionModel, ModelInfo, Progress, RepoInfo, RepoSummary,
} from './workers/pipelineApi.ts';

interface AppError {
  stage: string;
  code?: string;
  message: string;
}

function toAppError(stage: string, err: unknown): AppError {
  const e = err as { code?: string; message?: string };
  return { stage, code: e?.code, message: e?.message ?? String(err) };
}

/** The user pressed Cancel: the git layer says so with a code, the other stages with an AbortSignal's AbortError. */
function isCancellation(err: unknown): boolean {
  const e = err as { code?: string; name?: string };
  return e?.code === 'CANCELLED' || e?.name === 'AbortError';
}

/** The worker was replaced for another reason than Cancel (a backend switch): nothing to tell the user. */
function isRestart(err: unknown): boolean {
  return err instanceof CancelledError && err.reason === 'restart';
}

/** Everything derived from the repository, as plain data; each result names the commit it was computed for. */
interface SessionView {
  repo: RepoInfo | null;
  commits: CommitInfo[];
  selected: string | null;
  diff: CommitDiff | null;
  summary: RepoSummary | null;
  adapter: AdapterInfo | null;
}

const NO_SESSION: SessionView = { repo: null, commits: [], selected: null, diff: null, summary: null, adapter: null };

const BACKEND_LABEL: Record<BackendName, string> = { webgpu: 'WebGPU', wasm: 'WASM' };

export function App() {
  const [settings, setSettings] = useState<Settings>(() => loadSettings(location.origin, location.search));
  const [backend, setBackend] = useState<BackendStatus | null>(null);
  const [model, setModel] = useState<ModelInfo | null>(null);
  const [smollm2Installed, setSmollm2Installed] = useState<boolean | null>(null);
  /** Bumped when the worker is replaced (a stuck cancel, a backend switch): the fresh one needs its model again. */
  const [workerGeneration, setWorkerGeneration] = useState(0);
  /** Bumped by the model picker's Load, so loading the same choice again (e.g. after a cancelled load) runs. */
  const [modelRequest, setModelRequest] = useState(0);
  const [url, setUrl] = useState(() => loadLastSession()?.url ?? '');
  const [progress, setProgress] = useState<Progress | null>(null);
  const pipeline = usePipeline(setProgress);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<AppError | null>(null);
  /** A neutral message (not an error), e.g. after the user cancelled. */
  const [notice, setNotice] = useState<string | null>(null);
  /** Read by screen readers (a polite live region): stages finished, results ready. */
  const [announcement, setAnnouncement] = useState('');
  const [session, setSession] = useState<SessionView>(NO_SESSION);
  const [focusCommits, setFocusCommits] = useState(0);
  /** The stage the current operation is in, for naming what failed. */
  const stage = useRef('clone');
  const sessionRef = useRef(session);
  sessionRef.current = session;
  /** What to reopen once the worker has its model: the last visit's session at first, the current one after a restart. */
  const reopen = useRef<LastSession | null>(loadLastSession());
  /** Set while the user cancels a model load: the worker that replaces the stuck one then waits for Load. */
  const holdModelLoad = useRef(false);
  const stalled = useStalled(progress, settings.stallSeconds);
  /** Evo by default when a trained Evo hypernetwork is loaded; the user's choice otherwise. */
  const adapterMode: AdapterMode = settings.adapterMode !== 'auto' ? settings.adapterMode
    : model?.evoHypernetwork.state === 'trained' ? 'evo' : 'static';
  const adapterModeRef = useRef(adapterMode);
  adapterModeRef.current = adapterMode;

  const update = useCallback((patch: Partial<SessionView>) => setSession((s) => ({ ...s, ...patch })), []);

  useEffect(() => saveSettings(settings), [settings]);

  useEffect(() => {
    const { repo, selected, adapter } = session;
    if (repo && selected) saveLastSession({ url: repo.url, depth: settings.historyDepth, commit: selected, adapter: adapter?.commit === selected });
  }, [session, settings.historyDepth]);

  useEffect(
    () => pipeline.onRestart(() => {
      // The fresh worker has no model, clone handle or adapter: reload the model, then reopen the session as far as it got.
      const { repo, selected, adapter } = sessionRef.current;
      if (repo && selected) reopen.current ??= { url: repo.url, depth: settings.historyDepth, commit: selected, adapter: adapter?.commit === selected };
      setSession((s) => ({ ...s, adapter: null }));
      if (!holdModelLoad.current) setWorkerGeneration((g) => g + 1);
    }),
    [pipeline, settings.historyDepth],
  );

  useEffect(() => {
    pipeline.call((api) => api.installedModels()).then((found) => setSmollm2Installed(found.smollm2), () => undefined);
  }, [pipeline, workerGeneration]);

  /** Diff, summary and (optionally) adapter of one commit, each shown as soon as it is there. */
  const analyse = useCallback(
    async (commit: string, { adapter }: { adapter: boolean }) => {
      stage.current = 'diff';
      update({ diff: await pipeline.call((api) => api.diff(commit)) });
      stage.current = 'parse';
      update({ summary: await pipeline.call((api, progress) => api.summarize(commit, progress)) });
      if (!adapter) return;
      await makeAdapter(commit);
    },
    [pipeline, update],
  );

  /** The adapter of `commit` in the current mode (Static: from its files; Evo: stepped along history). */
  async function makeAdapter(commit: string) {
    stage.current = 'adapter';
    const mode = adapterModeRef.current;
    const made = await pipeline.call((api, progress) => api.makeAdapter(commit, progress, mode));
    update({ adapter: made });
    setAnnouncement(made.evo
      ? `Evo adapter ready for ${commit.slice(0, 8)}: ${made.evo.steps} steps, ${made.evo.diffsEncoded} diffs encoded.`
      : `Adapter ready for ${commit.slice(0, 8)}: ${made.encodedFiles} files, ${made.cachedFiles} from cache.`);
  }

  /** PEFT files chosen by the user become the selected commit's adapter; a LoraError is the input's to show. */
  async function loadAdapterFile(files: AdapterFiles) {
    const commit = sessionRef.current.selected;
    if (!commit) return;
    const loaded = await pipeline.call((api) => api.loadAdapterFile({ commit, ...files }));
    update({ adapter: loaded });
    setAnnouncement(`Adapter loaded from ${files.name} for ${commit.slice(0, 8)}.`);
  }

  /** Reopens a stored clone without the network at `commit` (a reload, or a fresh worker after a restart). */
  const reopenSession = useCallback(
    async (last: LastSession) => {
      stage.current = 'reopen';
      let opened;
      try {
        opened = await pipeline.call((api) => api.open({ url: last.url, depth: last.depth }));
      } catch (err) {
        if ((err as { code?: string }).code !== 'NOT_CLONED') throw err;
        setNotice(`The last repository (${last.url}) is no longer stored in this browser: load it again.`);
        return;
      }
      const commit = opened.commits.some((c) => c.sha === last.commit) ? last.commit : opened.repo.head;
      setUrl((typed) => typed || last.url);
      setSession({ ...NO_SESSION, repo: opened.repo, commits: opened.commits, selected: commit });
      setAnnouncement(`Reopened ${opened.repo.name} at ${commit.slice(0, 8)}.`);
      await analyse(commit, { adapter: last.adapter });
    },
    [pipeline, analyse],
  );

  useEffect(() => {
    let live = true;
    setBusy(true);
    setModel(null);
    setSession((s) => ({ ...s, adapter: null }));
    setError(null);
    (async () => {
      stage.current = 'model';
      const status = await pipeline.call((api) => api.initBackend(settings.backend));
      if (!live) return;
      setBackend((known) => ({ ...status, available: status.available ?? known?.available ?? null }));
      const info = await pipeline.call((api, progress) => api.loadModel(settings.model, progress, { stallSeconds: settings.stallSeconds }));
      if (!live) return;
      setModel(info);
      setAnnouncement(`Model ready: ${info.name} on ${BACKEND_LABEL[status.backend]}.`);
      const last = reopen.current;
      reopen.current = null;
      if (last) await reopenSession(last);
    })()
      .catch((err) => {
        if (!live || isRestart(err)) return;
        if (!isCancellation(err)) setError(toAppError(stage.current, err));
        else if (stage.current === 'model') {
          holdModelLoad.current = true;
          setNotice('Cancelled: the model was not loaded. Choose Load under Settings to load it.');
        } else setNotice(`Cancelled: the ${stage.current} was stopped.`);
      })
      .finally(() => live && (setBusy(false), setProgress(null)));
    return () => {
      live = false;
    };
  }, [pipeline, settings.backend, settings.model, workerGeneration, modelRequest, reopenSession]);

  /** Both models' completions at once (the Complete button): progress, Cancel and an announcement like every stage. */
  const completeNow = useCallback(
    async (prompt: string) => {
      setBusy(true);
      setNotice(null);
      try {
        const request = (model: CompletionModel) => pipeline.call((api, progress) => api.complete({ prompt, maxNewTokens: settings.maxNewTokens, model }, progress));
        const adapted = await request('adapted');
        const base = (await request('base'))!;
        setAnnouncement(`Completion ready: ${adapted === null ? 'base model only' : `base and adapted for ${adapted.adapterCommit?.slice(0, 8)}`}.`);
        return { adapted, base };
      } catch (err) {
        if (isCancellation(err) && !isRestart(err)) setNotice('Cancelled: the completion was stopped.');
        throw err;
      } finally {
        setBusy(false);
        setProgress(null);
      }
    },
    [pipeline, settings.maxNewTokens],
  );

  /** One model's completion for the ghost text: no progress bar, cancelled by the next keystroke (its signal). */
  const completeQuietly = useCallback(
    (prompt: string, model: CompletionModel, signal: AbortSignal) => pipeline.call(
      (api) => api.complete({ prompt, maxNewTokens: settings.maxNewTokens, model }),
      { signal, stop: (api) => api.cancelCompletion() },
    ),
    [pipeline, settings.maxNewTokens],
  );
  /** "How much does it help here?": its own Cancel (the signal) stops the worker's evaluation and nothing else. */
  const evaluate = useCallback(
    (request: EvaluationRequest, signal: AbortSignal) => pipeline.call((api, progress) => api.evaluate(request, progress), { signal, stop: (api) => api.cancel() }),
    [pipeline],
  );
  const evaluationRunning = useCallback((running: boolean) => {
    setBusy(running);
    if (running) setNotice(null);
    else setProgress(null);
  }, []);
  const listFiles = useCallback((commit: string) => pipeline.call((api) => api.listFiles(commit)), [pipeline]);
  const readFile = useCallback((commit: string, path: string) => pipeline.call((api) => api.readFile(commit, path)), [pipeline]);

  /** Reports how an operation ended: a cancel as a notice, anything else as an error. */
  const reportFailure = useCallback((err: unknown, cancelled: string) => {
    if (isRestart(err)) return;
    if (isCancellation(err)) setNotice(cancelled);
    else setError(toAppError(stage.current, err));
  }, []);

  const cloneAndAnalyse = useCallback(async () => {
    setError(null);
    setNotice(null);
    setBusy(true);
    try {
      stage.current = 'clone';
      const result = await pipeline.call((api, progress) => api.clone({ url, depth: settings.historyDepth, corsProxy: settings.corsProxy }, progress));
      // Only a clone that worked replaces the session: a mistyped URL leaves the loaded repository as it was.
      setSession({ ...NO_SESSION, repo: result.repo, commits: result.commits, selected: result.repo.head });
      setFocusCommits((n) => n + 1);
      setAnnouncement(`Cloned ${result.repo.name}: ${result.commits.length} commits. Making the adapter for ${result.repo.head.slice(0, 8)}.`);
      await analyse(result.repo.head, { adapter: true });
    } catch (err) {
      reportFailure(err, `Cancelled: the ${stage.current} was stopped${stage.current === 'clone' ? ' and nothing was kept' : ''}.`);
    } finally {
      setBusy(false);
      setProgress(null);
    }
  }, [pipeline, url, settings, analyse, reportFailure]);

  const selectCommit = useCallback(
    async (sha: string) => {
      update({ selected: sha });
      setError(null);
      setNotice(null);
      setBusy(true);
      try {
        await analyse(sha, { adapter: true });
      } catch (err) {
        reportFailure(err, `Cancelled: the ${stage.current} was stopped.`);
      } finally {
        setBusy(false);
        setProgress(null);
      }
    },
    [analyse, update, reportFailure],
  );

  /** Stable, so the (memoised) commit list is not rendered again with every progress report. */
  const onSelectCommit = useCallback((sha: string) => void selectCommit(sha), [selectCommit]);

  /** Another mode: the selected commit's adapter is made again by the other hypernetwork. */
  const switchMode = useCallback(
    async (mode: AdapterMode) => {
      setSettings((s) => ({ ...s, adapterMode: mode }));
      adapterModeRef.current = mode;
      const { repo, selected } = sessionRef.current;
      if (!repo || !selected) return;
      setError(null);
      setNotice(null);
      setBusy(true);
      try {
        await makeAdapter(selected);
      } catch (err) {
        reportFailure(err, 'Cancelled: the adapter was not made.');
      } finally {
        setBusy(false);
        setProgress(null);
      }
    },
    // makeAdapter reads only refs, the pipeline and stable callbacks.
    [pipeline, reportFailure],
  );

  const cancel = useCallback(async () => {
    const running = backend ? BACKEND_LABEL[backend.backend] : 'compute';
    const outcome = await pipeline.cancel();
    holdModelLoad.current = false;
    if (outcome === 'restarted') {
      setNotice((said) => `${said ?? 'Cancelled.'} The ${running} backend did not stop within a second, so it was restarted.`);
    }
  }, [pipeline, backend]);

  /** Leaves a stalled or failed backend behind: a fresh worker on the other one, which resumes the session's work. */
  const switchBackend = useCallback(
    (next: BackendName, why = '') => {
      const { repo, selected } = sessionRef.current;
      if (repo && selected) reopen.current = { url: repo.url, depth: settings.historyDepth, commit: selected, adapter: true };
      setNotice(`${why}Switched to ${BACKEND_LABEL[next]}: loading the model again and resuming${repo ? ` ${repo.name} and its adapter` : ''}.`);
      setSettings((s) => ({ ...s, backend: next }));
      pipeline.restart();
    },
    [pipeline, settings.historyDepth],
  );

  // The GPU failed mid-work (device lost, out of memory): its model is gone, so the session moves to WASM.
  const backendRef = useRef(backend);
  backendRef.current = backend;
  useEffect(
    () => pipeline.onGpuFault((fault) => {
      if (backendRef.current?.backend !== 'webgpu') return;
      switchBackend('wasm', `${fault.message}. `);
    }),
    [pipeline, switchBackend],
  );

  const { repo, commits, selected, diff, summary, adapter } = session;
  return (
    <div className="app">
      <header>
        <h1>Code2LoRA-Web</h1>
        <span className="badge" data-testid="backend">
          {backend ? `tfjs backend: ${backend.backend}` : 'starting…'}
        </span>
        {model && (
          <span className="badge" data-testid="model-info" title={model.trained ? 'trained checkpoint' : 'randomly initialised: for testing the pipeline only'}>
            {model.name} · {(model.parameters / 1e6).toFixed(2)}M params · {(model.tensorBytes / 2 ** 20).toFixed(0)} MiB in memory{model.trained ? '' : ' · untrained'}
          </span>
        )}
      </header>
      {backend?.note && (
        <p className="muted" data-testid="backend-note">
          {backend.note}
        </p>
      )}
      {model && <ModelStatus model={model} />}
      <p className="sr-only" role="status" aria-live="polite" data-testid="announcer">
        {announcement}
      </p>

      <section className="panel">
        <h2>Repository</h2>
        <form
          className="row"
          onSubmit={(e) => {
            e.preventDefault();
            if (!busy && url.trim() && model) void cloneAndAnalyse();
          }}
        >
          <input aria-label="Repository URL" placeholder="https://github.com/owner/repo" value={url} onChange={(e) => setUrl(e.target.value)} readOnly={busy} />
          <label>
            history
            <input
              aria-label="History depth"
              type="number"
              min={1}
              max={10000}
              value={settings.historyDepth}
              onChange={(e) => setSettings({ ...settings, historyDepth: Math.max(1, Math.min(10000, Number(e.target.value) || 1)) })}
            />
            commits
          </label>
          {/* aria-disabled, not disabled: a disabled button would drop keyboard focus to the page while it works. */}
          <button type="submit" aria-disabled={busy || !url.trim() || !model}>
            Clone &amp; generate adapter
          </button>
        </form>
        <details>
          <summary>Settings</summary>
          <ModelPicker
            choice={settings.model}
            disabled={busy}
            smollm2Installed={smollm2Installed}
            onChoose={(choice) => {
              setSettings({ ...settings, model: choice });
              setModelRequest((n) => n + 1);
            }}
          />
          <label className="row">
            Compute
            <select
              aria-label="Backend"
              value={settings.backend}
              disabled={busy}
              onChange={(e) => {
                setSettings({ ...settings, backend: e.target.value as Settings['backend'] });
                pipeline.restart();
              }}
            >
              <option value="auto">auto (WebGPU on a hardware GPU, else WASM)</option>
              <option value="webgpu">WebGPU</option>
              <option value="wasm">WASM</option>
            </select>
            <small className="muted">changing it reloads the model</small>
          </label>
          <label className="row">
            CORS proxy for remote hosts
            <input aria-label="CORS proxy" value={settings.corsProxy} onChange={(e) => setSettings({ ...settings, corsProxy: e.target.value.trim() })} />
          </label>
        </details>
        <StoredRepositories
          pipeline={pipeline}
          disabled={busy}
          refreshKey={repo ? `${repo.url}|${repo.head}` : ''}
          onOpenDeleted={() => {
            setSession(NO_SESSION);
            clearLastSession();
          }}
        />
        <CachedModelFiles disabled={busy} refreshKey={model?.name ?? ''} />
        {(repo || progress?.stage === 'clone') && <PipelineStages progress={progress} repo={repo} selected={selected} summary={summary} adapter={adapter} />}
        {/* The evaluation shows its progress and Cancel in its own panel. */}
        {progress && progress.stage !== 'evaluate' && <ProgressBar testId={`progress-${progress.stage}`} progress={progress} onCancel={() => void cancel()} />}
        {progress && stalled && (
          <StallNotice
            progress={progress}
            seconds={settings.stallSeconds}
            backend={backend?.backend ?? null}
            available={backend?.available ?? ['wasm']}
            onSwitchBackend={switchBackend}
          />
        )}
        {notice && (
          <div className="notice" role="status" data-testid="notice">
            {notice}
          </div>
        )}
        {error && (
          <div className="error" role="alert" data-testid="error">
            <strong>{error.stage} failed{error.code ? ` (${error.code})` : ''}:</strong> {error.message}
            {/* Nothing of a failed load is kept: loading again starts over (the repository reopens once the model is there). */}
            {error.stage === 'model' && (
              <>
                {' '}
                <button type="button" onClick={() => setModelRequest((n) => n + 1)}>
                  Load again
                </button>
              </>
            )}
          </div>
        )}
        {repo && (
          <p data-testid="repo-info">
            {repo.name} @ {repo.branch} · {commits.length} commits · {(repo.bytes / 1024).toFixed(0)} KiB in {repo.seconds.toFixed(1)} s
            {repo.reused ? ' (updated existing clone)' : ''}
          </p>
        )}
      </section>

      {commits.length > 0 && (
        <section className="panel two-columns">
          <CommitList commits={commits} selected={selected} disabled={busy} focusRequest={focusCommits} onSelect={onSelectCommit} />
          <DiffView diff={diff} stale={!!diff && diff.commit !== selected} />
        </section>
      )}

      {summary && (
        <section className="panel" aria-busy={summary.commit !== selected} data-stale={summary.commit !== selected || undefined} data-testid="summary-panel">
          <h2>
            Code at {summary.commit.slice(0, 8)}
            {summary.commit !== selected && selected && <span className="stale-mark"> · outdated: reading {selected.slice(0, 8)}…</span>}
          </h2>
          <ul className="stats" data-testid="summary">
            <li><b data-testid="count-files">{summary.pythonFiles}</b> Python files</li>
            <li><b data-testid="count-functions">{summary.functions}</b> functions</li>
            <li><b data-testid="count-classes">{summary.classes}</b> classes</li>
            <li><b data-testid="count-tests">{summary.testFunctions}</b> test functions</li>
            <li><b data-testid="count-assertions">{summary.assertions}</b> test assertions</li>
            {summary.parseErrors > 0 && <li>{summary.parseErrors} files with syntax errors</li>}
          </ul>
        </section>
      )}

      {model && (
        <AdapterModeSwitch
          mode={adapterMode}
          staticStatus={model.hypernetwork}
          evoStatus={model.evoHypernetwork}
          disabled={busy}
          onChange={(mode) => void switchMode(mode)}
        />
      )}
      {model && repo && selected && <AdapterFileInput disabled={busy} onLoad={loadAdapterFile} />}
      {adapter && model && (
        <AdapterPanel adapter={adapter} hypernetwork={adapter.mode === 'evo' ? model.evoHypernetwork : model.hypernetwork} selected={selected} adapterFiles={() => pipeline.call((api) => api.adapterFiles())} />
      )}
      {model && (
        <EditorPanel
          commit={repo ? selected : null}
          disabled={busy}
          adapterCommit={adapter && adapter.commit === selected ? adapter.commit : null}
          listFiles={listFiles}
          readFile={readFile}
          complete={completeQuietly}
          completeNow={completeNow}
        />
      )}
      {model && repo && (
        <EvaluationPanel
          commit={selected}
          adapter={adapter}
          disabled={busy}
          progress={progress?.stage === 'evaluate' ? progress : null}
          taskLimit={settings.evaluationTasks}
          maxNewTokens={settings.maxNewTokens}
          onTaskLimitChange={(evaluationTasks) => setSettings((s) => ({ ...s, evaluationTasks }))}
          evaluate={evaluate}
          onRunningChange={evaluationRunning}
        />
      )}
    </div>
  );
}
