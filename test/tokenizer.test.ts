// Byte-level BPE tokenizer: round trips, byte coverage, added/special tokens, regex translation, malformed files, training.
// Parity with HF `tokenizers` itself is training/tests/test_tokenizer_parity.py; these tests need no Python.
import { beforeAll, describe, expect, it } from 'vitest';
import { BpeTokenizer, TokenizerLoadError } from '../src/tokenizer/bpeTokenizer.ts';
import { BYTE_TO_CHAR } from '../src/tokenizer/byteLevel.ts';
import { translateOnigurumaPattern } from '../src/tokenizer/onigurumaRegex.ts';
import { trainBpeTokenizer } from '../src/tokenizer/trainBpe.ts';
import { seededUniform } from '../src/util/random.ts';

const QWEN2_PATTERN = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;


/** Random well-formed strings (no lone surrogates) mixing ASCII, controls, Latin-1, marks, CJK, emoji and whitespace. */
function randomString(rand: () => number, maxLength: number): string {
  const ranges: Array<[number, number, number]> = [
    [0x20, 0x7e, 40], [0x00, 0x1f, 6], [0x80, 0xff, 6], [0x300, 0x36f, 3], [0x400, 0x4ff, 3],
    [0x2000, 0x206f, 4], [0x3000, 0x30ff, 3], [0x4e00, 0x4fff, 3], [0xe000, 0xffff, 2], [0x1f300, 0x1f6ff, 4], [0x10000, 0x10ffff, 2],
  ];
  const total = ranges.reduce((sum, r) => sum + r[2], 0);
  let out = '';
  const length = Math.floor(rand() * maxLength);
  for (let i = 0; i < length; i++) {
    let pick = rand() * total;
    const [lo, hi] = ranges.find((r) => (pick -= r[2]) < 0) ?? ranges[0];
    let cp = lo + Math.floor(rand() * (hi - lo + 1));
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x41;
    out += String.fromCodePoint(cp);
  }
  return out;
}

/** A small Python-like corpus, generated so the test needs no files. */
function pythonLikeCorpus(): string[] {
  const names = ['value', 'result', 'config', 'self', 'items', 'index', 'count', 'path', 'data', 'token'];
  const docs: string[] = [];
  for (let i = 0; i < 120; i++) {
    const a = names[i % names.length];
    const b = names[(i * 7 + 3) % names.length];
    docs.push(
      `def get_${a}_${i}(${b}, ${a}=None):\n    """Return the ${a} for ${b}."""\n    if ${a} is None:\n        ${a} = ${b}.${a}s[${i}]\n` +
        `    for ${b}_item in ${b}.items():\n        ${a} += len(${b}_item) * ${i % 10}\n    return ${a}  # done\r\n\n` +
        `class Test${a[0].toUpperCase()}${a.slice(1)}(unittest.TestCase):\n\tdef test_${b}(self):\n\t\tself.assertEqual(get_${a}_${i}(1), ${i})\n`,
    );
  }
  return docs;
}

/** The textbook BPE (merge the lowest-ranked pair, leftmost first, until none applies) as a reference. */
function referenceBpe(tokens: string[], ranks: Map<string, number>): string[] {
  const word = [...tokens];
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < word.length; i++) {
      const rank = ranks.get(`${word[i]}\u0000${word[i + 1]}`);
      if (rank !== undefined && rank < bestRank) [best, bestRank] = [i, rank];
    }
    if (best < 0) return word;
    word.splice(best, 2, word[best] + word[best + 1]);
  }
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let gpt2Style: BpeTokenizer;
let qwen2Style: BpeTokenizer;

beforeAll(() => {
  const texts = pythonLikeCorpus();
  gpt2Style = trainBpeTokenizer({ texts, vocabSize: 500, specialTokens: ['<|endoftext|>', '<|im_start|>'] });
  qwen2Style = trainBpeTokenizer({ texts, vocabSize: 500, specialTokens: ['<|endoftext|>'], pattern: QWEN2_PATTERN });
});

