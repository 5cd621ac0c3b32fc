// The thin path in a real browser: clone a generated repo, parse, adapter, completion, download a PEFT adapter.
import { expect, test } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { parseSafetensors } from '../src/model/safetensors.ts';
import { readE2eState } from './support/state.ts';

const RANDOM_TINY = { layers: 2, hidden: 64, intermediate: 176, heads: 4, kvHeads: 2, headDim: 16, rank: 8 };

// WebGPU here is SwiftShader (a CPU emulation, ~20 ms per dispatch): one adapter takes ~45 s there, ~3 s on wasm.
const STAGE_TIMEOUT = 180_000;

test('URL -> clone -> parse -> adapter -> completion -> adapter download', async ({ page }, testInfo) => {
  test.setTimeout(600_000);
  page.on('pageerror', (err) => console.log(`[page error] ${err.message}`));
  const state = readE2eState();
  // "auto" passes over SwiftShader for WASM (backendChoice.spec.ts): ask for WebGPU by name to run this flow on it.
  await page.goto(`/?model=random-tiny&seed=1&tokens=16&backend=${testInfo.project.name === 'webgpu' ? 'webgpu' : 'auto'}`);
  const expectedBackend = testInfo.project.name === 'webgpu' ? 'webgpu' : 'wasm';
  await expect(page.getByTestId('backend')).toHaveText(`tfjs backend: ${expectedBackend}`);
  console.log(`[${testInfo.project.name}] tfjs backend in use: ${await page.getByTestId('backend').textContent()}`);

  await page.getByLabel('Repository URL').fill(state.repos[0].url);
  await page.getByRole('button', { name: /Clone/ }).click();
  await expect(page.getByTestId('repo-info')).toContainText(`${state.repos[0].commits} commits`);
  await expect(page.getByTestId('count-functions')).not.toHaveText('0');
  await expect(page.getByTestId('count-assertions')).toHaveText(String(state.repos[0].assertionsAtHead));
  await expect(page.getByTestId('adapter')).toBeVisible({ timeout: STAGE_TIMEOUT });
  // The tiny model has no hypernetwork: the untrained one stands in, and both the header and the adapter say so.
  await expect(page.getByTestId('hypernetwork-info')).toHaveAttribute('data-state', 'none');
  await expect(page.getByTestId('untrained-hypernetwork')).toBeVisible();
  await expect(page.getByTestId('encode-counts')).toHaveText(/^[1-9]\d* files encoded, 0 from cache$/);

  // Step to an older commit: its diff is shown and the adapter is regenerated for it, re-encoding only the files
  // whose content differs (the rest come from the IndexedDB cache by git blob id).
  const older = page.getByTestId('commits').getByRole('option').nth(1);
  await older.click();
  await expect(page.getByTestId('diff')).toBeVisible();
  await expect(page.getByTestId('adapter')).toContainText(`Adapter for ${(await older.getAttribute('title'))!.slice(0, 8)}`, { timeout: STAGE_TIMEOUT });
  await expect(page.getByTestId('encode-counts')).toHaveText(/^\d+ files encoded, [1-9]\d* from cache$/);

  // The completions show the generated text only (not the prompt): each must hold text the model wrote.
  const prompt = 'def test_value():\n    assert compute(1) == ';
  await page.getByRole('textbox', { name: 'Editor' }).fill(prompt);
  await page.getByRole('button', { name: 'Complete' }).click();
  for (const [region, testId] of [['Base completion', 'completion-base'], ['Adapted completion', 'completion-adapted']]) {
    const generated = page.getByRole('region', { name: region }).getByTestId(testId);
    await expect(generated).toHaveAttribute('data-tokens', /^[1-9]\d*$/, { timeout: STAGE_TIMEOUT });
    const text = (await generated.textContent())!;
    console.log(`[${testInfo.project.name}] ${region}: ${JSON.stringify(text)}`);
    expect(text.length).toBeGreaterThan(0);
    expect(text).not.toContain('assert compute(1) == ');
  }

  const downloads: { name: string; path: string }[] = [];
  page.on('download', async (d) => downloads.push({ name: d.suggestedFilename(), path: (await d.path())! }));
  await page.getByRole('button', { name: 'Download adapter' }).click();
  await expect.poll(() => downloads.length).toBe(2);
  const weights = downloads.find((d) => d.name === 'adapter_model.safetensors')!;
  const config = JSON.parse(readFileSync(downloads.find((d) => d.name === 'adapter_config.json')!.path, 'utf8'));
  expect(config).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: RANDOM_TINY.rank });

  const parsed = parseSafetensors(new Uint8Array(readFileSync(weights.path)));
  const { layers, hidden, intermediate, heads, kvHeads, headDim, rank } = RANDOM_TINY;
  const shapes: Record<string, [number, number]> = {
    'self_attn.q_proj': [heads * headDim, hidden], 'self_attn.k_proj': [kvHeads * headDim, hidden], 'self_attn.v_proj': [kvHeads * headDim, hidden],
    'self_attn.o_proj': [hidden, heads * headDim], 'mlp.gate_proj': [intermediate, hidden], 'mlp.up_proj': [intermediate, hidden], 'mlp.down_proj': [hidden, intermediate],
  };
  expect(parsed.tensors.size).toBe(layers * Object.keys(shapes).length * 2);
  for (let layer = 0; layer < layers; layer++) {
    for (const [module, [out, inSize]] of Object.entries(shapes)) {
      const a = parsed.tensors.get(`base_model.model.model.layers.${layer}.${module}.lora_A.weight`)!;
      const b = parsed.tensors.get(`base_model.model.model.layers.${layer}.${module}.lora_B.weight`)!;
      expect([a.dtype, a.shape]).toEqual(['F32', [rank, inSize]]);
      expect([b.dtype, b.shape]).toEqual(['F32', [out, rank]]);
      expect(a.data.byteLength).toBe(rank * inSize * 4);
    }
  }
});
