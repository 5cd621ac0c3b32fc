// The Evo timeline in the app: forward commit by commit (one GRU step each), back for free (no step, no encode), forward
// again to the same adapter (digest), the drift plot, and the states reopened from IndexedDB after a reload.
import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { hypernetworkWeightShapes, type HypernetworkConfig } from '../src/code2lora/hypernetwork.ts';
import { linearShape } from '../src/model/llama.ts';
import { LORA_MODULES } from '../src/model/lora.ts';
import { parseModelConfig } from '../src/model/config.ts';
import { writeSafetensors } from '../src/model/safetensors.ts';
import { commitEntry, useSynthServer } from './support/synthServer.ts';

const COMMITS = 12;
// WebGPU here is SwiftShader (a CPU emulation): every step is slower there, so the timeout is generous.
const STAGE_TIMEOUT = 180_000;
const served = useSynthServer({ seeds: [11], commits: COMMITS });

test.beforeEach(({ page }) => {
  test.setTimeout(600_000);
  page.on('pageerror', (err) => console.log(`[page error] ${err.message}`));
});

/** Selects `sha` and waits for its Evo adapter; returns the step report's figures and the adapter's digest. */
async function selectEvo(page: Page, sha: string) {
  await commitEntry(page, sha).click();
  const adapter = page.getByTestId('adapter');
  await expect(adapter).toHaveAttribute('data-commit', sha, { timeout: STAGE_TIMEOUT });
  await expect(adapter).toHaveAttribute('data-mode', 'evo');
  await expect(adapter).not.toHaveAttribute('aria-busy', 'true');
  const steps = page.getByTestId('evo-steps');
  return {
    steps: Number(await steps.getAttribute('data-steps')),
    diffsEncoded: Number(await steps.getAttribute('data-diffs-encoded')),
    filesEncoded: Number(await steps.getAttribute('data-files-encoded')),
    digest: (await adapter.getAttribute('data-digest'))!,
  };
}

