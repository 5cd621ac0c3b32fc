// Keyboard and screen-reader use: focus stays put, the commit list is one tab stop driven by arrow keys, the selection is announced as such, progress bars have names, results are announced politely.
import { expect, test, type Page } from '@playwright/test';
import { useSynthServer } from './support/synthServer.ts';

const COMMITS = 12;
const STAGE_TIMEOUT = 180_000;
const served = useSynthServer({ seeds: [11], commits: COMMITS });

/** What has keyboard focus: the page body or the element's role, name and title. */
function focused(page: Page): Promise<{ tag: string; role: string | null; label: string | null; title: string | null }> {
  return page.evaluate(() => {
    const el = document.activeElement;
    return { tag: el?.tagName ?? 'NONE', role: el?.getAttribute('role') ?? null, label: el?.getAttribute('aria-label') ?? el?.textContent?.slice(0, 40) ?? null, title: el?.getAttribute('title') ?? null };
  });
}

test('the whole flow by keyboard: focus never drops to the page, one tab stop for the commits, names and announcements for a screen reader', async ({ page }, testInfo) => {
  test.skip(testInfo.project.name !== 'wasm-fallback', 'keyboard use does not depend on the tfjs backend: run once, on the faster wasm project');
  test.setTimeout(480_000);
  await page.goto('/?model=c2l-base&backend=wasm&tokens=8');
  await expect(page.getByTestId('model-info')).toBeVisible({ timeout: STAGE_TIMEOUT });
  const shas = served.repos[0].commitShas;
  const head = shas[COMMITS - 1];

  // Every progress bar is named after its stage; record the names while the repository loads.
  await page.evaluate(() => {
    const names = new Set<string>();
    (window as unknown as { progressNames: Set<string> }).progressNames = names;
    new MutationObserver(() => {
      for (const bar of document.querySelectorAll('progress')) names.add(bar.getAttribute('aria-label') ?? bar.getAttribute('aria-labelledby') ?? '');
    }).observe(document.body, { subtree: true, childList: true, attributes: true });
  });

  await page.getByLabel('Repository URL').focus();
  await page.keyboard.type(served.url());
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('adapter')).toContainText(`Adapter for ${head.slice(0, 8)}`, { timeout: STAGE_TIMEOUT });
  expect((await focused(page)).tag).not.toBe('BODY');
  const names = await page.evaluate(() => [...(window as unknown as { progressNames: Set<string> }).progressNames]);
  expect(names.length).toBeGreaterThan(0);
  expect(names).not.toContain('');

  // The commits: a listbox named "Commits" whose options name message, author and date apart, the selected one marked.
  const list = page.getByRole('listbox', { name: 'Commits' });
  await expect(list.getByRole('option')).toHaveCount(COMMITS);
  await expect(list.getByRole('option', { selected: true })).toHaveAttribute('title', head);
  const name = (await list.getByRole('option', { selected: true }).getAttribute('aria-label'))!;
  expect(name).toMatch(/ — .+, \d{4}-\d{2}-\d{2} \([0-9a-f]{8}\)$/);
  await expect(list.locator('[tabindex="0"]')).toHaveCount(1);

  // Focus is in the list after the load: arrows move, Enter selects; focus stays on the chosen commit while it regenerates.
  expect((await focused(page)).role).toBe('option');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  expect((await focused(page)).title).toBe(shas[COMMITS - 3]);
  await page.keyboard.press('Enter');
  await expect(list.getByRole('option', { selected: true })).toHaveAttribute('title', shas[COMMITS - 3]);
  await expect(page.getByTestId('adapter')).toContainText(`Adapter for ${shas[COMMITS - 3].slice(0, 8)}`, { timeout: STAGE_TIMEOUT });
  expect((await focused(page)).title).toBe(shas[COMMITS - 3]);
  await expect(page.getByTestId('announcer')).toContainText(`Adapter ready for ${shas[COMMITS - 3].slice(0, 8)}`);

  // From the selected commit to the editor in a few Tab presses, not one per commit (or file).
  let presses = 0;
  while ((await focused(page)).label !== 'Editor' && presses < 12) {
    await page.keyboard.press('Tab');
    presses++;
  }
  expect((await focused(page)).label).toBe('Editor');
  console.log(`Tab presses from the selected commit to the editor: ${presses}`);

  // Complete by keyboard: focus stays on the button, and the result is announced.
  await page.keyboard.press('Tab');
  expect((await focused(page)).label).toBe('Complete');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('completion-adapted')).toBeVisible({ timeout: STAGE_TIMEOUT });
  await expect(page.getByTestId('announcer')).toContainText('Completion ready');
  expect((await focused(page)).tag).toBe('BUTTON');
});
