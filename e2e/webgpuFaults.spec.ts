// WebGPU failing mid-generation (SwiftShader): the device destroyed, or an out-of-memory error, while a completion runs; the app says what happened, moves to WASM with the session (repository, commit, adapter), a completion then works, and a reload finds the repository and its adapter on WASM.
import { expect, test, type Page } from '@playwright/test';
import { loadRepository, useSynthServer } from './support/synthServer.ts';

const COMMITS = 3;
const served = useSynthServer({ seeds: [23], commits: COMMITS });

test.beforeEach(async ({ page }, testInfo) => {
  test.skip(testInfo.project.name !== 'webgpu', 'needs WebGPU (SwiftShader on the webgpu project)');
  test.setTimeout(300_000);
  page.on('pageerror', (err) => console.log(`[page error] ${err.message}`));
});

/** Starts Complete on a prompt and waits until tokens are being generated on the GPU. */
async function completionRunning(page: Page): Promise<void> {
  await page.getByRole('textbox', { name: 'Editor' }).fill('def total(values):\n    return ');
  await page.getByRole('button', { name: 'Complete' }).click();
  await expect(page.getByTestId('progress-generate')).toBeVisible({ timeout: 120_000 });
}

/** What the test hook in src/model/backend.ts does to the worker's GPU device. */
async function gpuFault(page: Page, fault: 'lose' | 'oom'): Promise<void> {
  await page.evaluate((gpu) => new BroadcastChannel('code2lora-test-hooks').postMessage({ gpu }), fault);
}

for (const [fault, said] of [['lose', /^The WebGPU device was lost \(destroyed/], ['oom', /^WebGPU ran out of memory \(test hook: allocation failed\)/]] as const) {
  test(`the GPU ${fault === 'lose' ? 'device lost' : 'out of memory'} mid-generation: the app says so, moves to WASM with the session, completes there, and a reload keeps it`, async ({ page }) => {
    const head = served.repos[0].commitShas[COMMITS - 1];
    await page.goto('/?model=random-tiny&backend=webgpu&tokens=48');
    await expect(page.getByTestId('backend')).toHaveText('tfjs backend: webgpu', { timeout: 120_000 });
    await loadRepository(page, served.url(), head, 180_000);

    await completionRunning(page);
    await gpuFault(page, fault);
    const notice = page.getByTestId('notice');
    await expect(notice).toHaveText(said, { timeout: 10_000 });
    await expect(notice).toContainText(`Switched to WASM: loading the model again and resuming ${served.repos[0].name} and its adapter.`);
    await expect(page.getByTestId('backend')).toHaveText('tfjs backend: wasm', { timeout: 60_000 });
    // The session came back on WASM: the repository, the selected commit and its adapter (its files from the cache).
    await expect(page.getByTestId('adapter')).toContainText(`Adapter for ${head.slice(0, 8)}`, { timeout: 60_000 });
    await expect(page.getByTestId('encode-counts')).toHaveText(/^0 files encoded, [1-9]\d* from cache$/);
    await expect(page.getByTestId('commits').locator('[title]')).toHaveCount(COMMITS);

    await page.getByRole('button', { name: 'Complete' }).click();
    const adapted = page.getByRole('region', { name: 'Adapted completion' }).getByTestId('completion-adapted');
    await expect(adapted).toHaveAttribute('data-tokens', /^[1-9]\d*$/, { timeout: 60_000 });
    await expect(page.getByRole('region', { name: 'Base completion' }).getByTestId('completion-base')).toHaveAttribute('data-tokens', /^[1-9]\d*$/);

    // The next visit (no backend in the URL) keeps WASM, and reopens the repository and its adapter from IndexedDB.
    await page.goto('/?model=random-tiny&tokens=8');
    await expect(page.getByTestId('backend')).toHaveText('tfjs backend: wasm', { timeout: 60_000 });
    await expect(page.getByTestId('adapter')).toContainText(`Adapter for ${head.slice(0, 8)}`, { timeout: 60_000 });
    await expect(page.getByTestId('encode-counts')).toHaveText(/^0 files encoded, [1-9]\d* from cache$/);
    await expect(page.getByTestId('error')).toHaveCount(0);
  });
}
