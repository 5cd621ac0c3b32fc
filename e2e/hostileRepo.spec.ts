// Hostile repository content in the UI: file names, file contents, a commit message and an author holding HTML and script
// are shown as text, raise no dialog and run nothing; the page stays usable. A missing repository's error is an alert,
// and so is a decompression bomb's.
import { expect, test } from '@playwright/test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGitHttpServer, type GitHttpServer } from '../test/support/gitHttpServer.ts';
import { file, writeHostileRepo } from '../test/support/hostileRepo.ts';
import { commitEntry, fileInTree, loadRepository } from './support/synthServer.ts';

const STAGE_TIMEOUT = 60_000;
/** Every payload sets window.__pwned (or opens a dialog) if the browser ever treats it as markup or script. */
const IMG_NAME = '<img src=x onerror=window.__pwned=1>.py';
const SCRIPT_CONTENT = '<script>window.__pwned=2</script>';
const MESSAGE_TITLE = '<script>window.__pwned=3</script><img src=x onerror=alert(3)>';
const MESSAGE_BODY = '<iframe srcdoc="<script>parent.__pwned=4</script>"></iframe>';
const AUTHOR = 'Mallory "onmouseover=alert(5)';
const TEST_NAME = 'tests/test_<svg onload=alert(6)>.py';

let root: string;
let server: GitHttpServer;
let shas: string[];
/** Messages of the dialogs the page opened during the current test (there must be none). */
let dialogs: string[] = [];

test.beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'e2e-hostile-'));
  shas = await writeHostileRepo({ dir: join(root, 'hostile.git'), commits: [
    { message: 'plain start', entries: [
      file('pkg/core.py', 'def scale(x):\n    return 2 * x\n'),
      file(IMG_NAME, `def render():\n    return "${SCRIPT_CONTENT}"\n`),
      file('pkg/blob.py', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x00, 0x3c, 0x73, 0x63, 0x72, 0x69, 0x70, 0x74, 0x3e])),
      file('pkg/link.py', '../../../../etc/passwd', '120000'),
    ] },
    { message: `${MESSAGE_TITLE}\n\n${MESSAGE_BODY}\n`, author: AUTHOR, entries: [
      file(IMG_NAME, `def render():\n    return "${SCRIPT_CONTENT}<img src=x onerror=alert(7)>"\n`),
      file(TEST_NAME, 'from pkg.core import scale\n\n\ndef test_scale():\n    assert scale(2) == 4\n'),
      file('README.md', `# <img src=x onerror=alert(8)>\n\n${SCRIPT_CONTENT}\n`),
    ] },
  ] });
  // 101 MiB of zeros: a pack of about 100 KB, one object past the 100 MiB a clone's objects may inflate to.
  await writeHostileRepo({ dir: join(root, 'inflating.git'), commits: [
    { message: 'one file that inflates', entries: [file('pkg/core.py', 'x = 1\n'), file('pkg/zeros.py', Buffer.alloc(101 * 1024 * 1024))] },
  ] });
  server = await startGitHttpServer({ root });
});