test('Evo: forward 5 commits one step each, back 3 instantly, forward again to the same adapter; reload reads the states back', async ({ page }, testInfo) => {
  // "auto" passes over SwiftShader for WASM: ask for WebGPU by name on the webgpu project.
  const backend = testInfo.project.name === 'webgpu' ? 'webgpu' : 'wasm';
  await page.goto(`/?model=random-tiny&seed=1&tokens=8&backend=${backend}`);
  await expect(page.getByTestId('backend')).toHaveText(`tfjs backend: ${backend}`, { timeout: STAGE_TIMEOUT });
  // No trained Evo hypernetwork for the tiny model: Static is the default, and the switch says Evo is untrained.
  const modeSwitch = page.getByTestId('adapter-mode');
  await expect(modeSwitch).toHaveAttribute('data-mode', 'static', { timeout: STAGE_TIMEOUT });
  await expect(modeSwitch.getByRole('radio', { name: /Evo/ })).toBeVisible();
  await expect(modeSwitch).toContainText('Evo (untrained)');

  const shas = served.repos[0].commitShas; // oldest first
  await page.getByLabel('Repository URL').fill(served.url());
  await page.getByRole('button', { name: /Clone/ }).click();
  await expect(page.getByTestId('adapter')).toHaveAttribute('data-commit', shas[COMMITS - 1], { timeout: STAGE_TIMEOUT });
  await expect(page.getByTestId('adapter')).toHaveAttribute('data-mode', 'static');

  // The oldest commit in Static mode, then Evo: the state starts there, from its files' embeddings (no step).
  await commitEntry(page, shas[0]).click();
  await expect(page.getByTestId('adapter')).toHaveAttribute('data-commit', shas[0], { timeout: STAGE_TIMEOUT });
  await modeSwitch.getByRole('radio', { name: /Evo/ }).check();
  await expect(page.getByTestId('adapter')).toHaveAttribute('data-mode', 'evo', { timeout: STAGE_TIMEOUT });
  await expect(page.getByTestId('adapter-mode-label')).toHaveText('· Evo');
  await expect(page.getByTestId('untrained-hypernetwork')).toContainText('No trained Evo hypernetwork');
  await expect(page.getByTestId('evo-steps')).toHaveAttribute('data-steps', '0');
  // Its files were embedded for the Static adapter a moment ago: Evo's first state reads them from the cache.
  await expect(page.getByTestId('evo-report')).toContainText(/the oldest commit's 0 files encoded, [1-9]\d* from cache/);

  // Forward 5 commits, one GRU step each.
  const forward: Array<Awaited<ReturnType<typeof selectEvo>>> = [];
  for (let i = 1; i <= 5; i++) {
    const step = await selectEvo(page, shas[i]);
    expect(step, `commit ${i}`).toMatchObject({ steps: 1, filesEncoded: 0 });
    forward.push(step);
  }
  expect(forward.reduce((sum, s) => sum + s.diffsEncoded, 0)).toBeGreaterThan(0);
  expect(new Set(forward.map((s) => s.digest)).size).toBeGreaterThan(1); // the adapter moves along history
  await expect(page.getByTestId('drift-plot')).toHaveAttribute('data-points', '5');
  await page.screenshot({ path: testInfo.outputPath('evo-forward.png'), fullPage: true });

  // Back 3: cached states, no step and nothing encoded.
  for (const i of [4, 3, 2]) {
    const step = await selectEvo(page, shas[i]);
    expect(step, `back to commit ${i}`).toMatchObject({ steps: 0, diffsEncoded: 0, filesEncoded: 0 });
    expect(step.digest).toBe(forward[i - 1].digest);
  }
  await expect(page.getByTestId('evo-steps')).toContainText('the state was cached');

  // Forward again to the 5th: the same adapter as the first time.
  const again = await selectEvo(page, shas[5]);
  expect(again).toMatchObject({ steps: 0, diffsEncoded: 0, filesEncoded: 0 });
  expect(again.digest).toBe(forward[4].digest);

  // A reload reopens commit 5 in Evo mode from the states kept in IndexedDB: no step, nothing encoded, the same adapter.
  await page.reload();
  await expect(page.getByTestId('adapter')).toHaveAttribute('data-commit', shas[5], { timeout: STAGE_TIMEOUT });
  await expect(page.getByTestId('adapter')).toHaveAttribute('data-mode', 'evo');
  await expect(page.getByTestId('evo-steps')).toHaveAttribute('data-steps', '0');
  await expect(page.getByTestId('evo-steps')).toHaveAttribute('data-diffs-encoded', '0');
  await expect(page.getByTestId('evo-report')).toContainText('read from IndexedDB');
  await expect(page.getByTestId('adapter')).toHaveAttribute('data-digest', forward[4].digest);
  await page.screenshot({ path: testInfo.outputPath('evo-reloaded.png'), fullPage: true });
});

/**
 * Serves a hypernetwork in models/c2l-base/code2lora-evo/ (listed in models/index.json, as a shipped one would be) of
 * `kind`, with deterministic small weights in the exported format (training/export_hypernet.py).
 */
async function serveEvoHypernetwork(context: BrowserContext, kind: 'code2lora-evo' | 'code2lora-static'): Promise<void> {
  const base = parseModelConfig(JSON.parse(readFileSync('public/models/c2l-base/config.json', 'utf8')));
  const config: HypernetworkConfig = {
    embeddingSize: base.hiddenSize, hiddenSize: 16, rank: 2, alpha: 4, meanWeight: 0.6, maxWeight: 1.4, initLogScale: -3.5,
    shapes: Object.fromEntries(LORA_MODULES.map((module) => [module, linearShape(base, module)])),
  };
  const json = {
    format: 'code2lora-hypernetwork', format_version: 1, kind,
    base_model: {
      name: 'c2l-base', sha256: null, num_hidden_layers: base.numLayers, hidden_size: base.hiddenSize, intermediate_size: base.intermediateSize,
      num_key_value_heads: base.numKvHeads, head_dim: base.headDim, vocab_size: base.vocabSize,
    },
    encoder: { model: 'c2l-base', chunk_tokens: 128, chunks_per_file: 2, include_tests: false, hidden_size: base.hiddenSize },
    embedding_size: config.embeddingSize, shapes: config.shapes, hidden_size: config.hiddenSize, rank: config.rank, alpha: config.alpha,
    mean_weight: config.meanWeight, max_weight: config.maxWeight, init_log_scale: config.initLogScale, training: { step: 1 },
  };
  let seed = 1;
  const weights = writeSafetensors(Object.fromEntries([...hypernetworkWeightShapes(config, kind)].map(([name, shape]) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = name.startsWith('log_scale.') ? Float32Array.of(config.initLogScale)
      : Float32Array.from({ length: size }, (_, i) => 0.2 * Math.sin(0.7 * i + seed++));
    return [name, { dtype: 'F32' as const, shape, data }];
  })));
  const folder = 'models/c2l-base/code2lora-evo';
  await context.route('**/models/index.json', async (route) => {
    const response = await route.fetch();
    const index = await response.json() as { files: string[] };
    await route.fulfill({ response, json: { ...index, files: [...index.files, `${folder}/hypernetwork_config.json`, `${folder}/hypernetwork.safetensors`] } });
  });
  await context.route(`**/${folder}/hypernetwork_config.json`, (route) => route.fulfill({ json }));
  await context.route(`**/${folder}/hypernetwork.safetensors`, (route) => route.fulfill({ body: Buffer.from(weights), contentType: 'application/octet-stream' }));
}

