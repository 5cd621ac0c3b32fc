// The adapter's PEFT files round-trip: downloaded from the app, they load back into the app (same digest, used by the
// adapted completion) and into the runtime, where they change the model's logits; broken files are refused with the
// reason, and the adapter in use stays.
import { expect, test } from '@playwright/test';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadRepository, useSynthServer } from './support/synthServer.ts';
import { startRuntimeHarness } from './support/runtimeHarness.ts';

const STAGE_TIMEOUT = 180_000;
const served = useSynthServer({ seeds: [11], commits: 4 });

test('download the adapter, load the files back into the app and into the runtime: same adapter, logits changed; broken files refused', async ({ page }, testInfo) => {
  test.skip(testInfo.project.name !== 'wasm-fallback', 'files and parsing do not depend on the backend: run once, on wasm');
  test.setTimeout(360_000);
  page.on('pageerror', (err) => console.log(`[page error] ${err.message}`));
  await page.goto('/?model=c2l-base&backend=wasm&tokens=8');
  await expect(page.getByTestId('model-info')).toBeVisible({ timeout: STAGE_TIMEOUT });
  const head = served.repos[0].head;
  await loadRepository(page, served.url(), head, STAGE_TIMEOUT);
  const panel = page.getByTestId('adapter');
  const madeDigest = (await panel.getAttribute('data-digest'))!;

  const folder = resolve(testInfo.outputPath('adapter'));
  mkdirSync(folder, { recursive: true });
  const downloads: string[] = [];
  page.on('download', async (download) => {
    await download.saveAs(resolve(folder, download.suggestedFilename()));
    downloads.push(download.suggestedFilename());
  });
  await panel.getByRole('button', { name: 'Download adapter' }).click();
  await expect.poll(() => downloads.sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
  const weights = resolve(folder, 'adapter_model.safetensors');
  const config = resolve(folder, 'adapter_config.json');

  // Broken files: a cut weights file, and weights without their config. Each says why; the made adapter stays.
  const input = page.getByLabel('Load adapter files');
  const cut = resolve(folder, 'cut.safetensors');
  writeFileSync(cut, readFileSync(weights).subarray(0, 5000));
  await input.setInputFiles([cut, config]);
  await expect(page.getByTestId('adapter-file-error')).toContainText(/The adapter files were not loaded: [\w-]+: adapter_model\.safetensors: /);
  await input.setInputFiles([weights]);
  await expect(page.getByTestId('adapter-file-error')).toContainText('Choose two files together');
  await expect(panel).toHaveAttribute('data-digest', madeDigest);
  await expect(page.getByTestId('adapter-loaded-from')).toHaveCount(0);

  // The downloaded files: loaded back, they are the same adapter (same digest of its values), and completions use it.
  await input.setInputFiles([weights, config]);
  await expect(page.getByTestId('adapter-loaded-from')).toContainText('Loaded from adapter_model.safetensors');
  await expect(panel).toHaveAttribute('data-digest', madeDigest);
  await expect(page.getByTestId('adapter-file-error')).toHaveCount(0);
  await page.getByRole('textbox', { name: 'Editor' }).fill('def test_value():\n    assert ');
  await page.getByRole('button', { name: 'Complete' }).click();
  await expect(page.getByTestId('completion-adapted')).toHaveAttribute('data-tokens', /^[1-9]\d*$/, { timeout: STAGE_TIMEOUT });
  await page.screenshot({ path: testInfo.outputPath('adapter-loaded-from-file.png'), fullPage: true });

  // The same files in the runtime on their own: they change c2l-base's logits.
  const publicDirectory = resolve(testInfo.outputPath('public'));
  rmSync(publicDirectory, { recursive: true, force: true });
  for (const [from, to] of [['public/models/c2l-base', 'c2l-base'], [folder, 'adapter']]) {
    mkdirSync(resolve(publicDirectory, to), { recursive: true });
    for (const file of ['config.json', 'model.safetensors', 'tokenizer.json', 'adapter_model.safetensors', 'adapter_config.json']) {
      try {
        copyFileSync(resolve(from, file), resolve(publicDirectory, to, file));
      } catch {
        // Each folder has only its own files.
      }
    }
  }
  const { url, server } = await startRuntimeHarness({ publicDirectory });
  try {
    const harness = await page.context().newPage();
    await harness.goto(url);
    await expect(harness.locator('#status')).toHaveText('ready');
    const ids = Array.from({ length: 24 }, (_, i) => 100 + ((i * 53) % 900));
    const { base, adapted } = await harness.evaluate(
      ({ model, adapter, ids }) => window.runtimeHarness.adapterLogits('wasm', model, adapter, ids),
      { model: new URL('/c2l-base/', url).href, adapter: new URL('/adapter/', url).href, ids },
    );
    const change = Math.max(...base.map((value, i) => Math.abs(value - adapted[i])));
    console.log(`[${testInfo.project.name}] the downloaded adapter moves c2l-base's last logits by up to ${change.toFixed(4)}`);
    expect(adapted.every(Number.isFinite)).toBe(true);
    expect(change).toBeGreaterThan(1e-3);
  } finally {
    await server.close();
  }
});
