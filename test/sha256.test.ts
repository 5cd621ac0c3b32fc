// Sha256 fed in pieces equals node:crypto's SHA-256 for lengths around the 64-byte block and its padding, in any chunking.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Sha256 } from '../src/util/sha256.ts';
import { seededUniform } from '../src/util/random.ts';

describe('Sha256', () => {
  it('equals node:crypto for 0 to 130 bytes and 100,003 bytes, whole or in 1, 7 and 64-byte pieces', () => {
    const random = seededUniform(11);
    const lengths = [...Array.from({ length: 131 }, (_, n) => n), 100_003];
    for (const length of lengths) {
      const bytes = Uint8Array.from({ length }, () => Math.floor(random() * 256));
      const expected = createHash('sha256').update(bytes).digest('hex');
      for (const piece of [length || 1, 1, 7, 64]) {
        const hash = new Sha256();
        for (let at = 0; at < length; at += piece) hash.update(bytes.subarray(at, at + piece));
        expect(hash.hex(), `${length} bytes in pieces of ${piece}`).toBe(expected);
      }
    }
  });
});