function withEdits(base: BpeTokenizer, edit: (json: Json) => void): BpeTokenizer {
  const json = base.toJSON() as Json;
  edit(json);
  return BpeTokenizer.fromJSON(json);
}

describe('round trips', () => {
  const fixed = [
    '',
    'def f(x):\r\n\treturn x\n',
    'nul \u0000 and controls \u0001\u001b\u007f',
    'emoji 👩‍💻 🇫🇷 😀, CJK 日本語, Greek Ελληνικά, RTL العربية',
    'spaces \u00a0\u3000\u2028\u0085\ufeff done',
    ' '.repeat(300) + '='.repeat(500) + '\n'.repeat(40),
    "it's IT'S 'll 'd",
  ];

  it('decode(encode(s)) === s for fixed strings, both pre-tokenizer styles', () => {
    for (const tok of [gpt2Style, qwen2Style]) {
      for (const s of fixed) expect(tok.decode(tok.encode(s))).toBe(s);
    }
  });

  it('decode(encode(s)) === s for 500 seeded random strings', () => {
    const rand = seededUniform(7);
    for (let i = 0; i < 500; i++) {
      const s = randomString(rand, 120);
      for (const tok of [gpt2Style, qwen2Style]) expect(tok.decode(tok.encode(s))).toBe(s);
    }
  });

  it('covers every byte: each of the 256 byte tokens exists and decodes to its byte', () => {
    const bytes = new Uint8Array(256).map((_, b) => b);
    const ids = BYTE_TO_CHAR.map((ch) => gpt2Style.tokenToId(ch)!);
    expect(ids.every((id) => Number.isInteger(id))).toBe(true);
    // The 256 tokens in byte order decode exactly as TextDecoder decodes the raw bytes (invalid UTF-8 -> U+FFFD).
    expect(gpt2Style.decode(ids)).toBe(new TextDecoder().decode(bytes));
    for (let cp = 0; cp < 0x800; cp++) {
      const s = String.fromCodePoint(cp);
      expect(gpt2Style.decode(gpt2Style.encode(s))).toBe(s);
    }
  });

  it('merges long pieces (heap path) exactly like the textbook algorithm', () => {
    const json = gpt2Style.toJSON() as Json;
    const ranks = new Map<string, number>((json.model.merges as [string, string][]).map(([a, b], rank) => [`${a}\u0000${b}`, rank]));
    for (const piece of [' '.repeat(257), '='.repeat(333), 'selfitemsvaluecount'.repeat(9)]) {
      const chars = [...new TextEncoder().encode(piece)].map((b) => BYTE_TO_CHAR[b]);
      const expected = referenceBpe(chars, ranks).map((t) => gpt2Style.tokenToId(t));
      const pieces = gpt2Style.preTokenize(piece);
      expect(pieces).toHaveLength(1);
      expect(gpt2Style.encode(piece)).toEqual(expected);
    }
  });
});

describe('pre-tokenization', () => {
  it('splits like the GPT-2 and Qwen2 regexes', () => {
    expect(gpt2Style.preTokenize("Hello world's 123  x")).toEqual(['Hello', 'Ġworld', "'s", 'Ġ123', 'Ġ', 'Ġx']);
    expect(withEdits(gpt2Style, (json) => (json.pre_tokenizer.add_prefix_space = true)).preTokenize('')).toEqual([]);
    expect(qwen2Style.preTokenize("IT'S 123\r\n\n  x")).toEqual(['IT', "'S", 'Ġ', '1', '2', '3', 'čĊĊ', 'Ġ', 'Ġx']);
  });
});

