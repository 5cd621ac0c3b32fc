// The editor: open a file of the selected commit, type, the adapted model's ghost text appears, Tab accepts it (the document gains the generated text), Escape dismisses the next one; base and adapted completions side by side.
import { expect, test, type Locator } from '@playwright/test';
import { snapshotAt } from '../src/synth/generateRepo.ts';
import { loadRepository, useSynthServer } from './support/synthServer.ts';

const COMMITS = 3;
// WebGPU here is SwiftShader (a CPU emulation): an adapter takes much longer there than on wasm.
const STAGE_TIMEOUT = 180_000;
const served = useSynthServer({ seeds: [5], commits: COMMITS });

/** The editor's text without the ghost text shown in it (a widget inside the content element). */
function documentText(editor: Locator): Promise<string> {
  return editor.evaluate((content) => {
    const copy = content.cloneNode(true) as HTMLElement;
    copy.querySelectorAll('.cm-ghost-text').forEach((ghost) => ghost.remove());
    return [...copy.querySelectorAll('.cm-line')].map((line) => line.textContent).join('\n');
  });
}

/** Types `text` at the end of the document and waits for the ghost text it brings; returns that text. */
async function typeForGhost(editor: Locator, text: string): Promise<string> {
  await editor.press('Control+End');
  await editor.pressSequentially(text);
  const ghost = editor.getByTestId('ghost-text');
  await expect(ghost).toBeVisible({ timeout: STAGE_TIMEOUT });
  return (await ghost.textContent())!;
}

test('type in the editor: ghost text from the adapted model, Tab accepts it, Escape dismisses it, base beside it', async ({ page }, testInfo) => {
  test.setTimeout(STAGE_TIMEOUT * 2);
  page.on('pageerror', (err) => console.log(`[page error] ${err.message}`));
  const backend = testInfo.project.name === 'webgpu' ? 'webgpu' : 'wasm';
  await page.goto(`/?model=c2l-base&tokens=8&backend=${backend}`);
  await expect(page.getByTestId('backend')).toHaveText(`tfjs backend: ${backend}`, { timeout: STAGE_TIMEOUT });
  const shas = served.repos[0].commitShas;
  await loadRepository(page, served.url(), shas[COMMITS - 1], STAGE_TIMEOUT);

  // The file tree is the selected commit's tree (a small one: every folder open); a Python file opens in the editor.
  const files = page.getByRole('tree', { name: 'Files' });
  const python = files.getByRole('treeitem').filter({ hasText: /\.py$/ }).first();
  await expect(python).toBeVisible();
  const path = (await python.getAttribute('title'))!;
  await python.click();
  await expect(page.getByTestId('open-file')).toHaveText(path);
  const editor = page.getByRole('textbox', { name: 'Editor' });
  // CodeMirror renders the lines in view only: the file's first line is there after opening it.
  const firstLine = (await documentText(editor)).split('\n')[0];
  expect(firstLine.length).toBeGreaterThan(0);
  // Highlighted as Python: the tokens are styled spans, not plain text.
  expect(await editor.locator('.cm-line span').count()).toBeGreaterThan(0);

  const started = Date.now();
  const ghost = await typeForGhost(editor, '\ndef helper(value):\n    return ');
  console.log(`[${testInfo.project.name}] ghost text after ${Date.now() - started} ms of typing and waiting: ${JSON.stringify(ghost)}`);
  // Generated code, not blanks: c2l-base is a trained code model.
  expect(ghost.trim().length).toBeGreaterThan(0);
  // The ghost is the adapted model's completion; the base model's for the same cursor is beside it.
  const adapted = page.getByRole('region', { name: 'Adapted completion' });
  await expect(adapted.getByTestId('completion-adapted')).toHaveText(ghost);
  await expect(adapted.getByTestId('completion-adapter-label')).toHaveAttribute('data-commit', shas[COMMITS - 1]);
  const base = page.getByRole('region', { name: 'Base completion' });
  await expect(base.getByTestId('completion-base')).toBeVisible({ timeout: STAGE_TIMEOUT });
  expect(Number(await base.getByTestId('completion-base').getAttribute('data-tokens'))).toBeGreaterThan(0);
  const shot = testInfo.outputPath('editor-ghost-text.png');
  await page.getByRole('region', { name: 'Editor' }).screenshot({ path: shot });
  await testInfo.attach('editor-ghost-text', { path: shot, contentType: 'image/png' });

  // Tab accepts: the document now holds the generated text after what was typed, and the ghost is gone.
  const before = await documentText(editor);
  await editor.press('Tab');
  await expect(editor.getByTestId('ghost-text')).toHaveCount(0);
  const after = await documentText(editor);
  expect(after).toBe(before + ghost);
  expect(after.endsWith(`return ${ghost}`)).toBe(true);
  await expect(editor).toBeFocused();

  // Escape dismisses the next one and leaves the document as it was.
  const next = await typeForGhost(editor, '\n');
  expect(next.length).toBeGreaterThan(0);
  const withNewline = await documentText(editor);
  await editor.press('Escape');
  await expect(editor.getByTestId('ghost-text')).toHaveCount(0);
  expect(await documentText(editor)).toBe(withNewline);
  const whole = testInfo.outputPath('editor-after-escape.png');
  await page.screenshot({ path: whole, fullPage: true });
  await testInfo.attach('editor-after-escape', { path: whole, contentType: 'image/png' });
});

