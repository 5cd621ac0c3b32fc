// Translates the Oniguruma regexes of HF tokenizer.json files into JavaScript RegExps ('u' flag) that match the same text.
//
// HF `tokenizers` compiles pre-tokenizer patterns with Oniguruma (Ruby syntax, UTF-8). JavaScript differs in ways that
// change token ids: \s \d \w \b are ASCII-only in JS but Unicode in Oniguruma (and JS \s adds U+FEFF, lacks U+0085),
// `.` `^` `$` treat only \n as a line break in Oniguruma, inline case-insensitive groups `(?i:...)` do not exist in
// Node 20, nor do possessive quantifiers or atomic groups. Everything else passes through unchanged; constructs we
// cannot reproduce exactly are rejected with a TokenizerLoadError('BAD_REGEX') rather than approximated silently.

import { TokenizerLoadError } from './errors.ts';

/** Oniguruma's Unicode \s (White_Space), as class contents: unlike JS \s it has U+0085 and lacks U+FEFF. */
const SPACE_SET = String.raw`\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000`;
/** Oniguruma's Unicode \w: Letter, Mark, Decimal_Number, Connector_Punctuation. */
const WORD_SET = String.raw`\p{L}\p{M}\p{Nd}\p{Pc}`;
const HEX_SET = '0-9a-fA-F';

/** Escapes that name a set of characters, as class contents, and whether they mean its complement (\S is not-\s). */
const SET_ESCAPES: Record<string, { set: string; complement: boolean }> = {
  s: { set: SPACE_SET, complement: false },
  S: { set: SPACE_SET, complement: true },
  d: { set: String.raw`\p{Nd}`, complement: false },
  D: { set: String.raw`\P{Nd}`, complement: false },
  w: { set: WORD_SET, complement: false },
  W: { set: WORD_SET, complement: true },
  h: { set: HEX_SET, complement: false },
  H: { set: HEX_SET, complement: true },
};

const ASSERTION_ESCAPES: Record<string, string> = {
  A: String.raw`(?<![\s\S])`,
  z: String.raw`(?![\s\S])`,
  Z: String.raw`(?=\n?(?![\s\S]))`,
  b: `(?:(?<=[${WORD_SET}])(?![${WORD_SET}])|(?<![${WORD_SET}])(?=[${WORD_SET}]))`,
  B: `(?:(?<=[${WORD_SET}])(?=[${WORD_SET}])|(?<![${WORD_SET}])(?![${WORD_SET}]))`,
};

const CONTROL_ESCAPES: Record<string, string> = { t: '\\t', n: '\\n', r: '\\r', f: '\\f', v: '\\v', a: '\\x07', e: '\\x1b' };

/** Characters that must stay escaped in a JS `u` pattern when Oniguruma escapes them. */
const JS_SYNTAX_CHARS = new Set('^$\\.*+?()[]{}|/');

interface OpenGroup {
  outStart: number;
  caseInsensitiveBefore: boolean;
  /** Capture group number used to emulate an atomic group `(?>...)` as `(?=(...))\n`; null for other groups. */
  atomicCapture: number | null;
}

interface Translated {
  text: string;
  next: number;
  isAtom: boolean;
}

class PatternTranslator {
  private out = '';
  private i = 0;
  private caseInsensitive = false;
  private captureCount = 0;
  private readonly groups: OpenGroup[] = [];
  /** Where the last quantifiable atom starts in `out` (-1: none), and whether it already carries a quantifier. */
  private atomStart = -1;
  private atomQuantified = false;

  constructor(private readonly pattern: string) {}

  translate(): string {
    const p = this.pattern;
    while (this.i < p.length) {
      const ch = String.fromCodePoint(p.codePointAt(this.i)!);
      if (ch === '\\') {
        const t = this.escape(this.i + 1, false);
        this.emit(t.text, t.isAtom);
        this.i = t.next;
      } else if (ch === '[') {
        const t = this.characterClass(this.i);
        this.emit(t.text, true);
        this.i = t.next;
      } else if (ch === '(') this.openGroup();
      else if (ch === ')') this.closeGroup();
      else if (ch === '*' || ch === '+' || ch === '?' || (ch === '{' && this.quantifierBraces() !== null)) this.quantifier();
      else if (ch === '|') {
        this.emit('|', false);
        this.i++;
      } else if (ch === '.') {
        this.emit('[^\\n]', true);
        this.i++;
      } else if (ch === '^') {
        this.emit('(?<![^\\n])', false);
        this.i++;
      } else if (ch === '$') {
        this.emit('(?![^\\n])', false);
        this.i++;
      } else {
        this.emit(this.literal(ch), true);
        this.i += ch.length;
      }
    }
    if (this.groups.length > 0) this.fail('unbalanced parentheses');
    return this.out;
  }

