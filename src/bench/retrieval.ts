// The RAG baseline's retriever: BM25 over a repository's non-test code chunks, queried with the end of a task's prompt.
import { isTestPath } from '../git/pathFilters.ts';
import { chunkForEncoder, extractCodeUnits } from '../parse/codeUnits.ts';
import type { SnapshotFile } from '../parse/mineTasks.ts';
import type { PythonParser } from '../parse/pythonParser.ts';

export interface CodeChunk {
  path: string;
  startLine: number;
  text: string;
}

/** Identifiers and numbers, lower-cased, with snake_case and camelCase parts added (`lookupGraft` -> lookup, graft). */
export function codeTerms(text: string): string[] {
  const terms: string[] = [];
  for (const [word] of text.matchAll(/[A-Za-z_][A-Za-z0-9_]*|\d+/g)) {
    const lower = word.toLowerCase();
    terms.push(lower);
    const parts = word.split(/_+|(?<=[a-z0-9])(?=[A-Z])/).filter(Boolean);
    if (parts.length > 1) for (const part of parts) terms.push(part.toLowerCase());
  }
  return terms;
}

const K1 = 1.2;
const B = 0.75;

/** An Okapi BM25 index (k1 1.2, b 0.75) over code chunks. */
export class Bm25Index {
  private readonly termCounts: Map<string, number>[];
  private readonly lengths: number[];
  private readonly documentFrequency = new Map<string, number>();
  private readonly averageLength: number;

  constructor(readonly chunks: readonly CodeChunk[]) {
    this.termCounts = chunks.map((chunk) => {
      const counts = new Map<string, number>();
      for (const term of codeTerms(chunk.text)) counts.set(term, (counts.get(term) ?? 0) + 1);
      for (const term of counts.keys()) this.documentFrequency.set(term, (this.documentFrequency.get(term) ?? 0) + 1);
      return counts;
    });
    this.lengths = this.termCounts.map((counts) => [...counts.values()].reduce((sum, count) => sum + count, 0));
    this.averageLength = this.lengths.reduce((sum, length) => sum + length, 0) / Math.max(1, this.lengths.length);
  }

  /** The `k` best chunks for a query, best first; ties keep index order. Chunks that share no term are never returned. */
  search(query: string, k: number): CodeChunk[] {
    const queryTerms = new Set(codeTerms(query));
    const n = this.chunks.length;
    const scored: { index: number; score: number }[] = [];
    this.termCounts.forEach((counts, index) => {
      let score = 0;
      for (const term of queryTerms) {
        const frequency = counts.get(term);
        if (!frequency) continue;
        const df = this.documentFrequency.get(term)!;
        const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
        score += (idf * frequency * (K1 + 1)) / (frequency + K1 * (1 - B + (B * this.lengths[index]) / this.averageLength));
      }
      if (score > 0) scored.push({ index, score });
    });
    scored.sort((a, b) => b.score - a.score || a.index - b.index);
    return scored.slice(0, k).map(({ index }) => this.chunks[index]);
  }
}

/** Non-test Python files cut along code units into chunks of at most `maxChars` characters. */
export function chunkRepository(files: readonly SnapshotFile[], parser: PythonParser, maxChars = 1200): CodeChunk[] {
  const chunks: CodeChunk[] = [];
  for (const file of [...files].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    if (!file.path.endsWith('.py') || isTestPath(file.path) || file.content.trim() === '') continue;
    const { units } = extractCodeUnits(file.content, parser);
    for (const chunk of chunkForEncoder(file.content, units, { maxChars })) {
      if (chunk.text.trim()) chunks.push({ path: file.path, startLine: chunk.startLine, text: chunk.text });
    }
  }
  return chunks;
}
