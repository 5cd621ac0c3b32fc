// The WebGPU decode kernels (src/model/webgpuKernels.ts) in Chromium: each equals the tfjs ops it replaces, a whole
// model decodes the same logits and greedy tokens with them on and off, and they cut the dispatches per token.
import { expect, test, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { AttentionCase, KernelDiff, LinearCase, NormCase, RopeCase } from './pages/kernels.ts';
import { startRuntimeHarness } from './support/runtimeHarness.ts';

const TOLERANCE = 1e-4;

// Shapes of real models (d384/ff1024 embedded, d576/ff1536 SmolLM2, the LM head) and odd ones that are not multiples
// of the 64-column workgroup tile, a rank above 64 (two LoRA chunks) and rank 1.
const LINEAR_CASES: LinearCase[] = [
  { inFeatures: 384, outFeatures: 1024, rank: 0, bias: false },
  { inFeatures: 1024, outFeatures: 384, rank: 16, bias: false },
  { inFeatures: 576, outFeatures: 192, rank: 8, bias: true },
  { inFeatures: 100, outFeatures: 37, rank: 0, bias: true },
  { inFeatures: 72, outFeatures: 130, rank: 1, bias: true },
  { inFeatures: 130, outFeatures: 70, rank: 100, bias: false },
  { inFeatures: 3, outFeatures: 5, rank: 2, bias: true },
  { inFeatures: 384, outFeatures: 8192, rank: 0, bias: false },
];
const NORM_CASES: NormCase[] = [
  { rows: 1, width: 384, eps: 1e-5 },
  { rows: 1, width: 576, eps: 1e-6 },
  { rows: 1, width: 1000, eps: 1e-5 },
  { rows: 3, width: 72, eps: 1e-5 },
  { rows: 1, width: 7, eps: 1e-2 },
];
const ROPE_CASES: RopeCase[] = [{ heads: 6, headDim: 64 }, { heads: 3, headDim: 64 }, { heads: 9, headDim: 12 }, { heads: 1, headDim: 130 }];
const SWIGLU_WIDTHS = [1024, 1536, 100, 7];
const ATTENTION_CASES: AttentionCase[] = [
  { numHeads: 6, numKvHeads: 2, headDim: 64, positions: 33 },
  { numHeads: 9, numKvHeads: 3, headDim: 64, positions: 1 },
  { numHeads: 4, numKvHeads: 4, headDim: 32, positions: 300 },
  { numHeads: 8, numKvHeads: 2, headDim: 128, positions: 17 },
  { numHeads: 2, numKvHeads: 1, headDim: 12, positions: 700 },
];

/** GQA, a bias on every linear layer, widths off the 64-column grid, head size 12. */
const TINY_WITH_BIASES = {
  architectures: ['LlamaForCausalLM'], vocab_size: 96, hidden_size: 72, intermediate_size: 100, num_hidden_layers: 2,
  num_attention_heads: 6, num_key_value_heads: 2, attention_bias: true, mlp_bias: true, rms_norm_eps: 1e-6, rope_theta: 10000,
  tie_word_embeddings: false,
};
const EMBEDDED_CONFIG = JSON.parse(readFileSync(resolve('public/models/c2l-base/config.json'), 'utf8'));

async function openHarness(page: Page) {
  const harness = await startRuntimeHarness();
  page.on('pageerror', (error) => console.log(`[page error] ${error.message}`));
  page.on('console', (message) => { if (message.type() === 'error') console.log(`[console] ${message.text()}`); });
  await page.goto(new URL('kernels.html', harness.url).href);
  await expect(page.locator('#status')).toHaveText('ready');
  return harness;
}

function report(label: string, cases: object[], diffs: KernelDiff[]): void {
  for (const [i, diff] of diffs.entries()) {
    console.log(`[kernels] ${label} ${JSON.stringify(cases[i])}: max |fused - tfjs| = ${diff.maxDifference.toExponential(2)} (scale ${diff.scale.toFixed(2)})`);
  }
}

test.describe('WebGPU decode kernels', () => {
  test.beforeEach(({}, testInfo) => {
    test.skip(testInfo.project.name !== 'webgpu', 'the kernels run only on the webgpu backend (WebGPU-enabled Chromium project)');
  });

  test('each kernel equals the tfjs ops it replaces', async ({ page }) => {
    test.setTimeout(300_000);
    const { server } = await openHarness(page);
    try {
      const linear = await page.evaluate((cases) => window.kernelsHarness.linear(cases), LINEAR_CASES);
      const norm = await page.evaluate((cases) => window.kernelsHarness.rmsNorm(cases), NORM_CASES);
      const rope = await page.evaluate((cases) => window.kernelsHarness.rope(cases), ROPE_CASES);
      const swiGlu = await page.evaluate((widths) => window.kernelsHarness.swiGlu(widths), SWIGLU_WIDTHS);
      const attention = await page.evaluate((cases) => window.kernelsHarness.attention(cases), ATTENTION_CASES);
      report('fusedLinear', LINEAR_CASES, linear);
      report('fusedRmsNorm', NORM_CASES, norm);
      report('fusedRope', ROPE_CASES, rope);
      report('fusedSwiGlu', SWIGLU_WIDTHS.map((width) => ({ width })), swiGlu);
      report('fusedDecodeAttention', ATTENTION_CASES, attention);
      for (const diff of [...linear, ...norm, ...rope, ...swiGlu, ...attention]) {
        expect(diff.scale).toBeGreaterThan(0.1);
        expect(diff.maxDifference).toBeLessThan(TOLERANCE);
      }
    } finally {
      await server.close();
    }
  });

  for (const { label, configJson, std } of [
    { label: 'tiny (GQA, all biases, odd widths)', configJson: TINY_WITH_BIASES, std: 0.3 },
    { label: 'embedded model size (public/models/c2l-base)', configJson: EMBEDDED_CONFIG, std: 0.08 },
  ]) {
    test(`decode with kernels on equals kernels off: ${label}`, async ({ page }) => {
      test.setTimeout(600_000);
      const { server } = await openHarness(page);
      try {
        const result = await page.evaluate(
          ({ configJson, std }) => window.kernelsHarness.decode(configJson, { std, promptLength: 12, steps: 8, rank: 16 }),
          { configJson, std },
        );
        const { baseOff, baseOn, loraOff, loraOn } = result.dispatches;
        console.log(`[kernels] ${label}: ${result.steps} decode steps x (base, LoRA): max |on - off| logits = ${result.maxDifference.toExponential(2)} `
          + `(logit scale ${result.scale.toFixed(1)}); greedy on ${result.greedyOn.join(',')}`);
        console.log(`[kernels] ${label}: dispatches per decode token: base ${baseOff} -> ${baseOn}, LoRA unmerged ${loraOff} -> ${loraOn}`);
        expect(result.scale).toBeGreaterThan(1);
        expect(result.maxDifference).toBeLessThan(TOLERANCE);
        expect(result.greedyOn).toEqual(result.greedyOff);
        expect(result.greedyOn).toHaveLength(result.steps);
        expect(baseOn).toBeLessThan(baseOff);
        expect(loraOn).toBe(baseOn); // LoRA rides inside the fused linear kernel: no extra launches.
      } finally {
        await server.close();
      }
    });
  }
});
