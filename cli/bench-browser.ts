// `npm run bench:browser [-- --tokens N] [--ghost-edits N] [--long N] [--prompt-tokens A,B] [--no-wllama] [--json FILE]`: the default model
// (SmolLM2-135M-Instruct, public/models/smollm2-135m-instruct/model.gguf) in Chromium on the WASM backend, our runtime
// against wllama 3 (llama.cpp compiled to WebAssembly; single- and two-thread builds) on the same GGUF file, the same
// real-file prompts and the same Chromium, in one run.
//
// Each engine and build runs in a browser of its own, so that its renderer's peak resident memory (VmHWM, read from
// /proc for the renderer processes Chromium reports) is its own. Every figure is taken after a warm-up generation;
// decoding runs `--tokens` tokens with no stop token or sequence. The prompts are 500 and 2,000 consecutive tokens of
// this repository's own Python files (training/*.py, in path order), and a `--long`-token prompt for ours alone.
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { findChromium } from '../scripts/chromium.mjs';
import { startRuntimeHarness } from '../e2e/support/runtimeHarness.ts';
import { parseGguf, tokenizerFromGguf } from '../src/model/gguf.ts';
import type { OursReport, PromptTiming, WllamaReport } from '../e2e/pages/generation.ts';

const { values: args } = parseArgs({
  options: {
    tokens: { type: 'string', default: '64' },
    'ghost-edits': { type: 'string', default: '12' },
    long: { type: 'string', default: '4096' },
    'prompt-tokens': { type: 'string', default: '500,2000' },
    'no-wllama': { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});

const GGUF = 'public/models/smollm2-135m-instruct/model.gguf';
const GGUF_URL = '/models/smollm2-135m-instruct/model.gguf';
const FLAGS = ['--headless=new', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--no-first-run', '--disable-quic', '--no-default-browser-check', '--disable-features=WebGPU'];
const GHOST_FILE_TOKENS = 600;

if (!existsSync(GGUF)) {
  console.error(`${GGUF} is missing: run \`npm run models:smollm2\` first.`);
  process.exit(1);
}
const newTokens = Number(args.tokens);
const longTokens = Number(args.long);
const ghostEdits = Number(args['ghost-edits']);
const PROMPT_LENGTHS = args['prompt-tokens']!.split(',').map(Number);
if (PROMPT_LENGTHS.length !== 2 || PROMPT_LENGTHS.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--prompt-tokens takes two token counts, e.g. 500,2000');
for (const [name, value] of [['--tokens', newTokens], ['--long', longTokens], ['--ghost-edits', ghostEdits]] as const) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
}

// Real code as prompts: our own Python sources, cut at exact token counts with the model's tokenizer.
const tokenizer = tokenizerFromGguf(parseGguf(new Uint8Array(readFileSync(GGUF))).metadata);
const source = readdirSync('training').filter((name) => name.endsWith('.py')).sort()
  .map((name) => readFileSync(`training/${name}`, 'utf8')).join('\n\n');
const sourceIds = tokenizer.encode(source);
if (sourceIds.length < Math.max(longTokens, PROMPT_LENGTHS[0] + PROMPT_LENGTHS[1] + GHOST_FILE_TOKENS)) throw new Error(`training/*.py hold ${sourceIds.length} tokens, fewer than the prompts need`);
const promptOf = (tokens: number, offset = 0) => tokenizer.decode(sourceIds.slice(offset, offset + tokens));
// Consecutive stretches of the code, so that no prompt starts with another one: llama.cpp's server, inside wllama,
// would otherwise serve that prefix from its KV cache and time only the rest.
const prompts = PROMPT_LENGTHS.map((tokens, i) => ({ label: `${tokens}-token prompt`, text: promptOf(tokens, i === 0 ? 0 : PROMPT_LENGTHS[0]) }));
const ghostFile = promptOf(GHOST_FILE_TOKENS, PROMPT_LENGTHS[0] + PROMPT_LENGTHS[1]);

const { url, server } = await startRuntimeHarness({ page: 'generation.html', publicDirectory: 'public', crossOriginIsolated: true });
const stop = () => void server.close();
process.once('SIGINT', () => { stop(); process.exit(130); });

/** Peak resident memory (MB) of the browser's renderer processes: the largest VmHWM among them. */
async function rendererPeakMb(browser: Browser): Promise<number> {
  const session = await browser.newBrowserCDPSession();
  const { processInfo } = await session.send('SystemInfo.getProcessInfo') as { processInfo: Array<{ type: string; id: number }> };
  let peak = 0;
  for (const { type, id } of processInfo) {
    if (type !== 'renderer') continue;
    const status = readFileSync(`/proc/${id}/status`, 'utf8');
    peak = Math.max(peak, Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024);
  }
  return peak;
}

/** Runs `work` on the harness page in a fresh Chromium and returns its result with the renderer's peak memory. */
async function inFreshBrowser<T>(work: (page: import('playwright-core').Page) => Promise<T>): Promise<{ result: T; peakMb: number }> {
  const browser = await chromium.launch({ executablePath: findChromium(), args: FLAGS });
  try {
    const page = await browser.newPage();
    page.on('pageerror', (error) => console.log(`  [page error] ${error.message}`));
    await page.goto(url);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready', null, { timeout: 120_000 });
    const result = await work(page);
    return { result, peakMb: await rendererPeakMb(browser) };
  } finally {
    await browser.close();
  }
}

const line = (engine: string, t: PromptTiming) => console.log(`  ${engine.padEnd(22)} ${t.label.padEnd(20)} ${String(t.promptTokens).padStart(5)} tokens  `
  + `prefill ${t.prefillTokensPerS.toFixed(1).padStart(6)} tokens/s  first token ${(t.firstTokenMs / 1000).toFixed(2).padStart(6)} s  `
  + `decode ${t.decodeTokensPerS.toFixed(1).padStart(5)} tokens/s (${t.generatedTokens} tokens)`);
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};
const byLabel = (timings: PromptTiming[], label: string) => timings.find((t) => t.label === label)!;

interface EngineRun<T> { result: T; peakMb: number }
let ours: EngineRun<OursReport>;
let oursLong: EngineRun<OursReport>;
const wllamaRuns: Array<EngineRun<WllamaReport>> = [];
try {
  console.log(`Chromium ${findChromium()}, WASM backend; ${GGUF}; prompts from training/*.py; ${newTokens} new tokens per prompt, no stop.\n`);
  ours = await inFreshBrowser((page) => page.evaluate((options) => window.generationHarness.ours(options), {
    ggufUrl: GGUF_URL, backend: 'wasm' as const, prompts, newTokens, ghostFile, ghostEdits, adapterRank: 16,
  }));
  console.log(`ours (${ours.result.backend}): loaded in ${(ours.result.loadMs / 1000).toFixed(1)} s, renderer peak ${ours.peakMb.toFixed(0)} MB`);
  for (const timing of ours.result.prompts) line('ours', timing);

  oursLong = await inFreshBrowser((page) => page.evaluate((options) => window.generationHarness.ours(options), {
    ggufUrl: GGUF_URL, backend: 'wasm' as const, prompts: [{ label: `${longTokens}-token prompt`, text: promptOf(longTokens) }],
    newTokens: 8, ghostFile: null, ghostEdits: 0, adapterRank: 0,
  }));
  line('ours', oursLong.result.prompts[0]);
  console.log(`  (the ${longTokens}-token prompt in a browser of its own: renderer peak ${oursLong.peakMb.toFixed(0)} MB)`);

  if (!args['no-wllama']) {
    for (const threads of [1, 2]) {
      const run = await inFreshBrowser((page) => page.evaluate((options) => window.generationHarness.wllama(options), {
        ggufUrl: GGUF_URL, prompts, newTokens, threads, contextTokens: 4096,
      }));
      wllamaRuns.push(run);
      console.log(`wllama ${threads} thread${threads > 1 ? 's' : ''} (multithread build: ${run.result.multithread}, ${run.result.threads} threads): `
        + `loaded in ${(run.result.loadMs / 1000).toFixed(1)} s, renderer peak ${run.peakMb.toFixed(0)} MB`);
      for (const timing of run.result.prompts) line(`wllama ${threads}t`, timing);
    }
  }
} finally {
  stop();
}

const long = `${PROMPT_LENGTHS[1]}-token prompt`;
const oursLongPrompt = byLabel(ours.result.prompts, long);
const ghost = ours.result.ghostText!;
const adapter = ours.result.adapterDecode!;
// wllama's best build: the one with the higher prefill on the 2,000-token prompt.
const best = wllamaRuns.reduce<EngineRun<WllamaReport> | null>((a, b) => (!a || byLabel(b.result.prompts, long).prefillTokensPerS > byLabel(a.result.prompts, long).prefillTokensPerS ? b : a), null);
const bestLong = best ? byLabel(best.result.prompts, long) : null;

console.log(`\nghost text after a one-character edit at the end of a ${ghost.fileTokens}-token file (ours, prompt cache): `
  + `p50 ${percentile(ghost.latenciesMs, 50).toFixed(0)} ms, p95 ${percentile(ghost.latenciesMs, 95).toFixed(0)} ms over ${ghost.latenciesMs.length} edits `
  + `(prompt tokens reused per edit: ${Math.min(...ghost.reusedTokens)}-${Math.max(...ghost.reusedTokens)})`);
console.log(`decode with a rank-${adapter.rank} adapter on all modules, unmerged: ${adapter.adaptedTokensPerS.toFixed(1)} tokens/s vs base `
  + `${adapter.baseTokensPerS.toFixed(1)}: ${(adapter.baseTokensPerS / adapter.adaptedTokensPerS).toFixed(3)}x the time per token`);
if (best && bestLong) {
  console.log(`\n${long}, ours vs wllama's best build (${best.result.threads} thread${best.result.threads > 1 ? 's' : ''}):`);
  console.log(`  prefill ${oursLongPrompt.prefillTokensPerS.toFixed(1)} vs ${bestLong.prefillTokensPerS.toFixed(1)} tokens/s (${(oursLongPrompt.prefillTokensPerS / bestLong.prefillTokensPerS).toFixed(2)}x)`);
  console.log(`  decode ${oursLongPrompt.decodeTokensPerS.toFixed(1)} vs ${bestLong.decodeTokensPerS.toFixed(1)} tokens/s (${(oursLongPrompt.decodeTokensPerS / bestLong.decodeTokensPerS).toFixed(2)}x)`);
  console.log(`  first token ${(oursLongPrompt.firstTokenMs / 1000).toFixed(2)} vs ${(bestLong.firstTokenMs / 1000).toFixed(2)} s`);
  console.log(`  renderer peak ${ours.peakMb.toFixed(0)} vs ${best.peakMb.toFixed(0)} MB (${(ours.peakMb / best.peakMb).toFixed(2)}x)`);
}

if (args.json) {
  writeFileSync(args.json, JSON.stringify({
    model: GGUF,
    new_tokens: newTokens,
    ours: {
      prefill_tokens_per_s: oursLongPrompt.prefillTokensPerS,
      decode_tokens_per_s: oursLongPrompt.decodeTokensPerS,
      first_token_ms: oursLongPrompt.firstTokenMs,
      ghost_text_p50_ms: percentile(ghost.latenciesMs, 50),
      ghost_text_p95_ms: percentile(ghost.latenciesMs, 95),
      peak_memory_mb: ours.peakMb,
      adapter_decode_tokens_per_s: adapter.adaptedTokensPerS,
      base_decode_tokens_per_s: adapter.baseTokensPerS,
      long_prompt: { ...oursLong.result.prompts[0], peak_memory_mb: oursLong.peakMb },
      prompts: ours.result.prompts,
      ghost_text: ghost,
    },
    wllama: best && bestLong ? {
      threads: best.result.threads,
      prefill_tokens_per_s: bestLong.prefillTokensPerS,
      decode_tokens_per_s: bestLong.decodeTokensPerS,
      first_token_ms: bestLong.firstTokenMs,
      peak_memory_mb: best.peakMb,
      builds: wllamaRuns.map(({ result, peakMb }) => ({ ...result, peak_memory_mb: peakMb })),
    } : null,
  }, null, 2) + '\n');
  console.log(`\nwrote ${args.json}`);
}
process.exit(0);
