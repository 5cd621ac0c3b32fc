// The editor: open a file of the selected commit, type, the adapted model's ghost text appears, Tab accepts it (the document gains the generated text), Escape dismisses the next one; base and adapted completions side by side.
import { expect, test, type Locator } from '@playwright/test';
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

  // The file list is the selected commit's tree; a Python file opens in the editor.
  const files = page.getByRole('listbox', { name: 'Files' });
  const python = files.getByRole('option').filter({ hasText: /\.py$/ }).first();
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
