// CLI: encode a text file (or a JSONL file of {"text"} documents) with a tokenizer.json, writing ids and optionally the decoded text.
//
//   npx tsx cli/tokenize.ts --tokenizer PATH --in TEXTFILE --out IDS.json [--decoded-out TEXTFILE] [--no-special-tokens]
//   npx tsx cli/tokenize.ts --tokenizer PATH --in DOCS.jsonl --jsonl --out IDS.json [--decoded-out DECODED.jsonl] [--pieces-out PIECES.json]
//
// With --jsonl the output is one id array per document and --decoded-out is JSONL of {"text"}; --pieces-out writes the
// pre-tokenizer's pieces per document (byte-level spelling, as HF's pre_tokenize_str). The parity test uses all three.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BpeTokenizer, TokenizerLoadError } from '../src/tokenizer/bpeTokenizer.ts';

function readDocuments(path: string, jsonl: boolean): string[] {
  const text = readFileSync(path, 'utf8');
  if (!jsonl) return [text];
  return text.split('\n').filter((line) => line.trim() !== '').map((line, i) => {
    const doc: unknown = JSON.parse(line);
    if (typeof doc === 'string') return doc;
    if (typeof doc === 'object' && doc !== null && typeof (doc as { text?: unknown }).text === 'string') return (doc as { text: string }).text;
    throw new Error(`${path}:${i + 1}: expected a JSON string or an object with a "text" string`);
  });
}

function main(): void {
  const { values } = parseArgs({
    options: {
      tokenizer: { type: 'string' },
      in: { type: 'string' },
      out: { type: 'string' },
      'decoded-out': { type: 'string' },
      'pieces-out': { type: 'string' },
      jsonl: { type: 'boolean', default: false },
      'no-special-tokens': { type: 'boolean', default: false },
    },
  });
  if (!values.tokenizer || !values.in || !values.out) {
    console.error('usage: npx tsx cli/tokenize.ts --tokenizer PATH --in TEXTFILE --out IDS.json [--decoded-out PATH] [--pieces-out PATH] [--jsonl] [--no-special-tokens]');
    process.exit(2);
  }
  let tokenizer: BpeTokenizer;
  try {
    tokenizer = BpeTokenizer.fromJSON(readFileSync(values.tokenizer, 'utf8'));
  } catch (err) {
    if (err instanceof TokenizerLoadError) {
      console.error(`${values.tokenizer}: [${err.code}] ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
  const docs = readDocuments(values.in, values.jsonl);
  const started = performance.now();
  const ids = docs.map((doc) => tokenizer.encode(doc, { addSpecialTokens: !values['no-special-tokens'] }));
  const seconds = (performance.now() - started) / 1000;
  writeFileSync(values.out, JSON.stringify(values.jsonl ? ids : ids[0]));
  if (values['decoded-out']) {
    const decoded = ids.map((docIds) => tokenizer.decode(docIds));
    writeFileSync(values['decoded-out'], values.jsonl ? decoded.map((text) => JSON.stringify({ text })).join('\n') + '\n' : decoded[0]);
  }
  if (values['pieces-out']) {
    const pieces = docs.map((doc) => tokenizer.preTokenize(doc));
    writeFileSync(values['pieces-out'], JSON.stringify(values.jsonl ? pieces : pieces[0]));
  }
  const bytes = docs.reduce((sum, doc) => sum + Buffer.byteLength(doc, 'utf8'), 0);
  const tokens = ids.reduce((sum, docIds) => sum + docIds.length, 0);
  console.error(`${docs.length} document(s), ${bytes} bytes -> ${tokens} tokens (${(bytes / Math.max(tokens, 1)).toFixed(3)} bytes/token) in ${seconds.toFixed(2)} s, ${(bytes / 1e6 / seconds).toFixed(2)} MB/s`);
}

main();
