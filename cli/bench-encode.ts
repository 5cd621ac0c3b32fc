// `npm run bench:encode -- --repo DIR [--commit SHA] [--backend wasm|webgpu] [--workers LIST] [--layers LIST] [--embeddings FILE] [--compare FILE] [--json FILE]`:
// the shipped repo encoder (c2l-base, ENCODER_SETTINGS) over every non-test Python file of a repository snapshot, in
// headless Chromium, cold: a fresh browser, no embedding cache, the same encodeRepository the app's worker runs.
// Prints files, tokens, seconds and tokens/s, and where the time went (parse + chunk + tokenize vs forward passes).
// `--workers 0,2` runs each setting in turn, each in a fresh browser, in one run: 0 encodes on the page's thread,
// N spreads the files over N encoder replicas in Web Workers (src/app/workers/encoderReplicas.ts), `app` as many as
// the app would start here (replicaCount: one per core, at most 4). The embeddings must not depend on the setting.
// `--layers 4,2` also times the hidden state after layer N (what a hypernetwork whose config names encoder.layer N
// reads: the shipped Static hypernetwork reads layer 2, docs/results.md "Choosing the repo encoder"), each with every
// --workers setting; the default runs all of them.
//
// The snapshot is read in Node exactly as the benchmark reads it (src/git readSnapshot: vendored, generated, binary
// and over-large files skipped) and handed to the harness page (e2e/pages/encode.ts); the encoder loads in the page
// before the clock starts. `--embeddings FILE` saves the embeddings (JSON), `--compare FILE` reports the largest
// difference from saved ones: an encoder change must keep them.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { findChromium } from '../scripts/chromium.mjs';
import { startRuntimeHarness } from '../e2e/support/runtimeHarness.ts';
import type { EncodeReport } from '../e2e/pages/encode.ts';
import { openRepository } from '../src/bench/repoSources.ts';
import { ENCODER_SETTINGS } from '../src/code2lora/encoderSettings.ts';
import { isTestPath } from '../src/git/pathFilters.ts';
import { UsageError } from './benchArgs.ts';

const USAGE = 'usage: npm run bench:encode -- --repo DIR [--commit SHA] [--backend wasm|webgpu] [--workers 0,2|app] [--layers 4,2] [--embeddings FILE] [--compare FILE] [--json FILE]';

/** `--workers`: "0,2,app" -> [0, 2, 'app']. */
function parseWorkers(list: string): Array<number | 'app'> {
  return list.split(',').map((item) => {
    if (item === 'app') return 'app';
    const count = Number(item);
    if (!Number.isInteger(count) || count < 0 || count > 16) throw new UsageError(`--workers takes 0-16 or "app", comma-separated; got ${item}`);
    return count;
  });
}

/** CPU seconds the browser's renderer processes have used (CDP SystemInfo.getProcessInfo): the machine is shared. */
async function rendererCpuSeconds(browser: Browser): Promise<number> {
  const session = await browser.newBrowserCDPSession();
  const { processInfo } = await session.send('SystemInfo.getProcessInfo') as { processInfo: Array<{ type: string; cpuTime: number }> };
  await session.detach();
  return processInfo.filter((p) => p.type === 'renderer').reduce((sum, p) => sum + p.cpuTime, 0);
}

