// Picks the tfjs backend: WebGPU when the browser gives a hardware adapter, else WASM (SIMD); Node always uses WASM.
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
