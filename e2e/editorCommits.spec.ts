// The editor follows the selected commit: an open file reloads at the newly selected commit, unless the user has
// edited it, which keeps the edits and says so.
import { execFileSync } from 'node:child_process';
import { expect, test, type Locator } from '@playwright/test';
import { commitEntry, fileInTree, loadRepository, useSynthServer } from './support/synthServer.ts';

const COMMITS = 3;
const served = useSynthServer({ seeds: [5], commits: COMMITS });

/**
 * The editor's whole document. CodeMirror renders only the lines inside the editor and the window, so the editor is
 * let grow to its content's height (through the CSSOM, which the page's Content-Security-Policy allows) in a tall
 * window; poll it until it has.
 */
function documentText(editor: Locator): Promise<string> {
  return editor.evaluate((content) => {
    (content.closest('.cm-editor') as HTMLElement).style.height = 'auto';
    return [...content.querySelectorAll('.cm-line')].map((line) => line.textContent).join('\n');
  });
}

test('an open file reloads at the selected commit; an edited one keeps the edits and says why', async ({ page }, testInfo) => {
  test.skip(testInfo.project.name === 'webgpu', 'Reloading a file does not depend on the model backend: checked on the WASM project only');
  test.setTimeout(180_000);
  await page.setViewportSize({ width: 1280, height: 4000 });
  await page.goto('/?model=c2l-base&tokens=8&backend=wasm');
  const { dir, commitShas: shas } = served.repos[0];
  await loadRepository(page, served.url(), shas[COMMITS - 1]);

  // A Python file that the history changes, and its text at the first and the last commit, from git itself.
  const changed = execFileSync('git', ['-C', dir, 'diff', '--name-only', shas[0], shas[COMMITS - 1], '--', '*.py'], { encoding: 'utf8' })
    .split('\n').filter((path) => path && !path.includes('test'));
  expect(changed.length).toBeGreaterThan(0);
  const path = changed[0];
  const textAt = (sha: string) => execFileSync('git', ['-C', dir, 'show', `${sha}:${path}`], { encoding: 'utf8' });

  await (await fileInTree(page, path)).click();
  const editor = page.getByRole('textbox', { name: 'Editor' });
  const label = page.getByTestId('open-file').locator('..');
  await expect(label).toContainText(`${path} at ${shas[COMMITS - 1].slice(0, 8)}`);
  await expect.poll(() => documentText(editor)).toBe(textAt(shas[COMMITS - 1]));

  // Unedited: selecting the first commit shows the file as it was there.
  await commitEntry(page, shas[0]).click();
  await expect(label).toContainText(`${path} at ${shas[0].slice(0, 8)}`);
  await expect.poll(() => documentText(editor)).toBe(textAt(shas[0]));
  await expect(page.getByTestId('open-file-stale')).toHaveCount(0);

  // Edited: selecting another commit keeps the edits, names the commit they belong to, and says how to reload.
  await editor.press('Control+End');
  await editor.pressSequentially('\n# my edit');
  await commitEntry(page, shas[COMMITS - 1]).click();
  await expect(page.getByTestId('open-file-stale')).toContainText(`${path} has your edits`);
  await expect(label).toContainText(`${path} at ${shas[0].slice(0, 8)}`);
  expect(await documentText(editor)).toBe(`${textAt(shas[0])}\n# my edit`);
});
