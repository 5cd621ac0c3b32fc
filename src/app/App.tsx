// The app shell: repository -> commits -> summary -> adapter -> completion, each stage with progress and errors.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import * as Comlink from 'comlink';
import type { CommitInfo, FileDiff } from '../git/index.ts';
import type { BackendName } from '../model/backend.ts';
import { ProgressBar } from './components/ProgressBar.tsx';
import { CommitList } from './components/CommitList.tsx';
import { DiffView } from './components/DiffView.tsx';
import { AdapterPanel } from './components/AdapterPanel.tsx';
import { CompletionPanel } from './components/CompletionPanel.tsx';
import { ModelPicker } from './components/ModelPicker.tsx';
import { ModelStatus } from './components/ModelStatus.tsx';
import { PipelineStages } from './components/PipelineStages.tsx';
import { loadSettings, saveSettings, type Settings } from './settings.ts';
import { usePipeline } from './usePipeline.ts';
import type { AdapterInfo, ModelInfo, Progress, RepoInfo, RepoSummary } from './workers/pipelineApi.ts';

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
  return e?.code === 'Cancelled' || e?.name === 'AbortError';
}

export function App() {
  const pipeline = usePipeline();
  const [settings, setSettings] = useState<Settings>(() => loadSettings(location.origin, location.search));
  const [backend, setBackend] = useState<BackendName | null>(null);
  const [model, setModel] = useState<ModelInfo | null>(null);
  const [url, setUrl] = useState('');
  const [progress, setProgress] = useState<Progress | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<AppError | null>(null);
  /** A neutral message (not an error), e.g. after the user cancelled. */
  const [notice, setNotice] = useState<string | null>(null);
  /** The stage the current operation is in, for naming what failed. */
  const stage = useRef('clone');
  const [repo, setRepo] = useState<RepoInfo | null>(null);
  const [commits, setCommits] = useState<CommitInfo[]>([]);
  const [selected, setSelected] = useState<string | null>(null);
  const [diff, setDiff] = useState<FileDiff[] | null>(null);
  const [summary, setSummary] = useState<RepoSummary | null>(null);
  const [adapter, setAdapter] = useState<AdapterInfo | null>(null);

  const onProgress = useMemo(() => Comlink.proxy((p: Progress) => setProgress(p)), []);

  useEffect(() => saveSettings(settings), [settings]);

  useEffect(() => {
    let live = true;
    setBusy(true);
    setModel(null);
    setAdapter(null);
    setError(null);
    pipeline
      .initBackend(settings.backend)
      .then(async (active) => {
        if (!live) return;
        setBackend(active);
        const info = await pipeline.loadModel(settings.model, onProgress);
        if (live) setModel(info);
      })
      .catch((err) => live && setError(toAppError('model', err)))
      .finally(() => live && (setBusy(false), setProgress(null)));
    return () => {
      live = false;
    };
  }, [pipeline, settings.backend, settings.model, onProgress]);

  const complete = useCallback(
    async (prompt: string) => {
      setBusy(true);
      try {
        return await pipeline.complete({ prompt, maxNewTokens: settings.maxNewTokens }, onProgress);
      } finally {
        setBusy(false);
        setProgress(null);
      }
    },
    [pipeline, settings.maxNewTokens, onProgress],
  );

  const analyse = useCallback(
    async (commit: string) => {
      stage.current = 'parse';
      setSummary(await pipeline.summarize(commit, onProgress));
      stage.current = 'adapter';
      setAdapter(await pipeline.makeAdapter(commit, onProgress));
    },
    [pipeline, onProgress],
  );

  const cloneAndAnalyse = useCallback(async () => {
    setError(null);
    setNotice(null);
    setBusy(true);
    setRepo(null);
    setCommits([]);
    setSummary(null);
    setAdapter(null);
    setDiff(null);
    try {
      stage.current = 'clone';
      const result = await pipeline.clone({ url, depth: settings.historyDepth, corsProxy: settings.corsProxy }, onProgress);
      setRepo(result.repo);
      setCommits(result.commits);
      setSelected(result.repo.head);
      await analyse(result.repo.head);
    } catch (err) {
      if (isCancellation(err)) setNotice(`Cancelled: the ${stage.current} was stopped${stage.current === 'clone' ? ' and nothing was kept' : ''}.`);
      else setError(toAppError(stage.current, err));
    } finally {
      setBusy(false);
      setProgress(null);
    }
  }, [pipeline, url, settings, onProgress, analyse]);

  const selectCommit = useCallback(
    async (sha: string) => {
      setSelected(sha);
      setError(null);
      setNotice(null);
      setBusy(true);
      try {
        stage.current = 'diff';
        setDiff(await pipeline.diff(sha));
        await analyse(sha);
      } catch (err) {
        if (isCancellation(err)) setNotice(`Cancelled: the ${stage.current} was stopped.`);
        else setError(toAppError(stage.current, err));
      } finally {
        setBusy(false);
        setProgress(null);
      }
    },
    [pipeline, analyse],
  );

  return (
    <div className="app">
      <header>
        <h1>Code2LoRA-Web</h1>
        <span className="badge" data-testid="backend">
          {backend ? `tfjs backend: ${backend}` : 'starting…'}
        </span>
        {model && (
          <span className="badge" data-testid="model-info" title={model.trained ? 'trained checkpoint' : 'randomly initialised: for testing the pipeline only'}>
            {model.name} · {(model.parameters / 1e6).toFixed(2)}M params{model.trained ? '' : ' · untrained'}
          </span>
        )}
      </header>
      {model && <ModelStatus model={model} />}

      <section className="panel">
        <h2>Repository</h2>
        <form
          className="row"
          onSubmit={(e) => {
            e.preventDefault();
            void cloneAndAnalyse();
          }}
        >
          <input
            aria-label="Repository URL"
            placeholder="https://github.com/owner/repo"
            value={url}
            onChange={(e) => setUrl(e.target.value)}
            disabled={busy}
          />
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
          <button type="submit" disabled={busy || !url.trim() || !model}>
            Clone &amp; generate adapter
          </button>
        </form>
        <details>
          <summary>Settings</summary>
          <ModelPicker choice={settings.model} disabled={busy} onChoose={(choice) => setSettings({ ...settings, model: choice })} />
          <label className="row">
            Compute
            <select aria-label="Backend" value={settings.backend} disabled={busy} onChange={(e) => setSettings({ ...settings, backend: e.target.value as Settings['backend'] })}>
              <option value="auto">auto (WebGPU if available, else WASM)</option>
              <option value="webgpu">WebGPU</option>
              <option value="wasm">WASM</option>
            </select>
            <small className="muted">applies after a reload</small>
          </label>
          <label className="row">
            CORS proxy for remote hosts
            <input aria-label="CORS proxy" value={settings.corsProxy} onChange={(e) => setSettings({ ...settings, corsProxy: e.target.value.trim() })} />
          </label>
        </details>
        {(repo || progress?.stage === 'clone') && <PipelineStages progress={progress} repo={repo} summary={summary} adapter={adapter} />}
        {progress && <ProgressBar testId={`progress-${progress.stage}`} stage={progress} onCancel={() => void pipeline.cancel()} />}
        {notice && (
          <div className="notice" role="status" data-testid="notice">
            {notice}
          </div>
        )}
        {error && (
          <div className="error" role="alert" data-testid="error">
            <strong>{error.stage} failed{error.code ? ` (${error.code})` : ''}:</strong> {error.message}
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
          <CommitList commits={commits} selected={selected} disabled={busy} onSelect={(sha) => void selectCommit(sha)} />
          <DiffView diff={diff} />
        </section>
      )}

      {summary && (
        <section className="panel">
          <h2>Code at {summary.commit.slice(0, 8)}</h2>
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

      {adapter && model && <AdapterPanel adapter={adapter} hypernetwork={model.hypernetwork} pipeline={pipeline} />}
      {model && <CompletionPanel onComplete={complete} disabled={busy} />}
    </div>
  );
}
