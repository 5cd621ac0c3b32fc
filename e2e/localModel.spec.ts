// A base model from local files: c2l-base's files picked from disk are copied into the browser's private storage and loaded, make an adapter (no hypernetwork ships with them: the untrained notice), load again on a later visit; broken picks are refused with an alert naming the file while the loaded model keeps working; Delete under Cached model files removes the copy. A .gguf file loads the same way.
import { expect, test, type Page } from '@playwright/test';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyGguf } from '../test/fixtures/tinyGguf.ts';
import { tinyConfig } from '../test/fixtures/tinyModel.ts';
import { loadRepository, useSynthServer } from './support/synthServer.ts';

const COMMITS = 3;
const STAGE_TIMEOUT = 180_000;
const C2L_BASE = 'public/models/c2l-base';
const MODEL_FILES = ['config.json', 'tokenizer.json', 'model.safetensors'];
const served = useSynthServer({ seeds: [31], commits: COMMITS });

test.beforeEach(({ page }, testInfo) => {
  test.skip(testInfo.project.name !== 'wasm-fallback', 'storing and reading files does not depend on the tfjs backend: run once, on the wasm project');
  test.setTimeout(480_000);
  page.on('pageerror', (err) => console.log(`[page error] ${err.message}`));
});

/** The folders under local-models/ in the page's private file storage (OPFS). */
function storedFolders(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const names: string[] = [];
    try {
      for await (const name of (await root.getDirectoryHandle('local-models')).keys()) names.push(name);
    } catch {
      // no local-models/ folder yet
    }
    return names;
  });
}

/** Opens Settings (closed on a fresh page) and chooses "From files on this computer". */
async function chooseLocalFiles(page: Page): Promise<void> {
  const settings = page.locator('details').filter({ has: page.getByText('Settings', { exact: true }) });
  if (!(await settings.evaluate((element) => (element as HTMLDetailsElement).open))) await page.getByText('Settings', { exact: true }).click();
  await page.getByLabel('Base model').selectOption('local');
}