describe('special and added tokens', () => {
  it('exposes special tokens, eos and vocabulary lookups', () => {
    expect(gpt2Style.specialTokens).toEqual([{ content: '<|endoftext|>', id: 0 }, { content: '<|im_start|>', id: 1 }]);
    expect(gpt2Style.eosTokenId).toBe(0);
    expect(gpt2Style.vocabSize).toBe(500);
    expect(gpt2Style.idToToken(gpt2Style.tokenToId('Ġ')!)).toBe('Ġ');
    expect(gpt2Style.tokenToId('not a token')).toBeUndefined();
    expect(BpeTokenizer.fromJSON(gpt2Style.toJSON(), { eosToken: '<|im_start|>' }).eosTokenId).toBe(1);
  });

  it('matches special tokens before pre-tokenization and can skip them when decoding', () => {
    const ids = gpt2Style.encode('a<|endoftext|>b <|im_start|>');
    expect(ids.filter((id) => id <= 1)).toEqual([0, 1]);
    expect(gpt2Style.decode(ids)).toBe('a<|endoftext|>b <|im_start|>');
    expect(gpt2Style.decode(ids, { skipSpecialTokens: true })).toBe('ab ');
  });

  it('honours lstrip, rstrip and single_word', () => {
    const tok = withEdits(gpt2Style, (json) => {
      json.added_tokens.push(
        { id: 500, content: '<mask>', special: true, lstrip: true, rstrip: true, single_word: false, normalized: false },
        { id: 501, content: 'TODO', special: false, lstrip: false, rstrip: false, single_word: true, normalized: true },
      );
    });
    expect(tok.vocabSize).toBe(502);
    const mask = tok.encode('a  <mask>  b');
    expect(mask).toEqual([...tok.encode('a'), 500, ...tok.encode('b')]);
    expect(tok.encode('TODO: x')).toContain(501);
    expect(tok.encode('xTODO')).not.toContain(501);
    expect(tok.encode('TODO_')).not.toContain(501);
  });

  it('adds the post-processor template only when asked', () => {
    const tok = withEdits(gpt2Style, (json) => {
      json.post_processor = {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '<|im_start|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<|endoftext|>', type_id: 0 } }],
        pair: [],
        special_tokens: { '<|im_start|>': { id: '<|im_start|>', ids: [1], tokens: ['<|im_start|>'] }, '<|endoftext|>': { id: '<|endoftext|>', ids: [0], tokens: ['<|endoftext|>'] } },
      };
    });
    const plain = tok.encode('x = 1', { addSpecialTokens: false });
    expect(tok.encode('x = 1')).toEqual([1, ...plain, 0]);
  });

  it('skips ids outside the vocabulary when decoding, as HF does', () => {
    expect(gpt2Style.decode([gpt2Style.tokenToId('a')!, 99999, -1, 1.5, gpt2Style.tokenToId('b')!])).toBe('ab');
  });
});

describe('Oniguruma pattern translation', () => {
  it('rewrites inline case-insensitive groups, Unicode classes and possessive quantifiers', () => {
    expect(translateOnigurumaPattern("(?i:'s|'ll)")).toBe("(?:'[sSſ]|'[lL][lL])");
    expect(translateOnigurumaPattern('a*+b')).toBe('(?=(a*))\\1b');
    expect(translateOnigurumaPattern('(?>ab|a)c')).toBe('(?=(ab|a))\\1c');
    expect(translateOnigurumaPattern('\\d.$')).toBe('[\\p{Nd}][^\\n](?![^\\n])');
    expect(new RegExp(translateOnigurumaPattern('\\s+'), 'u').exec('a\u0085\u00a0b')?.[0]).toBe('\u0085\u00a0');
    expect(new RegExp(translateOnigurumaPattern('\\s'), 'u').test('\ufeff')).toBe(false);
    // A complement inside a class, as in `\s*[\r\n]+[^\S\r\n]*`: whitespace other than \r and \n.
    const indent = new RegExp(translateOnigurumaPattern('[^\\S\\r\\n]+'), 'gu');
    expect(' \t\u3000x\r\n  '.match(indent)).toEqual([' \t\u3000', '  ']);
    expect('ab 1é\u0085'.match(new RegExp(translateOnigurumaPattern('[\\Sa]'), 'gu'))).toEqual(['a', 'b', '1', 'é']);
  });

  it('rejects what it cannot reproduce with bad_regex', () => {
    for (const pattern of ['\\G', '[[:alpha:]]', '(?i)abc', '(a)\\1', '[a&&b]', '(unclosed', '*a', '\\k<x>']) {
      expect(() => translateOnigurumaPattern(pattern), pattern).toThrow(expect.objectContaining({ code: 'BAD_REGEX' }));
    }
  });
});

