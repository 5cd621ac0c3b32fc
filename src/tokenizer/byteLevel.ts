// Byte-level BPE alphabet (GPT-2's bytes_to_unicode): every byte maps to one printable character and back.

/** The pre-tokenizer regex the ByteLevel pre-tokenizer uses when `use_regex` is true (Oniguruma syntax, as in HF). */
export const GPT2_SPLIT_PATTERN = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;

function buildByteToChar(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const chars = new Array<string>(256);
  for (const b of printable) chars[b] = String.fromCharCode(b);
  let next = 256;
  for (let b = 0; b < 256; b++) if (chars[b] === undefined) chars[b] = String.fromCharCode(next++);
  return chars;
}

/** BYTE_TO_CHAR[b] is the character that stands for byte b inside vocabulary tokens. */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

/** Inverse of BYTE_TO_CHAR, keyed by UTF-16 code unit (all 256 characters are in the BMP). */
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

/**
 * Appends the UTF-8 bytes of `text` to `out`. Lone surrogates become U+FFFD, as TextEncoder does;
 * written by hand because pre-tokens are short and TextEncoder's per-call cost dominates there.
 */
export function pushUtf8Bytes(text: string, out: number[]): void {
  for (let i = 0; i < text.length; i++) {
    let cp = text.charCodeAt(i);
    if (cp < 0x80) {
      out.push(cp);
      continue;
    }
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        i++;
      } else cp = 0xfffd;
    } else if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  }
}

/** `text` spelled in byte-level characters (its UTF-8 bytes through BYTE_TO_CHAR), as vocabulary tokens are spelled. */
export function toByteLevelChars(text: string): string {
  const bytes: number[] = [];
  pushUtf8Bytes(text, bytes);
  let out = '';
  for (const b of bytes) out += BYTE_TO_CHAR[b];
  return out;
}
