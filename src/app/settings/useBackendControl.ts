// The compute backend under the user's and the GPU's control: Cancel (which may replace a stuck worker), the backend chosen in Settings, and a move to the other backend when it stalls or the GPU fails, resuming the session there.
import { useCallback, useEffect } from 'react';
import type { BackendName } from '../../model/backend.ts';
import { BACKEND_LABEL, resumePoint } from '../appState.ts';
import type { PipelineClient } from '../pipelineClient.ts';
import type { LastSession } from '../repository/lastSession.ts';
import type { AppStore } from '../shared/useAppStore.ts';
import type { Settings } from './settings.ts';

export function useBackendControl({ pipeline, store, settings, changeSettings, releaseHold, resumeAt }: {
  pipeline: PipelineClient;
  store: AppStore;
  settings: Settings;
  changeSettings: (patch: Partial<Settings>) => void;
  /** Stable: lets a worker that replaces a stuck one load its model again. */
  releaseHold: () => void;
  /** Stable: reopens `point` once the next worker has its model. */
  resumeAt: (point: LastSession) => void;
}) {
  const { state, dispatch, stateRef } = store;
  const { backend } = state;

  const cancel = useCallback(async () => {
    const running = backend ? BACKEND_LABEL[backend.backend] : 'compute';
    const outcome = await pipeline.cancel();
    releaseHold();
    if (outcome === 'restarted') dispatch({ type: 'cancelOutlasted', backend: running });
  }, [pipeline, dispatch, backend, releaseHold]);

  /** Leaves a stalled or failed backend behind: a fresh worker on the other one, which resumes the session's work. */
  const switchBackend = useCallback(
    (next: BackendName, why = '') => {
      const { session } = stateRef.current;
      const point = resumePoint(session, settings.historyDepth);
      if (point) resumeAt({ ...point, adapter: true });
      const resuming = session.repo ? ` ${session.repo.name} and its adapter` : '';
      dispatch({ type: 'noticed', notice: `${why}Switched to ${BACKEND_LABEL[next]}: loading the model again and resuming${resuming}.` });
      changeSettings({ backend: next });
      pipeline.restart();
    },
    [pipeline, dispatch, stateRef, settings.historyDepth, changeSettings, resumeAt],
  );

  // The GPU failed mid-work (device lost, out of memory): its model is gone, so the session moves to WASM.
  useEffect(
    () => pipeline.onGpuFault((fault) => {
      if (stateRef.current.backend?.backend !== 'webgpu') return;
      switchBackend('wasm', `${fault.message}. `);
    }),
    [pipeline, stateRef, switchBackend],
  );

  /** The backend chosen in Settings: a fresh worker loads the model on it. */
  const chooseBackend = useCallback((choice: Settings['backend']) => {
    changeSettings({ backend: choice });
    pipeline.restart();
  }, [pipeline, changeSettings]);

  return { cancel, switchBackend, chooseBackend };
}
