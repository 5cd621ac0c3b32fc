// The benchmark's on-disk embedding cache: values survive a reopen bit for bit, a record cut short by a crash is dropped.
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DiskVectorStore } from '../src/bench/diskVectorStore.ts';

describe('DiskVectorStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vector-store-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reopens with the same vectors, keeps the first value of a key, and drops a torn last record', async () => {
    const path = join(dir, 'cache.bin');
    const store = DiskVectorStore.open(path);
    const a = Float32Array.from([1.5, -2.25, Math.PI, 1e-30]);
    await store.set('blob-a', a);
    await store.set('diff:é', new Float32Array(0));
    await store.set('blob-a', Float32Array.from([9]));
    const size = statSync(path).size;
    appendFileSync(path, Buffer.from([7, 0, 0x62, 0x6c])); // a crash in the middle of the next record
    const reopened = DiskVectorStore.open(path);
    expect(reopened.size).toBe(2);
    expect(Array.from((await reopened.get('blob-a'))!)).toEqual(Array.from(a));
    expect((await reopened.get('diff:é'))!.length).toBe(0);
    expect(await reopened.get('missing')).toBeUndefined();
    expect(statSync(path).size).toBe(size);
    await reopened.set('blob-b', Float32Array.from([2]));
    expect(Array.from((await DiskVectorStore.open(path).get('blob-b'))!)).toEqual([2]);
    expect(readFileSync(path).length).toBeGreaterThan(size);
  });
});
