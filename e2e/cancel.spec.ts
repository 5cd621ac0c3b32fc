// Cancel stops the running stage within two seconds even when the backend is stuck in GPU work (the worker is replaced), says that it stopped, and keeps the session.
import { expect, test } from '@playwright/test';
import { useSynthServer } from './support/synthServer.ts';

const COMMITS = 4;
const served = useSynthServer({ seeds: [17], commits: COMMITS });

test('Cancel during a WebGPU encode that is not advancing stops it within two seconds and says so', async ({ page }, testInfo) => {
  test.skip(testInfo.project.name !== 'webgpu', 'needs the slow software WebGPU adapter (SwiftShader) of the webgpu project');
  test.setTimeout(480_000);
  page.on('pageerror', (err) => console.log(`[page error] ${err.message}`));
  await page.goto('/?model=c2l-base&backend=webgpu');
  await expect(page.getByTestId('model-info')).toBeVisible({ timeout: 240_000 });
  await page.getByLabel('Repository URL').fill(served.url());
  await page.getByRole('button', { name: /Clone/ }).click();
  const progress = page.getByTestId('progress-encode');
  await expect(progress).toBeVisible({ timeout: 120_000 });

  const clicked = Date.now();
  await progress.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByTestId('notice')).toContainText('Cancelled: the adapter was stopped', { timeout: 2_000 });
  await expect(progress).toHaveCount(0, { timeout: 2_000 });
  console.log(`Cancel to "Cancelled" notice: ${((Date.now() - clicked) / 1000).toFixed(2)} s`);
  await expect(page.getByTestId('error')).toHaveCount(0);
  // The session stays: the commits are listed, and the model comes back on the restarted backend.
  await expect(page.getByTestId('commits').locator('[title]')).toHaveCount(COMMITS);
  await expect(page.getByTestId('model-info')).toBeVisible({ timeout: 240_000 });
  await expect(page.getByTestId('backend')).toHaveText('tfjs backend: webgpu');
});
