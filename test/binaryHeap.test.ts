import { describe, expect, it } from 'vitest';
import { BinaryHeap } from '../src/util/binaryHeap.ts';
import { seededUniform } from '../src/util/random.ts';

describe('BinaryHeap', () => {
  it('pops numbers in order, duplicates included, across interleaved pushes and pops', () => {
    const random = seededUniform(3);
    const heap = new BinaryHeap<number>((a, b) => a < b);
    const reference: number[] = [];
    for (let step = 0; step < 2000; step++) {
      if (heap.size > 0 && random() < 0.4) {
        reference.sort((a, b) => a - b);
        expect(heap.pop()).toBe(reference.shift());
      } else {
        const value = Math.floor(random() * 50);
        heap.push(value);
        reference.push(value);
      }
      expect(heap.size).toBe(reference.length);
    }
  });

  it('orders by the comparator alone: highest count first, then the smallest pair', () => {
    const heap = new BinaryHeap<{ count: number; a: number }>((x, y) => (x.count !== y.count ? x.count > y.count : x.a < y.a));
    for (const item of [{ count: 1, a: 0 }, { count: 3, a: 2 }, { count: 3, a: 1 }, { count: 2, a: 9 }]) heap.push(item);
    expect(Array.from({ length: 4 }, () => heap.pop())).toEqual([{ count: 3, a: 1 }, { count: 3, a: 2 }, { count: 2, a: 9 }, { count: 1, a: 0 }]);
    expect(heap.size).toBe(0);
    expect(heap.pop()).toBeUndefined();
  });
});
