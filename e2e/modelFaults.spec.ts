// Network faults while the model downloads, through page.route: a transfer cut off mid-way, an HTTP 500 and a server that never answers each end the load with the role="alert" message naming the file and the cause; Load again then loads the model, and the repository reopens.
import { expect, test, type Page, type Route } from '@playwright/test';
import { loadRepository, useSynthServer } from './support/synthServer.ts';

const served = useSynthServer({ seeds: [21], commits: 3 });

test.beforeEach(async ({ page }, testInfo) => {
  test.skip(testInfo.project.name !== 'wasm-fallback', 'downloads do not depend on the tfjs backend: run once, on the wasm project');
  test.setTimeout(120_000);
  page.on('pageerror', (err) => console.log(`[page error] ${err.message}`));
});

/** Answers the model file's requests with `fault` until it is lifted; counts them. */
async function faultOn(page: Page, file: string, fault: (route: Route) => Promise<void>) {
  const state = { requests: 0, lifted: false };
  await page.route(`**/models/c2l-base/${file}`, async (route) => {
    state.requests++;
    if (state.lifted) await route.continue();
    else await fault(route);
  });
  return state;
}

/** The model files kept in Cache Storage for offline use (src/offline/modelFileCache.ts), as paths. */
function keptModelFiles(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const cache = await caches.open('code2lora-models');
    return (await cache.keys()).map((request) => new URL(request.url).pathname.slice(1));
  });
}

/** The model's load failed with `code`, its message as `message`; Load again (the fault lifted) loads c2l-base. */
async function failsThenLoadsAgain(page: Page, fault: { lifted: boolean }, code: string, message: RegExp): Promise<void> {
  const alert = page.getByTestId('error');
  await expect(alert).toContainText(`model failed (${code}):`, { timeout: 60_000 });
  await expect(alert).toHaveText(message);
  await expect(page.getByRole('alert').filter({ hasText: 'model failed' })).toHaveCount(1);
  await expect(page.getByTestId('model-info')).toHaveCount(0);
  fault.lifted = true;
  await alert.getByRole('button', { name: 'Load again' }).click();
  await expect(page.getByTestId('model-info')).toContainText('c2l-base', { timeout: 60_000 });
  await expect(page.getByTestId('error')).toHaveCount(0);
}

test('model.safetensors cut off mid-transfer: the alert names the file and how much arrived; Load again loads it, and a repository loads after', async ({ page }) => {
  const fault = await faultOn(page, 'model.safetensors', async (route) => {
    // The real answer with a third of its body: the transfer ends mid-file.
    const response = await route.fetch();
    const body = await response.body();
    await route.fulfill({ response, body: body.subarray(0, Math.floor(body.length / 3)) });
  });
  await page.goto('/?model=c2l-base&backend=wasm');
  const alert = page.getByTestId('error');
  await expect(alert).toContainText('model failed (TRUNCATED):', { timeout: 60_000 });
  // The cut file is not kept for offline use (models/index.json gives its SHA-256), so Load again fetches it again.
  expect(await keptModelFiles(page)).not.toContain('models/c2l-base/model.safetensors');
  await failsThenLoadsAgain(page, fault, 'TRUNCATED',
    /^model failed \(TRUNCATED\): model\.safetensors ended after 6\.0 MiB of the 18\.0 MiB its header describes: the file was cut short, on the server or on its way\. Load again to retry\. Load again$/);
  await expect.poll(() => keptModelFiles(page)).toContain('models/c2l-base/model.safetensors');
  expect(fault.requests).toBe(2);
  const { head } = served.repos[0];
  await loadRepository(page, served.url(), head, 60_000);
});

test('tokenizer.json answered with HTTP 500: the alert says so; Load again loads the model', async ({ page }) => {
  const fault = await faultOn(page, 'tokenizer.json', (route) => route.fulfill({ status: 500, body: 'fault' }));
  await page.goto('/?model=c2l-base&backend=wasm');
  await failsThenLoadsAgain(page, fault, 'HTTP_ERROR', /^model failed \(HTTP_ERROR\): Fetching tokenizer\.json failed: HTTP 500 .*Load again$/);
});

test('config.json never answered: the load gives up after the stall limit and says so; Load again loads the model', async ({ page }) => {
  const fault = await faultOn(page, 'config.json', async () => undefined); // never fulfilled: the server is silent
  const started = Date.now();
  await page.goto('/?model=c2l-base&backend=wasm&stall=3');
  await failsThenLoadsAgain(page, fault, 'STALLED',
    /^model failed \(STALLED\): Downloading config\.json stalled: the server sent no answer for 3 s \(http:\/\/127\.0\.0\.1:\d+\/models\/c2l-base\/config\.json\)\. Load again to retry\. Load again$/);
  expect(Date.now() - started).toBeLessThan(30_000);
});
