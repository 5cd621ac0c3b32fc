// Owns the pipeline worker for the app's lifetime, through a PipelineClient whose cancel reaches every running call.
import { useEffect, useRef } from 'react';
import { PipelineClient } from './pipelineClient.ts';
import type { Progress } from './workers/pipelineApi.ts';

/** `onProgress` (stable, e.g. a state setter) hears the progress of the calls still running. */
export function usePipeline(onProgress: (progress: Progress) => void): PipelineClient {
  const ref = useRef<PipelineClient | null>(null);
  ref.current ??= new PipelineClient(() => new Worker(new URL('./workers/pipeline.worker.ts', import.meta.url), { type: 'module', name: 'pipeline' }), onProgress);
  useEffect(() => () => ref.current?.dispose(), []);
  return ref.current;
}
