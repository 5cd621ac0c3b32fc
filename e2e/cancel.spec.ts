// Cancel stops the running stage (an encode, a model load) within two seconds even when the backend is stuck in GPU work (the worker is replaced), says that it stopped, and keeps the session.
import { expect, test, type Locator, type Page } from '@playwright/test';
import { useSynthServer } from './support/synthServer.ts';

/** Presses the progress bar's Cancel and checks that, within two seconds, the bar is gone and the notice says `said`. */
async function cancelWithinTwoSeconds(page: Page, progress: Locator, said: string): Promise<void> {
  const clicked = Date.now();
  await progress.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByTestId('notice')).toContainText(said, { timeout: 2_000 });
  await expect(progress).toHaveCount(0, { timeout: 2_000 });
  console.log(`Cancel to "${said}": ${((Date.now() - clicked) / 1000).toFixed(2)} s`);
}

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

  await cancelWithinTwoSeconds(page, progress, 'Cancelled: the adapter was stopped');
  await expect(page.getByTestId('error')).toHaveCount(0);
  // The session stays: the commits are listed, and the model comes back on the restarted backend.
  await expect(page.getByTestId('commits').locator('[title]')).toHaveCount(COMMITS);
  await expect(page.getByTestId('model-info')).toBeVisible({ timeout: 240_000 });
  await expect(page.getByTestId('backend')).toHaveText('tfjs backend: webgpu');
});

test('Cancel while the model loads stops within two seconds, and Load under Settings loads it again', async ({ page }, testInfo) => {
  test.skip(testInfo.project.name !== 'webgpu', 'needs the slow software WebGPU adapter (SwiftShader), where loading c2l-base takes half a minute');
  test.setTimeout(480_000);
  await page.goto('/?model=c2l-base&backend=webgpu');
  const progress = page.getByTestId('progress-model');
  await expect(progress).toBeVisible({ timeout: 60_000 });
  await cancelWithinTwoSeconds(page, progress, 'Cancelled: the model was not loaded');
  // It stays cancelled (the restarted worker does not load the model by itself) until the user asks again.
  await page.waitForTimeout(3_000);
  await expect(page.getByTestId('model-info')).toHaveCount(0);
  await page.getByText('Settings', { exact: true }).click();
  await page.getByRole('button', { name: 'Load', exact: true }).click();
  await expect(page.getByTestId('model-info')).toBeVisible({ timeout: 240_000 });
});
