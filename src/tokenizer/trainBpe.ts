// Trains a small byte-level BPE tokenizer in TypeScript and returns it in Hugging Face tokenizer.json form.
//
// For tests and per-repository experiments on small corpora (a few MB). The corpus tokenizer is trained with Python
// `tokenizers` (scripts/corpus/train_tokenizer.py); both write the same format and load in both implementations.
// Like HF's BpeTrainer: special tokens take the first ids, then the 256 byte-level characters sorted by code point,
// then one token per merge; each step merges the most frequent adjacent pair (ties: the smallest pair of ids).

import { BYTE_TO_CHAR, GPT2_SPLIT_PATTERN, pushUtf8Bytes } from './byteLevel.ts';
import { BpeTokenizer } from './bpeTokenizer.ts';
import { compileOnigurumaPattern } from './onigurumaRegex.ts';
import { buildPreTokenizer } from './preTokenize.ts';
import type { PreTokenizerStep } from './tokenizerConfig.ts';
import { BinaryHeap } from '../util/binaryHeap.ts';

export interface TrainBpeOptions {
  texts: Iterable<string>;
  /** Final vocabulary size including special tokens and the 256 byte tokens; training stops early if pairs run out. */
  vocabSize: number;
  /** Added as special tokens with ids 0, 1, ... (e.g. ['<|endoftext|>']). */
  specialTokens?: readonly string[];
  /**
   * Pre-tokenizer regex (Oniguruma syntax as in tokenizer.json), written as a Split before a regex-free ByteLevel, the
   * way Qwen2 and Llama-3 do. Default: ByteLevel's own GPT-2 regex.
   */
  pattern?: string;
  /** Pairs seen fewer times than this are not merged. Default 2. */
  minFrequency?: number;
}

interface Candidate {
  count: number;
  a: number;
  b: number;
}

/** Learns merges from `texts` and returns the tokenizer (`.toJSON()` gives the tokenizer.json object). */
export function trainBpeTokenizer({ texts, vocabSize, specialTokens = [], pattern, minFrequency = 2 }: TrainBpeOptions): BpeTokenizer {
  const baseSize = specialTokens.length + 256;
  if (!Number.isInteger(vocabSize) || vocabSize < baseSize) throw new RangeError(`vocabSize must be an integer >= ${baseSize} (specials + 256 bytes), got ${vocabSize}`);
  if (new Set(specialTokens).size !== specialTokens.length || specialTokens.some((t) => t === '')) throw new RangeError('specialTokens must be distinct non-empty strings');

  const idToToken: string[] = [...specialTokens, ...[...BYTE_TO_CHAR].sort((x, y) => x.charCodeAt(0) - y.charCodeAt(0))];
  const tokenToId = new Map(idToToken.map((t, id) => [t, id]));
  const byteIds = BYTE_TO_CHAR.map((ch) => tokenToId.get(ch)!);

  // Count pre-tokenized pieces, exactly as the trained tokenizer will split text.
  const steps: PreTokenizerStep[] = pattern === undefined
    ? [{ kind: 'byteLevel', addPrefixSpace: false, regex: compileOnigurumaPattern(GPT2_SPLIT_PATTERN) }]
    : [{ kind: 'split', regex: compileOnigurumaPattern(pattern), behavior: 'Isolated', invert: false }, { kind: 'byteLevel', addPrefixSpace: false, regex: null }];
  const pieceCounts = new Map<string, number>();
  const countPiece = buildPreTokenizer(steps, (piece) => pieceCounts.set(piece, (pieceCounts.get(piece) ?? 0) + 1));
  for (const text of texts) countPiece(text);

  const words: number[][] = [];
  const wordCounts: number[] = [];
  for (const [piece, count] of pieceCounts) {
    const bytes: number[] = [];
    pushUtf8Bytes(piece, bytes);
    words.push(bytes.map((b) => byteIds[b]));
    wordCounts.push(count);
  }

  const span = vocabSize;
  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addWordPairs = (w: number, sign: 1 | -1, touched: Set<number>) => {
    const word = words[w];
    for (let i = 0; i + 1 < word.length; i++) {
      const key = word[i] * span + word[i + 1];
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + sign * wordCounts[w]);
      touched.add(key);
      if (sign > 0) {
        let set = pairWords.get(key);
        if (!set) pairWords.set(key, (set = new Set()));
        set.add(w);
      }
    }
  };
  const heap = new BinaryHeap(candidateBefore);
  const pushCurrent = (keys: Iterable<number>) => {
    for (const key of keys) {
      const count = pairCounts.get(key) ?? 0;
      if (count > 0) heap.push({ count, a: Math.floor(key / span), b: key % span });
    }
  };
  const initial = new Set<number>();
  for (let w = 0; w < words.length; w++) addWordPairs(w, 1, initial);
  pushCurrent(initial);

  const merges: Array<[string, string]> = [];
  while (idToToken.length < vocabSize && heap.size > 0) {
    const top = heap.pop();
    const key = top.a * span + top.b;
    if (top.count !== pairCounts.get(key)) continue; // stale: a fresher entry for this pair is in the heap
    if (top.count < minFrequency) break;
    const merged = idToToken[top.a] + idToToken[top.b];
    let newId = tokenToId.get(merged);
    if (newId === undefined) {
      newId = idToToken.length;
      idToToken.push(merged);
      tokenToId.set(merged, newId);
    }
    merges.push([idToToken[top.a], idToToken[top.b]]);
    const touched = new Set<number>();
    for (const w of pairWords.get(key) ?? []) {
      addWordPairs(w, -1, touched);
      words[w] = mergePairInWord(words[w], top.a, top.b, newId);
      addWordPairs(w, 1, touched);
    }
    pairWords.delete(key);
    pushCurrent(touched);
  }

  return BpeTokenizer.fromJSON(tokenizerJson(idToToken, merges, specialTokens, pattern));
}

/** Replaces each non-overlapping occurrence of (a, b), left to right, by `merged`. */
function mergePairInWord(word: number[], a: number, b: number, merged: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < word.length; i++) {
    if (word[i] === a && word[i + 1] === b) {
      out.push(merged);
      i++;
    } else out.push(word[i]);
  }
  return out;
}

function tokenizerJson(idToToken: string[], merges: Array<[string, string]>, specialTokens: readonly string[], pattern: string | undefined): object {
  const byteLevel = (useRegex: boolean) => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: useRegex });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specialTokens.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: pattern === undefined
      ? byteLevel(true)
      : { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false }, byteLevel(false)] },
    post_processor: null,
    decoder: { ...byteLevel(true), add_prefix_space: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(idToToken.map((t, id) => [t, id])),
      merges,
    },
  };
}

/** Merge candidates, highest count first, then the smallest (a, b). */
const candidateBefore = (x: Candidate, y: Candidate): boolean =>
  x.count !== y.count ? x.count > y.count : x.a !== y.a ? x.a < y.a : x.b < y.b;