describe('malformed tokenizer.json', () => {
  /** Applies `change` to the parsed file and loads the result. */
  const edit = (change: (json: Json) => unknown) => (json: Json) => {
    change(json);
    return json;
  };
  const cases: Array<[string, TokenizerLoadError['code'], (json: Json) => unknown]> = [
    ['not JSON', 'INVALID_JSON', () => '{"model": '],
    ['a top-level array', 'INVALID_JSON', () => []],
    ['WordPiece model', 'UNSUPPORTED_MODEL', edit((j) => (j.model.type = 'WordPiece'))],
    ['BPE dropout', 'UNSUPPORTED_MODEL', edit((j) => (j.model.dropout = 0.1))],
    ['byte fallback', 'UNSUPPORTED_MODEL', edit((j) => (j.model.byte_fallback = true))],
    ['missing vocab', 'INVALID_VOCAB', edit((j) => delete j.model.vocab)],
    ['fractional id', 'INVALID_VOCAB', edit((j) => (j.model.vocab.Ġ = 1.5))],
    ['shared id', 'INVALID_VOCAB', edit((j) => (j.model.vocab.zzz = j.model.vocab.Ġ))],
    ['missing byte token', 'INCOMPLETE_BYTE_ALPHABET', edit((j) => delete j.model.vocab['Ā'])],
    ['merges not an array', 'INVALID_MERGES', edit((j) => (j.model.merges = 'a b'))],
    ['three-part merge', 'INVALID_MERGES', edit((j) => (j.model.merges[0] = 'a b c'))],
    ['merge of an unknown token', 'UNKNOWN_MERGE_TOKEN', edit((j) => (j.model.merges[0] = ['nope', 'a']))],
    ['merge whose result is not in the vocab', 'UNKNOWN_MERGE_TOKEN', edit((j) => j.model.merges.push(['Ā', 'ā']))],
    ['added token with the wrong id', 'INVALID_ADDED_TOKENS', edit((j) => (j.added_tokens[0].id = 5))],
    ['Lowercase normalizer', 'UNSUPPORTED_NORMALIZER', edit((j) => (j.normalizer = { type: 'Lowercase' }))],
    ['no pre-tokenizer', 'UNSUPPORTED_PRE_TOKENIZER', edit((j) => (j.pre_tokenizer = null))],
    ['Whitespace pre-tokenizer', 'UNSUPPORTED_PRE_TOKENIZER', edit((j) => (j.pre_tokenizer = { type: 'Whitespace' }))],
    ['ByteLevel before Split', 'UNSUPPORTED_PRE_TOKENIZER', edit((j) => (j.pre_tokenizer = { type: 'Sequence', pretokenizers: [j.pre_tokenizer, { type: 'Split', pattern: { Regex: 'a' }, behavior: 'Isolated' }] }))],
    ['bad Split behavior', 'UNSUPPORTED_PRE_TOKENIZER', edit((j) => (j.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: 'a' }, behavior: 'Sideways' }, j.pre_tokenizer] }))],
    ['bad regex', 'BAD_REGEX', edit((j) => (j.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: '(?<x' }, behavior: 'Isolated' }, j.pre_tokenizer] }))],
    ['unknown post-processor', 'UNSUPPORTED_POST_PROCESSOR', edit((j) => (j.post_processor = { type: 'Magic' }))],
    ['WordPiece decoder', 'UNSUPPORTED_DECODER', edit((j) => (j.decoder = { type: 'WordPiece' }))],
  ];

  it.each(cases)('%s -> %s', (_name, code, mutate) => {
    const input = mutate(gpt2Style.toJSON() as Json);
    let caught: unknown;
    try {
      BpeTokenizer.fromJSON(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TokenizerLoadError);
    expect((caught as TokenizerLoadError).code).toBe(code);
    expect((caught as TokenizerLoadError).message).toMatch(/^tokenizer\.json: /);
  });

  it('fuzz: 300 mutated files either load and round-trip or throw TokenizerLoadError', () => {
    const rand = seededUniform(2024);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)];
    // add_prefix_space is never touched and `true` is not in the pool: a prefix space is valid and, by design, does not
    // round-trip (deleting the key also turns it on, HF's default).
    const values = () => pick<unknown>([null, 0, -1, 1.5, 1e12, '', 'x', 'Ġ', 500, pick(['BPE', 'Split', 'ByteLevel', 'Isolated']), '(?i:[', [], {}, false, ['a', 'b'], { Regex: '\\s+' }]);
    const sample = "def f(x):\r\n\treturn x  # é 👩‍💻 <|endoftext|> it's\u0000";
    const base = JSON.stringify(gpt2Style.toJSON());
    const qwenBase = JSON.stringify(qwen2Style.toJSON());
    const outcomes = { loaded: 0, rejected: 0 };
    for (let i = 0; i < 300; i++) {
      let input: unknown;
      if (i % 10 === 0) {
        // Text-level damage: truncate, or insert a stray character.
        const text = pick([base, qwenBase]);
        const at = Math.floor(rand() * text.length);
        input = rand() < 0.5 ? text.slice(0, at) : text.slice(0, at) + pick(['"', '{', ']', ',', 'x']) + text.slice(at);
      } else {
        const json = JSON.parse(pick([base, qwenBase])) as Json;
        let parent: Json = json;
        const mutable = (obj: Json) => Object.keys(obj).filter((k) => k !== 'add_prefix_space');
        let key: string = pick(mutable(json));
        while (typeof parent[key] === 'object' && parent[key] !== null && rand() < 0.7) {
          const child = parent[key] as Json;
          const keys = mutable(child);
          if (keys.length === 0) break;
          parent = child;
          key = pick(keys);
        }
        if (rand() < 0.25) {
          if (Array.isArray(parent)) parent.splice(Number(key), 1);
          else delete parent[key];
        } else parent[key] = values();
        input = json;
      }
      let tok: BpeTokenizer;
      try {
        tok = BpeTokenizer.fromJSON(input);
      } catch (err) {
        if (!(err instanceof TokenizerLoadError)) throw new Error(`mutation ${i} threw ${String(err)}`);
        outcomes.rejected++;
        continue;
      }
      outcomes.loaded++;
      expect(tok.decode(tok.encode(sample)), `mutation ${i}`).toBe(sample);
    }
    expect(outcomes.loaded).toBeGreaterThan(20);
    expect(outcomes.rejected).toBeGreaterThan(20);
  });
});

