// Reads and validates a Hugging Face tokenizer.json into the plain settings BpeTokenizer runs on.
//
// Supported (byte-level BPE as used by GPT-2, Llama-3, Qwen2, StarCoder, SmolLM2): model BPE without dropout,
// subword affixes or byte fallback; normalizer null/NFC/NFD/NFKC/NFKD/Sequence; pre-tokenizer Split, Digits and
// ByteLevel (last), alone or in a Sequence; post-processor null/ByteLevel/TemplateProcessing/RobertaProcessing/
// BertProcessing/Sequence; decoder ByteLevel. `truncation` and `padding` are ignored: callers handle context length.
// Anything else is a TokenizerLoadError with a code, never a silent approximation.

import { BYTE_TO_CHAR, GPT2_SPLIT_PATTERN } from './byteLevel.ts';
import { TokenizerLoadError, type TokenizerLoadErrorCode } from './errors.ts';
import { compileOnigurumaPattern } from './onigurumaRegex.ts';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../util/jsonDepth.ts';

/** Largest token id we accept: keeps id tables dense and merge keys exact in float64. */
export const MAX_TOKEN_ID = 1 << 22;
const MAX_MERGES = 1 << 22;

export interface AddedTokenSpec {
  id: number;
  content: string;
  special: boolean;
  lstrip: boolean;
  rstrip: boolean;
  singleWord: boolean;
  /** Matched on normalized text (true) or on the raw input (false). */
  normalized: boolean;
}

export type NormalizationForm = 'NFC' | 'NFD' | 'NFKC' | 'NFKD';

export type SplitBehavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';

export type PreTokenizerStep =
  | { kind: 'split'; regex: RegExp; behavior: SplitBehavior; invert: boolean }
  | { kind: 'byteLevel'; addPrefixSpace: boolean; regex: RegExp | null };

export interface TokenizerSpec {
  vocab: Map<string, number>;
  /** Merge pairs in rank order (rank = index). */
  merges: Array<[string, string]>;
  ignoreMerges: boolean;
  addedTokens: AddedTokenSpec[];
  normalizers: NormalizationForm[];
  preTokenizer: PreTokenizerStep[];
  /** Ids the post-processor puts around a single sequence when special tokens are requested. */
  specialPrefix: number[];
  specialSuffix: number[];
}

type Json = Record<string, unknown>;

