// Owns the pipeline worker for the app's lifetime, through a PipelineClient whose cancel reaches every running call.
import { useEffect, useRef } from 'react';
import { PipelineClient } from './pipelineClient.ts';

export function usePipeline(): PipelineClient {
  const ref = useRef<PipelineClient | null>(null);
  ref.current ??= new PipelineClient(() => new Worker(new URL('./workers/pipeline.worker.ts', import.meta.url), { type: 'module', name: 'pipeline' }));
  useEffect(() => () => ref.current?.dispose(), []);
  return ref.current;
}
