// CLI: encode the corpus shards (data/corpus/{train,val}/shard-*.jsonl) into flat token files for training.
//
//   npm run data:pack [-- --tokenizer PATH] [--corpus data/corpus] [--out data/tokens] [--eos TOKEN]
//
// Writes data/tokens/{train,val}.bin (uint16 little-endian when every id fits, else uint32; each document followed by
// the eos id) and data/tokens/meta.json. Shards are streamed line by line, so the corpus never sits in memory.
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { BpeTokenizer, TokenizerLoadError } from '../src/tokenizer/bpeTokenizer.ts';

export const SPLITS = ['train', 'val'] as const;
export type Split = (typeof SPLITS)[number];

export interface PackOptions {
  tokenizerPath: string;
  corpusDir: string;
  outDir: string;
  /** End-of-document token; default: the tokenizer's own eos token. */
  eosToken?: string;
  /** Called about every `progressEverySeconds` and once at the end of each split. */
  onProgress?: (progress: PackProgress) => void;
  progressEverySeconds?: number;
}

export interface PackProgress {
  split: Split;
  documents: number;
  tokens: number;
  bytesRead: number;
  bytesTotal: number;
  seconds: number;
}

export interface PackMeta {
  tokenizer: { path: string; sha256: string };
  vocab_size: number;
  eos_id: number;
  dtype: 'uint16' | 'uint32';
  tokens: Record<Split, number>;
  bytes: Record<Split, number>;
  documents: Record<Split, number>;
}

export class PackError extends Error {
  constructor(readonly code: 'no_tokenizer' | 'no_eos' | 'no_shards' | 'bad_document', message: string) {
    super(message);
    this.name = 'PackError';
  }
}

/** Ids buffered before each write to the output file. */
const WRITE_CHUNK_TOKENS = 1 << 20;

