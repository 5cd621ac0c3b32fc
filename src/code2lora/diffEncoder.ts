// Evo's diff encoder: a commit's diff (non-test .py/.md/.rst patches) -> encoder chunks of token ids -> one pooled vector.
import type { FileDiff } from '../git/diff.ts';
import type { TextTokenizer } from '../model/generate.ts';
import type { EncoderSettings } from './encoderSettings.ts';

/**
 * A commit's diff as the encoder's chunks of token ids: the `patch` texts of its text files (not binary, not too large to diff) in path order,
 * concatenated and tokenized, cut into consecutive chunks of `chunkTokens` ids, the first `diffChunksPerCommit` of
 * them. An empty list when no file qualifies. The one chunking function: the browser embeds these, cli/evo-data.ts
 * writes them for training.
 *
 * The patches are tokenized one by one and the ids joined, stopping once enough are read. That is the tokenization of
 * the concatenation: each patch ends with a newline and the next starts with `---`, and byte-level BPE pre-tokenizers
 * (GPT-2's and c2l-base's regex) never join a newline with a following non-space character (a test holds the two
 * equal on c2l-base's tokenizer).
 *
 * @example const chunks = diffChunkIds(await diffCommit({ fs, dir, commit }), encoder.tokenizer, ENCODER_SETTINGS)
 */
export function diffChunkIds(
  diffs: readonly FileDiff[],
  tokenizer: TextTokenizer,
  { chunkTokens, diffChunksPerCommit }: Pick<EncoderSettings, 'chunkTokens' | 'diffChunksPerCommit'>,
): number[][] {
  const budget = chunkTokens * diffChunksPerCommit;
  const patches = diffs.filter((diff) => !diff.binary && !diff.tooLarge && diff.patch)
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const ids: number[] = [];
  for (const diff of patches) {
    if (ids.length >= budget) break;
    for (const id of tokenizer.encode(diff.patch)) ids.push(id);
  }
  const chunks: number[][] = [];
  for (let start = 0; start < Math.min(ids.length, budget); start += chunkTokens) chunks.push(ids.slice(start, start + chunkTokens));
  return chunks;
}
