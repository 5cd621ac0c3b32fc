// Node only: a VectorStore kept in one append-only file, so a rerun of the benchmark (another method, a resumed run)
// reads the file and diff embeddings an earlier run computed instead of encoding them again.
import { appendFileSync, existsSync, readFileSync, truncateSync } from 'node:fs';
import type { VectorStore } from '../code2lora/fileEmbeddingCache.ts';

/**
 * Records are [key length u16][key utf-8][value count u32][float32 values], little-endian. A record cut short by a
 * crash is dropped (and the file truncated there) when the store is opened. The caller keys the store by what the
 * vectors depend on (one file per encoder).
 * @example const cache = DiskVectorStore.open('out/embedding-cache.bin'); await cache.set(blobId, embedding);
 */
export class DiskVectorStore implements VectorStore {
  private constructor(private readonly path: string, private readonly entries: Map<string, Float32Array>) {}

  static open(path: string): DiskVectorStore {
    const entries = new Map<string, Float32Array>();
    if (existsSync(path)) {
      const bytes = readFileSync(path);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      let offset = 0;
      while (offset + 2 <= bytes.length) {
        const keyLength = view.getUint16(offset, true);
        const countAt = offset + 2 + keyLength;
        if (countAt + 4 > bytes.length) break;
        const count = view.getUint32(countAt, true);
        const end = countAt + 4 + 4 * count;
        if (end > bytes.length) break;
        const key = bytes.subarray(offset + 2, countAt).toString('utf8');
        const values = new Float32Array(count);
        for (let i = 0; i < count; i++) values[i] = view.getFloat32(countAt + 4 + 4 * i, true);
        entries.set(key, values);
        offset = end;
      }
      if (offset < bytes.length) truncateSync(path, offset);
    }
    return new DiskVectorStore(path, entries);
  }

  async get(key: string): Promise<Float32Array | undefined> {
    return this.entries.get(key);
  }

  async set(key: string, vector: Float32Array): Promise<void> {
    if (this.entries.has(key)) return;
    this.entries.set(key, vector);
    const keyBytes = Buffer.from(key, 'utf8');
    const record = Buffer.alloc(2 + keyBytes.length + 4 + 4 * vector.length);
    record.writeUInt16LE(keyBytes.length, 0);
    keyBytes.copy(record, 2);
    record.writeUInt32LE(vector.length, 2 + keyBytes.length);
    for (let i = 0; i < vector.length; i++) record.writeFloatLE(vector[i], 2 + keyBytes.length + 4 + 4 * i);
    appendFileSync(this.path, record);
  }

  get size(): number {
    return this.entries.size;
  }
}
