// Errors that name their cause: the CORS proxy's own reason (e.g. a name it cannot resolve), and a plain word when the computer is offline.
import { expect, test } from '@playwright/test';
import { useSynthServer } from './support/synthServer.ts';

const served = useSynthServer({ seeds: [9], commits: 3 });

test.beforeEach(async ({ page }, testInfo) => {
  test.skip(testInfo.project.name !== 'wasm-fallback', 'error reporting does not depend on the tfjs backend: run once, on the faster wasm project');
  test.setTimeout(240_000);
  await page.goto('/?model=c2l-base&backend=wasm');
  await expect(page.getByTestId('model-info')).toBeVisible({ timeout: 180_000 });
});

test('a proxy error shows the reason the proxy gave, not only its HTTP status', async ({ page }) => {
  // github.com goes through the app's /git-proxy; this machine has no DNS, so the proxy answers 502 "Cannot resolve github.com".
  await page.getByLabel('Repository URL').fill('https://github.com/octo-org/octo-repo');
  await page.getByRole('button', { name: /Clone/ }).click();
  await expect(page.getByTestId('error')).toContainText('HTTP 502');
  await expect(page.getByTestId('error')).toContainText('Cannot resolve github.com');
});

test('a load while the computer is offline says so plainly', async ({ page, context }) => {
  await context.setOffline(true);
  await page.getByLabel('Repository URL').fill(served.url());
  await page.getByRole('button', { name: /Clone/ }).click();
  await expect(page.getByTestId('error')).toContainText('clone failed (OFFLINE)');
  await expect(page.getByTestId('error')).toContainText('This computer is offline');
  await context.setOffline(false);
});
