// `npm run bench:runtime`: model-runtime speed in Node/wasm for the embedded model's size and SmolLM2-135M's, plus kernel
// dispatches per decode token on WebGPU measured in Chromium, with the fused decode kernels and without.
//
//   npm run bench:runtime [-- --json FILE] [--no-browser] [--decode-tokens N]
// Weights are random (speed does not depend on their values). The embedded size comes from public/models/c2l-base/config.json
// when present, else a d384 / 6-layer config. The browser part serves e2e/pages/runtime.html with Vite and drives Debian's
// Chromium (WebGPU via SwiftShader, a CPU emulation: its timings mean nothing, its dispatch counts are what a GPU runs).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { benchmarkRuntime, type RuntimeBenchOptions, type RuntimeBenchResult } from '../src/bench/runtimeBench.ts';
import { initBackend } from '../src/model/backend.ts';
import { parseModelConfig } from '../src/model/config.ts';

const { values: args } = parseArgs({
  options: {
    json: { type: 'string' },
    'no-browser': { type: 'boolean', default: false },
    'decode-tokens': { type: 'string', default: '8' },
  },
});

const EMBEDDED_CONFIG = 'public/models/c2l-base/config.json';
const FALLBACK_EMBEDDED = {
  architectures: ['LlamaForCausalLM'], vocab_size: 8192, hidden_size: 384, intermediate_size: 1024, num_hidden_layers: 6,
  num_attention_heads: 6, num_key_value_heads: 2, tie_word_embeddings: true,
};
/** SmolLM2-135M's shape (DESIGN.md section 4). */
const SMOLLM2_135M = {
  architectures: ['LlamaForCausalLM'], vocab_size: 49152, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30,
  num_attention_heads: 9, num_key_value_heads: 3, tie_word_embeddings: true, rope_theta: 100000, max_position_embeddings: 8192,
};

const models: Array<{ label: string; configJson: object; quantize?: RuntimeBenchOptions['quantize'] }> = [
  { label: existsSync(EMBEDDED_CONFIG) ? `embedded (${EMBEDDED_CONFIG})` : 'embedded-size fallback (d384, 6 layers)',
    configJson: existsSync(EMBEDDED_CONFIG) ? JSON.parse(readFileSync(EMBEDDED_CONFIG, 'utf8')) : FALLBACK_EMBEDDED },
  { label: 'SmolLM2-135M shape', configJson: SMOLLM2_135M },
  // As the shipped GGUF loads on WASM: Q4_1 linear layers and a Q8_0 LM head, multiplied by the quantized kernel.
  { label: 'SmolLM2-135M shape, Q4_1 weights and Q8_0 LM head (quantized kernel)', configJson: SMOLLM2_135M, quantize: { linear: 'Q4_1', lmHead: 'Q8_0' } },
];

const backend = await initBackend();
const results: Array<{ label: string } & RuntimeBenchResult> = [];
for (const { label, configJson, quantize } of models) {
  if (quantize && backend !== 'wasm') continue;
  const config = parseModelConfig(configJson);
  console.log(`\n== ${label}: d${config.hiddenSize}, ${config.numLayers} layers, ff ${config.intermediateSize}, heads ${config.numHeads}/${config.numKvHeads}, vocab ${config.vocabSize} (Node, ${backend})`);
  // SmolLM2's prompts are real files: time a 512-token prompt, and choose the prefill chunk size on it.
  const long = config.numLayers >= 30 ? { prefillTokens: 512, prefillChunkSweep: quantize ? [] : [32, 64, 128, 256, 512] } : {};
  const result = await benchmarkRuntime(config, { decodeTokens: Number(args['decode-tokens']), ...long, quantize, onLog: (line) => console.log(`  ${line}`) });
  const merged = result.merged_over_base;
  console.log(`  targets: unmerged <= 1.10x base: ${result.unmerged_over_base <= 1.1 ? 'met' : 'MISSED'} (${result.unmerged_over_base.toFixed(3)}x); `
    + (merged === null ? 'merged: none (quantized weights)' : `merged <= 1.02x: ${merged <= 1.02 ? 'met' : 'MISSED'} (${merged.toFixed(3)}x)`));
  results.push({ label, ...result });
}

let browser: Pick<RuntimeBenchResult, 'dispatches_per_token' | 'dispatches_per_token_unfused'> & { label: string; log: string[] } | null = null;
if (!args['no-browser']) browser = await dispatchesInChromium(models[0].label, models[0].configJson);

if (args.json) {
  const [embedded] = results;
  writeFileSync(args.json, JSON.stringify({
    decode_ms_per_token: embedded.decode_ms_per_token,
    prefill_tokens_per_s: embedded.prefill_tokens_per_s,
    model_gflops: embedded.model_gflops,
    matmul_peak_gflops: embedded.matmul_peak_gflops,
    webgpu_dispatches_per_token: browser?.dispatches_per_token ?? null,
    webgpu_dispatches_per_token_unfused: browser?.dispatches_per_token_unfused ?? null,
    models: results,
  }, null, 2));
  console.log(`\nwrote ${args.json}`);
}
process.exit(0);

/** Runs a short benchmark of the embedded-size model in Chromium on webgpu and returns its dispatch counts. */
async function dispatchesInChromium(label: string, configJson: object) {
  const { chromium } = await import('@playwright/test');
  const { startRuntimeHarness } = await import('../e2e/support/runtimeHarness.ts');
  const { url, server } = await startRuntimeHarness();
  const launched = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless=new', '--no-sandbox', '--disable-gpu-sandbox', '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--no-default-browser-check'],
  });
  try {
    const page = await launched.newPage();
    await page.goto(url);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready');
    console.log(`\n== ${label} in Chromium, webgpu (SwiftShader: timings are CPU emulation, dispatch counts are real)`);
    const result = await page.evaluate(({ configJson }) => window.runtimeHarness.bench('webgpu', configJson, { prefillTokens: 8, decodeTokens: 2, rounds: 1, contexts: [32] }),
      { configJson });
    for (const line of result.log) console.log(`  ${line}`);
    if (result.backend !== 'webgpu') console.log(`  (Chromium gave backend ${result.backend}, not webgpu: no dispatch counts)`);
    return { label, dispatches_per_token: result.dispatches_per_token, dispatches_per_token_unfused: result.dispatches_per_token_unfused, log: result.log };
  } finally {
    await launched.close();
    await server.close();
  }
}
