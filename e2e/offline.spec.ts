// Offline use: after one visit the service worker has kept the app and the model files the visit loaded; a reload without network opens the app, loads c2l-base from Cache Storage, reopens the repository from IndexedDB and makes an adapter; the Caches section lists the kept model files with their sizes, and a deleted one is gone (from the list and from Cache Storage).
import { expect, test, type Page, type Request, type TestInfo } from '@playwright/test';
import { statSync } from 'node:fs';
import { formatBytes } from '../src/git/guardedHttp.ts';
import { commitEntry, loadRepository, useSynthServer } from './support/synthServer.ts';

const COMMITS = 6;
const STAGE_TIMEOUT = 120_000;
const WEIGHTS = 'models/c2l-base/model.safetensors';
const served = useSynthServer({ seeds: [11], commits: COMMITS });

// The default, said here because this spec is about the service worker: Playwright can also block them.
test.use({ serviceWorkers: 'allow' });

test.beforeEach(({ page }, testInfo) => {
  test.skip(testInfo.project.name !== 'wasm-fallback', 'offline use does not depend on the tfjs backend: run once, on the wasm project');
  test.setTimeout(300_000);
  page.on('pageerror', (err) => console.log(`[page error] ${err.message}`));
});

/** Every Cache Storage entry of the page's origin, by cache name. */
function cacheEntries(page: Page): Promise<Record<string, string[]>> {
  return page.evaluate(async () => {
    const entries: Record<string, string[]> = {};
    for (const name of await caches.keys()) entries[name] = (await (await caches.open(name)).keys()).map((request) => request.url);
    return entries;
  });
}

/** Opens the Cached model files section and returns its list. */
async function cachedList(page: Page) {
  const section = page.getByTestId('cached-model-files');
  if (!(await section.evaluate((details) => (details as HTMLDetailsElement).open))) await section.locator('summary').click();
  return section.getByRole('list', { name: 'Cached model files' });
}

async function shot(page: Page, testInfo: TestInfo, name: string) {
  const path = testInfo.outputPath(`${name}.png`);
  await page.screenshot({ path, fullPage: true });
  await testInfo.attach(name, { path, contentType: 'image/png' });
}

