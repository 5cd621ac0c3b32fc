// The app shell: repository -> commits -> summary -> adapter -> completion laid out; the flows live in each feature's hook, the state in appState.ts.
import { adapterModeOf } from './appState.ts';
import { AdapterFileInput } from './adapter/AdapterFileInput.tsx';
import { AdapterModeSwitch } from './adapter/AdapterModeSwitch.tsx';
import { AdapterPanel } from './adapter/AdapterPanel.tsx';
import { CachedModelFiles } from './cache/CachedModelFiles.tsx';
import { StoredRepositories } from './cache/StoredRepositories.tsx';
import { EditorPanel } from './editor/EditorPanel.tsx';
import { useCompletion } from './editor/useCompletion.ts';
import { EvaluationPanel } from './evaluation/EvaluationPanel.tsx';
import { useEvaluation } from './evaluation/useEvaluation.ts';
import { PipelineStages } from './repository/PipelineStages.tsx';
import { RepositoryForm } from './repository/RepositoryForm.tsx';
import { RepositoryInfo } from './repository/RepositoryInfo.tsx';
import { SummaryPanel } from './repository/SummaryPanel.tsx';
import { useRepositoryFlows } from './repository/useRepositoryFlows.ts';
import { AppHeader } from './settings/AppHeader.tsx';
import { SettingsPanel } from './settings/SettingsPanel.tsx';
import { useBackendControl } from './settings/useBackendControl.ts';
import { useModelLoading } from './settings/useModelLoading.ts';
import { useSettings } from './settings/useSettings.ts';
import { ProgressBar } from './shared/ProgressBar.tsx';
import { StallNotice, useStalled } from './shared/StallNotice.tsx';
import { StatusMessages } from './shared/StatusMessages.tsx';
import { useAppStore } from './shared/useAppStore.ts';
import { CommitList } from './timeline/CommitList.tsx';
import { DiffView } from './timeline/DiffView.tsx';
import { usePipeline } from './usePipeline.ts';

export function App() {
  const { settings, changeSettings } = useSettings();
  const store = useAppStore();
  const pipeline = usePipeline(store.progressed);
  const { session: { repo, commits, selected, diff, summary, adapter }, status: { busy, progress, notice, error, announcement }, backend, model } = store.state;
  const adapterMode = adapterModeOf(settings.adapterMode, model);
  const repository = useRepositoryFlows({ pipeline, store, settings, changeSettings, adapterMode });
  const modelLoading = useModelLoading({ pipeline, store, settings, changeSettings, reopenSession: repository.reopenSession });
  const compute = useBackendControl({ pipeline, store, settings, changeSettings, releaseHold: modelLoading.releaseHold, resumeAt: modelLoading.resumeAt });
  const completion = useCompletion({ pipeline, store, maxNewTokens: settings.maxNewTokens });
  const evaluation = useEvaluation({ pipeline, store });
  const stalled = useStalled(progress, settings.stallSeconds);

  return (
    <div className="app">
      <AppHeader backend={backend} model={model} />
      <p className="sr-only" role="status" aria-live="polite" data-testid="announcer">
        {announcement}
      </p>

      <section className="panel">
        <h2>Repository</h2>
        <RepositoryForm
          url={store.state.url}
          historyDepth={settings.historyDepth}
          busy={busy}
          ready={!!model}
          onUrlChange={repository.typeUrl}
          onHistoryDepthChange={(historyDepth) => changeSettings({ historyDepth })}
          onClone={() => void repository.cloneAndAnalyse()}
        />
        <SettingsPanel
          settings={settings}
          disabled={busy}
          smollm2Installed={modelLoading.smollm2Installed}
          onChooseModel={modelLoading.chooseModel}
          onChooseBackend={compute.chooseBackend}
          onCorsProxyChange={(corsProxy) => changeSettings({ corsProxy })}
        />
        <StoredRepositories pipeline={pipeline} disabled={busy} refreshKey={repo ? `${repo.url}|${repo.head}` : ''} onOpenDeleted={repository.forgetSession} />
        <CachedModelFiles disabled={busy} refreshKey={model?.name ?? ''} />
        {(repo || progress?.stage === 'clone') && <PipelineStages progress={progress} repo={repo} selected={selected} summary={summary} adapter={adapter} />}
        {/* The evaluation shows its progress and Cancel in its own panel. */}
        {progress && progress.stage !== 'evaluate' && <ProgressBar testId={`progress-${progress.stage}`} progress={progress} onCancel={() => void compute.cancel()} />}
        {progress && stalled && (
          <StallNotice
            progress={progress}
            seconds={settings.stallSeconds}
            backend={backend?.backend ?? null}
            available={backend?.available ?? ['wasm']}
            onSwitchBackend={compute.switchBackend}
          />
        )}
        <StatusMessages notice={notice} error={error} onLoadAgain={modelLoading.loadAgain} />
        {repo && <RepositoryInfo repo={repo} commitCount={commits.length} />}
      </section>

      {commits.length > 0 && (
        <section className="panel two-columns">
          <CommitList commits={commits} selected={selected} disabled={busy} focusRequest={store.state.focusCommits} onSelect={repository.onSelectCommit} />
          <DiffView diff={diff} stale={!!diff && diff.commit !== selected} />
        </section>
      )}

      {summary && <SummaryPanel summary={summary} selected={selected} />}

      {model && (
        <AdapterModeSwitch
          mode={adapterMode}
          staticStatus={model.hypernetwork}
          evoStatus={model.evoHypernetwork}
          disabled={busy}
          onChange={(mode) => void repository.switchMode(mode)}
        />
      )}
      {model && repo && selected && <AdapterFileInput disabled={busy} onLoad={repository.loadAdapterFile} />}
      {adapter && model && (
        <AdapterPanel adapter={adapter} hypernetwork={adapter.mode === 'evo' ? model.evoHypernetwork : model.hypernetwork} selected={selected} adapterFiles={() => pipeline.call((api) => api.adapterFiles())} />
      )}
      {model && (
        <EditorPanel
          commit={repo ? selected : null}
          disabled={busy}
          adapterCommit={adapter && adapter.commit === selected ? adapter.commit : null}
          listFiles={completion.listFiles}
          readFile={completion.readFile}
          complete={completion.completeQuietly}
          completeNow={completion.completeNow}
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
          onTaskLimitChange={(evaluationTasks) => changeSettings({ evaluationTasks })}
          evaluate={evaluation.evaluate}
          onRunningChange={evaluation.evaluationRunning}
        />
      )}
    </div>
  );
}