/** Packs every split; returns what it also writes to outDir/meta.json. */
export async function packCorpus(options: PackOptions): Promise<PackMeta> {
  const { tokenizerPath, corpusDir, outDir } = options;
  if (!existsSync(tokenizerPath)) throw new PackError('no_tokenizer', `tokenizer not found: ${tokenizerPath}`);
  const tokenizerText = readFileSync(tokenizerPath);
  const tokenizer = BpeTokenizer.fromJSON(tokenizerText.toString('utf8'), { eosToken: options.eosToken });
  const eosId = tokenizer.eosTokenId;
  if (eosId === undefined) throw new PackError('no_eos', `${tokenizerPath} has no end-of-sequence token${options.eosToken ? ` named ${JSON.stringify(options.eosToken)}` : ''}; pass --eos TOKEN`);
  // Ids run from 0 to vocabSize - 1, so a vocabulary of up to 65536 entries fits in 16 bits.
  const dtype = tokenizer.vocabSize <= 65536 ? 'uint16' : 'uint32';

  const shards = Object.fromEntries(SPLITS.map((split) => [split, listShards(corpusDir, split)])) as Record<Split, string[]>;
  mkdirSync(outDir, { recursive: true });
  const meta: PackMeta = {
    tokenizer: { path: tokenizerPath, sha256: createHash('sha256').update(tokenizerText).digest('hex') },
    vocab_size: tokenizer.vocabSize,
    eos_id: eosId,
    dtype,
    tokens: { train: 0, val: 0 },
    bytes: { train: 0, val: 0 },
    documents: { train: 0, val: 0 },
  };
  for (const split of SPLITS) {
    const counts = await packSplit(split, shards[split], join(outDir, `${split}.bin`), tokenizer, eosId, dtype, options);
    meta.tokens[split] = counts.tokens;
    meta.bytes[split] = counts.bytes;
    meta.documents[split] = counts.documents;
  }
  writeFileSync(join(outDir, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
  return meta;
}

function listShards(corpusDir: string, split: Split): string[] {
  const dir = join(corpusDir, split);
  const shards = existsSync(dir) ? readdirSync(dir).filter((name) => /^shard-.*\.jsonl$/.test(name)).sort().map((name) => join(dir, name)) : [];
  if (shards.length === 0) throw new PackError('no_shards', `no ${split} shards (${dir}/shard-*.jsonl); build the corpus first (scripts/corpus/build_corpus.py)`);
  return shards;
}

async function packSplit(
  split: Split,
  shards: string[],
  outPath: string,
  tokenizer: BpeTokenizer,
  eosId: number,
  dtype: PackMeta['dtype'],
  options: PackOptions,
): Promise<{ tokens: number; bytes: number; documents: number }> {
  const bytesTotal = shards.reduce((sum, path) => sum + statSync(path).size, 0);
  const buffer = dtype === 'uint16' ? new Uint16Array(WRITE_CHUNK_TOKENS) : new Uint32Array(WRITE_CHUNK_TOKENS);
  // Typed arrays use the platform's byte order; every platform Node runs on here is little-endian, as the file must be.
  const bufferBytes = new Uint8Array(buffer.buffer);
  const tmpPath = `${outPath}.tmp`;
  const fd = openSync(tmpPath, 'w');
  let buffered = 0;
  const flush = () => {
    writeSync(fd, bufferBytes, 0, buffered * buffer.BYTES_PER_ELEMENT);
    buffered = 0;
  };
  const push = (id: number) => {
    if (buffered === WRITE_CHUNK_TOKENS) flush();
    buffer[buffered++] = id;
  };

  const started = performance.now();
  const progressEvery = (options.progressEverySeconds ?? 2) * 1000;
  let lastReport = started;
  const counts = { tokens: 0, bytes: 0, documents: 0 };
  let bytesRead = 0;
  const report = () => options.onProgress?.({ split, ...counts, bytesRead, bytesTotal, seconds: (performance.now() - started) / 1000 });
  try {
    for (const shard of shards) {
      let lineNumber = 0;
      const lines = createInterface({ input: createReadStream(shard, { encoding: 'utf8' }), crlfDelay: Infinity });
      for await (const line of lines) {
        lineNumber++;
        bytesRead += Buffer.byteLength(line, 'utf8') + 1;
        if (line.trim() === '') continue;
        const text = documentText(line, `${shard}:${lineNumber}`);
        const ids = tokenizer.encode(text, { addSpecialTokens: false });
        for (const id of ids) push(id);
        push(eosId);
        counts.tokens += ids.length + 1;
        counts.bytes += Buffer.byteLength(text, 'utf8');
        counts.documents++;
        if (performance.now() - lastReport >= progressEvery) {
          lastReport = performance.now();
          report();
        }
      }
    }
    flush();
  } finally {
    closeSync(fd);
  }
  renameSync(tmpPath, outPath);
  report();
  return counts;
}

function documentText(line: string, where: string): string {
  let doc: unknown;
  try {
    doc = JSON.parse(line);
  } catch (err) {
    throw new PackError('bad_document', `${where}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || typeof (doc as { text?: unknown }).text !== 'string') {
    throw new PackError('bad_document', `${where}: expected an object with a "text" string`);
  }
  return (doc as { text: string }).text;
}

function formatProgress(p: PackProgress): string {
  const mbRead = p.bytesRead / 1e6;
  const rate = mbRead / Math.max(p.seconds, 1e-9);
  const eta = rate > 0 ? (p.bytesTotal / 1e6 - mbRead) / rate : 0;
  return `[${p.split}] ${p.documents} docs, ${p.tokens} tokens, ${mbRead.toFixed(1)}/${(p.bytesTotal / 1e6).toFixed(1)} MB, ${rate.toFixed(2)} MB/s, ETA ${eta.toFixed(0)} s`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tokenizer: { type: 'string', default: 'public/models/c2l-base/tokenizer.json' },
      corpus: { type: 'string', default: 'data/corpus' },
      out: { type: 'string', default: 'data/tokens' },
      eos: { type: 'string' },
    },
  });
  try {
    const meta = await packCorpus({
      tokenizerPath: values.tokenizer,
      corpusDir: values.corpus,
      outDir: values.out,
      eosToken: values.eos,
      onProgress: (p) => console.error(formatProgress(p)),
    });
    console.log(`wrote ${resolve(values.out)}/{train,val}.bin (${meta.dtype}, vocab ${meta.vocab_size}, eos ${meta.eos_id}) and meta.json`);
    for (const split of SPLITS) {
      const bytesPerToken = meta.bytes[split] / Math.max(meta.tokens[split] - meta.documents[split], 1);
      console.log(`${split}: ${meta.documents[split]} documents, ${meta.bytes[split]} bytes, ${meta.tokens[split]} tokens (incl. eos), ${bytesPerToken.toFixed(3)} bytes/token (excl. eos)`);
    }
  } catch (err) {
    if (err instanceof PackError || err instanceof TokenizerLoadError) {
      console.error(`data:pack: [${err.code}] ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
