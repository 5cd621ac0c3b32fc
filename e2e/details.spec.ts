// The app says what is true: the model picker knows what is installed, the backend setting what it does, the adapter and the diff what they leave out; no 404 on a page load; npm start listens on PORT.
import { expect, test } from '@playwright/test';
import { spawn } from 'node:child_process';
import { isEvoDiffPath } from '../src/git/pathFilters.ts';
import { runGit } from '../src/synth/writeGitRepo.ts';
import { commitEntry, loadRepository, useSynthServer } from './support/synthServer.ts';

const COMMITS = 12;
const STAGE_TIMEOUT = 180_000;
const served = useSynthServer({ seeds: [13], commits: COMMITS });

test.beforeEach(({ page }, testInfo) => {
  test.skip(testInfo.project.name !== 'wasm-fallback', 'none of this depends on the tfjs backend: run once, on the faster wasm project');
  test.setTimeout(480_000);
  page.on('pageerror', (err) => console.log(`[page error] ${err.message}`));
});

test('settings say what is installed and what a change does; a page load asks for no missing file', async ({ page, context, request }) => {
  const missing: string[] = [];
  context.on('response', (response) => {
    if (response.status() === 404) missing.push(new URL(response.url()).pathname);
  });
  await page.goto('/?model=c2l-base&backend=wasm');
  await expect(page.getByTestId('model-info')).toBeVisible({ timeout: STAGE_TIMEOUT });
  // Optional files (the shard index, a hypernetwork beside c2l-base, SmolLM2) are looked up in models/index.json, not probed.
  expect(missing).toEqual([]);

  await page.getByText('Settings', { exact: true }).click();
  const installed = (await request.head('/models/smollm2-135m-instruct/model.gguf')).ok();
  const smollm2 = page.getByLabel('Base model').locator('option[value="smollm2"]');
  if (installed) {
    await expect(smollm2).toHaveText('SmolLM2-135M-Instruct (installed)');
  } else {
    await expect(smollm2).toContainText('not installed: run npm run models:smollm2');
  }
  await expect(page.getByText('applies after a reload')).toHaveCount(0);
  await expect(page.getByText('changing it reloads the model')).toBeVisible();
});

test('the adapter says which files it did not encode, and the diff which changed files it does not show', async ({ page }) => {
  const repo = served.repos[0];
  await page.goto('/?model=c2l-base&backend=wasm');
  await expect(page.getByTestId('model-info')).toBeVisible({ timeout: STAGE_TIMEOUT });
  await loadRepository(page, served.url(), repo.commitShas[COMMITS - 1], STAGE_TIMEOUT);
  await expect(page.getByTestId('files-left-out')).toContainText(/Not encoded: [1-9]\d* test files?/);
  const text = (await page.getByTestId('adapter').textContent())!;
  const [, encoded, python] = text.match(/from (\d+) of (\d+) Python files/)!;
  expect(Number(encoded)).toBeLessThan(Number(python));

  // A commit that changed a test file: the diff says the file is left out, by name.
  let index = COMMITS - 1;
  let leftOut: string[] = [];
  for (; index > 0; index--) {
    const changed = (await runGit(['diff', '--no-renames', '--name-only', repo.commitShas[index - 1], repo.commitShas[index]], { cwd: repo.dir })).split('\n').filter(Boolean);
    leftOut = changed.filter((path) => !isEvoDiffPath(path));
    if (leftOut.length > 0) break;
  }
  expect(leftOut.length).toBeGreaterThan(0);
  await commitEntry(page, repo.commitShas[index]).click();
  await expect(page.getByTestId('diff-left-out')).toContainText(`${leftOut.length} changed file`, { timeout: STAGE_TIMEOUT });
  for (const path of leftOut.slice(0, 5)) await expect(page.getByTestId('diff-left-out')).toContainText(path);
});

test('npm start listens on the port PORT names', async () => {
  const port = 4000 + Math.floor(Math.random() * 900);
  // As a user's shell runs it: without the NODE_ENV=development that an earlier spec's in-process Vite dev server
  // (support/runtimeHarness.ts) leaves in this worker, which would make `vite build` rewrite the served app as a
  // development build (no service worker: e2e/offline.spec.ts failed after this test in CI).
  const { NODE_ENV: _inherited, ...env } = process.env;
  const child = spawn('npm', ['start'], { env: { ...env, PORT: String(port), CODE2LORA_SKIP_MODELS: '1' }, detached: true, stdio: 'ignore' });
  try {
    await expect.poll(async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/`)).status;
      } catch {
        return 0;
      }
    }, { timeout: 120_000, intervals: [1000] }).toBe(200);
  } finally {
    process.kill(-child.pid!, 'SIGTERM');
  }
});