  private fail(why: string): never {
    throw new TokenizerLoadError('BAD_REGEX', `cannot use regex ${JSON.stringify(this.pattern)}: ${why}`);
  }

  private emit(text: string, isAtom: boolean): void {
    this.atomStart = isAtom ? this.out.length : -1;
    this.atomQuantified = false;
    this.out += text;
  }

  private literal(ch: string): string {
    if (this.caseInsensitive) {
      const variants = caseVariants(ch);
      if (variants.length > 1) return `[${variants.join('')}]`;
    }
    return JS_SYNTAX_CHARS.has(ch) ? `\\${ch}` : ch;
  }

  private openGroup(): void {
    const p = this.pattern;
    const rest = p.slice(this.i);
    const group: OpenGroup = { outStart: this.out.length, caseInsensitiveBefore: this.caseInsensitive, atomicCapture: null };
    let opener: string;
    let consumed: number;
    const named = /^\(\?(?:P?<[A-Za-z_]\w*>|'[A-Za-z_]\w*')/.exec(rest);
    if (rest.startsWith('(?#')) {
      const end = p.indexOf(')', this.i);
      if (end < 0) this.fail('unterminated comment group');
      this.i = end + 1;
      return;
    } else if (rest.startsWith('(?:')) [opener, consumed] = ['(?:', 3];
    else if (rest.startsWith('(?i:')) {
      [opener, consumed] = ['(?:', 4];
      this.caseInsensitive = true;
    } else if (rest.startsWith('(?-i:')) {
      [opener, consumed] = ['(?:', 5];
      this.caseInsensitive = false;
    } else if (rest.startsWith('(?=') || rest.startsWith('(?!')) [opener, consumed] = [rest.slice(0, 3), 3];
    else if (rest.startsWith('(?<=') || rest.startsWith('(?<!')) [opener, consumed] = [rest.slice(0, 4), 4];
    else if (rest.startsWith('(?>')) {
      group.atomicCapture = ++this.captureCount;
      [opener, consumed] = ['(?=(', 3];
    } else if (named) [opener, consumed] = ['(?:', named[0].length];
    else if (rest.startsWith('(?')) this.fail(`unsupported group syntax at ${JSON.stringify(rest.slice(0, 6))}`);
    else [opener, consumed] = ['(?:', 1]; // captures are irrelevant to splitting, and renumbering keeps \n emulation simple
    this.groups.push(group);
    this.out += opener;
    this.atomStart = -1;
    this.i += consumed;
  }

  private closeGroup(): void {
    const group = this.groups.pop();
    if (!group) this.fail('unbalanced parentheses');
    this.out += group.atomicCapture === null ? ')' : `))\\${group.atomicCapture}`;
    this.caseInsensitive = group.caseInsensitiveBefore;
    this.atomStart = group.outStart;
    this.atomQuantified = false;
    this.i++;
  }

  /** `{n}`, `{n,}`, `{,m}`, `{n,m}` at the cursor as a JS quantifier, or null when the brace is a literal. */
  private quantifierBraces(): { text: string; length: number } | null {
    const m = /^\{(\d*)(?:(,)(\d*))?\}/.exec(this.pattern.slice(this.i));
    if (!m || (m[1] === '' && (m[3] ?? '') === '')) return null;
    const text = m[2] ? `{${m[1] || '0'},${m[3]}}` : `{${m[1]}}`;
    return { text, length: m[0].length };
  }

  private quantifier(): void {
    const p = this.pattern;
    if (this.atomStart < 0) this.fail(`quantifier ${JSON.stringify(p[this.i])} has nothing to repeat`);
    let quant: string;
    const braces = p[this.i] === '{' ? this.quantifierBraces() : null;
    if (braces) {
      quant = braces.text;
      this.i += braces.length;
    } else {
      quant = p[this.i];
      this.i++;
    }
    // Oniguruma allows stacking (`a{2}+` repeats `a{2}`); JS needs the inner repetition wrapped.
    if (this.atomQuantified) this.out = `${this.out.slice(0, this.atomStart)}(?:${this.out.slice(this.atomStart)})`;
    if (p[this.i] === '?') {
      quant += '?';
      this.i++;
    } else if (p[this.i] === '+' && !braces) {
      // Possessive: match greedily, never give back. A lookahead capture plus backreference is atomic in JS.
      const n = ++this.captureCount;
      this.out = `${this.out.slice(0, this.atomStart)}(?=(${this.out.slice(this.atomStart)}${quant}))\\${n}`;
      this.i++;
      this.atomQuantified = true;
      return;
    }
    this.out += quant;
    this.atomQuantified = true;
  }

  /** Translates the escape whose backslash precedes index `at`. */
  private escape(at: number, inClass: boolean): Translated {
    const p = this.pattern;
    if (at >= p.length) this.fail('pattern ends with a backslash');
    const e = p[at];
    if (e === 'p' || e === 'P') return this.propertyEscape(at);
    if (e in SET_ESCAPES && !inClass) {
      const { set, complement } = SET_ESCAPES[e];
      return { text: `[${complement ? '^' : ''}${set}]`, next: at + 1, isAtom: true };
    }
    if (e === 'b' && inClass) return { text: '\\x08', next: at + 1, isAtom: true };
    if (e in ASSERTION_ESCAPES && !inClass) return { text: ASSERTION_ESCAPES[e], next: at + 1, isAtom: false };
    if (e in CONTROL_ESCAPES) return { text: CONTROL_ESCAPES[e], next: at + 1, isAtom: true };
    if (e === 'R' && !inClass) return { text: String.raw`(?:\r\n|[\n\v\f\r\x85\u2028\u2029])`, next: at + 1, isAtom: true };
    if (e === 'x') {
      const braced = /^\{([0-9a-fA-F]{1,8})\}/.exec(p.slice(at + 1));
      if (braced) {
        if (parseInt(braced[1], 16) > 0x10ffff) this.fail(`code point \\x{${braced[1]}} is out of range`);
        return { text: `\\u{${braced[1]}}`, next: at + 1 + braced[0].length, isAtom: true };
      }
      const short = /^[0-9a-fA-F]{2}/.exec(p.slice(at + 1));
      if (short && parseInt(short[0], 16) < 0x80) return { text: `\\x${short[0]}`, next: at + 3, isAtom: true };
      this.fail('\\x needs two hex digits below 80 or \\x{...}');
    }
    if (e === 'u') {
      const hex = /^[0-9a-fA-F]{4}/.exec(p.slice(at + 1));
      if (!hex) this.fail('\\u needs four hex digits');
      return { text: `\\u${hex[0]}`, next: at + 5, isAtom: true };
    }
    if (e === '0' && !/[0-7]/.test(p[at + 1] ?? '')) return { text: '\\0', next: at + 1, isAtom: true };
    if (/[0-9A-Za-z]/.test(e)) this.fail(`escape \\${e} is not supported`);
    const ch = String.fromCodePoint(p.codePointAt(at)!);
    const mustEscape = JS_SYNTAX_CHARS.has(ch) || (inClass && ch === '-');
    return { text: mustEscape ? `\\${ch}` : ch, next: at + ch.length, isAtom: true };
  }

  private propertyEscape(at: number): Translated {
    const m = /^\{(\^?)([A-Za-z_][A-Za-z0-9_ =-]*)\}/.exec(this.pattern.slice(at + 1));
    if (!m) this.fail(`malformed \\${this.pattern[at]}{...}`);
    const negated = (this.pattern[at] === 'P') !== (m[1] === '^');
    const name = resolvePropertyName(m[2]);
    if (name === null) this.fail(`unknown Unicode property ${JSON.stringify(m[2])}`);
    const text = `\\${negated ? 'P' : 'p'}{${name}}`;
    return { text, next: at + 1 + m[0].length, isAtom: true };
  }

  /**
   * A bracket class. JS `u` classes cannot contain a complement such as \S, so a class that has one becomes set
   * algebra over single characters: [P\S] = (?:[P]|[^S]) and [^P\S] = (?:(?![P])[S]), as in `[^\S\r\n]`.
   */
  private characterClass(start: number): Translated {
    const p = this.pattern;
    let i = start + 1;
    const negated = p[i] === '^';
    if (negated) i++;
    const parts: string[] = [];
    const complements: string[] = [];
    if (p[i] === ']') {
      parts.push('\\]');
      i++;
    }
    while (i < p.length && p[i] !== ']') {
      if (p[i] === '[') this.fail('nested character classes and POSIX brackets are not supported');
      if (p.startsWith('&&', i)) this.fail('character class intersection (&&) is not supported');
      if (p[i] === '\\') {
        const setEscape = SET_ESCAPES[p[i + 1]];
        if (setEscape) {
          (setEscape.complement ? complements : parts).push(setEscape.set);
          i += 2;
          continue;
        }
        const t = this.escape(i + 1, true);
        parts.push(t.text);
        i = t.next;
        continue;
      }
      const ch = String.fromCodePoint(p.codePointAt(i)!);
      const afterCh = i + ch.length;
      // A range whose end is an escape is emitted piecewise (`\x00-\x1f` stays a range in JS too).
      if (p[afterCh] === '-' && afterCh + 1 < p.length && !']\\['.includes(p[afterCh + 1])) {
        const end = String.fromCodePoint(p.codePointAt(afterCh + 1)!);
        if (end.codePointAt(0)! < ch.codePointAt(0)!) this.fail(`character class range ${ch}-${end} is out of order`);
        parts.push(this.classRange(ch, end));
        i = afterCh + 1 + end.length;
        continue;
      }
      parts.push(this.classLiteral(ch));
      i += ch.length;
    }
    if (i >= p.length) this.fail('unterminated character class');
    const positive = parts.join('');
    let text: string;
    if (complements.length === 0) text = `[${negated ? '^' : ''}${positive}]`;
    else if (!negated) text = `(?:${[...(positive ? [`[${positive}]`] : []), ...complements.map((c) => `[^${c}]`)].join('|')})`;
    else {
      // Not (P or not-S1 or not-S2...) = in S1 and S2... and not in P: lookaheads test all but the last set.
      const lookaheads = complements.slice(0, -1).map((c) => `(?=[${c}])`).join('');
      text = `(?:${positive ? `(?![${positive}])` : ''}${lookaheads}[${complements.at(-1)}])`;
    }
    return { text, next: i + 1, isAtom: true };
  }

  private classLiteral(ch: string): string {
    const chars = this.caseInsensitive ? caseVariants(ch) : [ch];
    return chars.map((c) => (c === '\\' || c === ']' || c === '[' ? `\\${c}` : c)).join('');
  }

  /** A literal range; under (?i:) ASCII letter ranges gain their other case (non-ASCII ranges are rejected). */
  private classRange(from: string, to: string): string {
    const range = `${from}-${to}`;
    if (!this.caseInsensitive) return range;
    const isLower = (c: string) => c >= 'a' && c <= 'z';
    const isUpper = (c: string) => c >= 'A' && c <= 'Z';
    if (isLower(from) && isLower(to)) return `${range}${from.toUpperCase()}-${to.toUpperCase()}`;
    if (isUpper(from) && isUpper(to)) return `${range}${from.toLowerCase()}-${to.toLowerCase()}`;
    if (to.codePointAt(0)! < 0x41 || from.codePointAt(0)! > 0x24f) return range; // no cased letters below 'A'
    this.fail(`case-insensitive range ${range} is not supported`);
  }
}

/** Characters outside ASCII that Unicode simple case folding equates with an ASCII letter (KELVIN SIGN, LONG S). */
const EXTRA_FOLDS: Record<string, string> = { k: '\u212a', s: '\u017f' };

/** The single-code-point case variants of a character (itself first), e.g. 's' -> ['s', 'S', 'ſ']. */
function caseVariants(ch: string): string[] {
  const variants = [ch];
  const lower = ch.toLowerCase();
  for (const v of [lower, ch.toUpperCase(), EXTRA_FOLDS[lower] ?? '']) {
    if ([...v].length === 1 && !variants.includes(v)) variants.push(v);
  }
  return variants;
}

/** The JS spelling of an Oniguruma property name (general category, binary property or script), or null. */
function resolvePropertyName(name: string): string | null {
  for (const candidate of [name, `Script=${name}`]) {
    try {
      new RegExp(`\\p{${candidate}}`, 'u');
      return candidate;
    } catch {
      // not a name JS knows under this spelling; try the next
    }
  }
  return null;
}

/** Translates an Oniguruma pattern to a JS RegExp source for the 'u' flag. */
export function translateOnigurumaPattern(pattern: string): string {
  return new PatternTranslator(pattern).translate();
}

/** Compiles an Oniguruma pattern into a global Unicode JS RegExp, or throws TokenizerLoadError('BAD_REGEX'). */
export function compileOnigurumaPattern(pattern: string): RegExp {
  const source = translateOnigurumaPattern(pattern);
  try {
    return new RegExp(source, 'gu');
  } catch (err) {
    throw new TokenizerLoadError('BAD_REGEX', `regex ${JSON.stringify(pattern)} does not compile: ${(err as Error).message}`);
  }
}
