// "How much does it help here?": load a generated repository, score base vs adapted on its own test assertions in the worker (progress, then the table), and Cancel a longer run, which stops it and leaves the app usable.
import { expect, test } from '@playwright/test';
import { mineRepoTasks } from '../src/parse/mineTasks.ts';
import { loadPythonParser } from '../src/parse/pythonParser.ts';
import { snapshotAt } from '../src/synth/generateRepo.ts';
import { loadRepository, useSynthServer } from './support/synthServer.ts';

const COMMITS = 3;
// The tiny random model keeps this spec fast.
const STAGE_TIMEOUT = 60_000;
const served = useSynthServer({ seeds: [5], commits: COMMITS });

test('score base vs adapted on the repository\'s test assertions, with progress, Cancel and a table', async ({ page }, testInfo) => {
  test.setTimeout(STAGE_TIMEOUT * 2);
  page.on('pageerror', (err) => console.log(`[page error] ${err.message}`));
  const backend = testInfo.project.name === 'webgpu' ? 'webgpu' : 'wasm';
  // SwiftShader compiles WebGPU shaders for every new prompt and cache length: a task takes ~14 s there, ~0.3 s on wasm.
  const slow = backend === 'webgpu';
  const tasks = slow ? 1 : 4;
  await page.goto(`/?model=random-tiny&tokens=8&backend=${backend}`);
  await expect(page.getByTestId('backend')).toHaveText(`tfjs backend: ${backend}`, { timeout: STAGE_TIMEOUT });
  const { repo, commitShas } = served.repos[0];
  const head = commitShas[COMMITS - 1];
  await loadRepository(page, served.url(), head, STAGE_TIMEOUT);

  // What the miner finds in the same commit's files, here in Node: the worker must report the same counts.
  const files = Object.entries(snapshotAt(repo, COMMITS - 1)).map(([path, content]) => ({ path, content }));
  const mined = mineRepoTasks({ repo: repo.name, commit: head, files, parser: await loadPythonParser(), limits: { minPerRepo: 0 } });
  expect(mined.tasks.length).toBeGreaterThan(4);

  const panel = page.getByRole('region', { name: 'How much does it help here?' });
  await expect(panel).toContainText('Held out: the adapter is made from the repository\'s non-test files');
  const evaluate = panel.getByRole('button', { name: 'Evaluate base vs adapted' });
  const progress = panel.getByTestId('progress-evaluate');

  // A run over every task: progress in tasks (with an ETA once one is done, where that is quick), then Cancel stops it
  // and says how far it got.
  await panel.getByLabel('Tasks to score').fill('200');
  await evaluate.click();
  const bar = progress.getByRole('progressbar', { name: 'Scoring base and adapted models' });
  const done = slow ? '\\d+' : '([2-9]|\\d\\d+)';
  await expect(bar).toHaveAttribute('aria-valuetext', new RegExp(`^${done} / ${mined.tasks.length} tasks$`), { timeout: STAGE_TIMEOUT });
  if (!slow) await expect(progress).toContainText('ETA');
  await progress.getByRole('button', { name: 'Cancel' }).click();
  await expect(panel.getByTestId('evaluation-notice')).toHaveText(new RegExp(`^Cancelled after \\d+ of ${mined.tasks.length} tasks: nothing was scored\\.$`));
  await expect(progress).toHaveCount(0);
  await expect(panel.getByTestId('evaluation-table')).toHaveCount(0);
  await expect(page.getByTestId('error')).toHaveCount(0);

  // A small run: the worker is free again, and the table comes.
  await panel.getByLabel('Tasks to score').fill(String(tasks));
  await expect(evaluate).toHaveAttribute('aria-disabled', 'false');
  const started = Date.now();
  await evaluate.click();
  const table = panel.getByTestId('evaluation-table');
  await expect(table).toBeVisible({ timeout: STAGE_TIMEOUT });
  const seconds = (Date.now() - started) / 1000;
  await expect(progress).toHaveCount(0);
  await expect(panel.getByTestId('evaluation-notice')).toHaveCount(0);
  await expect(panel.getByTestId('evaluation-error')).toHaveCount(0);
  await expect(table.getByTestId('evaluation-tasks')).toContainText(`${tasks} of ${mined.found} assertions in ${mined.testFiles} test files`);
  await expect(table).toContainText(`at ${head.slice(0, 8)}`);
  const value = async (row: string, column: number) => Number(await table.getByTestId(row).locator('td').nth(column).getAttribute('data-value'));
  for (const row of ['evaluation-exact-match', 'evaluation-edit-similarity']) {
    const [base, adapted, difference] = [await value(row, 0), await value(row, 1), await value(row, 2)];
    expect(base).toBeGreaterThanOrEqual(0);
    expect(adapted).toBeLessThanOrEqual(1);
    expect(difference).toBeCloseTo(adapted - base, 9);
  }
  // The targets' likelihood under each model (nats a token: positive, a few for a random model) and its difference.
  const [baseNll, adaptedNll, nllDifference] = [
    await value('evaluation-likelihood', 0), await value('evaluation-likelihood', 1), await value('evaluation-likelihood', 2),
  ];
  expect(baseNll).toBeGreaterThan(0);
  expect(adaptedNll).toBeGreaterThan(0);
  expect(nllDifference).toBeCloseTo(adaptedNll - baseNll, 9);
  // random-tiny comes with no trained hypernetwork: the table says what its adapter is worth.
  await expect(panel).toContainText('The hypernetwork is untrained');
  // Each task's target and both predictions, from the repository's test files only.
  const rows = panel.getByTestId('evaluation-task-list').locator('tbody tr');
  await expect(rows).toHaveCount(tasks);
  const testFiles = new Set(mined.tasks.map((task) => task.file));
  for (const where of await rows.locator('td:first-child').allTextContents()) expect(testFiles.has(where.replace(/:\d+$/, ''))).toBe(true);
  console.log(`[${testInfo.project.name}] ${tasks} task(s) scored in ${seconds.toFixed(1)} s: `
    + `exact match base ${await value('evaluation-exact-match', 0)}, adapted ${await value('evaluation-exact-match', 1)}; `
    + `edit similarity base ${(await value('evaluation-edit-similarity', 0)).toFixed(3)}, adapted ${(await value('evaluation-edit-similarity', 1)).toFixed(3)}`);
  const shot = testInfo.outputPath('evaluation-table.png');
  await panel.screenshot({ path: shot });
  await testInfo.attach('evaluation-table', { path: shot, contentType: 'image/png' });
});