/** The 1-minute load average, for the record: other work on the machine slows the figures down. */
function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      repo: { type: 'string' },
      commit: { type: 'string' },
      backend: { type: 'string', default: 'wasm' },
      workers: { type: 'string', default: '0,app' },
      layers: { type: 'string' },
      embeddings: { type: 'string' },
      compare: { type: 'string' },
      json: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return void console.log(USAGE);
  if (!values.repo) throw new UsageError(USAGE);
  const backend = values.backend as 'wasm' | 'webgpu';
  if (backend !== 'wasm' && backend !== 'webgpu') throw new UsageError(`--backend is wasm or webgpu, got ${values.backend}`);
  const workerSettings = parseWorkers(values.workers!);
  const layerSettings = values.layers === undefined ? [undefined] : values.layers.split(',').map((item) => {
    const count = Number(item);
    if (!Number.isInteger(count) || count < 1) throw new UsageError(`--layers takes layer counts >= 1, comma-separated; got ${item}`);
    return count;
  });
  const settings = layerSettings.flatMap((layers) => workerSettings.map((workers) => ({ layers, workers })));
  const modelDirectory = `public/models/${ENCODER_SETTINGS.model}`;
  if (!existsSync(`${modelDirectory}/model.safetensors`)) throw new UsageError(`${modelDirectory} has no model.safetensors`);

  const repo = await openRepository({ source: values.repo }, { history: 1 });
  let files: Array<{ path: string; content: string }>;
  const commit = values.commit ?? repo.head;
  try {
    files = (await repo.readPythonFiles(commit)).map(({ path, content }) => ({ path, content }));
  } finally {
    await repo.close();
  }
  const nonTest = files.filter((file) => !isTestPath(file.path)).length;
  console.log(`${repo.name}@${commit.slice(0, 12)}: ${files.length} Python files, ${nonTest} of them non-test (the ones encoded); `
    + `encoder ${ENCODER_SETTINGS.model} (${ENCODER_SETTINGS.chunksPerFile} chunks x ${ENCODER_SETTINGS.chunkTokens} tokens per file at most); `
    + `Chromium ${findChromium()}, ${backend}`);

  const flags = ['--headless=new', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--no-first-run', '--no-default-browser-check', ...(backend === 'wasm' ? ['--disable-features=WebGPU'] : ['--enable-unsafe-webgpu'])];
  const { url, server } = await startRuntimeHarness({ page: 'encode.html', publicDirectory: 'public' });
  const runs: Array<{ report: EncodeReport; rendererCpu: number; loadBefore: string; loadAfter: string }> = [];
  try {
    for (const setting of settings) {
      const loadBefore = loadAverage();
      const browser = await chromium.launch({ executablePath: findChromium(), args: flags });
      try {
        const page = await browser.newPage();
        page.on('pageerror', (error) => console.log(`  [page error] ${error.message}`));
        page.on('console', (message) => message.type() === 'warning' && console.log(`  [page warning] ${message.text()}`));
        await page.goto(url);
        await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready', null, { timeout: 120_000 });
        const workers = setting.workers === 'app' ? await page.evaluate(() => window.encodeHarness.appWorkers()) : setting.workers;
        const cpuBefore = await rendererCpuSeconds(browser);
        const report = await page.evaluate((options) => window.encodeHarness.encode(options), {
          backend, modelUrl: new URL(`/models/${ENCODER_SETTINGS.model}/`, url).href, files, workers, layers: setting.layers,
          withEmbeddings: Boolean(values.embeddings || values.compare) || settings.length > 1,
        });
        const rendererCpu = (await rendererCpuSeconds(browser)) - cpuBefore;
        runs.push({ report, rendererCpu, loadBefore, loadAfter: loadAverage() });
        printRun(report, rendererCpu, loadBefore);
      } finally {
        await browser.close();
      }
    }
  } finally {
    await server.close();
  }

  const first = runs[0].report;
  for (const { report } of runs.slice(1)) {
    const speed = `${report.layers} layers, ${report.workers} workers against ${first.layers} layers, ${first.workers} workers: `
      + `${(first.encodeMs / report.encodeMs).toFixed(2)}x the speed`;
    // Embeddings from other layers are other embeddings: only the worker settings must agree.
    const same = runs.find((run) => run.report.layers === report.layers)!.report;
    console.log(same === report ? speed : `${speed}; embeddings differ from ${same.workers} workers' by at most `
      + `${largestDifference(same.embeddings!, report.embeddings!).maxAbs.toExponential(2)}`);
  }
  let comparison: { max_abs_difference: number; max_relative_difference: number } | null = null;
  if (values.compare) {
    const saved = JSON.parse(readFileSync(values.compare, 'utf8')) as { paths: string[]; values: number[] };
    const { maxAbs, relative } = largestDifference(saved, first.embeddings!);
    comparison = { max_abs_difference: maxAbs, max_relative_difference: relative };
    console.log(`  embeddings against ${values.compare}: max |difference| ${maxAbs.toExponential(2)} (${relative.toExponential(2)} of the largest value)`);
  }
  if (values.embeddings) writeFileSync(values.embeddings, JSON.stringify(first.embeddings) + '\n');
  if (values.json) {
    writeFileSync(values.json, JSON.stringify({
      repo: `${repo.name}@${commit}`, backend: first.backend, encoder: ENCODER_SETTINGS, chromium: findChromium(),
      files: first.files, tokens: first.tokens, embeddings_compared: comparison,
      runs: runs.map(({ report, rendererCpu, loadBefore, loadAfter }) => ({
        workers: report.workers, layers: report.layers, seconds: report.encodeMs / 1000, tokens_per_second: report.tokens / (report.encodeMs / 1000),
        load_seconds: report.loadMs / 1000, parse_chunk_tokenize_seconds: report.timings.chunkMs / 1000,
        forward_seconds_summed_over_workers: report.timings.forwardMs / 1000, renderer_cpu_seconds_load_and_encode: rendererCpu,
        load_average_before: loadBefore, load_average_after: loadAfter,
      })),
    }, null, 2) + '\n');
  }
}

function printRun(report: EncodeReport, rendererCpu: number, loadBefore: string): void {
  const seconds = report.encodeMs / 1000;
  const rest = report.encodeMs - report.timings.chunkMs - report.timings.forwardMs;
  console.log(`${report.layers} layers, ${report.workers} workers: encoder loaded in ${(report.loadMs / 1000).toFixed(1)} s (${report.backend}); cold encode: ${report.files} files, `
    + `${report.tokens} tokens, ${seconds.toFixed(1)} s, ${(report.tokens / seconds).toFixed(0)} tokens/s`);
  console.log(`  renderer CPU time ${rendererCpu.toFixed(1)} s (load + encode); load average ${loadBefore} before, ${loadAverage()} after`);
  console.log(`  parse + chunk + tokenize ${(report.timings.chunkMs / 1000).toFixed(1)} s, forward passes ${(report.timings.forwardMs / 1000).toFixed(1)} s`
    + (report.workers > 0 ? ' (summed over the workers)' : `, other (blob ids, yields) ${(rest / 1000).toFixed(1)} s`));
}

/** The largest absolute difference between two files' embeddings (same files, same order), and relative to the largest value. */
function largestDifference(a: { paths: string[]; values: number[] }, b: { paths: string[]; values: number[] }): { maxAbs: number; relative: number } {
  if (a.paths.join('\n') !== b.paths.join('\n')) throw new Error('the embeddings compared are of other files');
  let maxAbs = 0;
  let maxMagnitude = 0;
  a.values.forEach((value, i) => {
    maxAbs = Math.max(maxAbs, Math.abs(value - b.values[i]));
    maxMagnitude = Math.max(maxMagnitude, Math.abs(value));
  });
  return { maxAbs, relative: maxAbs / maxMagnitude };
}

main().then(() => process.exit(0), (error: unknown) => {
  const code = (error as { code?: string }).code;
  console.error(code ? `${code}: ${(error as Error).message}` : error);
  process.exit(1);
});