function fail(code: TokenizerLoadErrorCode, message: string): never {
  throw new TokenizerLoadError(code, message);
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isTokenId(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < MAX_TOKEN_ID;
}

function optionalBoolean(obj: Json, key: string, fallback: boolean, code: TokenizerLoadErrorCode, where: string): boolean {
  const value = obj[key];
  if (value === undefined) return fallback; // null is not a boolean to HF's serde either
  if (typeof value !== 'boolean') fail(code, `${where}.${key} must be a boolean, got ${JSON.stringify(value)}`);
  return value;
}

/** Parses a tokenizer.json string or takes an already parsed object, and validates everything we use. */
export function readTokenizerSpec(json: unknown, { allowMissingByteTokens = false } = {}): { spec: TokenizerSpec; source: Json } {
  let source: unknown = json;
  if (typeof json === 'string') {
    try {
      source = JSON.parse(json);
    } catch (err) {
      fail('INVALID_JSON', `not valid JSON (${(err as Error).message})`);
    }
  }
  if (!isObject(source)) fail('INVALID_JSON', 'the top level must be a JSON object');
  if (nestsDeeperThan(source)) fail('INVALID_JSON', `nests deeper than ${MAX_JSON_DEPTH} levels`);
  const { vocab, merges, ignoreMerges } = readModel(source.model, allowMissingByteTokens);
  const addedTokens = readAddedTokens(source.added_tokens, vocab);
  const spec: TokenizerSpec = {
    vocab,
    merges,
    ignoreMerges,
    addedTokens,
    normalizers: readNormalizer(source.normalizer),
    preTokenizer: readPreTokenizer(source.pre_tokenizer),
    ...readPostProcessor(source.post_processor, vocab, addedTokens),
  };
  readDecoder(source.decoder);
  return { spec, source };
}

function readModel(model: unknown, allowMissingByteTokens: boolean): Pick<TokenizerSpec, 'vocab' | 'merges' | 'ignoreMerges'> {
  if (!isObject(model)) fail('UNSUPPORTED_MODEL', '"model" must be an object with type "BPE"');
  if (model.type !== undefined && model.type !== 'BPE') fail('UNSUPPORTED_MODEL', `model type ${JSON.stringify(model.type)} is not supported (only byte-level "BPE")`);
  if (model.dropout !== undefined && model.dropout !== null && model.dropout !== 0) fail('UNSUPPORTED_MODEL', 'BPE dropout makes encoding random; only dropout null is supported');
  for (const key of ['continuing_subword_prefix', 'end_of_word_suffix']) {
    if (model[key] !== undefined && model[key] !== null && model[key] !== '') fail('UNSUPPORTED_MODEL', `model.${key} is not supported by byte-level BPE`);
  }
  if (optionalBoolean(model, 'byte_fallback', false, 'UNSUPPORTED_MODEL', 'model')) fail('UNSUPPORTED_MODEL', 'model.byte_fallback is for SentencePiece-style BPE, not byte-level BPE');
  const ignoreMerges = optionalBoolean(model, 'ignore_merges', false, 'UNSUPPORTED_MODEL', 'model');

  if (!isObject(model.vocab)) fail('INVALID_VOCAB', 'model.vocab is missing or not an object of token -> id');
  const vocab = new Map<string, number>();
  const seenIds = new Map<number, string>();
  for (const [token, id] of Object.entries(model.vocab)) {
    if (!isTokenId(id)) fail('INVALID_VOCAB', `vocab id of ${JSON.stringify(token)} must be an integer in [0, ${MAX_TOKEN_ID}), got ${JSON.stringify(id)}`);
    const other = seenIds.get(id);
    if (other !== undefined) fail('INVALID_VOCAB', `tokens ${JSON.stringify(other)} and ${JSON.stringify(token)} share id ${id}`);
    if (token === '') fail('INVALID_VOCAB', `the empty string is not a token (id ${id})`);
    seenIds.set(id, token);
    vocab.set(token, id);
  }
  const missing = BYTE_TO_CHAR.findIndex((ch) => !vocab.has(ch));
  if (missing >= 0 && !allowMissingByteTokens) fail('INCOMPLETE_BYTE_ALPHABET', `the vocab lacks the byte-level token for byte ${missing} (${JSON.stringify(BYTE_TO_CHAR[missing])}); byte-level BPE needs all 256 so every input can be encoded`);

  if (!Array.isArray(model.merges)) fail('INVALID_MERGES', 'model.merges is missing or not an array');
  if (model.merges.length > MAX_MERGES) fail('INVALID_MERGES', `${model.merges.length} merges is more than the ${MAX_MERGES} supported`);
  const merges = model.merges.map((entry, rank): [string, string] => {
    let pair: unknown[];
    if (typeof entry === 'string') pair = entry.split(' ');
    else if (Array.isArray(entry)) pair = entry;
    else fail('INVALID_MERGES', `merge #${rank} must be "a b" or ["a", "b"], got ${JSON.stringify(entry)}`);
    if (pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') fail('INVALID_MERGES', `merge #${rank} must name exactly two tokens, got ${JSON.stringify(entry)}`);
    const [a, b] = pair as [string, string];
    for (const token of [a, b, a + b]) {
      if (!vocab.has(token)) fail('UNKNOWN_MERGE_TOKEN', `merge #${rank} ${JSON.stringify([a, b])} refers to ${JSON.stringify(token)}, which is not in the vocab`);
    }
    return [a, b];
  });
  return { vocab, merges, ignoreMerges };
}

function readAddedTokens(value: unknown, vocab: Map<string, number>): AddedTokenSpec[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fail('INVALID_ADDED_TOKENS', '"added_tokens" must be an array');
  const byContent = new Set<string>();
  const byId = new Set<number>();
  const idToVocabToken = new Map([...vocab].map(([t, id]) => [id, t]));
  return value.map((raw, i): AddedTokenSpec => {
    const where = `added_tokens[${i}]`;
    if (!isObject(raw)) fail('INVALID_ADDED_TOKENS', `${where} must be an object`);
    if (!isTokenId(raw.id)) fail('INVALID_ADDED_TOKENS', `${where}.id must be an integer in [0, ${MAX_TOKEN_ID}), got ${JSON.stringify(raw.id)}`);
    if (typeof raw.content !== 'string' || raw.content === '') fail('INVALID_ADDED_TOKENS', `${where}.content must be a non-empty string`);
    const vocabId = vocab.get(raw.content);
    const vocabToken = idToVocabToken.get(raw.id);
    if ((vocabId !== undefined && vocabId !== raw.id) || (vocabToken !== undefined && vocabToken !== raw.content)) {
      fail('INVALID_ADDED_TOKENS', `${where} (${JSON.stringify(raw.content)}, id ${raw.id}) disagrees with the vocab`);
    }
    if (byContent.has(raw.content) || byId.has(raw.id)) fail('INVALID_ADDED_TOKENS', `${where} repeats token ${JSON.stringify(raw.content)} or id ${raw.id}`);
    byContent.add(raw.content);
    byId.add(raw.id);
    const flag = (key: string, fallback: boolean) => optionalBoolean(raw, key, fallback, 'INVALID_ADDED_TOKENS', where);
    return {
      id: raw.id,
      content: raw.content,
      special: flag('special', false),
      lstrip: flag('lstrip', false),
      rstrip: flag('rstrip', false),
      singleWord: flag('single_word', false),
      normalized: flag('normalized', true),
    };
  });
}

function readNormalizer(value: unknown): NormalizationForm[] {
  if (value === undefined || value === null) return [];
  if (!isObject(value)) fail('UNSUPPORTED_NORMALIZER', 'normalizer must be null or an object');
  if (value.type === 'Sequence') {
    if (!Array.isArray(value.normalizers)) fail('UNSUPPORTED_NORMALIZER', 'Sequence normalizer needs a "normalizers" array');
    return value.normalizers.flatMap(readNormalizer);
  }
  if (value.type === 'NFC' || value.type === 'NFD' || value.type === 'NFKC' || value.type === 'NFKD') return [value.type];
  fail('UNSUPPORTED_NORMALIZER', `normalizer ${JSON.stringify(value.type)} is not supported (NFC, NFD, NFKC, NFKD, Sequence)`);
}

const SPLIT_BEHAVIORS: readonly SplitBehavior[] = ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'];

function readPreTokenizer(value: unknown): PreTokenizerStep[] {
  const steps = flattenPreTokenizer(value);
  const byteLevelAt = steps.findIndex((s) => s.kind === 'byteLevel');
  if (byteLevelAt !== steps.length - 1 || byteLevelAt < 0) {
    fail('UNSUPPORTED_PRE_TOKENIZER', 'byte-level BPE needs a ByteLevel pre-tokenizer, once, as the last step');
  }
  return steps;
}

function flattenPreTokenizer(value: unknown): PreTokenizerStep[] {
  if (!isObject(value)) fail('UNSUPPORTED_PRE_TOKENIZER', 'pre_tokenizer must be an object (ByteLevel, Split, Digits or a Sequence of them)');
  const where = `pre_tokenizer ${JSON.stringify(value.type)}`;
  switch (value.type) {
    case 'Sequence':
      if (!Array.isArray(value.pretokenizers)) fail('UNSUPPORTED_PRE_TOKENIZER', 'Sequence pre_tokenizer needs a "pretokenizers" array');
      return value.pretokenizers.flatMap(flattenPreTokenizer);
    case 'ByteLevel': {
      const useRegex = optionalBoolean(value, 'use_regex', true, 'UNSUPPORTED_PRE_TOKENIZER', where);
      return [{
        kind: 'byteLevel',
        addPrefixSpace: optionalBoolean(value, 'add_prefix_space', true, 'UNSUPPORTED_PRE_TOKENIZER', where),
        regex: useRegex ? compileOnigurumaPattern(GPT2_SPLIT_PATTERN) : null,
      }];
    }
    case 'Digits': {
      const individual = optionalBoolean(value, 'individual_digits', false, 'UNSUPPORTED_PRE_TOKENIZER', where);
      return [{ kind: 'split', regex: individual ? /\p{N}/gu : /\p{N}+/gu, behavior: 'Isolated', invert: false }];
    }
    case 'Split': {
      const pattern = value.pattern;
      let regex: RegExp;
      if (isObject(pattern) && typeof pattern.Regex === 'string') regex = compileOnigurumaPattern(pattern.Regex);
      else if (isObject(pattern) && typeof pattern.String === 'string') regex = new RegExp(pattern.String.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&'), 'gu');
      else fail('UNSUPPORTED_PRE_TOKENIZER', 'Split.pattern must be {"Regex": "..."} or {"String": "..."}');
      const behavior = value.behavior;
      if (!SPLIT_BEHAVIORS.includes(behavior as SplitBehavior)) fail('UNSUPPORTED_PRE_TOKENIZER', `Split.behavior ${JSON.stringify(behavior)} is not one of ${SPLIT_BEHAVIORS.join(', ')}`);
      return [{ kind: 'split', regex, behavior: behavior as SplitBehavior, invert: optionalBoolean(value, 'invert', false, 'UNSUPPORTED_PRE_TOKENIZER', where) }];
    }
    default:
      fail('UNSUPPORTED_PRE_TOKENIZER', `${where} is not supported (ByteLevel, Split, Digits, Sequence)`);
  }
}

function readPostProcessor(value: unknown, vocab: Map<string, number>, added: AddedTokenSpec[]): Pick<TokenizerSpec, 'specialPrefix' | 'specialSuffix'> {
  const none = { specialPrefix: [], specialSuffix: [] };
  if (value === undefined || value === null) return none;
  if (!isObject(value)) fail('UNSUPPORTED_POST_PROCESSOR', 'post_processor must be null or an object');
  const knownId = (id: unknown, where: string): number => {
    const known = isTokenId(id) && ([...vocab.values()].includes(id) || added.some((t) => t.id === id));
    if (!known) fail('UNSUPPORTED_POST_PROCESSOR', `${where} refers to unknown token id ${JSON.stringify(id)}`);
    return id as number;
  };
  switch (value.type) {
    case 'ByteLevel':
      return none;
    case 'Sequence': {
      if (!Array.isArray(value.processors)) fail('UNSUPPORTED_POST_PROCESSOR', 'Sequence post_processor needs a "processors" array');
      // Each processor wraps the output of the previous one.
      return value.processors.reduce<Pick<TokenizerSpec, 'specialPrefix' | 'specialSuffix'>>((acc, p) => {
        const next = readPostProcessor(p, vocab, added);
        return { specialPrefix: [...next.specialPrefix, ...acc.specialPrefix], specialSuffix: [...acc.specialSuffix, ...next.specialSuffix] };
      }, none);
    }
    case 'RobertaProcessing':
    case 'BertProcessing': {
      const pairId = (key: string) => {
        const pair = value[key];
        if (!Array.isArray(pair) || pair.length !== 2) fail('UNSUPPORTED_POST_PROCESSOR', `${value.type}.${key} must be [token, id]`);
        return knownId(pair[1], `${value.type}.${key}`);
      };
      return { specialPrefix: [pairId('cls')], specialSuffix: [pairId('sep')] };
    }
    case 'TemplateProcessing':
      return readTemplate(value, knownId);
    default:
      fail('UNSUPPORTED_POST_PROCESSOR', `post_processor ${JSON.stringify(value.type)} is not supported`);
  }
}

function readTemplate(value: Json, knownId: (id: unknown, where: string) => number): Pick<TokenizerSpec, 'specialPrefix' | 'specialSuffix'> {
  if (!Array.isArray(value.single)) fail('UNSUPPORTED_POST_PROCESSOR', 'TemplateProcessing.single must be an array');
  const specials = isObject(value.special_tokens) ? value.special_tokens : {};
  const prefix: number[] = [];
  const suffix: number[] = [];
  let seenSequence = false;
  for (const piece of value.single) {
    if (isObject(piece) && isObject(piece.Sequence)) {
      if (seenSequence) fail('UNSUPPORTED_POST_PROCESSOR', 'TemplateProcessing.single names the sequence twice');
      seenSequence = true;
    } else if (isObject(piece) && isObject(piece.SpecialToken)) {
      const name = piece.SpecialToken.id;
      const entry = typeof name === 'string' ? specials[name] : undefined;
      if (!isObject(entry) || !Array.isArray(entry.ids)) fail('UNSUPPORTED_POST_PROCESSOR', `TemplateProcessing special token ${JSON.stringify(name)} is not described in special_tokens`);
      const ids = entry.ids.map((id) => knownId(id, `TemplateProcessing special token ${JSON.stringify(name)}`));
      (seenSequence ? suffix : prefix).push(...ids);
    } else fail('UNSUPPORTED_POST_PROCESSOR', `TemplateProcessing.single has an unknown piece ${JSON.stringify(piece)}`);
  }
  if (!seenSequence) fail('UNSUPPORTED_POST_PROCESSOR', 'TemplateProcessing.single never places the sequence ("A")');
  return { specialPrefix: prefix, specialSuffix: suffix };
}

function readDecoder(value: unknown): void {
  if (isObject(value) && value.type === 'ByteLevel') return;
  fail('UNSUPPORTED_DECODER', `decoder must be ByteLevel for byte-level BPE, got ${JSON.stringify(isObject(value) ? value.type : value)}`);
}
