// lastTokenIds: the tail of a long text's tokens from a suffix equals the tail of the whole text's tokens.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseGguf, tokenizerFromGguf } from '../src/model/gguf.ts';
import { BpeTokenizer } from '../src/tokenizer/bpeTokenizer.ts';
import { lastTokenIds } from '../src/tokenizer/lastTokenIds.ts';

const SMOLLM2 = 'public/models/smollm2-135m-instruct/model.gguf';
/** Python test-file text with the awkward places: blank lines, indentation, comments, strings, digits, decorators. */
const SOURCE = [readFileSync('test/support/assertion_targets.py', 'utf8'), readFileSync('training/embed.py', 'utf8')].join('\n\n\n');

function expectTailsEqual(tokenizer: { encode(text: string): number[] }, counts: number[]): void {
  const ends = Array.from({ length: 12 }, (_, i) => Math.floor(SOURCE.length * (i + 1) / 12));
  for (const end of ends) {
    const text = SOURCE.slice(0, end);
    const whole = tokenizer.encode(text);
    for (const count of counts) {
      expect(lastTokenIds(tokenizer, text, count), `end ${end}, count ${count}`).toEqual(whole.slice(Math.max(0, whole.length - count)));
    }
  }
}

describe('lastTokenIds', () => {
  it('equals the tail of the whole tokenization (c2l-base tokenizer), short texts included', () => {
    const tokenizer = BpeTokenizer.fromJSON(readFileSync('public/models/c2l-base/tokenizer.json', 'utf8'));
    expect(SOURCE.length).toBeGreaterThan(10_000);
    expectTailsEqual(tokenizer, [1, 64, 256, 1024, 100_000]);
  });

  it.skipIf(!existsSync(SMOLLM2))('equals the tail of the whole tokenization (SmolLM2 tokenizer, BOS and digit splitting)', () => {
    const tokenizer = tokenizerFromGguf(parseGguf(readFileSync(SMOLLM2)).metadata);
    expectTailsEqual(tokenizer, [64, 1024]);
  });
});
