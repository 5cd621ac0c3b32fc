// The BPE model: turns one pre-tokenized piece into vocab ids by applying merges in rank order, with a per-piece cache.

import { BYTE_TO_CHAR, pushUtf8Bytes, toByteLevelChars } from './byteLevel.ts';
import { BinaryHeap } from '../util/binaryHeap.ts';

/** Pieces longer than this (in bytes) use the heap-based merge, which avoids the quadratic rescans of the simple loop. */
const LONG_WORD_BYTES = 48;
/** Cached pieces before the cache is reset; source code repeats identifiers and indentation, so hits dominate. */
const CACHE_LIMIT = 200_000;

export class BpeModel {
  /** Merge rank for the pair (a, b), keyed a * idSpan + b. */
  private readonly ranks = new Map<number, number>();
  /** Token id produced by the merge of each rank. */
  private readonly mergedIds: Int32Array;
  private readonly idSpan: number;
  /** Id of each byte's token; -1 for a byte the vocab lacks (dropped when encoding, as HF does without an unk_token). */
  private readonly byteIds = new Int32Array(256);
  private readonly cache = new Map<string, readonly number[]>();

  constructor(
    private readonly vocab: ReadonlyMap<string, number>,
    merges: ReadonlyArray<readonly [string, string]>,
    private readonly ignoreMerges: boolean,
    idSpan: number,
  ) {
    this.idSpan = idSpan;
    this.mergedIds = new Int32Array(merges.length);
    merges.forEach(([a, b], rank) => {
      // A repeated pair keeps its last rank, as HF's HashMap construction does.
      this.ranks.set(vocab.get(a)! * idSpan + vocab.get(b)!, rank);
      this.mergedIds[rank] = vocab.get(a + b)!;
    });
    for (let b = 0; b < 256; b++) this.byteIds[b] = vocab.get(BYTE_TO_CHAR[b]) ?? -1;
  }

  /** Appends the ids of one pre-token (raw text; the byte-level mapping happens here) to `out`. */
  encodePiece(piece: string, out: number[]): void {
    let ids = this.cache.get(piece);
    if (ids === undefined) {
      ids = this.encodeUncached(piece);
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(piece, ids);
    }
    for (let i = 0; i < ids.length; i++) out.push(ids[i]);
  }

  private encodeUncached(piece: string): number[] {
    const bytes: number[] = [];
    pushUtf8Bytes(piece, bytes);
    if (this.ignoreMerges) {
      const whole = this.vocab.get(toByteLevelChars(piece));
      if (whole !== undefined) return [whole];
    }
    const symbols = bytes.map((b) => this.byteIds[b]).filter((id) => id >= 0);
    return symbols.length > LONG_WORD_BYTES ? this.mergeLong(symbols) : this.mergeShort(symbols);
  }

  private rank(a: number, b: number): number | undefined {
    return this.ranks.get(a * this.idSpan + b);
  }

  /**
   * Repeatedly merges the lowest-ranked adjacent pair, leftmost first (the order HF's priority queue yields).
   * `pairRanks[i]` caches the rank of (symbols[i], symbols[i + 1]); a merge only changes its two neighbours.
   */
  private mergeShort(symbols: number[]): number[] {
    const pairRanks: number[] = [];
    for (let i = 0; i + 1 < symbols.length; i++) pairRanks.push(this.rank(symbols[i], symbols[i + 1]) ?? Infinity);
    for (;;) {
      let bestRank = Infinity;
      let bestPos = -1;
      for (let i = 0; i < pairRanks.length; i++) {
        if (pairRanks[i] < bestRank) {
          bestRank = pairRanks[i];
          bestPos = i;
        }
      }
      if (bestPos < 0) return symbols;
      symbols[bestPos] = this.mergedIds[bestRank];
      symbols.splice(bestPos + 1, 1);
      pairRanks.splice(bestPos, 1);
      if (bestPos > 0) pairRanks[bestPos - 1] = this.rank(symbols[bestPos - 1], symbols[bestPos]) ?? Infinity;
      if (bestPos < pairRanks.length) pairRanks[bestPos] = this.rank(symbols[bestPos], symbols[bestPos + 1]) ?? Infinity;
    }
  }

  /** Same result as mergeShort in O(n log n): a linked list of symbols and a min-heap of (rank, position). */
  private mergeLong(initial: number[]): number[] {
    const n = initial.length;
    const symbol = Int32Array.from(initial);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    // Heap keys pack (rank, position) into one float64: rank < 2^22, position < 2^31, so the key stays exact.
    const heap = new BinaryHeap<number>((a, b) => a < b);
    const pushPair = (pos: number) => {
      const right = next[pos];
      if (right < 0) return;
      const r = this.rank(symbol[pos], symbol[right]);
      if (r !== undefined) heap.push(r * 2 ** 31 + pos);
    };
    for (let i = 0; i + 1 < n; i++) pushPair(i);
    while (heap.size > 0) {
      const key = heap.pop();
      const r = Math.floor(key / 2 ** 31);
      const pos = key - r * 2 ** 31;
      const right = next[pos];
      // Stale entry: this position was absorbed, or its pair changed since it was queued.
      if (!alive[pos] || right < 0 || this.rank(symbol[pos], symbol[right]) !== r) continue;
      symbol[pos] = this.mergedIds[r];
      alive[right] = 0;
      next[pos] = next[right];
      if (next[right] >= 0) prev[next[right]] = pos;
      if (prev[pos] >= 0) pushPair(prev[pos]);
      pushPair(pos);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]) out.push(symbol[i]);
    return out;
  }
}
