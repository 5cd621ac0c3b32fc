// Byte-level BPE tokenizer that loads a Hugging Face tokenizer.json and gives the same ids as HF `tokenizers`.
//
// Why hand-written rather than a library: `@huggingface/tokenizers` (tokenizers.js 0.2.0, zero dependencies) gives
// the same ids on our parity corpus, but encodes Python at 1.0-1.6 MB/s here (Python `tokenizers`, single thread,
// ~3 MB/s); decode applies clean_up_tokenization_spaces unless told not to, malformed files fail with untyped
// errors, and it cannot train. This encoder caches per pre-token piece and merges by rank over numeric pair keys
// (see `npm run bench:tokenizer` for the figure), validates the file with typed errors, and shares its format
// with trainBpeTokenizer. Transformers.js's tokenizer is the same code bundled with a large runtime.
// Parity with HF is held by training/tests/test_tokenizer_parity.py.
//
// Encoding follows HF's pipeline: added tokens that match raw text are split out first; the rest is normalized,
// added tokens that match normalized text are split out; each remaining segment is pre-tokenized (Split/Digits,
// then ByteLevel) and each piece is BPE-encoded; the post-processor may add special tokens around the result.

import { BpeModel } from './bpeModel.ts';
import { CHAR_TO_BYTE, toByteLevelChars } from './byteLevel.ts';
import { buildPreTokenizer } from './preTokenize.ts';
import { readTokenizerSpec, type AddedTokenSpec, type NormalizationForm, type TokenizerSpec } from './tokenizerConfig.ts';

export { TokenizerLoadError, type TokenizerLoadErrorCode } from './errors.ts';

export interface EncodeOptions {
  /** Let the post-processor add its special tokens (e.g. Llama-3's <|begin_of_text|>). Default true, as in HF. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special added tokens from the text. Default false (HF's Python `decode` defaults to true). */
  skipSpecialTokens?: boolean;
}

export interface LoadOptions {
  /** The end-of-sequence token; by default the first special token named like one (<|endoftext|>, </s>, ...). */
  eosToken?: string;
  /**
   * Accept a vocab that lacks some of the 256 byte-level tokens (SmolLM2's lacks 21, e.g. bytes 0x04 and 0xff) and drop
   * those bytes when encoding, as HF `tokenizers` (no unk_token) and llama.cpp do. Default false: such a vocab cannot
   * round-trip every input, so it is refused unless the caller knows the model was trained that way.
   */
  allowMissingByteTokens?: boolean;
}

export interface SpecialToken {
  content: string;
  id: number;
}

/** Names end-of-sequence tokens go by in the model families we load, in order of preference. */
const EOS_TOKEN_NAMES = ['<|endoftext|>', '<|end_of_text|>', '</s>', '<eos>', '<|eos|>', '<|im_end|>'];

const WORD_CHAR = /[\p{Alphabetic}\p{N}_]/u;
const WHITESPACE_CHAR = /\p{White_Space}/u;

/** The character (whole code point) that ends at index `end` of `text`, or '' at the start. */
function codePointBefore(text: string, end: number): string {
  if (end === 0) return '';
  const low = text.charCodeAt(end - 1);
  return low >= 0xdc00 && low <= 0xdfff && end >= 2 ? text.slice(end - 2, end) : text[end - 1];
}

/** Added tokens that are matched against one form of the text (raw or normalized). */
class AddedTokenMatcher {
  private readonly pattern: RegExp | null;
  private readonly byContent: Map<string, AddedTokenSpec>;

