// Evo's diff chunks: patch texts in path order, tokenized with the encoder's tokenizer, cut into fixed chunks, capped.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { FileDiff } from '../src/git/diff.ts';
import { diffChunkIds } from '../src/code2lora/diffEncoder.ts';
import { ENCODER_SETTINGS } from '../src/code2lora/encoderSettings.ts';
import { BpeTokenizer } from '../src/tokenizer/bpeTokenizer.ts';

const tokenizer = BpeTokenizer.fromJSON(readFileSync('public/models/c2l-base/tokenizer.json', 'utf8'));

function fileDiff(path: string, patch: string, binary = false, tooLarge = false): FileDiff {
  return { path, status: 'modified', binary, tooLarge, hunks: [], patch };
}

/** Patches whose ends are the awkward cases for a pre-tokenizer: punctuation, a blank context line, no newline at end. */
const CORE = fileDiff('pkg/core.py', [
  '--- a/pkg/core.py', '+++ b/pkg/core.py', '@@ -1,4 +1,5 @@ def scale(x):', ' import os', '-RATE = 3', '+RATE = 4',
  '+OFFSET = (1, 2)', ' ', ' def scale(x):', '     return RATE * x + OFFSET[0]', '',
].join('\n'));
const README = fileDiff('README.md', [
  '--- a/README.md', '+++ b/README.md', '@@ -1 +1 @@', '-# Demo', '+# Demo project: scaled numbers!', '\\ No newline at end of file', '',
].join('\n'));
const ADDED = fileDiff('pkg/util.py', [
  '--- /dev/null', '+++ b/pkg/util.py', '@@ -0,0 +1,3 @@', '+def clamp(value, low=0, high=10):', '+    """Bounds."""',
  '+    return max(low, min(high, value))', ' ', '',
].join('\n'));

describe('diffChunkIds', () => {
  it('tokenizes the patches in path order, binaries and files too large to diff left out, as consecutive chunks of chunkTokens ids', () => {
    const settings = { chunkTokens: 16, diffChunksPerCommit: 16 };
    const tooLarge = fileDiff('pkg/big.py', 'File too large to diff: pkg/big.py (3.0 MiB, over the 1.0 MiB limit)\n', false, true);
    const diffs = [CORE, fileDiff('pkg/logo.png', 'Binary files differ: pkg/logo.png\n', true), README, tooLarge, ADDED];
    const ids = tokenizer.encode(README.patch + CORE.patch + ADDED.patch);
    const chunks = diffChunkIds(diffs, tokenizer, settings);
    expect(chunks.flat()).toEqual(ids);
    expect(chunks.length).toBe(Math.ceil(ids.length / 16));
    expect(chunks.slice(0, -1).every((chunk) => chunk.length === 16)).toBe(true);
    expect(chunks[chunks.length - 1].length).toBe(ids.length - 16 * (chunks.length - 1));
  });

  it('keeps the first diffChunksPerCommit chunks of a long diff, equal to tokenizing the whole concatenation', () => {
    const many = Array.from({ length: 40 }, (_, i) => fileDiff(`pkg/m${String(i).padStart(2, '0')}.py`,
      `--- a/pkg/m${i}.py\n+++ b/pkg/m${i}.py\n@@ -${i} +${i} @@\n-x = ${i}\n+x = ${i} * RATE  # scaled (${i})\n`));
    const settings = { chunkTokens: 8, diffChunksPerCommit: 5 };
    const whole = tokenizer.encode(many.map((diff) => diff.patch).join(''));
    expect(whole.length).toBeGreaterThan(40);
    const chunks = diffChunkIds([...many].reverse(), tokenizer, settings);
    expect(chunks).toHaveLength(5);
    expect(chunks.flat()).toEqual(whole.slice(0, 40));
  });

  it('uses the shipped settings: 128-token chunks, at most 16 per commit', () => {
    expect(ENCODER_SETTINGS.diffChunksPerCommit).toBe(16);
    const long = fileDiff('pkg/big.py', `--- /dev/null\n+++ b/pkg/big.py\n@@ -0,0 +1,2000 @@\n${
      Array.from({ length: 2000 }, (_, i) => `+value_${i} = compute(${i}, "${i}")`).join('\n')}\n`);
    const chunks = diffChunkIds([long], tokenizer, ENCODER_SETTINGS);
    expect(chunks).toHaveLength(16);
    expect(chunks.every((chunk) => chunk.length === 128)).toBe(true);
    expect(chunks.flat()).toEqual(tokenizer.encode(long.patch).slice(0, 16 * 128));
  });

  it('is empty when no file qualifies', () => {
    expect(diffChunkIds([], tokenizer, ENCODER_SETTINGS)).toEqual([]);
    expect(diffChunkIds([fileDiff('a.png', 'Binary files differ: a.png\n', true)], tokenizer, ENCODER_SETTINGS)).toEqual([]);
  });
});
