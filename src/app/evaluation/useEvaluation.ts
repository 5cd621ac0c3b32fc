// The evaluation's calls into the worker: it runs with its own Cancel, and the app is busy (no other stage starts) while it does.
import { useCallback } from 'react';
import type { PipelineClient } from '../pipelineClient.ts';
import type { AppStore } from '../shared/useAppStore.ts';
import type { EvaluationRequest } from '../workers/evaluateRepo.ts';

export function useEvaluation({ pipeline, store }: { pipeline: PipelineClient; store: AppStore }) {
  const { dispatch } = store;
  /** "How much does it help here?": its own Cancel (the signal) stops the worker's evaluation and nothing else. */
  const evaluate = useCallback(
    (request: EvaluationRequest, signal: AbortSignal) => pipeline.call((api, progress) => api.evaluate(request, progress), { signal, stop: (api) => api.cancel() }),
    [pipeline],
  );
  const evaluationRunning = useCallback(
    (running: boolean) => dispatch(running ? { type: 'workStarted', keepError: true } : { type: 'workEnded' }),
    [dispatch],
  );
  return { evaluate, evaluationRunning };
}
