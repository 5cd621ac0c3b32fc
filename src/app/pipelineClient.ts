// The UI's handle on the pipeline worker: every call can be cancelled at once, and a worker that does not stop within a grace period (a stuck GPU dispatch, a long synchronous loop) is replaced by a fresh one.
import * as Comlink from 'comlink';
import type { PipelineApi, Progress, ProgressCallback } from './workers/pipelineApi.ts';

/**
 * What a cancelled call rejects with: the same code as the git layer's GitError('CANCELLED'). `reason`: the user
 * pressed Cancel, or the worker was replaced for another reason (e.g. switching the backend).
 */
export class CancelledError extends Error {
  readonly code = 'CANCELLED';

  constructor(readonly reason: 'cancel' | 'restart') {
    super('Cancelled');
    this.name = 'CancelledError';
  }
}

/** How a cancel ended: the worker stopped its work, or it was replaced (its model, clone handle and adapter are gone). */
export type CancelOutcome = 'stopped' | 'restarted';

interface InFlight {
  settled: Promise<unknown>;
  reject: (error: unknown) => void;
  /** False once the call was cancelled: the worker may still report progress for it until it stops or is replaced. */
  live: boolean;
}

/** How long a cancelled worker may take to stop before it is replaced. */
export const CANCEL_GRACE_MS = 1000;

export class PipelineClient {
  private worker: Worker;
  private api: Comlink.Remote<PipelineApi>;
  private readonly inFlight = new Set<InFlight>();
  private readonly restartListeners = new Set<() => void>();
  private readonly gpuFaultListeners = new Set<(fault: { code: string; message: string }) => void>();
  private disposed = false;

  /** `onProgress` hears the progress of running calls only: a cancelled call's late reports never reach it. */
  constructor(private readonly makeWorker: () => Worker, private readonly onProgress: (progress: Progress) => void = () => undefined) {
    this.worker = makeWorker();
    this.api = Comlink.wrap<PipelineApi>(this.worker);
  }

  /**
   * Runs one worker call. It rejects with CancelledError as soon as `cancel()` is called, whatever the worker is doing;
   * a result or progress report that arrives later is dropped (a late report would bring back the progress bar that the
   * cancel took away). `run` passes `progress` to the worker method that takes a progress callback. `signal` cancels
   * this call alone (a stale ghost-text completion): it rejects with CancelledError at once and `stop` asks the worker
   * to stop the work; other calls go on.
   */
  call<T>(
    run: (api: Comlink.Remote<PipelineApi>, progress: ProgressCallback) => Promise<T>,
    { signal, stop }: { signal?: AbortSignal; stop?: (api: Comlink.Remote<PipelineApi>) => Promise<unknown> } = {},
  ): Promise<T> {
    if (signal?.aborted) return Promise.reject(new CancelledError('cancel'));
    // React's StrictMode disposes and remounts in development: a disposed client starts a worker again when used.
    if (this.disposed) this.replaceWorker();
    const entry = { live: true } as InFlight;
    const api = this.api;
    const settled = run(api, Comlink.proxy((progress: Progress) => void (entry.live && this.onProgress(progress))));
    const onAbort = () => {
      if (!entry.live) return;
      entry.reject(new CancelledError('cancel'));
      void stop?.(api).catch(() => undefined);
    };
    return new Promise<T>((resolve, reject) => {
      entry.settled = settled;
      entry.reject = (error) => {
        entry.live = false;
        reject(error);
      };
      this.inFlight.add(entry);
      signal?.addEventListener('abort', onAbort, { once: true });
      settled.then(resolve, (error: unknown) => {
        // Told once per worker: a restart (which the listener may start) silences the calls still running.
        const heard = entry.live && isGpuFault(error);
        reject(error);
        if (heard) for (const listener of this.gpuFaultListeners) listener(error);
      }).finally(() => {
        entry.live = false;
        this.inFlight.delete(entry);
        signal?.removeEventListener('abort', onAbort);
      });
    });
  }

  /** True while a call is running. */
  get busy(): boolean {
    return this.inFlight.size > 0;
  }

  /**
   * Stops every running call: each rejects with CancelledError at once; the worker is asked to abort, and if its calls
   * have not ended after `graceMs` it is terminated and replaced (restart listeners are told, so they can load the
   * model and reopen the repository again).
   */
  async cancel(graceMs = CANCEL_GRACE_MS): Promise<CancelOutcome> {
    const running = [...this.inFlight];
    if (running.length === 0) return 'stopped';
    for (const entry of running) entry.reject(new CancelledError('cancel'));
    void this.api.cancel().catch(() => undefined);
    const stopped = Promise.allSettled(running.map((entry) => entry.settled)).then(() => true);
    const timeout = new Promise<false>((resolve) => setTimeout(() => resolve(false), graceMs));
    if (await Promise.race([stopped, timeout])) return 'stopped';
    this.restart();
    return 'restarted';
  }

  /** Replaces the worker with a fresh one (e.g. to leave a stuck backend behind); every running call rejects. */
  restart(): void {
    for (const entry of this.inFlight) entry.reject(new CancelledError('restart'));
    this.inFlight.clear();
    this.replaceWorker();
    for (const listener of this.restartListeners) listener();
  }

  private replaceWorker(): void {
    this.worker.terminate();
    this.worker = this.makeWorker();
    this.api = Comlink.wrap<PipelineApi>(this.worker);
    this.disposed = false;
  }

  /**
   * Hears a call failing because the worker's GPU failed (BackendError DEVICE_LOST or OUT_OF_MEMORY, model/backend.ts):
   * the worker's model is gone, so the listener should move the session to another backend.
   */
  onGpuFault(listener: (fault: { code: string; message: string }) => void): () => void {
    this.gpuFaultListeners.add(listener);
    return () => this.gpuFaultListeners.delete(listener);
  }

  onRestart(listener: () => void): () => void {
    this.restartListeners.add(listener);
    return () => this.restartListeners.delete(listener);
  }

  dispose(): void {
    for (const entry of this.inFlight) entry.reject(new CancelledError('restart'));
    this.inFlight.clear();
    this.worker.terminate();
    this.disposed = true;
  }
}

/** The worker's BackendError codes (model/backend.ts; the UI thread does not load tfjs to check the class). */
function isGpuFault(error: unknown): error is { code: string; message: string } {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'DEVICE_LOST' || code === 'OUT_OF_MEMORY';
}
