// PipelineClient against a real Comlink worker endpoint (a MessageChannel): what a cancel does to results and progress.
import * as Comlink from 'comlink';
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { CancelledError, PipelineClient } from '../src/app/pipelineClient.ts';
import type { Progress, ProgressCallback } from '../src/app/workers/pipelineApi.ts';

const report = (loaded: number): Progress => ({ stage: 'model', label: 'Loading the model', loaded, total: 10 });

/**
 * A worker whose model load reports once, then keeps going for a while after being asked to cancel (as a worker
 * waiting on GPU work does) and reports again before it stops.
 */
function slowWorker(cancelled: { at: number }) {
  const { port1, port2 } = new MessageChannel();
  Comlink.expose(
    {
      async loadModel(_choice: unknown, onProgress: ProgressCallback) {
        await onProgress(report(1));
        while (!cancelled.at) await new Promise((resolve) => setTimeout(resolve, 5));
        await new Promise((resolve) => setTimeout(resolve, 20));
        await onProgress(report(2));
        throw new Error('stopped');
      },
      cancel() {
        cancelled.at = Date.now();
      },
    },
    port1 as unknown as Comlink.Endpoint,
  );
  return Object.assign(port2 as unknown as Worker, { terminate: () => (port1.close(), port2.close()) });
}

describe('PipelineClient', () => {
  it("drops a cancelled call's late progress reports, so the progress bar the cancel removed stays removed", async () => {
    const heard: number[] = [];
    const cancelled = { at: 0 };
    const client = new PipelineClient(() => slowWorker(cancelled), (progress) => heard.push(progress.loaded));
    const loading = client.call((api, progress) => api.loadModel('c2l-base' as never, progress));
    await expect.poll(() => heard).toEqual([1]);

    const rejected = expect(loading).rejects.toBeInstanceOf(CancelledError);
    const outcome = await client.cancel(1000);
    await rejected;
    expect(outcome).toBe('stopped');
    expect(cancelled.at).toBeGreaterThan(0);
    expect(heard).toEqual([1]);
    client.dispose();
  });
});
