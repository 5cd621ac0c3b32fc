// Picks the tfjs backend: WebGPU when the browser gives a hardware adapter, else WASM (SIMD); Node always uses WASM. Watches the WebGPU device for loss and out-of-memory.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

export type BackendName = 'webgpu' | 'wasm';
export type BackendPreference = BackendName | 'auto';

/** Where the tfjs-backend-wasm binaries live: a URL prefix/map in the browser, a directory path in Node. */
export type WasmBinaries = string | Record<string, string>;

const isNode = typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined'
  && typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope === 'undefined';

async function nodeWasmDirectory(): Promise<string> {
  const { createRequire } = await import('node:module');
  const { dirname } = await import('node:path');
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + '/';
}

/** What the browser's WebGPU adapter is: none, a hardware GPU, or a software one (SwiftShader, llvmpipe, WARP). */
export interface WebGpuAdapterProbe {
  available: boolean;
  /** A CPU emulation of a GPU: slower than the WASM backend for our models (README: 3.8 vs 130 tokens/s). */
  software: boolean;
  /** The adapter's vendor and architecture, e.g. "google swiftshader"; empty when there is none. */
  name: string;
}

interface GpuAdapterLike {
  isFallbackAdapter?: boolean;
  info?: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
}

const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|softpipe|software|basic render|warp/i;

/** Asks the browser for its WebGPU adapter and says whether it is a software one (from the adapter's info, no timing). */
export async function probeWebGpu(): Promise<WebGpuAdapterProbe> {
  const gpu = (globalThis.navigator as unknown as { gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> } } | undefined)?.gpu;
  if (!gpu) return { available: false, software: false, name: '' };
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return { available: false, software: false, name: '' };
    const info = adapter.info ?? {};
    const name = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
    const software = adapter.isFallbackAdapter === true || info.isFallbackAdapter === true || SOFTWARE_ADAPTER.test(name);
    return { available: true, software, name };
  } catch {
    return { available: false, software: false, name: '' };
  }
}

let active: BackendName | null = null;

/** The GPU went away under the model: `DEVICE_LOST` (destroyed, a driver reset, the GPU process gone) or `OUT_OF_MEMORY`. */
export type BackendErrorCode = 'DEVICE_LOST' | 'OUT_OF_MEMORY';

export class BackendError extends Error {
  readonly code: BackendErrorCode;
  constructor(code: BackendErrorCode, message: string) {
    super(message);
    this.name = 'BackendError';
    this.code = code;
  }
}

interface GpuDeviceLike extends EventTarget {
  lost: Promise<{ reason?: string; message?: string }>;
  destroy(): void;
}

let gpuFault: BackendError | null = null;
const gpuFaultListeners = new Set<(fault: BackendError) => void>();

function reportGpuFault(fault: BackendError): void {
  if (gpuFault) return;
  gpuFault = fault;
  for (const listener of gpuFaultListeners) listener(fault);
}

/** The WebGPU backend's device (tfjs-backend-webgpu keeps it as `backend.device`), or null on another backend. */
function webGpuDevice(): GpuDeviceLike | null {
  return active === 'webgpu' ? (tf.backend() as unknown as { device?: GpuDeviceLike }).device ?? null : null;
}

/**
 * Watches the WebGPU device for loss and for out-of-memory errors nothing caught (tfjs does neither): after either,
 * its results are gone or garbage, and every call in rejectingOnGpuFault's wrapper fails with the BackendError.
 */
function watchWebGpuDevice(device: GpuDeviceLike): void {
  void device.lost.then((info) => reportGpuFault(new BackendError('DEVICE_LOST',
    `The WebGPU device was lost (${info.reason || 'unknown reason'}${info.message ? `: ${info.message}` : ''})`)));
  device.addEventListener('uncapturederror', (event) => {
    const error = (event as Event & { error?: { message?: string; constructor: { name: string } } }).error;
    if (error?.constructor.name === 'GPUOutOfMemoryError') {
      reportGpuFault(new BackendError('OUT_OF_MEMORY', `WebGPU ran out of memory${error.message ? ` (${error.message})` : ''}`));
    }
  });
  listenForGpuTestFaults(device);
}

/**
 * Test hook (e2e/webgpuFaults.spec.ts): a same-origin page posting { gpu: 'lose' } on the BroadcastChannel
 * "code2lora-test-hooks" destroys this worker's device, as a driver reset would; { gpu: 'oom' } raises the uncaptured
 * out-of-memory error a failed allocation raises. Nothing but a script of this origin can post there.
 */
