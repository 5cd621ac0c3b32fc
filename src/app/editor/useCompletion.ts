// The editor's calls into the worker: the files of a commit, and completions by both models (the Complete button, with progress and Cancel) or one (the ghost text, cancelled by the next keystroke).
import { useCallback } from 'react';
import { isCancellation, isRestart } from '../appState.ts';
import type { PipelineClient } from '../pipelineClient.ts';
import type { AppStore } from '../shared/useAppStore.ts';
import type { CompletionModel } from '../workers/pipelineApi.ts';

export function useCompletion({ pipeline, store, maxNewTokens }: { pipeline: PipelineClient; store: AppStore; maxNewTokens: number }) {
  const { dispatch } = store;

  /** Both models' completions at once (the Complete button): progress, Cancel and an announcement like every stage. */
  const completeNow = useCallback(
    async (prompt: string) => {
      dispatch({ type: 'workStarted', keepError: true });
      try {
        const request = (model: CompletionModel) => pipeline.call((api, progress) => api.complete({ prompt, maxNewTokens, model }, progress));
        const adapted = await request('adapted');
        const base = (await request('base'))!;
        dispatch({ type: 'announced', announcement: `Completion ready: ${adapted === null ? 'base model only' : `base and adapted for ${adapted.adapterCommit?.slice(0, 8)}`}.` });
        return { adapted, base };
      } catch (err) {
        if (isCancellation(err) && !isRestart(err)) dispatch({ type: 'noticed', notice: 'Cancelled: the completion was stopped.' });
        throw err;
      } finally {
        dispatch({ type: 'workEnded' });
      }
    },
    [pipeline, dispatch, maxNewTokens],
  );

  /** One model's completion for the ghost text: no progress bar, cancelled by the next keystroke (its signal). */
  const completeQuietly = useCallback(
    (prompt: string, model: CompletionModel, signal: AbortSignal) => pipeline.call(
      (api) => api.complete({ prompt, maxNewTokens, model }),
      { signal, stop: (api) => api.cancelCompletion() },
    ),
    [pipeline, maxNewTokens],
  );

  const listFiles = useCallback((commit: string) => pipeline.call((api) => api.listFiles(commit)), [pipeline]);
  const readFile = useCallback((commit: string, path: string) => pipeline.call((api) => api.readFile(commit, path)), [pipeline]);

  return { completeNow, completeQuietly, listFiles, readFile };
}
