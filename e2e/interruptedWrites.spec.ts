// A reload in the middle of IndexedDB writes loses nothing that was complete: right after a clone and right after an update of it (LightningFS saves its directory tree half a second after the last write), and while Evo states and embeddings are being written; each time the reopened session finds the repository, its commits and its adapter, the same one as without the reload.
import { expect, test, type Page } from '@playwright/test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runGit } from '../src/synth/writeGitRepo.ts';
import { commitEntry, useSynthServer } from './support/synthServer.ts';

const COMMITS = 8;
const served = useSynthServer({ seeds: [27, 28], commits: COMMITS });

test.beforeEach(async ({ page }, testInfo) => {
  test.skip(testInfo.project.name !== 'wasm-fallback', 'IndexedDB does not depend on the tfjs backend: run once, on the wasm project');
  test.setTimeout(120_000);
  page.on('pageerror', (err) => console.log(`[page error] ${err.message}`));
});

/** Adds `count` commits to the served bare repository `index` with the git CLI; returns the new head. */
async function pushCommits(index: number, count: number): Promise<string> {
  const work = mkdtempSync(join(tmpdir(), 'e2e-push-'));
  try {
    await runGit(['clone', '--quiet', served.repos[index].dir, work]);
    for (let i = 0; i < count; i++) {
      writeFileSync(join(work, `added_${i}.py`), `def added_${i}(value):\n    return value + ${i}\n`);
      await runGit(['add', '--all'], { cwd: work });
      await runGit(['-c', 'user.name=Pusher', '-c', 'user.email=p@example.org', 'commit', '--quiet', '-m', `add ${i}`], { cwd: work });
    }
    await runGit(['push', '--quiet', 'origin', 'HEAD:main'], { cwd: work });
    return (await runGit(['rev-parse', 'HEAD'], { cwd: work })).trim();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The adapter panel's commit, mode and digest once it is made (not busy). */
async function adapterOf(page: Page, commit: string): Promise<{ mode: string; digest: string }> {
  const adapter = page.getByTestId('adapter');
  await expect(adapter).toHaveAttribute('data-commit', commit, { timeout: 60_000 });
  await expect(adapter).not.toHaveAttribute('aria-busy', 'true');
  return { mode: (await adapter.getAttribute('data-mode'))!, digest: (await adapter.getAttribute('data-digest'))! };
}

/**
 * After a reload: the app reopens the last repository from IndexedDB at `commit` (no network), and its adapter when
 * that was made before the reload; otherwise selecting the commit makes it.
 */
async function reopenedAt(page: Page, commit: string): Promise<{ mode: string; digest: string }> {
  await expect(page.getByTestId('commits').locator('[aria-selected="true"]')).toHaveAttribute('title', commit, { timeout: 60_000 });
  await expect(page.getByTestId('summary-panel')).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('notice')).toHaveCount(0);
  await expect(page.getByTestId('error')).toHaveCount(0);
  // No auto-waiting here: the adapter panel may not be there at all.
  const state = () => page.evaluate(() => ({
    busy: !!document.querySelector('[data-testid^="progress-"]') || document.querySelector('[data-testid="commits"]')?.getAttribute('aria-busy') === 'true',
    adapter: document.querySelector('[data-testid="adapter"]')?.getAttribute('data-commit') ?? null,
  }));
  for (const deadline = Date.now() + 60_000; ;) {
    const now = await state();
    if (now.adapter === commit) break;
    if (Date.now() > deadline) throw new Error(`no adapter for ${commit.slice(0, 8)}: ${JSON.stringify(now)}`);
    if (!now.busy) await commitEntry(page, commit).click();
    await page.waitForTimeout(500);
  }
  return adapterOf(page, commit);
}

async function clone(page: Page, url: string): Promise<void> {
  await page.getByLabel('Repository URL').fill(url);
  await page.getByRole('button', { name: /Clone/ }).click();
}

test('a reload right after a clone, and right after an update of it, finds each whole: commits, files and the same adapter', async ({ page }) => {
  const shas = served.repos[0].commitShas;
  await page.goto('/?model=random-tiny&backend=wasm&tokens=4&mode=static');
  await expect(page.getByTestId('model-info')).toBeVisible();
  // Another repository, complete before any of this: it must be there at the end.
  await clone(page, served.url(1));
  const other = await adapterOf(page, served.repos[1].head);

  // Reloaded the moment the clone is reported (its last writes are under half a second old).
  await clone(page, served.url(0));
  await expect(page.getByTestId('repo-info')).toContainText(`${served.repos[0].name} @ main · ${COMMITS} commits`);
  await page.reload();
  const first = await reopenedAt(page, shas[COMMITS - 1]);
  await expect(page.getByTestId('commits').locator('[title]')).toHaveCount(COMMITS);

  // The server gets 3 commits; the update is reloaded the moment it is reported.
  const newHead = await pushCommits(0, 3);
  await clone(page, served.url(0));
  await expect(page.getByTestId('repo-info')).toContainText(`${COMMITS + 3} commits`);
  await expect(page.getByTestId('repo-info')).toContainText('(updated existing clone)');
  await page.reload();
  await reopenedAt(page, newHead);
  await expect(page.getByTestId('commits').locator('[title]')).toHaveCount(COMMITS + 3);
  await expect(page.getByTestId('error')).toHaveCount(0);
  // The commit before the update is there with the same adapter as before (its files' embeddings from the cache).
  await commitEntry(page, shas[COMMITS - 1]).click();
  expect(await adapterOf(page, shas[COMMITS - 1])).toEqual(first);
  await expect(page.getByTestId('encode-counts')).toHaveText(/^0 files encoded, [1-9]\d* from cache$/);

  // And the other repository: listed, and reopened from the browser with its adapter.
  const stored = page.getByTestId('stored-repositories');
  await stored.locator('summary').click();
  await expect(stored.getByRole('listitem')).toHaveCount(2);
  await clone(page, served.url(1));
  expect(await adapterOf(page, served.repos[1].head)).toEqual(other);
});

test('a reload while Evo states and embeddings are written: the next visit steps on from the last state stored, to the same adapter', async ({ page }) => {
  // Repository 1: the test above adds commits to repository 0.
  const shas = served.repos[1].commitShas;
  await page.goto('/?model=random-tiny&backend=wasm&tokens=4&mode=evo');
  await expect(page.getByTestId('model-info')).toBeVisible();
  await clone(page, served.url(1));
  // Evo at HEAD steps the whole history: reloaded once a few steps are stored.
  const progress = page.getByTestId('progress-evo');
  await expect(progress).toBeVisible({ timeout: 60_000 });
  await expect.poll(async () => Number((await progress.locator('.progress-counts').textContent())?.match(/^(\d+) \//)?.[1] ?? 0), { timeout: 60_000, intervals: [50] })
    .toBeGreaterThanOrEqual(2);
  await page.reload();

  // The reopened session makes HEAD's Evo adapter: from the last state stored, not from the start.
  const resumed = await reopenedAt(page, shas[COMMITS - 1]);
  expect(resumed.mode).toBe('evo');
  const steps = Number(await page.getByTestId('evo-steps').getAttribute('data-steps'));
  expect(steps).toBeGreaterThan(0);
  expect(steps).toBeLessThan(COMMITS - 1);

  // The same adapter as one stepped from scratch: the states read back were whole.
  await page.getByTestId('stored-repositories').locator('summary').click();
  await page.getByRole('button', { name: /Clear cached embeddings/ }).click();
  await commitEntry(page, shas[COMMITS - 2]).click();
  await adapterOf(page, shas[COMMITS - 2]);
  await commitEntry(page, shas[COMMITS - 1]).click();
  const fresh = await adapterOf(page, shas[COMMITS - 1]);
  expect(fresh).toEqual(resumed);
});