function listenForGpuTestFaults(device: GpuDeviceLike): void {
  if (typeof BroadcastChannel === 'undefined') return;
  const channel = new BroadcastChannel('code2lora-test-hooks');
  channel.onmessage = (message: MessageEvent<{ gpu?: unknown }>) => {
    if (message.data?.gpu === 'lose') device.destroy();
    const scope = globalThis as { GPUUncapturedErrorEvent?: new (type: string, init: { error: unknown }) => Event; GPUOutOfMemoryError?: new (message: string) => unknown };
    if (message.data?.gpu === 'oom' && scope.GPUUncapturedErrorEvent && scope.GPUOutOfMemoryError) {
      device.dispatchEvent(new scope.GPUUncapturedErrorEvent('uncapturederror', { error: new scope.GPUOutOfMemoryError('test hook: allocation failed') }));
    }
  };
}

/**
 * `api` with every asynchronous method failing with the BackendError once the GPU has failed: a call running then
 * rejects at once (its GPU work will never finish, or computes garbage), and so does any later call. The caller
 * (the app) then replaces this worker and loads the model on WASM.
 * @example Comlink.expose(rejectingOnGpuFault(api));
 */
export function rejectingOnGpuFault<T extends object>(api: T): T {
  const faulted = new Promise<never>((_, reject) => gpuFaultListeners.add(reject));
  faulted.catch(() => undefined);
  const wrapped: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(api)) {
    wrapped[name] = typeof method !== 'function' ? method : (...args: unknown[]) => {
      const result: unknown = method.apply(api, args);
      if (!(result instanceof Promise)) return result;
      const failed = result.catch(async (error: unknown) => {
        await checkDeviceAfter(error);
        throw error;
      });
      return Promise.race([failed, faulted]);
    };
  }
  return wrapped as T;
}

/** How long a failure on WebGPU may wait to learn whether the device is gone (under the app's 1 s cancel grace). */
const DEVICE_CHECK_MS = 700;

/**
 * A destroyed device fails its pending reads with an AbortError, like a cancel, up to a few hundred milliseconds before
 * its `lost` promise settles. So an AbortError or OperationError on WebGPU waits until either `lost` settles or a
 * one-word read from the device says whether it still works; one that does not is lost, whatever `lost` says later.
 */
async function checkDeviceAfter(error: unknown): Promise<void> {
  const device = webGpuDevice();
  const name = (error as { name?: unknown } | null)?.name;
  if (!device || gpuFault || (name !== 'AbortError' && name !== 'OperationError')) return;
  const known = new Promise<'lost'>((settle) => gpuFaultListeners.add(() => settle('lost')));
  const after = (ms: number) => new Promise<'waited'>((wait) => setTimeout(() => wait('waited'), ms));
  const verdict = await Promise.race([deviceStillReads(device).then((works) => (works ? 'works' : 'gone')), known, after(DEVICE_CHECK_MS)]);
  if (verdict !== 'gone') return;
  // Gone: `lost` says why when it comes.
  if ((await Promise.race([known, after(1000)])) === 'waited') reportGpuFault(new BackendError('DEVICE_LOST', 'The WebGPU device was lost (it no longer reads back)'));
}

/** Maps a 4-byte buffer: a working device does once its queue is done; a lost or destroyed one refuses. */
async function deviceStillReads(device: GpuDeviceLike): Promise<boolean> {
  const gpu = device as unknown as { createBuffer(descriptor: { size: number; usage: number }): { mapAsync(mode: number): Promise<void>; destroy(): void } };
  try {
    const buffer = gpu.createBuffer({ size: 4, usage: 0x0001 /* GPUBufferUsage.MAP_READ */ });
    await buffer.mapAsync(0x0001 /* GPUMapMode.READ */);
    buffer.destroy();
    return true;
  } catch {
    return false;
  }
}

/**
 * Initialises tfjs once and returns the backend in use. `auto` takes WebGPU (browser only) when the adapter is a
 * hardware one and WASM otherwise: a software adapter (SwiftShader) is far slower than WASM. `webgpu` takes any
 * adapter. The threaded WASM build is disabled: it gives nothing on 2 cores and breaks under Vite.
 */
export async function initBackend(
  { preference = 'auto', wasmBinaries }: { preference?: BackendPreference; wasmBinaries?: WasmBinaries } = {},
): Promise<BackendName> {
  if (active && (preference === 'auto' || preference === active)) return active;
  const webgpu = isNode || preference === 'wasm' ? null : await probeWebGpu();
  if (webgpu?.available && (preference === 'webgpu' || !webgpu.software)) {
    await import('@tensorflow/tfjs-backend-webgpu');
    if (await tf.setBackend('webgpu')) {
      await tf.ready();
      active = 'webgpu';
      const device = webGpuDevice();
      if (device) watchWebGpuDevice(device);
      return active;
    }
  }
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  setWasmPaths((wasmBinaries ?? (isNode ? await nodeWasmDirectory() : '/')) as string);
  if (!(await tf.setBackend('wasm'))) throw new Error('Neither WebGPU nor the WASM backend could be initialised');
  await tf.ready();
  active = 'wasm';
  return active;
}
