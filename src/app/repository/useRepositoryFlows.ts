// The repository's flows: clone, reopen, select a commit, and its diff, summary and adapter (made in either mode, or loaded from PEFT files), each with progress, Cancel and a named error; the session is saved for the next visit.
import { useCallback, useEffect, useRef } from 'react';
import { resumePoint } from '../appState.ts';
import type { AdapterFiles } from '../adapter/AdapterFileInput.tsx';
import type { PipelineClient } from '../pipelineClient.ts';
import type { Settings } from '../settings/settings.ts';
import type { AppStore } from '../shared/useAppStore.ts';
import type { AdapterMode } from '../workers/pipelineApi.ts';
import { clearLastSession, saveLastSession, type LastSession } from './lastSession.ts';

export function useRepositoryFlows({ pipeline, store, settings, changeSettings, adapterMode }: {
  pipeline: PipelineClient;
  store: AppStore;
  settings: Settings;
  changeSettings: (patch: Partial<Settings>) => void;
  adapterMode: AdapterMode;
}) {
  const { state, dispatch, stateRef, stage, reportFailure } = store;
  const adapterModeRef = useRef(adapterMode);
  adapterModeRef.current = adapterMode;

  useEffect(() => {
    const point = resumePoint(state.session, settings.historyDepth);
    if (point) saveLastSession(point);
  }, [state.session, settings.historyDepth]);

  /** The adapter of `commit` in the current mode (Static: from its files; Evo: stepped along history). */
  const makeAdapter = useCallback(
    async (commit: string) => {
      stage.current = 'adapter';
      const mode = adapterModeRef.current;
      dispatch({ type: 'adapterReady', adapter: await pipeline.call((api, progress) => api.makeAdapter(commit, progress, mode)) });
    },
    // Reads only refs, the pipeline and dispatch: stable.
    [pipeline, dispatch, stage],
  );

  /** Diff, summary and (optionally) adapter of one commit, each shown as soon as it is there. */
  const analyse = useCallback(
    async (commit: string, { adapter }: { adapter: boolean }) => {
      stage.current = 'diff';
      dispatch({ type: 'diffReady', diff: await pipeline.call((api) => api.diff(commit)) });
      stage.current = 'parse';
      dispatch({ type: 'summaryReady', summary: await pipeline.call((api, progress) => api.summarize(commit, progress)) });
      if (!adapter) return;
      await makeAdapter(commit);
    },
    [pipeline, dispatch, stage, makeAdapter],
  );

  /** Runs a flow the user started: busy while it runs, its cancel (worded once the stage is known) or error told after. */
  const runFlow = useCallback(
    async (flow: () => Promise<void>, cancelled: () => string) => {
      try {
        await flow();
      } catch (err) {
        reportFailure(err, cancelled());
      } finally {
        dispatch({ type: 'workEnded' });
      }
    },
    [dispatch, reportFailure],
  );

  /** Reopens a stored clone without the network at `commit` (a reload, or a fresh worker after a restart). */
  const reopenSession = useCallback(
    async (last: LastSession) => {
      stage.current = 'reopen';
      let opened;
      try {
        opened = await pipeline.call((api) => api.open({ url: last.url, depth: last.depth }));
      } catch (err) {
        if ((err as { code?: string }).code !== 'NOT_CLONED') throw err;
        dispatch({ type: 'noticed', notice: `The last repository (${last.url}) is no longer stored in this browser: load it again.` });
        return;
      }
      const commit = opened.commits.some((c) => c.sha === last.commit) ? last.commit : opened.repo.head;
      dispatch({ type: 'reopened', url: last.url, repo: opened.repo, commits: opened.commits, selected: commit });
      await analyse(commit, { adapter: last.adapter });
    },
    [pipeline, dispatch, stage, analyse],
  );

  const { url } = state;
  const cloneAndAnalyse = useCallback(async () => {
    dispatch({ type: 'workStarted' });
    await runFlow(async () => {
      stage.current = 'clone';
      const result = await pipeline.call((api, progress) => api.clone({ url, depth: settings.historyDepth, corsProxy: settings.corsProxy }, progress));
      // Only a clone that worked replaces the session: a mistyped URL leaves the loaded repository as it was.
      dispatch({ type: 'cloned', repo: result.repo, commits: result.commits });
      await analyse(result.repo.head, { adapter: true });
    }, () => `Cancelled: the ${stage.current} was stopped${stage.current === 'clone' ? ' and nothing was kept' : ''}.`);
  }, [pipeline, dispatch, stage, url, settings.historyDepth, settings.corsProxy, analyse, runFlow]);

  const selectCommit = useCallback(
    async (sha: string) => {
      dispatch({ type: 'commitSelected', sha });
      await runFlow(() => analyse(sha, { adapter: true }), () => `Cancelled: the ${stage.current} was stopped.`);
    },
    [dispatch, stage, analyse, runFlow],
  );

  /** Stable, so the (memoised) commit list is not rendered again with every progress report. */
  const onSelectCommit = useCallback((sha: string) => void selectCommit(sha), [selectCommit]);

  /** Another mode: the selected commit's adapter is made again by the other hypernetwork. */
  const switchMode = useCallback(
    async (mode: AdapterMode) => {
      changeSettings({ adapterMode: mode });
      adapterModeRef.current = mode;
      const { repo, selected } = stateRef.current.session;
      if (!repo || !selected) return;
      dispatch({ type: 'workStarted' });
      await runFlow(() => makeAdapter(selected), () => 'Cancelled: the adapter was not made.');
    },
    [changeSettings, dispatch, stateRef, makeAdapter, runFlow],
  );

  /** PEFT files chosen by the user become the selected commit's adapter; a LoraError is the input's to show. */
  const loadAdapterFile = useCallback(
    async (files: AdapterFiles) => {
      const commit = stateRef.current.session.selected;
      if (!commit) return;
      const loaded = await pipeline.call((api) => api.loadAdapterFile({ commit, ...files }));
      dispatch({ type: 'adapterReady', adapter: loaded, file: files.name });
    },
    [pipeline, dispatch, stateRef],
  );

  /** The stored clone of the open repository was deleted: nothing of it is shown or reopened. */
  const forgetSession = useCallback(() => {
    dispatch({ type: 'sessionForgotten' });
    clearLastSession();
  }, [dispatch]);

  const typeUrl = useCallback((typed: string) => dispatch({ type: 'urlTyped', url: typed }), [dispatch]);

  return { reopenSession, cloneAndAnalyse, onSelectCommit, switchMode, loadAdapterFile, forgetSession, typeUrl };
}