test('after one visit, a reload without network opens the app, the model from the cache and the repository, and makes an adapter; a deleted cached model file is gone', async ({ page, context }, testInfo) => {
  const shas = served.repos[0].commitShas;
  const head = shas[COMMITS - 1];
  const older = shas[COMMITS - 3];
  const origin = new URL(testInfo.project.use.baseURL!).origin;

  // First visit, online: the service worker installs (keeping the app's files) and takes control of the page.
  await page.goto('/?model=c2l-base&backend=wasm&tokens=8');
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: STAGE_TIMEOUT });
  await expect(page.getByTestId('model-info')).toContainText('c2l-base', { timeout: STAGE_TIMEOUT });
  await loadRepository(page, served.url(), head, STAGE_TIMEOUT);
  // The model files are written to the cache while they load; the weights are the last and largest.
  await expect.poll(async () => Object.values(await cacheEntries(page)).flat(), { timeout: STAGE_TIMEOUT }).toContain(`${origin}/${WEIGHTS}`);

  // A reload online reads the model files from the cache: the server is asked for models/index.json only (their versions).
  const modelRequests: string[] = [];
  const onRequest = (request: Request) => {
    const path = new URL(request.url()).pathname;
    if (path.startsWith('/models/')) modelRequests.push(path);
  };
  context.on('request', onRequest);
  await page.reload();
  await expect(page.getByTestId('adapter')).toContainText(`Adapter for ${head.slice(0, 8)}`, { timeout: STAGE_TIMEOUT });
  context.off('request', onRequest);
  expect(modelRequests.filter((path) => path !== '/models/index.json')).toEqual([]);

  // What is kept: this origin's app files and model files only, never the git proxy or the git server (another origin).
  const entries = await cacheEntries(page);
  const names = Object.keys(entries);
  expect(names.filter((name) => name.startsWith('code2lora-app-'))).toHaveLength(1);
  expect(names).toContain('code2lora-models');
  const urls = Object.values(entries).flat();
  expect(urls).toContain(`${origin}/index.html`);
  expect(urls.some((url) => /\/assets\/pipeline\.worker-[\w-]+\.js$/.test(url))).toBe(true);
  expect(urls.some((url) => /\/assets\/tfjs-backend-wasm-simd-[\w-]+\.wasm$/.test(url))).toBe(true);
  for (const file of ['config.json', 'tokenizer.json', 'model.safetensors']) expect(urls).toContain(`${origin}/models/c2l-base/${file}`);
  for (const url of urls) {
    expect(url.startsWith(`${origin}/`), url).toBe(true);
    expect(url, url).not.toContain('/git-proxy');
  }
  expect(urls.some((url) => url.startsWith(served.server.url))).toBe(false);

  // The Caches section lists the kept model files with their sizes.
  const list = await cachedList(page);
  const weights = list.getByRole('listitem').filter({ hasText: WEIGHTS });
  await expect(weights).toContainText(formatBytes(statSync(`public/${WEIGHTS}`).size));
  await expect(page.getByTestId('offline-status')).toContainText('For offline use this browser keeps the app');
  await shot(page, testInfo, 'online-first-visit');

  // Offline: the reload is answered by the service worker, the model by Cache Storage, the repository by IndexedDB.
  const gitRequests = served.server.requests.length;
  await context.setOffline(true);
  // Offline for the page, its pipeline worker and the service worker alike (a query that nothing caches).
  const probe = () => fetch('/models/index.json?probe').then(() => 'reached', () => 'offline');
  expect(await page.evaluate(probe)).toBe('offline');
  expect(page.workers().length).toBeGreaterThan(0);
  for (const worker of page.workers()) expect(await worker.evaluate(probe)).toBe('offline');
  expect(context.serviceWorkers()).toHaveLength(1);
  expect(await context.serviceWorkers()[0].evaluate(probe)).toBe('offline');
  await page.reload();
  await expect(page.getByRole('heading', { name: 'Code2LoRA-Web' })).toBeVisible();
  await expect(page.getByTestId('model-info')).toContainText('c2l-base', { timeout: STAGE_TIMEOUT });
  await expect(page.getByTestId('repo-info')).toContainText(`${COMMITS} commits`, { timeout: STAGE_TIMEOUT });
  await expect(page.getByTestId('adapter')).toContainText(`Adapter for ${head.slice(0, 8)}`, { timeout: STAGE_TIMEOUT });
  // A new adapter, for another commit: its files are read from the clone and encoded by the cached model.
  await commitEntry(page, older).click();
  await expect(page.getByTestId('adapter')).toContainText(`Adapter for ${older.slice(0, 8)}`, { timeout: STAGE_TIMEOUT });
  await expect(page.getByRole('button', { name: 'Download adapter' })).toBeEnabled();
  await expect(page.getByTestId('error')).toHaveCount(0);
  expect(served.server.requests.length).toBe(gitRequests);
  await shot(page, testInfo, 'offline-reload');

  // Deleting a cached model file: gone from the list, its size no longer listed, gone from Cache Storage.
  const offlineList = await cachedList(page);
  const total = await page.getByTestId('cached-model-total').textContent();
  await offlineList.getByRole('button', { name: `Delete ${WEIGHTS}` }).click();
  await expect(page.getByTestId('cached-model-files-done')).toContainText(`Deleted ${WEIGHTS}`);
  await expect(offlineList.getByRole('listitem').filter({ hasText: WEIGHTS })).toHaveCount(0);
  await expect(offlineList.getByRole('listitem')).not.toHaveCount(0);
  await expect(page.getByTestId('cached-model-total')).not.toHaveText(total!);
  expect(Object.values(await cacheEntries(page)).flat()).not.toContain(`${origin}/${WEIGHTS}`);
  await shot(page, testInfo, 'offline-deleted-weights');
});