describe('trainBpeTokenizer', () => {
  it('is deterministic, fills the vocabulary and writes HF layout that loads back identically', () => {
    const again = trainBpeTokenizer({ texts: pythonLikeCorpus(), vocabSize: 500, specialTokens: ['<|endoftext|>', '<|im_start|>'] });
    expect(again.toJSON()).toEqual(gpt2Style.toJSON());
    const json = gpt2Style.toJSON() as Json;
    expect(json.model.type).toBe('BPE');
    expect(Object.keys(json.model.vocab)).toHaveLength(500);
    expect(json.model.merges).toHaveLength(500 - 2 - 256);
    expect(json.added_tokens.map((t: Json) => [t.id, t.content, t.special])).toEqual([[0, '<|endoftext|>', true], [1, '<|im_start|>', true]]);
    const reloaded = BpeTokenizer.fromJSON(JSON.stringify(json));
    const text = pythonLikeCorpus()[3];
    expect(reloaded.encode(text)).toEqual(gpt2Style.encode(text));
    // Merges learned from the corpus compress it: well under one token per byte.
    expect(gpt2Style.encode(text).length).toBeLessThan(new TextEncoder().encode(text).length / 2.5);
  });

  it('rejects impossible sizes and duplicate specials', () => {
    expect(() => trainBpeTokenizer({ texts: ['a'], vocabSize: 100 })).toThrow(RangeError);
    expect(() => trainBpeTokenizer({ texts: ['a'], vocabSize: 300, specialTokens: ['<s>', '<s>'] })).toThrow(RangeError);
  });
});
