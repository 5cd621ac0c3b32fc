// Deterministic hashing and shuffling from a seed, so that sampling and splits are reproducible everywhere.
import { seededUniform } from '../util/random.ts';

/** FNV-1a, 32 bits, over the string's UTF-16 code units. */
export function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** A stable number in [0, 1) for a key under a seed. */
export function unitInterval(seed: number, key: string): number {
  return hashString(`${seed}\u0000${key}`) / 0x1_0000_0000;
}

/** Fisher-Yates shuffle of a copy, driven by (seed, key): the same inputs always give the same order. */
export function seededShuffle<T>(items: readonly T[], seed: number, key: string): T[] {
  const random = seededUniform(hashString(`${seed}\u0000${key}`));
  const shuffled = items.slice();
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
  }
  return shuffled;
}

/** Up to `count` items chosen by a seeded shuffle, returned in their original order. */
export function seededSample<T>(items: readonly T[], count: number, seed: number, key: string): T[] {
  if (items.length <= count) return items.slice();
  const chosen = new Set(seededShuffle(items.map((_, index) => index), seed, key).slice(0, count));
  return items.filter((_, index) => chosen.has(index));
}
