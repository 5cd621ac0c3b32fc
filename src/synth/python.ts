// Python values as the generator computes them, and how to write them as Python literals.

export type PyValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'str'; value: string }
  | { kind: 'bool'; value: boolean }
  | { kind: 'none' }
  | { kind: 'list'; items: PyValue[] }
  | { kind: 'tuple'; items: PyValue[] }
  | { kind: 'dict'; entries: [string, PyValue][] };

export const py = {
  int: (value: number): PyValue => {
    if (!Number.isSafeInteger(value)) throw new Error(`not a safe integer: ${value}`);
    return { kind: 'int', value };
  },
  float: (value: number): PyValue => ({ kind: 'float', value }),
  str: (value: string): PyValue => ({ kind: 'str', value }),
  bool: (value: boolean): PyValue => ({ kind: 'bool', value }),
  none: { kind: 'none' } as PyValue,
  list: (items: PyValue[]): PyValue => ({ kind: 'list', items }),
  tuple: (items: PyValue[]): PyValue => ({ kind: 'tuple', items }),
  dict: (entries: [string, PyValue][]): PyValue => ({ kind: 'dict', entries }),
};

/** A double-quoted Python string literal; non-ASCII characters are written as themselves (files are UTF-8). */
export function pyString(text: string): string {
  let out = '"';
  for (const ch of text) {
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch < ' ') out += `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + '"';
}

/** What Python's repr() gives for a str (used to predict f"{x!r}" output). */
export function pyRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of text) {
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch < ' ') out += `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}

/**
 * A float literal that Python reads back as the same double. JavaScript's shortest round-trip digits match
 * Python's repr in the range the generator uses; outside it the exponent notation differs, so refuse.
 */
export function pyFloat(value: number): string {
  const magnitude = Math.abs(value);
  if (!Number.isFinite(value) || (magnitude !== 0 && (magnitude < 1e-4 || magnitude >= 1e15))) {
    throw new Error(`float out of the generator's range: ${value}`);
  }
  return Number.isInteger(value) ? `${value}.0` : String(value);
}

/** The value rounded to `digits` significant digits, as a float literal. */
export function pyFloatRounded(value: number, digits: number): string {
  return pyFloat(Number(value.toPrecision(digits)));
}

/** What Python's repr() prints for the value (doctest output, README examples). */
export function pyReprValue(value: PyValue): string {
  switch (value.kind) {
    case 'str':
      return pyRepr(value.value);
    case 'list':
      return `[${value.items.map(pyReprValue).join(', ')}]`;
    case 'tuple':
      return value.items.length === 1 ? `(${pyReprValue(value.items[0])},)` : `(${value.items.map(pyReprValue).join(', ')})`;
    case 'dict':
      return `{${value.entries.map(([key, item]) => `${pyRepr(key)}: ${pyReprValue(item)}`).join(', ')}}`;
    default:
      return pyLiteral(value);
  }
}

/** One-line Python literal. */
export function pyLiteral(value: PyValue): string {
  switch (value.kind) {
    case 'int':
      return String(value.value);
    case 'float':
      return pyFloat(value.value);
    case 'str':
      return pyString(value.value);
    case 'bool':
      return value.value ? 'True' : 'False';
    case 'none':
      return 'None';
    case 'list':
      return `[${value.items.map(pyLiteral).join(', ')}]`;
    case 'tuple':
      return value.items.length === 1 ? `(${pyLiteral(value.items[0])},)` : `(${value.items.map(pyLiteral).join(', ')})`;
    case 'dict':
      return `{${value.entries.map(([key, item]) => `${pyString(key)}: ${pyLiteral(item)}`).join(', ')}}`;
  }
}

/**
 * The literal spread over several lines (one element per line, trailing comma, closing bracket at `indent`),
 * as black would write a long collection. Scalars and short collections stay on one line.
 */
export function pyLiteralLines(value: PyValue, indent: string): string[] {
  const inner = indent + '    ';
  if (value.kind === 'list' && value.items.length > 0) {
    return ['[', ...value.items.map((item) => `${inner}${pyLiteral(item)},`), `${indent}]`];
  }
  if (value.kind === 'dict' && value.entries.length > 0) {
    return ['{', ...value.entries.map(([key, item]) => `${inner}${pyString(key)}: ${pyLiteral(item)},`), `${indent}}`];
  }
  return [pyLiteral(value)];
}

/** Python's `" ".join(text.split())`: how multi-line targets are flattened to one line. */
export function flattenWhitespace(text: string): string {
  return text.split(/\s+/).filter((part) => part.length > 0).join(' ');
}