test.afterAll(async () => {
  await server?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

test.beforeEach(async ({ page }, testInfo) => {
  test.skip(testInfo.project.name !== 'wasm-fallback', 'how the page renders repository text does not depend on the tfjs backend: run once, on the faster wasm project');
  dialogs = [];
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('pageerror', (err) => console.log(`[page error] ${err.message}`));
  await page.goto('/?model=random-tiny&backend=wasm&tokens=4');
  await expect(page.getByTestId('backend')).toHaveText('tfjs backend: wasm', { timeout: STAGE_TIMEOUT });
});

// After each test, whatever its assertions looked at: no dialog was raised and no payload ran.
test.afterEach(async ({ page }, testInfo) => {
  if (testInfo.status === 'skipped') return;
  expect(dialogs).toEqual([]);
  expect(await page.evaluate(() => (window as unknown as { __pwned?: unknown }).__pwned)).toBeUndefined();
});

test('a repository whose names, contents and commit message hold HTML and script: shown as text, nothing runs, the page stays usable', async ({ page }) => {
  test.setTimeout(120_000);
  await loadRepository(page, `${server.url}/hostile.git`, shas[1], STAGE_TIMEOUT);

  // The commit list: the message's first line and the author, character for character.
  const latest = commitEntry(page, shas[1]);
  await expect(latest).toContainText(MESSAGE_TITLE);
  await expect(latest).toContainText(AUTHOR);
  // The diff of the selected (latest) commit: names and added lines as text.
  const diff = page.getByTestId('diff');
  await expect(diff).toContainText(IMG_NAME);
  await expect(diff).toContainText(`+    return "${SCRIPT_CONTENT}<img src=x onerror=alert(7)>"`);
  await expect(diff).toContainText(`+${SCRIPT_CONTENT}`);
  // The file tree: every name as text (a row's name is the file's name, its title the path).
  const files = page.getByRole('tree', { name: 'Files' });
  for (const path of [IMG_NAME, TEST_NAME, 'pkg/blob.py', 'pkg/link.py']) {
    await expect(await fileInTree(page, path)).toHaveAccessibleName(path.split('/').pop()!);
  }
  await expect(files.getByRole('treeitem', { name: 'test_<svg onload=alert(6)>.py', exact: true })).toHaveAttribute('aria-level', '2');

  // Nothing of the repository became an element: no image with src=x, no iframe, no svg, no script of its own. This is
  // the check that catches an injection: the Content-Security-Policy would stop an injected onerror from running.
  await expect(page.locator('img[src="x"], iframe, svg[onload], script:not([src])')).toHaveCount(0);

  // Open the file with the hostile name: its content is the editor's text.
  await (await fileInTree(page, IMG_NAME)).click();
  await expect(page.getByTestId('open-file')).toHaveText(IMG_NAME);
  await expect(page.getByRole('textbox', { name: 'Editor' })).toContainText(SCRIPT_CONTENT);
  // A binary file named .py says so instead of showing bytes.
  await (await fileInTree(page, 'pkg/blob.py')).click();
  await expect(page.getByRole('alert').filter({ hasText: 'pkg/blob.py is a binary file' })).toBeVisible();
  // A symbolic link shows the path it points to, as git does; the target is never read.
  await (await fileInTree(page, 'pkg/link.py')).click();
  await expect(page.getByTestId('open-file')).toHaveText('pkg/link.py');
  await expect(page.getByRole('textbox', { name: 'Editor' })).toContainText('../../../../etc/passwd');

  // Still usable: another commit is selected, its diff and adapter come.
  const first = commitEntry(page, shas[0]);
  await first.click();
  await expect(first).toHaveClass(/selected/);
  await expect(diff).toContainText('pkg/core.py');
  await expect(page.getByTestId('adapter')).toContainText(`Adapter for ${shas[0].slice(0, 8)}`, { timeout: STAGE_TIMEOUT });
  await expect(page.locator('img[src="x"], iframe, svg[onload], script:not([src])')).toHaveCount(0);
});

test('a missing repository (HTTP 404): its error is in an element with role "alert"', async ({ page }) => {
  test.setTimeout(60_000);
  await page.getByLabel('Repository URL').fill(`${server.url}/no-such-repository.git`);
  await page.getByRole('button', { name: /Clone/ }).click();
  const alert = page.getByRole('alert');
  await expect(alert).toHaveCount(1);
  await expect(alert).toContainText('clone failed (NOT_FOUND)');
  await expect(alert).toContainText('Repository not found (HTTP 404)');
  await expect(page.getByTestId('commits')).toHaveCount(0);
});

test('a pack of a few hundred kilobytes whose object inflates past 100 MiB: TOO_LARGE in an alert, nothing kept', async ({ page }) => {
  test.setTimeout(60_000);
  await page.getByLabel('Repository URL').fill(`${server.url}/inflating.git`);
  await page.getByRole('button', { name: /Clone/ }).click();
  const alert = page.getByRole('alert');
  await expect(alert).toContainText('clone failed (TOO_LARGE)', { timeout: STAGE_TIMEOUT });
  await expect(alert).toContainText('The repository holds an object of more than 100.0 MiB (101.0 MiB or more)');
  await expect(page.getByTestId('commits')).toHaveCount(0);
  // Still usable: the next repository loads.
  await loadRepository(page, `${server.url}/hostile.git`, shas[1], STAGE_TIMEOUT);
});
