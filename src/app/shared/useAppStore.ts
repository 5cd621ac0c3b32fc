// The app state's one store: the reducer's state and dispatch, plus what the flows read across their awaits.
import { useCallback, useReducer, useRef } from 'react';
import { appReducer, failureAction, initialAppState, type AppState } from '../appState.ts';
import { loadLastSession } from '../repository/lastSession.ts';
import type { Progress } from '../workers/pipelineApi.ts';

export type AppStore = ReturnType<typeof useAppStore>;

export function useAppStore() {
  const [state, dispatch] = useReducer(appReducer, undefined, () => initialAppState(loadLastSession()?.url ?? ''));
  /** The state as last rendered: a flow that awaits reads it there, not from the closure it started with. */
  const stateRef = useRef<AppState>(state);
  stateRef.current = state;
  /** The stage the current operation is in, for naming what failed (a ref: changing it has nothing to render). */
  const stage = useRef('clone');
  /** Stable (dispatch is), as the pipeline client keeps the first one it is given. */
  const progressed = useCallback((progress: Progress) => dispatch({ type: 'progressed', progress }), []);
  /** Reports how an operation ended: a cancel as the `cancelled` notice, anything else as an error of the current stage. */
  const reportFailure = useCallback((err: unknown, cancelled: string) => {
    const action = failureAction(err, stage.current, cancelled);
    if (action) dispatch(action);
  }, []);
  return { state, dispatch, stateRef, stage, progressed, reportFailure };
}