  constructor(tokens: AddedTokenSpec[], normalize: (text: string) => string) {
    this.byContent = new Map(tokens.map((t) => [t.normalized ? normalize(t.content) : t.content, t]));
    // Longest first, so the leftmost match is also the longest one (HF uses leftmost-longest Aho-Corasick).
    const contents = [...this.byContent.keys()].sort((a, b) => b.length - a.length);
    this.pattern = contents.length ? new RegExp(contents.map((c) => c.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&')).join('|'), 'gu') : null;
  }

  /** Splits `text` into plain segments (to `onText`) and added tokens (to `onToken`), honouring lstrip/rstrip/single_word. */
  split(text: string, onText: (segment: string) => void, onToken: (id: number) => void): void {
    if (this.pattern === null) {
      if (text !== '') onText(text);
      return;
    }
    let offset = 0;
    this.pattern.lastIndex = 0;
    for (let m = this.pattern.exec(text); m !== null; m = this.pattern.exec(text)) {
      const token = this.byContent.get(m[0])!;
      let start = m.index;
      let end = start + m[0].length;
      if (token.singleWord) {
        const before = codePointBefore(text, start);
        const after = end < text.length ? String.fromCodePoint(text.codePointAt(end)!) : '';
        if (WORD_CHAR.test(before) || WORD_CHAR.test(after)) continue;
      }
      if (token.lstrip) {
        let s = start;
        while (s > offset && WHITESPACE_CHAR.test(text[s - 1])) s--;
        start = s;
      }
      if (token.rstrip) while (end < text.length && WHITESPACE_CHAR.test(text[end])) end++;
      if (start > offset) onText(text.slice(offset, start));
      onToken(token.id);
      offset = end;
      if (this.pattern.lastIndex < end) this.pattern.lastIndex = end;
    }
    if (offset < text.length) onText(text.slice(offset));
  }
}

export class BpeTokenizer {
  readonly vocabSize: number;
  readonly specialTokens: readonly SpecialToken[];
  readonly eosTokenId: number | undefined;

  private readonly source: object;
  private readonly spec: TokenizerSpec;
  private readonly model: BpeModel;
  private readonly idToTokenTable: (string | undefined)[];
  private readonly tokenToIdTable: Map<string, number>;
  private readonly specialIds: Set<number>;
  private readonly rawMatcher: AddedTokenMatcher;
  private readonly normalizedMatcher: AddedTokenMatcher;
  private readonly tokenBytes: (Uint8Array | undefined)[] = [];
  private readonly utf8 = new TextEncoder();
  private readonly textDecoder = new TextDecoder('utf-8');

  private constructor(spec: TokenizerSpec, source: object, options: LoadOptions) {
    this.spec = spec;
    this.source = source;
    this.tokenToIdTable = new Map(spec.vocab);
    for (const t of spec.addedTokens) this.tokenToIdTable.set(t.content, t.id);
    let maxId = -1;
    for (const id of this.tokenToIdTable.values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    this.idToTokenTable = new Array<string | undefined>(this.vocabSize);
    for (const [token, id] of this.tokenToIdTable) this.idToTokenTable[id] = token;
    this.model = new BpeModel(spec.vocab, spec.merges, spec.ignoreMerges, this.vocabSize);
    this.specialTokens = spec.addedTokens.filter((t) => t.special).map((t) => ({ content: t.content, id: t.id }));
    this.specialIds = new Set(this.specialTokens.map((t) => t.id));
    const normalize = (text: string) => this.normalize(text);
    this.rawMatcher = new AddedTokenMatcher(spec.addedTokens.filter((t) => !t.normalized), normalize);
    this.normalizedMatcher = new AddedTokenMatcher(spec.addedTokens.filter((t) => t.normalized), normalize);
    this.eosTokenId = options.eosToken !== undefined
      ? this.tokenToIdTable.get(options.eosToken)
      : EOS_TOKEN_NAMES.map((name) => this.specialTokens.find((t) => t.content === name)?.id).find((id) => id !== undefined);
  }

  /**
   * Loads a tokenizer.json (its text or the parsed object).
   * @throws TokenizerLoadError with a `code` when the file is malformed or uses features byte-level BPE cannot honour.
   * @example
   * const tok = BpeTokenizer.fromJSON(await (await fetch('/models/c2l-base/tokenizer.json')).text());
   * tok.decode(tok.encode('def f(x):\n    return x')) // 'def f(x):\n    return x'
   */
  static fromJSON(json: unknown, options: LoadOptions = {}): BpeTokenizer {
    const { spec, source } = readTokenizerSpec(json, { allowMissingByteTokens: options.allowMissingByteTokens });
    return new BpeTokenizer(spec, structuredClone(source), options);
  }

  /** The tokenizer.json object this tokenizer was loaded from (a copy; JSON.stringify it to save). */
  toJSON(): object {
    return structuredClone(this.source);
  }

  tokenToId(token: string): number | undefined {
    return this.tokenToIdTable.get(token);
  }

  idToToken(id: number): string | undefined {
    return this.idToTokenTable[id];
  }

  encode(text: string, { addSpecialTokens = true }: EncodeOptions = {}): number[] {
    const ids: number[] = addSpecialTokens ? [...this.spec.specialPrefix] : [];
    const encodePiece = buildPreTokenizer(this.spec.preTokenizer, (piece) => this.model.encodePiece(piece, ids));
    const pushId = (id: number) => ids.push(id);
    this.rawMatcher.split(
      text,
      (segment) => this.normalizedMatcher.split(this.normalize(segment), encodePiece, pushId),
      pushId,
    );
    if (addSpecialTokens) ids.push(...this.spec.specialSuffix);
    return ids;
  }

  /**
   * The pieces the pre-tokenizer alone makes of `text`, in byte-level characters: what HF's
   * `tokenizer.pre_tokenizer.pre_tokenize_str(text)` returns (no normalization, no added-token splitting).
   */
  preTokenize(text: string): string[] {
    const pieces: string[] = [];
    buildPreTokenizer(this.spec.preTokenizer, (piece) => pieces.push(toByteLevelChars(piece)))(text);
    return pieces;
  }

  /** Text of the ids; ids outside the vocabulary are skipped and invalid UTF-8 becomes U+FFFD, as in HF. */
  decode(ids: ArrayLike<number>, { skipSpecialTokens = false }: DecodeOptions = {}): string {
    const parts: Uint8Array[] = [];
    let length = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (skipSpecialTokens && this.specialIds.has(id)) continue;
      const bytes = this.bytesOf(id);
      if (bytes === undefined) continue;
      parts.push(bytes);
      length += bytes.length;
    }
    const all = new Uint8Array(length);
    let at = 0;
    for (const part of parts) {
      all.set(part, at);
      at += part.length;
    }
    return this.textDecoder.decode(all);
  }

  private normalize(text: string): string {
    let out = text;
    for (const form of this.spec.normalizers as NormalizationForm[]) out = out.normalize(form);
    return out;
  }

  /** The bytes a token stands for: its byte-level characters mapped back, or (HF's fallback) its own UTF-8. */
  private bytesOf(id: number): Uint8Array | undefined {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) return undefined;
    let bytes = this.tokenBytes[id];
    if (bytes === undefined) {
      const token = this.idToTokenTable[id];
      if (token === undefined) return undefined;
      const mapped = [...token].map((ch) => CHAR_TO_BYTE.get(ch));
      bytes = mapped.every((b) => b !== undefined) ? Uint8Array.from(mapped as number[]) : this.utf8.encode(token);
      this.tokenBytes[id] = bytes;
    }
    return bytes;
  }
}
