// data:pack (cli/pack.ts): shards -> flat token files + meta.json, checked against the tokenizer document by document.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { packCorpus, PackError, type PackProgress } from '../cli/pack.ts';
import { BpeTokenizer } from '../src/tokenizer/bpeTokenizer.ts';
import { trainBpeTokenizer } from '../src/tokenizer/trainBpe.ts';

const DOCS = {
  train: ['def add(a, b):\n    return a + b\n', 'class A:\n    pass\n', '', 'print("héllo 👋")\r\n'],
  val: ['import os\nos.path.join("a", "b")\n', 'x = [i * i for i in range(10)]\n'],
};

let dir: string;
let tokenizerPath: string;
let tokenizer: BpeTokenizer;

function writeCorpus(root: string, docs: Record<string, string[]>): string {
  for (const [split, texts] of Object.entries(docs)) {
    mkdirSync(join(root, split), { recursive: true });
    // Two shards per split, to check they are read in name order.
    const half = Math.ceil(texts.length / 2);
    [texts.slice(0, half), texts.slice(half)].forEach((shard, i) =>
      writeFileSync(join(root, split, `shard-${String(i).padStart(5, '0')}.jsonl`), shard.map((text) => JSON.stringify({ text, package: 'fixture' }) + '\n').join('')),
    );
  }
  return root;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pack-test-'));
  tokenizer = trainBpeTokenizer({ texts: [...DOCS.train, ...DOCS.val], vocabSize: 300, specialTokens: ['<|endoftext|>'] });
  tokenizerPath = join(dir, 'tokenizer.json');
  writeFileSync(tokenizerPath, JSON.stringify(tokenizer.toJSON()));
});

describe('packCorpus', () => {
  it('writes each document\'s ids followed by eos as uint16 LE, and meta.json with counts and the tokenizer hash', async () => {
    const corpusDir = writeCorpus(join(dir, 'corpus'), DOCS);
    const outDir = join(dir, 'tokens');
    const progress: PackProgress[] = [];
    const meta = await packCorpus({ tokenizerPath, corpusDir, outDir, onProgress: (p) => progress.push(p) });

    const eos = tokenizer.eosTokenId!;
    for (const split of ['train', 'val'] as const) {
      const expected = DOCS[split].flatMap((text) => [...tokenizer.encode(text, { addSpecialTokens: false }), eos]);
      const file = readFileSync(join(outDir, `${split}.bin`));
      expect(file.length).toBe(expected.length * 2);
      const ids = Array.from({ length: expected.length }, (_, i) => file.readUInt16LE(2 * i));
      expect(ids).toEqual(expected);
      expect(meta.tokens[split]).toBe(expected.length);
      expect(meta.documents[split]).toBe(DOCS[split].length);
      expect(meta.bytes[split]).toBe(DOCS[split].reduce((sum, t) => sum + Buffer.byteLength(t), 0));
    }
    expect(meta.dtype).toBe('uint16');
    expect(meta.eos_id).toBe(eos);
    expect(meta.vocab_size).toBe(tokenizer.vocabSize);
    expect(meta.tokenizer.sha256).toBe(createHash('sha256').update(readFileSync(tokenizerPath)).digest('hex'));
    expect(JSON.parse(readFileSync(join(outDir, 'meta.json'), 'utf8'))).toEqual(meta);
    expect(progress.at(-1)).toMatchObject({ split: 'val', documents: 2, tokens: meta.tokens.val });
  });

  it('switches to uint32 when ids do not fit in 16 bits', async () => {
    const json = tokenizer.toJSON() as { added_tokens: object[] };
    json.added_tokens.push({ id: 70000, content: '<big>', special: true, lstrip: false, rstrip: false, single_word: false, normalized: false });
    const bigPath = join(dir, 'big-tokenizer.json');
    writeFileSync(bigPath, JSON.stringify(json));
    const corpusDir = writeCorpus(join(dir, 'corpus-big'), { train: ['a <big> b'], val: ['c'] });
    const meta = await packCorpus({ tokenizerPath: bigPath, corpusDir, outDir: join(dir, 'tokens-big') });
    expect(meta.dtype).toBe('uint32');
    const file = readFileSync(join(dir, 'tokens-big', 'train.bin'));
    const ids = Array.from({ length: file.length / 4 }, (_, i) => file.readUInt32LE(4 * i));
    expect(ids).toContain(70000);
    expect(ids.at(-1)).toBe(meta.eos_id);
  });

  it('fails with a PackError code for missing shards and malformed lines', async () => {
    const empty = join(dir, 'no-corpus');
    await expect(packCorpus({ tokenizerPath, corpusDir: empty, outDir: join(dir, 'x') })).rejects.toMatchObject({ code: 'no_shards' });
    const bad = writeCorpus(join(dir, 'bad-corpus'), DOCS);
    writeFileSync(join(bad, 'val', 'shard-00009.jsonl'), '{"text": "ok"}\n{"txt": 1}\n');
    const error = await packCorpus({ tokenizerPath, corpusDir: bad, outDir: join(dir, 'y') }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PackError);
    expect(error).toMatchObject({ code: 'bad_document', message: expect.stringContaining('shard-00009.jsonl:2') });
  });
});
