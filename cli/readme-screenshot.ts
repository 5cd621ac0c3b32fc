// `npm run docs:screenshot -- --repo GIT_DIR [--out docs/screenshot.png]`: the README's screenshot, made by the real
// app on a real repository: the built app (default model, WASM) clones GIT_DIR from a local git server, makes the
// adapter, and completes a test assertion typed in the editor; the page is captured once both completions are there.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { preview } from 'vite';
import { findChromium } from '../scripts/chromium.mjs';
import { startGitHttpServer } from '../test/support/gitHttpServer.ts';

const USAGE = 'usage: npm run docs:screenshot -- --repo GIT_DIR [--out docs/screenshot.png] [--prompt TEXT] [--port N]';
/** An assertion to complete in the editor's scratch buffer; the default suits pallets/itsdangerous. */
const DEFAULT_PROMPT = 'from itsdangerous import URLSafeSerializer\n\n\ndef test_round_trip():\n    s = URLSafeSerializer("secret-key")\n    assert s.loads(s.dumps({"id": 5})) == ';
const STAGE_MS = 20 * 60_000;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { repo: { type: 'string' }, out: { type: 'string', default: 'docs/screenshot.png' }, prompt: { type: 'string' }, port: { type: 'string', default: '4398' } },
  });
  if (!values.repo) throw new Error(USAGE);
  // A mirror made by the fetch tool is owner+name/repo: name the served repository after the project.
  const path = resolve(values.repo);
  const name = (basename(path) === 'repo' ? basename(dirname(path)) : basename(path)).replace(/\.git$/, '').replace(/^.*\+/, '');
  const root = mkdtempSync(join(tmpdir(), 'readme-screenshot-'));
  execFileSync('git', ['clone', '--quiet', '--bare', resolve(values.repo), join(root, `${name}.git`)]);
  const git = await startGitHttpServer({ root });
  execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], { stdio: 'inherit' });
  const app = await preview({ preview: { host: '127.0.0.1', port: Number(values.port), strictPort: true } });
  const browser = await chromium.launch({ executablePath: findChromium(), args: ['--headless=new', '--no-sandbox', '--disable-features=WebGPU'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1500 } });
    page.on('pageerror', (error) => console.error(`[page error] ${error.message}`));
    await page.goto(`http://127.0.0.1:${values.port}/?backend=wasm`);
    await page.getByTestId('model-info').waitFor({ timeout: STAGE_MS });
    console.log(`model: ${await page.getByTestId('model-info').textContent()}`);
    await page.getByLabel('Repository URL').fill(`${git.url}/${name}.git`);
    await page.getByRole('button', { name: /Clone/ }).click();
    await page.getByTestId('adapter').waitFor({ timeout: STAGE_MS });
    console.log(`adapter: ${(await page.getByTestId('adapter').locator('p').first().textContent())?.slice(0, 160)}`);
    const editor = page.getByRole('textbox', { name: 'Editor' });
    await editor.fill(values.prompt ?? DEFAULT_PROMPT);
    await page.getByRole('button', { name: 'Complete' }).click();
    for (const id of ['completion-base', 'completion-adapted']) {
      await page.getByTestId(id).and(page.locator('[data-tokens]')).waitFor({ timeout: STAGE_MS });
      console.log(`${id}: ${JSON.stringify(await page.getByTestId(id).textContent())}`);
    }
    // The whole page in one viewport: content-visibility skips painting rows off-screen, which a fullPage capture
    // (stitched past the viewport) would show blank.
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    await page.setViewportSize({ width: 1280, height });
    await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
    await page.screenshot({ path: values.out });
    console.log(`wrote ${values.out}`);
  } finally {
    await browser.close();
    await new Promise<void>((done) => app.httpServer.close(() => done()));
    await git.close();
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
