// Loads the backend and the model into the worker (at start, on the user's Load, after a backend change or a restart), then reopens the session as far as it got.
import { useCallback, useEffect, useRef, useState } from 'react';
import { isCancellation, isRestart, resumePoint } from '../appState.ts';
import type { PipelineClient } from '../pipelineClient.ts';
import { loadLastSession, type LastSession } from '../repository/lastSession.ts';
import type { AppStore } from '../shared/useAppStore.ts';
import type { ModelChoice } from '../workers/pipelineApi.ts';
import type { Settings } from './settings.ts';

export function useModelLoading({ pipeline, store, settings, changeSettings, reopenSession }: {
  pipeline: PipelineClient;
  store: AppStore;
  settings: Settings;
  changeSettings: (patch: Partial<Settings>) => void;
  /** Stable: reopens a stored session once the model is there. */
  reopenSession: (last: LastSession) => Promise<void>;
}) {
  const { dispatch, stateRef, stage, reportFailure } = store;
  const [smollm2Installed, setSmollm2Installed] = useState<boolean | null>(null);
  /** Bumped when the worker is replaced (a stuck cancel, a backend switch): the fresh one needs its model again. */
  const [workerGeneration, setWorkerGeneration] = useState(0);
  /** Bumped by the model picker's Load, so loading the same choice again (e.g. after a cancelled load) runs. */
  const [modelRequest, setModelRequest] = useState(0);
  /** What to reopen once the worker has its model: the last visit's session at first, the current one after a restart. */
  const reopen = useRef<LastSession | null>(loadLastSession());
  /** Set while the user cancels a model load: the worker that replaces the stuck one then waits for Load. */
  const holdModelLoad = useRef(false);

  useEffect(
    () => pipeline.onRestart(() => {
      // The fresh worker has no model, clone handle or adapter: reload the model, then reopen the session as far as it got.
      reopen.current ??= resumePoint(stateRef.current.session, settings.historyDepth);
      dispatch({ type: 'workerRestarted' });
      if (!holdModelLoad.current) setWorkerGeneration((g) => g + 1);
    }),
    [pipeline, dispatch, stateRef, settings.historyDepth],
  );

  useEffect(() => {
    pipeline.call((api) => api.installedModels()).then((found) => setSmollm2Installed(found.smollm2), () => undefined);
  }, [pipeline, workerGeneration]);

  useEffect(() => {
    let live = true;
    dispatch({ type: 'modelLoadStarted' });
    (async () => {
      stage.current = 'model';
      const backend = await pipeline.call((api) => api.initBackend(settings.backend));
      if (!live) return;
      dispatch({ type: 'backendReady', backend });
      const model = await pipeline.call((api, progress) => api.loadModel(settings.model, progress, { stallSeconds: settings.stallSeconds }));
      if (!live) return;
      dispatch({ type: 'modelReady', model });
      const last = reopen.current;
      reopen.current = null;
      if (last) await reopenSession(last);
    })()
      .catch((err) => {
        if (!live) return;
        if (isCancellation(err) && !isRestart(err) && stage.current === 'model') {
          holdModelLoad.current = true;
          dispatch({ type: 'noticed', notice: 'Cancelled: the model was not loaded. Choose Load under Settings to load it.' });
        } else reportFailure(err, `Cancelled: the ${stage.current} was stopped.`);
      })
      .finally(() => live && dispatch({ type: 'workEnded' }));
    return () => {
      live = false;
    };
    // stallSeconds is read when a load starts: changing it does not load the model again.
  }, [pipeline, dispatch, stage, reportFailure, settings.backend, settings.model, workerGeneration, modelRequest, reopenSession]);

  /** Loads the model again (the error's "Load again", or the picker's Load of the same choice). */
  const loadAgain = useCallback(() => setModelRequest((n) => n + 1), []);

  const chooseModel = useCallback((model: ModelChoice) => {
    changeSettings({ model });
    loadAgain();
  }, [changeSettings, loadAgain]);

  return {
    smollm2Installed,
    loadAgain,
    chooseModel,
    /** The user cancelled: a worker that replaces a stuck one loads its model again. */
    releaseHold: useCallback(() => void (holdModelLoad.current = false), []),
    /** Reopens `point` once the next worker has its model. */
    resumeAt: useCallback((point: LastSession) => void (reopen.current = point), []),
  };
}
