// Which backend runs the models: "auto" passes over a software WebGPU adapter (SwiftShader) for WASM, and a stage that stops advancing says so and offers the other backend.
import { expect, test } from '@playwright/test';
import { useSynthServer } from './support/synthServer.ts';

const served = useSynthServer({ seeds: [15], commits: 4 });

test.beforeEach(({ page }, testInfo) => {
  test.skip(testInfo.project.name !== 'webgpu', 'needs the software WebGPU adapter (SwiftShader) of the webgpu project');
  page.on('pageerror', (err) => console.log(`[page error] ${err.message}`));
});

test('"auto" takes WASM when the WebGPU adapter is a software one, and says why', async ({ page }) => {
  await page.goto('/?model=c2l-base&backend=auto');
  await expect(page.getByTestId('backend')).toHaveText('tfjs backend: wasm');
  await expect(page.getByTestId('backend-note')).toContainText('software adapter');
  await expect(page.getByTestId('backend-note')).toContainText(/swiftshader/i);
  await expect(page.getByTestId('model-info')).toBeVisible({ timeout: 120_000 });
});

test('a stage that stops advancing says so and offers the other backend, which finishes the adapter', async ({ page }) => {
  test.setTimeout(480_000);
  // Encoding one file with c2l-base on SwiftShader takes 10-30 s here: with a 4 s threshold the encode stage stalls.
  await page.goto('/?model=c2l-base&backend=webgpu&stall=4');
  await expect(page.getByTestId('backend')).toHaveText('tfjs backend: webgpu');
  await expect(page.getByTestId('model-info')).toBeVisible({ timeout: 240_000 });
  await page.getByLabel('Repository URL').fill(served.url());
  await page.getByRole('button', { name: /Clone/ }).click();
  await expect(page.getByTestId('progress-encode')).toBeVisible({ timeout: 120_000 });
  const stall = page.getByTestId('stall');
  await expect(stall).toContainText(/^Encoding files has not advanced for 4 s on WebGPU/, { timeout: 60_000 });
  await stall.getByRole('button', { name: 'Switch to WASM' }).click();
  await expect(page.getByTestId('backend')).toHaveText('tfjs backend: wasm', { timeout: 30_000 });
  const head = served.repos[0].commitShas.at(-1)!;
  await expect(page.getByTestId('adapter')).toContainText(`Adapter for ${head.slice(0, 8)}`, { timeout: 180_000 });
  await expect(stall).toHaveCount(0);
  await expect(page.getByTestId('error')).toHaveCount(0);
});
