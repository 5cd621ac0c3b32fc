// The loaded repository as a session: a failed load keeps it, results of another commit are marked and not actionable, a reload reopens it from IndexedDB.
import { expect, test, type Page } from '@playwright/test';
import { commitEntry, loadRepository, useSynthServer } from './support/synthServer.ts';

const COMMITS = 12;
const STAGE_TIMEOUT = 180_000;
const served = useSynthServer({ seeds: [7], commits: COMMITS });

test.beforeEach(({ page }, testInfo) => {
  test.skip(testInfo.project.name !== 'wasm-fallback', 'the session does not depend on the tfjs backend: run once, on the faster wasm project');
  test.setTimeout(480_000);
  page.on('pageerror', (err) => console.log(`[page error] ${err.message}`));
});

/** Opens the app on c2l-base and loads the generated repository; returns its commits, oldest first. */
async function openLoaded(page: Page): Promise<string[]> {
  await page.goto('/?model=c2l-base&backend=wasm&tokens=8');
  await expect(page.getByTestId('model-info')).toBeVisible({ timeout: STAGE_TIMEOUT });
  const shas = served.repos[0].commitShas;
  await loadRepository(page, served.url(), shas[shas.length - 1], STAGE_TIMEOUT);
  return shas;
}

test('a failed load (mistyped URL, 404) leaves the loaded repository, its commits and its adapter as they were', async ({ page }) => {
  const shas = await openLoaded(page);
  const repoInfo = await page.getByTestId('repo-info').textContent();

  await page.getByLabel('Repository URL').fill(`${served.server.url}/no-such-repo.git`);
  await page.getByRole('button', { name: /Clone/ }).click();
  await expect(page.getByTestId('error')).toContainText('clone failed (NOT_FOUND)');
  await expect(page.getByTestId('repo-info')).toHaveText(repoInfo!);
  await expect(page.getByTestId('commits').locator('[title]')).toHaveCount(COMMITS);
  await expect(page.getByTestId('adapter')).toContainText(`Adapter for ${shas[COMMITS - 1].slice(0, 8)}`);
  await expect(page.getByRole('button', { name: 'Download adapter' })).toBeEnabled();

  // The session still works: another commit gets its adapter.
  await commitEntry(page, shas[COMMITS - 3]).click();
  await expect(page.getByTestId('adapter')).toContainText(`Adapter for ${shas[COMMITS - 3].slice(0, 8)}`, { timeout: STAGE_TIMEOUT });
  await expect(page.getByTestId('error')).toHaveCount(0);
});

test('after selecting another commit, every result of the previous one is marked as outdated and cannot be downloaded', async ({ page }) => {
  const shas = await openLoaded(page);
  await page.getByRole('textbox', { name: 'Editor' }).fill('def test_value():\n    assert ');
  await page.getByRole('button', { name: 'Complete' }).click();
  await expect(page.getByTestId('completion-adapted')).toBeVisible({ timeout: STAGE_TIMEOUT });

  // Watch every DOM change from here on: whatever names a commit other than the selected one must say it is outdated.
  await page.evaluate(() => {
    const violations = new Set<string>();
    (window as unknown as { staleViolations: Set<string> }).staleViolations = violations;
    const shortSha = (el: Element | null | undefined) => el?.getAttribute('title')?.slice(0, 8) ?? null;
    const check = () => {
      const selected = shortSha(document.querySelector('[data-testid="commits"] [aria-selected="true"], [data-testid="commits"] .selected'));
      if (!selected) return;
      const adapter = document.querySelector('[data-testid="adapter"]');
      const adapterCommit = adapter?.querySelector('h2')?.textContent?.match(/Adapter for (\w{8})/)?.[1] ?? null;
      if (adapter && adapterCommit && adapterCommit !== selected) {
        if (adapter.getAttribute('aria-busy') !== 'true') violations.add(`the adapter for ${adapterCommit} is shown unmarked while ${selected} is selected`);
        const download = [...adapter.querySelectorAll('button')].find((b) => b.textContent?.includes('Download adapter'));
        if (download && !download.disabled) violations.add(`"Download adapter" is active for ${adapterCommit} while ${selected} is selected`);
      }
      const code = [...document.querySelectorAll('h2')].find((h) => h.textContent?.startsWith('Code at'));
      const codeCommit = code?.textContent?.match(/Code at (\w{8})/)?.[1];
      if (code && codeCommit !== selected && code.closest('section')?.getAttribute('aria-busy') !== 'true') {
        violations.add(`"Code at ${codeCommit}" is shown unmarked while ${selected} is selected`);
      }
      const encode = [...document.querySelectorAll('[data-testid="stages"] li')].find((li) => li.textContent?.includes('Encode + adapter'));
      if (encode?.getAttribute('data-status') === 'done' && adapterCommit !== selected) {
        violations.add(`"Encode + adapter" is shown done while the adapter is for ${adapterCommit} and ${selected} is selected`);
      }
      if (document.querySelector('pre[data-testid="completion-adapted"]')) {
        const label = document.querySelector('[data-testid="completion-adapter-label"]');
        const madeWith = label?.getAttribute('data-commit')?.slice(0, 8);
        if (!label || !madeWith) violations.add('the adapted completion does not say which adapter made it');
        else if (madeWith !== selected && label.getAttribute('data-stale') === null) {
          violations.add(`the completion made with the adapter for ${madeWith} is shown unmarked while ${selected} is selected`);
        }
      }
    };
    new MutationObserver(check).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  });

  const older = shas[COMMITS - 3];
  await commitEntry(page, older).click();
  await expect(page.getByTestId('adapter')).toContainText(`Adapter for ${older.slice(0, 8)}`, { timeout: STAGE_TIMEOUT });
  await expect(page.getByTestId('adapter')).not.toHaveAttribute('aria-busy', 'true');
  await expect(page.getByRole('button', { name: 'Download adapter' })).toBeEnabled();
  const violations = await page.evaluate(() => [...(window as unknown as { staleViolations: Set<string> }).staleViolations]);
  expect(violations).toEqual([]);
  // The completion was made with HEAD's adapter: it says so, and that it is outdated now.
  await expect(page.getByTestId('completion-adapter-label')).toContainText(`adapter for ${shas[COMMITS - 1].slice(0, 8)}`);
  await expect(page.getByTestId('completion-adapter-label')).toContainText('outdated');
});

test('a reload reopens the repository, the selected commit and its adapter from IndexedDB, without the network or re-encoding', async ({ page }) => {
  const shas = await openLoaded(page);
  const older = shas[COMMITS - 3];
  await commitEntry(page, older).click();
  await expect(page.getByTestId('adapter')).toContainText(`Adapter for ${older.slice(0, 8)}`, { timeout: STAGE_TIMEOUT });
  const requests = served.server.requests.length;

  await page.reload();
  await expect(page.getByTestId('repo-info')).toContainText(`${COMMITS} commits`, { timeout: STAGE_TIMEOUT });
  await expect(page.getByLabel('Repository URL')).toHaveValue(served.url());
  await expect(commitEntry(page, older)).toHaveClass(/selected/);
  await expect(page.getByTestId('adapter')).toContainText(`Adapter for ${older.slice(0, 8)}`, { timeout: STAGE_TIMEOUT });
  await expect(page.getByTestId('encode-counts')).toHaveText(/^0 files encoded, [1-9]\d* from cache$/);
  await expect(page.getByTestId('count-files')).not.toHaveText('0');
  expect(served.server.requests.length).toBe(requests);
});
