// Browser harness for the model runtime: exposes `window.runtimeHarness` so Playwright can compare backends and benchmark.
import * as tf from '@tensorflow/tfjs';
import { benchmarkRuntime, webgpuKernelCounter, type RuntimeBenchOptions, type RuntimeBenchResult } from '../../src/bench/runtimeBench.ts';
import { initBackend, type BackendName } from '../../src/model/backend.ts';
import { WASM_BINARY_URLS } from '../../src/model/wasmBinaryUrls.ts';
import { parseModelConfig } from '../../src/model/config.ts';
import { generate } from '../../src/model/generate.ts';
import { filesFromUrl, loadHfModel } from '../../src/model/loadHfModel.ts';
import { disposePreparedLora, importPeftAdapter, prepareLora } from '../../src/model/lora.ts';

export interface LogitsReport {
  backend: string;
  shape: number[];
  logits: number[];
  greedy: number[];
}

const harness = {
  hasWebGpu: () => 'gpu' in navigator,

  /** Loads the HF model at `modelUrl` on `backend`, returns its logits for `ids` and `greedyTokens` greedy continuations. */
  async logits(backend: BackendName, modelUrl: string, ids: number[], greedyTokens: number): Promise<LogitsReport> {
    const active = await initBackend({ preference: backend, wasmBinaries: WASM_BINARY_URLS });
    if (active !== backend) throw new Error(`asked for ${backend}, got ${active}`);
    const { model } = await loadHfModel(filesFromUrl(modelUrl));
    try {
      const logits = model.forward(ids);
      const values = Array.from(await logits.data());
      const shape = logits.shape;
      logits.dispose();
      const idsAsText = { encode: () => [], decode: (generated: number[]) => generated.join(',') };
      const { ids: greedy } = await generate(model, ids, { tokenizer: idsAsText, maxNewTokens: greedyTokens, stopTokenIds: [] });
      return { backend: tf.getBackend(), shape, logits: values, greedy };
    } finally {
      model.dispose();
    }
  },

  /**
   * The HF model at `modelUrl` on `backend`, and the PEFT adapter at `adapterUrl` (adapter_model.safetensors and
   * adapter_config.json, as the app downloads them) read back into the runtime: last-position logits for `ids` without
   * and with the adapter.
   */
  async adapterLogits(backend: BackendName, modelUrl: string, adapterUrl: string, ids: number[]): Promise<{ base: number[]; adapted: number[] }> {
    await initBackend({ preference: backend, wasmBinaries: WASM_BINARY_URLS });
    const { model } = await loadHfModel(filesFromUrl(modelUrl));
    const fetched = async (file: string) => {
      const response = await fetch(new URL(file, adapterUrl));
      if (!response.ok) throw new Error(`${file}: HTTP ${response.status}`);
      return new Uint8Array(await response.arrayBuffer());
    };
    const adapter = importPeftAdapter(await fetched('adapter_model.safetensors'), await fetched('adapter_config.json'), model.config);
    const lora = prepareLora(adapter, model.config);
    try {
      const last = async (logits: tf.Tensor2D) => {
        const values = Array.from(await logits.data());
        logits.dispose();
        return values;
      };
      return { base: await last(model.forward(ids, { logits: 'last' })), adapted: await last(model.forward(ids, { lora, logits: 'last' })) };
    } finally {
      disposePreparedLora(lora);
      model.dispose();
    }
  },

  /** benchmarkRuntime on `backend` for a config.json object; counts dispatches on webgpu. */
  async bench(backend: BackendName, configJson: object, options: Omit<RuntimeBenchOptions, 'kernelCounter' | 'onLog'>): Promise<RuntimeBenchResult & { log: string[] }> {
    await initBackend({ preference: backend, wasmBinaries: WASM_BINARY_URLS });
    const log: string[] = [];
    const result = await benchmarkRuntime(parseModelConfig(configJson), {
      ...options, kernelCounter: webgpuKernelCounter() ?? undefined, onLog: (line) => log.push(line),
    });
    return { ...result, log };
  },
};

declare global {
  interface Window { runtimeHarness: typeof harness }
}
window.runtimeHarness = harness;
document.getElementById('status')!.textContent = 'ready';