test('c2l-base from local files: copied, loaded, an adapter made, loaded again on a later visit; broken picks refused; deleted', async ({ page }) => {
  const head = served.repos[0].commitShas[COMMITS - 1];
  await page.goto('/?model=c2l-base&backend=wasm');
  await expect(page.getByTestId('model-info')).toContainText('c2l-base', { timeout: STAGE_TIMEOUT });

  await chooseLocalFiles(page);
  await page.getByLabel('Model files', { exact: true }).setInputFiles(MODEL_FILES.map((file) => join(C2L_BASE, file)));
  // A pick of files has no folder name to suggest: the user names the copy.
  await expect(page.getByLabel('Local model name', { exact: true })).toHaveValue('local-model');
  await page.getByLabel('Local model name', { exact: true }).fill('c2l-base-copy');
  await page.getByRole('button', { name: 'Copy into this browser and load' }).click();
  await expect(page.getByTestId('model-info')).toContainText('c2l-base-copy (local)', { timeout: STAGE_TIMEOUT });
  expect(await storedFolders(page)).toEqual(['c2l-base-copy']);
  // No hypernetwork ships with a local model: the untrained one stands in, and the header and the adapter say so.
  await expect(page.getByTestId('hypernetwork-info')).toHaveAttribute('data-state', 'none');
  await expect(page.getByTestId('hypernetwork-info')).toContainText('Hypernetwork for c2l-base-copy (local): untrained (none shipped for this model)');
  await loadRepository(page, served.url(), head, STAGE_TIMEOUT);
  await expect(page.getByTestId('untrained-hypernetwork')).toBeVisible();

  // A later visit without ?model=: the saved choice loads the copy from storage, no pick needed; the repository reopens.
  await page.goto('/');
  await expect(page.getByTestId('model-info')).toContainText('c2l-base-copy (local)', { timeout: STAGE_TIMEOUT });
  await expect(page.getByTestId('adapter')).toContainText(`Adapter for ${head.slice(0, 8)}`, { timeout: STAGE_TIMEOUT });

  // A folder without tokenizer.json, a cut-short model.safetensors, a web page named .gguf: each refused before any copy,
  // with an alert naming the file; the loaded model stays.
  const brokenFolder = join(mkdtempSync(join(tmpdir(), 'e2e-local-model-')), 'no-tokenizer');
  mkdirSync(brokenFolder);
  for (const file of ['config.json', 'model.safetensors']) copyFileSync(join(C2L_BASE, file), join(brokenFolder, file));
  await chooseLocalFiles(page);
  await expect(page.getByLabel('Local model', { exact: true })).toHaveValue('c2l-base-copy');
  const alert = page.getByTestId('local-model-error');
  const refused = [
    { pick: () => page.getByLabel('Model folder', { exact: true }).setInputFiles(brokenFolder), message: /^local model refused \(MISSING_FILE\): The chosen files have no tokenizer\.json / },
    {
      pick: () => page.getByLabel('Model files', { exact: true }).setInputFiles(MODEL_FILES.map((name) => {
        const buffer = readFileSync(join(C2L_BASE, name));
        return { name, mimeType: 'application/octet-stream', buffer: name === 'model.safetensors' ? buffer.subarray(0, 1_000_000) : buffer };
      })),
      message: /^local model refused \(TRUNCATED\): model\.safetensors is 976\.6 KiB, less than the 18\.0 MiB its header describes: the file was cut short/,
    },
    {
      pick: () => page.getByLabel('Model files', { exact: true }).setInputFiles({ name: 'model.gguf', mimeType: 'text/html', buffer: Buffer.from('<html>404 Not Found</html>') }),
      message: /^local model refused \(NOT_GGUF\): model\.gguf: Not a GGUF file \(it does not start with "GGUF"\)\. The loaded model is unchanged\.$/,
    },
  ];
  for (const { pick, message } of refused) {
    await pick();
    await page.getByRole('button', { name: 'Copy into this browser and load' }).click();
    await expect(alert).toHaveText(message);
    await expect(page.getByRole('alert')).toHaveCount(1);
  }
  expect(await storedFolders(page)).toEqual(['c2l-base-copy']);
  await expect(page.getByTestId('model-info')).toContainText('c2l-base-copy (local)');
  await page.getByRole('textbox', { name: 'Editor' }).fill('def test_value():\n    assert compute(1) == ');
  await page.getByRole('button', { name: 'Complete' }).click();
  await expect(page.getByRole('region', { name: 'Adapted completion' }).getByTestId('completion-adapted')).toHaveAttribute('data-tokens', /^[1-9]\d*$/, { timeout: STAGE_TIMEOUT });

  // Cached model files lists the copy with its size; Delete removes its folder.
  await page.getByText('Cached model files', { exact: true }).click();
  const localModels = page.getByRole('list', { name: 'Local models' });
  await expect(localModels.getByRole('listitem')).toHaveCount(1);
  await expect(localModels).toContainText('c2l-base-copy18.5 MiB · Hugging Face folder');
  await page.getByRole('button', { name: 'Delete local model c2l-base-copy' }).click();
  await expect(page.getByTestId('cached-model-files-done')).toContainText('Deleted the local model c2l-base-copy (18.5 MiB)');
  await expect(localModels.getByRole('listitem')).toHaveCount(0);
  expect(await storedFolders(page)).toEqual([]);

  // The saved choice now names a model that is gone: the next visit loads the default and says why. The default is
  // SmolLM2 where this server has it (npm run models:smollm2), else c2l-base.
  const smollm2Installed = (await page.request.head('/models/smollm2-135m-instruct/model.gguf')).ok();
  await page.goto('/');
  await expect(page.getByTestId('model-notice')).toContainText('The local model c2l-base-copy is not stored in this browser', { timeout: STAGE_TIMEOUT });
  await expect(page.getByTestId('model-info')).toContainText(smollm2Installed ? 'SmolLM2-135M-Instruct' : 'c2l-base', { timeout: STAGE_TIMEOUT });
  await expect(page.getByTestId('model-info')).not.toContainText('(local)');
});

test('a .gguf file from disk: its name suggested, copied and loaded; the list of kept models offers it', async ({ page }) => {
  const { file, reference } = await tinyGguf(tinyConfig({ vocab_size: 260, rms_norm_eps: Math.fround(1e-5), num_attention_heads: 4, num_key_value_heads: 2 }));
  reference.dispose();
  await page.goto('/?model=c2l-base&backend=wasm');
  await expect(page.getByTestId('model-info')).toContainText('c2l-base', { timeout: STAGE_TIMEOUT });

  await chooseLocalFiles(page);
  await page.getByLabel('Model files', { exact: true }).setInputFiles({ name: 'tiny llama.Q8.gguf', mimeType: 'application/octet-stream', buffer: Buffer.from(file) });
  await expect(page.getByLabel('Local model name', { exact: true })).toHaveValue('tiny-llama.Q8');
  await page.getByRole('button', { name: 'Copy into this browser and load' }).click();
  await expect(page.getByTestId('model-info')).toContainText('tiny-llama.Q8 (local)', { timeout: STAGE_TIMEOUT });
  await expect(page.getByTestId('hypernetwork-info')).toHaveAttribute('data-state', 'none');
  expect(await storedFolders(page)).toEqual(['tiny-llama.Q8']);
  await expect(page.getByLabel('Local model', { exact: true })).toHaveValue('tiny-llama.Q8');
  // Its size is what the browser keeps: the file and a few hundred bytes of manifest.
  const kib = Math.floor(file.byteLength / 1024);
  await expect(page.getByLabel('Local model', { exact: true }).locator('option')).toHaveText([new RegExp(`^tiny-llama\\.Q8 \\(GGUF, (${kib}|${kib + 1})\\.\\d KiB\\)$`)]);
});
