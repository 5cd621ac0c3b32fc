// Picks the tfjs backend: WebGPU when the browser gives an adapter, else WASM (SIMD); Node always uses WASM.
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

async function hasWebGpuAdapter(): Promise<boolean> {
  const gpu = (globalThis.navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } } | undefined)?.gpu;
  if (!gpu) return false;
  try {
    return (await gpu.requestAdapter()) != null;
  } catch {
    return false;
  }
}

let active: BackendName | null = null;

/**
 * Initialises tfjs once and returns the backend in use. `auto` tries WebGPU first (browser only) and falls
 * back to WASM. The threaded WASM build is disabled: it gives nothing on 2 cores and breaks under Vite.
 */
export async function initBackend(
  { preference = 'auto', wasmBinaries }: { preference?: BackendPreference; wasmBinaries?: WasmBinaries } = {},
): Promise<BackendName> {
  if (active && (preference === 'auto' || preference === active)) return active;
  if (!isNode && preference !== 'wasm' && (await hasWebGpuAdapter())) {
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