test('the file tree: folders open and close, arrow keys move, Enter opens a file, the filter narrows it', async ({ page }, testInfo) => {
  test.skip(testInfo.project.name === 'webgpu', 'The file tree does not depend on the model backend: checked on the WASM project only');
  test.setTimeout(120_000);
  await page.goto('/?model=random-tiny&tokens=4&backend=wasm');
  await loadRepository(page, served.url(), served.repos[0].commitShas[COMMITS - 1], 60_000);
  const tree = page.getByRole('tree', { name: 'Files' });
  const row = (path: string) => tree.getByRole('treeitem').and(tree.getByTitle(path, { exact: true }));
  const { packageName } = served.repos[0];
  const snapshot = Object.keys(snapshotAt(served.repos[0].repo, COMMITS - 1));
  const files = snapshot.filter((path) => path.startsWith(`${packageName}/`)).sort();
  const [first, second] = files;

  // A small repository opens with every folder open. One tab stop: Tab from the filter box lands on the first row.
  await expect(row(packageName)).toHaveAttribute('aria-expanded', 'true');
  await expect(row('tests')).toHaveAttribute('aria-expanded', 'true');
  await page.getByLabel('Filter files').focus();
  await page.keyboard.press('Tab');
  await expect(row(packageName)).toBeFocused();
  await expect(tree.locator('[tabindex="0"]')).toHaveCount(1);

  // Left closes the folder (its files go), Right opens it, Right again enters it.
  await page.keyboard.press('ArrowLeft');
  await expect(row(packageName)).toHaveAttribute('aria-expanded', 'false');
  await expect(row(first)).toHaveCount(0);
  await page.keyboard.press('ArrowRight');
  await expect(row(packageName)).toHaveAttribute('aria-expanded', 'true');
  await page.keyboard.press('ArrowRight');
  await expect(row(first)).toBeFocused();
  await expect(row(first)).toHaveAttribute('aria-level', '2');
  await expect(row(first)).toHaveAttribute('aria-posinset', '1');
  await expect(row(first)).toHaveAttribute('aria-setsize', String(files.length));

  // Down, then Enter opens the file: the editor shows it and the tree marks it selected.
  await page.keyboard.press('ArrowDown');
  await expect(row(second)).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('open-file')).toHaveText(second);
  await expect(row(second)).toHaveAttribute('aria-selected', 'true');
  await expect(row(first)).toHaveAttribute('aria-selected', 'false');

  // Left goes to the parent folder; End and Home to the last and first rows; a click on a folder closes it.
  await row(second).focus();
  await page.keyboard.press('ArrowLeft');
  await expect(row(packageName)).toBeFocused();
  await page.keyboard.press('End');
  await expect(tree.getByRole('treeitem').last()).toBeFocused();
  await page.keyboard.press('Home');
  await expect(row(packageName)).toBeFocused();
  await row('tests').click();
  await expect(row('tests')).toHaveAttribute('aria-expanded', 'false');

  // The filter keeps the files whose path holds the text, with their folders open; the open file stays open.
  const term = second.split('/').pop()!.replace(/\.py$/, '');
  await page.getByLabel('Filter files').fill(term);
  const matching = snapshot.filter((path) => path.includes(term));
  await expect(tree.getByRole('treeitem').and(tree.locator(':not([aria-expanded])'))).toHaveCount(matching.length);
  await expect(row(second)).toBeVisible();
  await page.getByLabel('Filter files').fill('no such file');
  await expect(page.getByTestId('files-empty')).toHaveText('No file matches "no such file".');
  await page.getByLabel('Filter files').fill('');
  await expect(row(packageName)).toBeVisible();
  await expect(page.getByTestId('open-file')).toHaveText(second);
  const shot = testInfo.outputPath('file-tree.png');
  await page.getByRole('region', { name: 'Editor' }).screenshot({ path: shot });
  await testInfo.attach('file-tree', { path: shot, contentType: 'image/png' });
});
