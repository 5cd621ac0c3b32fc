// `npm run bench:browser [-- --tokens N] [--webgpu-tokens N] [--json FILE]`: decode speed of the app's models in Chromium,
// on WASM and on WebGPU, measured through the real UI (built app, pipeline worker, generate()).
//
// WebGPU here is SwiftShader, a CPU emulation: its figures say the path works, not how fast a GPU is.
import { existsSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { findChromium } from '../scripts/chromium.mjs';

const { values: args } = parseArgs({
  options: {
    tokens: { type: 'string', default: '32' },
    'webgpu-tokens': { type: 'string', default: '8' },
    port: { type: 'string', default: '4188' },
    json: { type: 'string' },
  },
});

const FLAGS = ['--headless=new', '--no-sandbox', '--disable-gpu-sandbox', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic', '--no-default-browser-check'];
const BACKEND_FLAGS = { wasm: ['--disable-features=WebGPU'], webgpu: ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'] };
const PROMPT = 'def read_lines(path):\n    lines = []\n    with open(path) as handle:\n        for line in handle:\n';

const models = ['c2l-base', ...(existsSync('public/models/smollm2-135m-instruct/model.gguf') ? ['smollm2'] : [])];
if (!existsSync('dist/index.html') || spawnSync('git', ['status', '--porcelain', 'src'], { encoding: 'utf8' }).stdout.trim()) {
  spawnSync('npx', ['vite', 'build'], { stdio: 'inherit' });
}
const server = spawn('npx', ['vite', 'preview', '--host', '127.0.0.1', '--port', args.port!, '--strictPort'], { stdio: 'ignore' });
const baseUrl = `http://127.0.0.1:${args.port}`;
for (let i = 0; i < 60 && !(await fetch(baseUrl).then((r) => r.ok, () => false)); i++) await new Promise((r) => setTimeout(r, 500));

interface Row { model: string; backend: string; parameters: string; tokens: number; firstTokenSeconds: number; decodeTokensPerSecond: number }
const rows: Row[] = [];
try {
  for (const backend of ['wasm', 'webgpu'] as const) {
    const browser = await chromium.launch({ executablePath: findChromium(), args: [...FLAGS, ...BACKEND_FLAGS[backend]] });
    for (const model of models) {
      const page = await browser.newPage();
      const tokens = backend === 'webgpu' ? args['webgpu-tokens'] : args.tokens;
      await page.goto(`${baseUrl}/?model=${model}&backend=${backend}&tokens=${tokens}`);
      await page.getByTestId('model-info').waitFor({ timeout: 300_000 });
      const parameters = (await page.getByTestId('model-info').textContent()) ?? '';
      await page.getByLabel('Prompt').fill(PROMPT);
      await page.getByRole('button', { name: 'Complete' }).click();
      await page.getByTestId('timing-base').waitFor({ timeout: 1_200_000 });
      const text = (await page.getByTestId('timing-base').textContent()) ?? '';
      const generated = Number(/(\d+) tokens ·/.exec(text)?.[1] ?? 0);
      const first = Number(/first token ([\d.]+) s/.exec(text)?.[1] ?? 0);
      const rate = Number(/([\d.]+) tokens\/s/.exec(text)?.[1] ?? 0);
      rows.push({ model, backend, parameters, tokens: generated, firstTokenSeconds: first, decodeTokensPerSecond: rate });
      console.log(`${model.padEnd(8)} ${backend.padEnd(7)} ${parameters.padEnd(40)} ${String(generated).padStart(3)} tokens  first token ${first.toFixed(2)} s  decode ${rate.toFixed(1)} tokens/s`);
      await page.close();
    }
    await browser.close();
  }
} finally {
  server.kill();
}
if (args.json) writeFileSync(args.json, JSON.stringify(rows, null, 2) + '\n');
