// The model runtime in Chromium: a tiny checkpoint in genuine HF layout gives the same logits and greedy tokens on WebGPU as on WASM.
import { expect, test } from '@playwright/test';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseModelConfig, toHfConfig } from '../src/model/config.ts';
import { hfTensorShapes } from '../src/model/llama.ts';
import { writeSafetensors, type TensorToWrite } from '../src/model/safetensors.ts';
import { normalArray, seededUniform } from '../src/util/random.ts';
import { startRuntimeHarness } from './support/runtimeHarness.ts';

// GQA, untied, attention bias: the paths a real checkpoint exercises. Weights at std 0.3 so the logits are far from
// uniform and greedy choices are not near-ties that float rounding could flip.
const CONFIG = parseModelConfig({
  architectures: ['LlamaForCausalLM'], vocab_size: 96, hidden_size: 64, intermediate_size: 112, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, attention_bias: true, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false,
});
const IDS = Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % 96);

/** config.json + model.safetensors (bf16 weights, as many HF checkpoints ship) written under `directory`. */
function writeTinyCheckpoint(directory: string): void {
  const uniform = seededUniform(5);
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, shape] of hfTensorShapes(CONFIG)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = name.endsWith('norm.weight') ? Float32Array.from({ length: size }, () => 0.5 + uniform()) : normalArray(size, 0.3, uniform);
    tensors[name] = { dtype: 'BF16', shape, data };
  }
  mkdirSync(directory, { recursive: true });
  writeFileSync(resolve(directory, 'config.json'), JSON.stringify({ ...toHfConfig(CONFIG), torch_dtype: 'bfloat16' }, null, 2));
  writeFileSync(resolve(directory, 'model.safetensors'), writeSafetensors(tensors, { format: 'pt' }));
}

test('WebGPU and WASM give the same logits and greedy tokens', async ({ page }, testInfo) => {
  test.skip(testInfo.project.name !== 'webgpu', 'needs the WebGPU-enabled Chromium project');
  test.setTimeout(300_000);
  const publicDirectory = resolve('test-results/runtime-harness');
  rmSync(publicDirectory, { recursive: true, force: true });
  writeTinyCheckpoint(resolve(publicDirectory, 'model'));
  const { url, server } = await startRuntimeHarness({ publicDirectory });
  try {
    page.on('pageerror', (error) => console.log(`[page error] ${error.message}`));
    await page.goto(url);
    await expect(page.locator('#status')).toHaveText('ready');
    const modelUrl = new URL('/model/', url).href;
    const wasm = await page.evaluate(({ modelUrl, ids }) => window.runtimeHarness.logits('wasm', modelUrl, ids, 12), { modelUrl, ids: IDS });
    const webgpu = await page.evaluate(({ modelUrl, ids }) => window.runtimeHarness.logits('webgpu', modelUrl, ids, 12), { modelUrl, ids: IDS });
    expect(wasm.backend).toBe('wasm');
    expect(webgpu.backend).toBe('webgpu');
    expect(webgpu.shape).toEqual([IDS.length, CONFIG.vocabSize]);
    let maxDifference = 0;
    let scale = 0;
    for (let i = 0; i < wasm.logits.length; i++) {
      maxDifference = Math.max(maxDifference, Math.abs(wasm.logits[i] - webgpu.logits[i]));
      scale = Math.max(scale, Math.abs(wasm.logits[i]));
    }
    console.log(`[runtime] ${IDS.length} positions x ${CONFIG.vocabSize} logits: max |webgpu - wasm| = ${maxDifference.toExponential(2)} `
      + `(logit scale ${scale.toFixed(1)}); greedy ${webgpu.greedy.join(',')}`);
    expect(scale).toBeGreaterThan(1);
    expect(maxDifference).toBeLessThan(1e-3);
    expect(webgpu.greedy).toEqual(wasm.greedy);
    expect(webgpu.greedy).toHaveLength(12);
  } finally {
    await server.close();
  }
});
