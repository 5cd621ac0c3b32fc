// PipelineClient against a real Comlink worker endpoint (a MessageChannel): what a cancel does to results and progress.
import * as Comlink from 'comlink';
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { CancelledError, PipelineClient } from '../src/app/pipelineClient.ts';
import type { Progress, ProgressCallback } from '../src/app/workers/pipelineApi.ts';

const report = (done: number): Progress => ({ stage: 'model', done, total: 10, unit: 'bytes' });

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
    const client = new PipelineClient(() => slowWorker(cancelled), (progress) => heard.push(progress.done));
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

  it("cancels one call by its signal: it rejects at once, the worker is asked to stop that completion, the other calls go on", async () => {
    const { port1, port2 } = new MessageChannel();
    const stopped = { completion: 0, all: 0 };
    const heard: number[] = [];
    Comlink.expose(
      {
        async complete(_request: unknown, onProgress: ProgressCallback) {
          let loaded = 0;
          while (!stopped.completion) {
            await onProgress(report(++loaded));
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
          await onProgress(report(99));
          throw new Error('stopped');
        },
        async listFiles() {
          await new Promise((resolve) => setTimeout(resolve, 50));
          return ['a.py'];
        },
        cancelCompletion() {
          stopped.completion = Date.now();
        },
        cancel() {
          stopped.all = Date.now();
        },
      },
      port1 as unknown as Comlink.Endpoint,
    );
    const worker = Object.assign(port2 as unknown as Worker, { terminate: () => (port1.close(), port2.close()) });
    const client = new PipelineClient(() => worker, (progress) => heard.push(progress.done));
    const controller = new AbortController();
    const ghost = client.call((api, progress) => api.complete({ prompt: 'x', maxNewTokens: 4, model: 'base' }, progress), {
      signal: controller.signal, stop: (api) => api.cancelCompletion(),
    });
    const files = client.call((api) => api.listFiles('HEAD'));
    await expect.poll(() => heard.length).toBeGreaterThan(0);

    const rejected = expect(ghost).rejects.toBeInstanceOf(CancelledError);
    controller.abort();
    await rejected;
    await expect.poll(() => stopped.completion).toBeGreaterThan(0);
    expect(await files).toEqual(['a.py']);
    expect(stopped.all).toBe(0);
    expect(heard).not.toContain(99);
    // An already aborted signal never reaches the worker.
    await expect(client.call((api) => api.listFiles('HEAD'), { signal: controller.signal })).rejects.toBeInstanceOf(CancelledError);
    client.dispose();
  });
});