test('a trained Evo hypernetwork beside the model makes Evo the default; a bad one leaves Static working and says why', async ({ page, context }, testInfo) => {
  test.skip(testInfo.project.name !== 'wasm-fallback', 'loading and choosing hypernetworks does not depend on the tfjs backend: run once, on wasm');
  const shas = served.repos[0].commitShas;

  // A Static hypernetwork in the Evo folder: refused with its code, the untrained Evo stands in, Static stays the default and works.
  await serveEvoHypernetwork(context, 'code2lora-static');
  await page.goto('/?model=c2l-base&backend=wasm&tokens=8');
  const modeSwitch = page.getByTestId('adapter-mode');
  await expect(modeSwitch).toHaveAttribute('data-mode', 'static', { timeout: STAGE_TIMEOUT });
  await expect(page.getByTestId('evo-hypernetwork-error')).toContainText('code2lora-evo');
  await expect(modeSwitch).toContainText('Evo (untrained: the shipped one failed to load (NOT_EVO))');
  await page.getByLabel('Repository URL').fill(served.url());
  await page.getByRole('button', { name: /Clone/ }).click();
  await expect(page.getByTestId('adapter')).toHaveAttribute('data-commit', shas[COMMITS - 1], { timeout: STAGE_TIMEOUT });
  await expect(page.getByTestId('adapter')).toHaveAttribute('data-mode', 'static');

  // A trained Evo hypernetwork: Evo is the default, the HEAD's adapter steps the whole history once, and says it is trained.
  await context.unrouteAll({ behavior: 'ignoreErrors' });
  await serveEvoHypernetwork(context, 'code2lora-evo');
  await page.evaluate(() => localStorage.clear());
  await page.reload();
  await expect(modeSwitch).toHaveAttribute('data-mode', 'evo', { timeout: STAGE_TIMEOUT });
  await expect(modeSwitch).toContainText('Evo (trained)');
  await page.getByLabel('Repository URL').fill(served.url());
  await page.getByRole('button', { name: /Clone/ }).click();
  await expect(page.getByTestId('adapter')).toHaveAttribute('data-commit', shas[COMMITS - 1], { timeout: STAGE_TIMEOUT });
  await expect(page.getByTestId('adapter')).toHaveAttribute('data-mode', 'evo');
  await expect(page.getByTestId('evo-steps')).toHaveAttribute('data-steps', String(COMMITS - 1));
  await expect(page.getByTestId('trained-hypernetwork')).toBeVisible();
  await expect(page.getByTestId('drift-plot')).toHaveAttribute('data-points', String(COMMITS - 1));
});
