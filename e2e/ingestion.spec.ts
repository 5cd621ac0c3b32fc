// Repository ingestion in the browser: clone with progress, cancel mid-clone, clone again (and reuse), step through
// commits and their diffs, and errors shown with their codes.
import { expect, test } from '@playwright/test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isEvoDiffPath } from '../src/git/pathFilters.ts';
import { makeSynthRepos, runGit, type SynthRepoOnDisk } from '../src/synth/writeGitRepo.ts';
import { startGitHttpServer, type GitHttpServer } from '../test/support/gitHttpServer.ts';

const COMMITS = 40;
const STAGE_TIMEOUT = 120_000;

let root: string;
let server: GitHttpServer;
let repo: SynthRepoOnDisk;

// A server of our own (not global setup's), so this spec can slow it down without touching the other specs.
test.beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'e2e-ingestion-'));
  [repo] = await makeSynthRepos({ root, seeds: [5], commits: COMMITS });
  server = await startGitHttpServer({ root });
});

test.afterAll(async () => {
  await server?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

/** The files a commit changed that the Evo diff shows (non-test .py/.md/.rst), from the git CLI. */
async function evoDiffPaths(index: number): Promise<string[]> {
  const args = index === 0 ? ['show', '--format=', '--name-only', repo.commitShas[0]] : ['diff', '--no-renames', '--name-only', repo.commitShas[index - 1], repo.commitShas[index]];
  return (await runGit(args, { cwd: repo.dir })).split('\n').filter(isEvoDiffPath);
}

test('clone with progress, cancel mid-clone, clone again, step through commits, see errors with their codes', async ({ page }, testInfo) => {
  test.skip(testInfo.project.name !== 'wasm-fallback', 'ingestion does not depend on the tfjs backend: run once, on the faster wasm project');
  test.setTimeout(600_000);
  page.on('pageerror', (err) => console.log(`[page error] ${err.message}`));
  await page.goto('/?model=random-tiny&backend=wasm&tokens=8');
  await expect(page.getByTestId('backend')).toHaveText('tfjs backend: wasm');
  const url = `${server.url}/${repo.name}.git`;
  const cloneButton = page.getByRole('button', { name: /Clone/ });
  const progress = page.getByTestId('progress-clone');

  // Cancel mid-clone: every request waits 2 s on the server, so the clone is still under way when Cancel is pressed.
  server.faults = { delayMs: 2000 };
  await page.getByLabel('Repository URL').fill(url);
  await cloneButton.click();
  await expect(progress).toBeVisible();
  await expect(progress).toContainText('Connecting');
  await expect.poll(() => server.requests.filter((r) => r.path.includes('/info/refs')).length, { timeout: 10_000 }).toBeGreaterThan(0);
  await progress.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByTestId('notice')).toHaveText(/^Cancelled: the clone was stopped and nothing was kept/);
  await expect(page.getByTestId('error')).toHaveCount(0);
  await expect(progress).toHaveCount(0);
  await expect(page.getByTestId('repo-info')).toHaveCount(0);
  await expect(page.getByTestId('commits')).toHaveCount(0);

  // Clone again: slower than instant, so the progress bar is seen moving through isomorphic-git's phases.
  server.faults = { delayMs: 700 };
  await page.evaluate(() => {
    const seen = new Set<string>();
    (window as unknown as { progressLabels: Set<string> }).progressLabels = seen;
    new MutationObserver(() => {
      const label = document.querySelector('[data-testid="progress-clone"] .progress-label span');
      if (label?.textContent) seen.add(label.textContent);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  await cloneButton.click();
  await expect(page.getByTestId('repo-info')).toContainText(`${COMMITS} commits`, { timeout: STAGE_TIMEOUT });
  await expect(page.getByTestId('notice')).toHaveCount(0);
  const labels = await page.evaluate(() => [...(window as unknown as { progressLabels: Set<string> }).progressLabels]);
  expect(labels).toContain('Cloning: Connecting');
  expect(labels).toContain('Cloning: Receiving objects');
  server.faults = {};
  await expect(page.getByTestId('adapter')).toBeVisible({ timeout: STAGE_TIMEOUT });

  // Step through three commits that changed files the Evo diff reads: each shows exactly those files' diffs.
  const stepped: number[] = [];
  for (let index = COMMITS - 2; index > 0 && stepped.length < 3; index--) {
    if ((await evoDiffPaths(index)).length > 0) stepped.push(index);
  }
  expect(stepped).toHaveLength(3);
  for (const index of stepped) {
    const sha = repo.commitShas[index];
    const button = page.locator(`[data-testid="commits"] [title="${sha}"]`);
    await button.click();
    await expect(button).toHaveClass(/selected/);
    const diff = page.getByTestId('diff');
    const paths = await evoDiffPaths(index);
    await expect(diff.locator('summary')).toHaveCount(paths.length);
    for (const path of paths) await expect(diff).toContainText(path);
    await expect(diff.locator('.hunk').first()).toHaveText(/^@@ -\d+(,\d+)? \+\d+(,\d+)? @@/);
    await expect(page.getByTestId('adapter')).toContainText(`Adapter for ${sha.slice(0, 8)}`, { timeout: STAGE_TIMEOUT });
  }

  // The same URL again reuses the clone in IndexedDB and only fetches what is new (here: nothing).
  await cloneButton.click();
  await expect(page.getByTestId('repo-info')).toContainText('(updated existing clone)', { timeout: STAGE_TIMEOUT });
  await expect(page.getByTestId('adapter')).toBeVisible({ timeout: STAGE_TIMEOUT });

  // Errors carry their code to the UI, and leave the loaded repository as it was (repoSession.spec.ts).
  await page.getByLabel('Repository URL').fill(`${server.url}/no-such-repo.git`);
  await cloneButton.click();
  await expect(page.getByTestId('error')).toContainText('clone failed (NOT_FOUND)');
  await expect(page.getByTestId('repo-info')).toContainText(`${COMMITS} commits`);

  await page.getByLabel('Repository URL').fill('http://exa mple.org/owner/repo');
  await cloneButton.click();
  await expect(page.getByTestId('error')).toContainText('clone failed (INVALID_URL): Not a URL');
  await expect(page.getByTestId('repo-info')).toContainText(`${COMMITS} commits`);
});
