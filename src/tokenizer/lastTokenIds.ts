// The last N token ids of a long text (a prompt cut to the model's context) without tokenizing the whole text.

/**
 * `tokenizer.encode(text)`'s last `count` ids, computed from a suffix of the text. The suffix starts at a line whose
 * first character is not whitespace: byte-level BPE pre-tokenizers (GPT-2's regex and those derived from it, SmolLM2's
 * and c2l-base's) never join a newline with the non-space character after it, so tokens never cross that point. Once
 * the suffix alone gives `count` + 2 ids (room for a BOS the tokenizer may prepend), its last `count` are the text's;
 * otherwise the suffix doubles, up to the whole text.
 *
 * @example const promptIds = lastTokenIds(tokenizer, task.prompt, 1024)
 */
export function lastTokenIds(tokenizer: { encode(text: string): number[] }, text: string, count: number): number[] {
  for (let window = count * 8; ; window *= 2) {
    let start = text.length - window;
    if (start > 0) {
      while (start < text.length && !(text[start - 1] === '\n' && !/\s/.test(text[start]))) start++;
      if (start < text.length) {
        const ids = tokenizer.encode(text.slice(start));
        if (ids.length >= count + 2) return ids.slice(ids.length - count);
        continue;
      }
    }
    const ids = tokenizer.encode(text);
    return ids.slice(Math.max(0, ids.length - count));
  }
}
