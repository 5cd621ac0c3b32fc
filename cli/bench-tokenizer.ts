// Benchmark: tokenizer load, encode (cold and warm cache) and decode speed on a few MB of real Python.
//
//   npm run bench:tokenizer [-- --tokenizer PATH] [--dir DIR] [--mb 4]
//
// Without --tokenizer it uses public/models/c2l-base/tokenizer.json when present, else trains an 8192-token one on
// 1 MB of the input first. The input is the .py files under --dir (default: this machine's Python stdlib), read in
// sorted order until --mb megabytes.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BpeTokenizer } from '../src/tokenizer/bpeTokenizer.ts';
import { trainBpeTokenizer } from '../src/tokenizer/trainBpe.ts';

const DEFAULT_TOKENIZER = 'public/models/c2l-base/tokenizer.json';

function pythonFiles(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...pythonFiles(path));
    else if (entry.isFile() && entry.name.endsWith('.py')) found.push(path);
  }
  return found;
}

function readCorpus(dir: string, megabytes: number): string[] {
  const texts: string[] = [];
  let bytes = 0;
  for (const path of pythonFiles(dir)) {
    if (bytes >= megabytes * 1e6) break;
    if (statSync(path).size === 0) continue;
    const text = readFileSync(path, 'utf8');
    texts.push(text);
    bytes += Buffer.byteLength(text, 'utf8');
  }
  return texts;
}

/** Runs `run`, returning its result, wall-clock seconds and CPU seconds (the latter is fairer on a busy machine). */
function timed<T>(run: () => T): [T, number, number] {
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const result = run();
  const cpu = process.cpuUsage(cpuBefore);
  return [result, (performance.now() - started) / 1000, (cpu.user + cpu.system) / 1e6];
}

function main(): void {
  const { values } = parseArgs({
    options: { tokenizer: { type: 'string' }, dir: { type: 'string' }, mb: { type: 'string', default: '4' } },
  });
  const dir = values.dir ?? readdirSync('/usr/lib').filter((d) => /^python3\.\d+$/.test(d)).map((d) => join('/usr/lib', d))[0];
  if (!dir || !existsSync(dir)) throw new Error('no input directory: pass --dir with .py files');
  const texts = readCorpus(dir, Number(values.mb));
  const bytes = texts.reduce((sum, t) => sum + Buffer.byteLength(t, 'utf8'), 0);
  const mb = bytes / 1e6;
  console.log(`input: ${texts.length} .py files from ${dir}, ${mb.toFixed(2)} MB`);

  const path = values.tokenizer ?? (existsSync(DEFAULT_TOKENIZER) ? DEFAULT_TOKENIZER : undefined);
  let json: string;
  if (path) {
    json = readFileSync(path, 'utf8');
    console.log(`tokenizer: ${path}`);
  } else {
    const sample = readCorpus(dir, 1);
    const [trained, seconds] = timed(() => trainBpeTokenizer({ texts: sample, vocabSize: 8192, specialTokens: ['<|endoftext|>'] }));
    json = JSON.stringify(trained.toJSON());
    console.log(`tokenizer: trained in-process on ${sample.length} files (vocab 8192) in ${seconds.toFixed(1)} s`);
  }

  const [tokenizer, loadSeconds] = timed(() => BpeTokenizer.fromJSON(json));
  console.log(`load: ${(loadSeconds * 1000).toFixed(0)} ms (vocab ${tokenizer.vocabSize})`);
  const [ids, coldSeconds, coldCpu] = timed(() => texts.map((t) => tokenizer.encode(t, { addSpecialTokens: false })));
  const [, warmSeconds, warmCpu] = timed(() => texts.map((t) => tokenizer.encode(t, { addSpecialTokens: false })));
  const [, decodeSeconds, decodeCpu] = timed(() => ids.map((i) => tokenizer.decode(i)));
  const tokens = ids.reduce((sum, i) => sum + i.length, 0);
  const rates = (seconds: number, cpu: number) => `${(mb / seconds).toFixed(2)} MB/s wall, ${(mb / cpu).toFixed(2)} MB per CPU-second`;
  console.log(`encode, cold cache: ${rates(coldSeconds, coldCpu)} (${(tokens / coldSeconds / 1e6).toFixed(2)} M tokens/s wall)`);
  console.log(`encode, warm cache: ${rates(warmSeconds, warmCpu)}`);
  console.log(`decode: ${rates(decodeSeconds, decodeCpu)}`);
  console.log(`${tokens} tokens, ${(bytes / tokens).toFixed(3)} bytes/token`);
}

main();
