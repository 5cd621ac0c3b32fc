// Code units of a Python file (module, classes, functions), its imports and module assignments, test detection,
// and chunking for the repo encoder along unit boundaries.
import type { Node } from 'web-tree-sitter';
import { findAssertionTargets } from './assertionTargets.ts';
import type { PythonParser } from './pythonParser.ts';

/** A region of the source. Lines are 1-based and inclusive; indices are UTF-16 offsets into the source string. */
export interface SourceSpan {
  startLine: number;
  endLine: number;
  startIndex: number;
  endIndex: number;
}

export interface CodeUnit {
  kind: 'module' | 'class' | 'function';
  /** `''` for the module. */
  name: string;
  /** Dotted path through enclosing classes and functions: `TestParser.test_empty`, `outer.inner`. */
  qualifiedName: string;
  /** Qualified name of the enclosing class or function; null at module level (and for the module itself). */
  parent: string | null;
  /** A function defined directly in a class body. */
  isMethod: boolean;
  isAsync: boolean;
  /** Header up to and including its colon, as written: `async def f(a, b=1) -> int:`, `class A(B):`. */
  signature: string;
  /** Where the signature is (from `def`/`async`/`class` to the colon; decorators excluded). */
  signatureSpan: SourceSpan;
  /** Text of the leading string statement, quotes and prefix removed (escapes kept as written); null if none. */
  docstring: string | null;
  /** Decorator expressions without the `@`, e.g. `pytest.mark.parametrize("x", [1, 2])`. */
  decorators: string[];
  /** The whole definition, decorators included. */
  span: SourceSpan;
  /** The indented body (the module: the whole file). */
  bodySpan: SourceSpan;
}

export interface ImportedName {
  name: string;
  alias: string | null;
}

/** `import a.b as c` gives { kind: 'import', module: 'a.b', alias: 'c', names: [] }; `from ..x import y as z`
 * gives { kind: 'from', module: '..x', alias: null, names: [{ name: 'y', alias: 'z' }] }. */
export interface ImportInfo {
  kind: 'import' | 'from';
  module: string;
  alias: string | null;
  names: ImportedName[];
  span: SourceSpan;
}

export interface ModuleAssignment {
  /** Names bound at module level (`a, b = ...` binds both; `x.y = 1` binds none). */
  names: string[];
  text: string;
  span: SourceSpan;
}

export interface FileUnits {
  /** The module first, then classes and functions in source order. */
  units: CodeUnit[];
  imports: ImportInfo[];
  assignments: ModuleAssignment[];
  /** Tree-sitter had to recover from syntax errors somewhere in the file. */
  hasSyntaxErrors: boolean;
}

export function spanOf(node: Node): SourceSpan {
  return {
    startLine: node.startPosition.row + 1,
    endLine: node.endPosition.row + 1,
    startIndex: node.startIndex,
    endIndex: node.endIndex,
  };
}

function text(source: string, node: Node): string {
  return source.slice(node.startIndex, node.endIndex);
}

function namedChildrenOf(node: Node): Node[] {
  return node.namedChildren.filter((child): child is Node => child !== null && child.type !== 'comment');
}

/** The docstring of a block or module: its first statement, when that is a lone string literal. */
function docstringOf(body: Node | null, source: string): string | null {
  if (!body) return null;
  const [first] = namedChildrenOf(body);
  if (first?.type !== 'expression_statement') return null;
  const [expression] = namedChildrenOf(first);
  if (expression?.type !== 'string' || namedChildrenOf(first).length !== 1) return null;
  const content = expression.namedChildren
    .filter((part): part is Node => part !== null && part.type === 'string_content')
    .map((part) => text(source, part));
  return content.join('');
}

function definitionOf(node: Node): Node | null {
  return node.type === 'decorated_definition' ? node.childForFieldName('definition') : node;
}

// Compound statements whose blocks may hold definitions (`if TYPE_CHECKING:`, `try: ... except ImportError:`), and
// ERROR nodes, inside which tree-sitter's recovery still builds the definitions it could parse.
const DEFINITION_CONTAINERS = new Set([
  'block', 'if_statement', 'elif_clause', 'else_clause', 'try_statement', 'except_clause', 'except_group_clause',
  'finally_clause', 'with_statement', 'for_statement', 'while_statement', 'match_statement', 'case_clause', 'ERROR',
]);

/** Walks definitions depth-first (classes and functions inside any block, including if/try/with bodies). */
function collectDefinitions(
  container: Node,
  source: string,
  parent: CodeUnit | null,
  units: CodeUnit[],
): void {
  for (const child of namedChildrenOf(container)) {
    const definition = definitionOf(child);
    if (definition && (definition.type === 'function_definition' || definition.type === 'class_definition')) {
      const unit = definitionUnit(child, definition, source, parent);
      units.push(unit);
      const body = definition.childForFieldName('body');
      if (body) collectDefinitions(body, source, unit, units);
    } else if (DEFINITION_CONTAINERS.has(child.type)) {
      collectDefinitions(child, source, parent, units);
    }
  }
}

function definitionUnit(outer: Node, definition: Node, source: string, parent: CodeUnit | null): CodeUnit {
  const name = text(source, definition.childForFieldName('name') ?? definition);
  const body = definition.childForFieldName('body');
  const kind = definition.type === 'class_definition' ? 'class' : 'function';
  const headerEnd = body ? headerColonEnd(definition, body) : definition.endIndex;
  const decorators = outer.type === 'decorated_definition'
    ? namedChildrenOf(outer).filter((child) => child.type === 'decorator')
      .map((decorator) => text(source, decorator).replace(/^@\s*/, ''))
    : [];
  return {
    kind,
    name,
    qualifiedName: parent && parent.kind !== 'module' ? `${parent.qualifiedName}.${name}` : name,
    parent: parent && parent.kind !== 'module' ? parent.qualifiedName : null,
    isMethod: kind === 'function' && parent?.kind === 'class',
    isAsync: kind === 'function' && definition.child(0)?.type === 'async',
    signature: source.slice(definition.startIndex, headerEnd),
    signatureSpan: {
      startLine: definition.startPosition.row + 1,
      endLine: lineAt(source, definition, headerEnd),
      startIndex: definition.startIndex,
      endIndex: headerEnd,
    },
    docstring: docstringOf(body, source),
    decorators,
    span: spanOf(outer),
    bodySpan: body ? spanOf(body) : spanOf(definition),
  };
}

/** 1-based line of `index`, counted from the start of `node`. */
function lineAt(source: string, node: Node, index: number): number {
  let line = node.startPosition.row + 1;
  for (let i = source.indexOf('\n', node.startIndex); i !== -1 && i < index; i = source.indexOf('\n', i + 1)) line++;
  return line;
}

/** End of the `:` that closes a def/class header (the body may begin on the same line). */
function headerColonEnd(definition: Node, body: Node): number {
  for (let i = definition.childCount - 1; i >= 0; i--) {
    const child = definition.child(i);
    if (child && child.type === ':' && child.endIndex <= body.startIndex) return child.endIndex;
  }
  return body.startIndex;
}

function importedName(node: Node, source: string): ImportedName {
  if (node.type === 'aliased_import') {
    const alias = node.childForFieldName('alias');
    return { name: text(source, node.childForFieldName('name') ?? node), alias: alias ? text(source, alias) : null };
  }
  return { name: text(source, node), alias: null };
}

function importsOf(statement: Node, source: string): ImportInfo[] {
  const span = spanOf(statement);
  if (statement.type === 'import_statement') {
    return statement.childrenForFieldName('name')
      .filter((child): child is Node => child !== null)
      .map((child) => {
        const { name, alias } = importedName(child, source);
        return { kind: 'import', module: name, alias, names: [], span };
      });
  }
  const moduleNode = statement.type === 'future_import_statement' ? null : statement.childForFieldName('module_name');
  const module = moduleNode ? text(source, moduleNode) : '__future__';
  const names = statement.childrenForFieldName('name')
    .filter((child): child is Node => child !== null)
    .map((child) => importedName(child, source));
  if (namedChildrenOf(statement).some((child) => child.type === 'wildcard_import')) {
    names.push({ name: '*', alias: null });
  }
  return [{ kind: 'from', module, alias: null, names, span }];
}

function boundNames(left: Node, source: string): string[] {
  if (left.type === 'identifier') return [text(source, left)];
  if (['pattern_list', 'tuple_pattern', 'list_pattern', 'expression_list', 'tuple', 'list'].includes(left.type)) {
    return namedChildrenOf(left).flatMap((child) => boundNames(child, source));
  }
  if (left.type === 'list_splat_pattern' || left.type === 'list_splat') {
    return namedChildrenOf(left).flatMap((child) => boundNames(child, source));
  }
  return [];
}

/** The assignment inside a module-level expression statement, if that is what it is. */
export function assignmentOf(statement: Node): Node | null {
  if (statement.type !== 'expression_statement') return null;
  const [expression] = namedChildrenOf(statement);
  return expression && (expression.type === 'assignment' || expression.type === 'augmented_assignment')
    ? expression : null;
}

/** Import statement types of the Python grammar. */
export const IMPORT_STATEMENT_TYPES = new Set(['import_statement', 'import_from_statement', 'future_import_statement']);

/** Extracts units, imports and module assignments from a parsed tree. */
export function codeUnitsOfTree(root: Node, source: string): FileUnits {
  const moduleUnit: CodeUnit = {
    kind: 'module',
    name: '',
    qualifiedName: '',
    parent: null,
    isMethod: false,
    isAsync: false,
    signature: '',
    signatureSpan: { startLine: 1, endLine: 1, startIndex: 0, endIndex: 0 },
    docstring: docstringOf(root, source),
    decorators: [],
    span: { startLine: 1, endLine: root.endPosition.row + 1, startIndex: 0, endIndex: source.length },
    bodySpan: { startLine: 1, endLine: root.endPosition.row + 1, startIndex: 0, endIndex: source.length },
  };
  const units: CodeUnit[] = [moduleUnit];
  collectDefinitions(root, source, moduleUnit, units);

  const imports: ImportInfo[] = [];
  const assignments: ModuleAssignment[] = [];
  for (const statement of namedChildrenOf(root)) {
    if (IMPORT_STATEMENT_TYPES.has(statement.type)) {
      imports.push(...importsOf(statement, source));
      continue;
    }
    const assignment = assignmentOf(statement);
    if (assignment) {
      const left = assignment.childForFieldName('left');
      assignments.push({
        names: left ? boundNames(left, source) : [],
        text: text(source, statement),
        span: spanOf(statement),
      });
    }
  }
  return { units, imports, assignments, hasSyntaxErrors: root.hasError };
}

/**
 * Parses `source` and extracts its code units. Files with syntax errors still yield every unit that parses.
 *
 * @example
 *   const { units } = extractCodeUnits('class A:\n    def f(self):\n        pass\n', parser);
 *   units.map((u) => u.qualifiedName); // ['', 'A', 'A.f']
 */
export function extractCodeUnits(source: string, parser: PythonParser): FileUnits {
  const tree = parser.parse(source);
  try {
    return codeUnitsOfTree(tree.rootNode, source);
  } finally {
    tree.delete();
  }
}

/** A function that pytest or unittest would collect: named `test*`, at module level or directly in a class. */
export function isTestFunction(unit: CodeUnit, units?: readonly CodeUnit[]): boolean {
  if (unit.kind !== 'function' || !unit.name.startsWith('test')) return false;
  if (unit.parent === null) return true;
  if (!unit.isMethod) return false;
  if (!units) return true;
  const owner = units.find((candidate) => candidate.qualifiedName === unit.parent);
  return owner?.kind === 'class' && owner.parent === null;
}

export interface FileSummary {
  lines: number;
  functions: number;
  classes: number;
  testFunctions: number;
  /** Assertion targets by the mining rules (before any cap). */
  assertions: number;
  hasSyntaxErrors: boolean;
}

/**
 * Counts for the app's file list, with the code units they were counted from (the encoder chunks along them), from
 * one parse of the file.
 */
export function summarizeFile(source: string, parser: PythonParser): FileSummary & { units: CodeUnit[] } {
  const tree = parser.parse(source);
  try {
    const { units, hasSyntaxErrors } = codeUnitsOfTree(tree.rootNode, source);
    return {
      lines: tree.rootNode.endPosition.row + (source.endsWith('\n') || source.length === 0 ? 0 : 1),
      functions: units.filter((unit) => unit.kind === 'function').length,
      classes: units.filter((unit) => unit.kind === 'class').length,
      testFunctions: units.filter((unit) => isTestFunction(unit, units)).length,
      assertions: findAssertionTargets(tree.rootNode, source).length,
      hasSyntaxErrors,
      units,
    };
  } finally {
    tree.delete();
  }
}

export interface EncoderChunk {
  text: string;
  startIndex: number;
  endIndex: number;
  startLine: number;
  endLine: number;
}

export interface ChunkOptions {
  /** Largest chunk in characters (used when `maxTokens` is not given). Default 16384. */
  maxChars?: number;
  /** Largest chunk in tokens, measured with `countTokens` on each piece (sums of pieces; BPE merges across a
   * boundary are not seen, so a chunk can differ from a fresh count by a token or two per boundary). */
  maxTokens?: number;
  countTokens?: (text: string) => number;
  /** How much of the previous chunk's end (same unit as the limit) the next chunk repeats, in whole pieces. */
  overlap?: number;
}

export class ChunkOptionsError extends Error {
  readonly code = 'INVALID_CHUNK_OPTIONS';
  constructor(message: string) {
    super(message);
    this.name = 'ChunkOptionsError';
  }
}

interface Piece { start: number; end: number; size: number }

/**
 * Splits a file into chunks for the encoder along unit boundaries: a top-level class or function is never split
 * unless it alone exceeds the limit; then its members (for a class), then its lines, then its characters are used.
 * Consecutive chunks repeat up to `overlap` of the previous chunk's trailing pieces.
 */
export function chunkForEncoder(source: string, units: readonly CodeUnit[], options: ChunkOptions = {}): EncoderChunk[] {
  const { maxTokens, countTokens } = options;
  if (maxTokens !== undefined && !countTokens) throw new ChunkOptionsError('maxTokens needs a countTokens function');
  const limit = maxTokens ?? options.maxChars ?? 16384;
  const overlap = options.overlap ?? 0;
  if (!(limit > 0) || !(overlap >= 0) || overlap >= limit) {
    throw new ChunkOptionsError(`need limit > overlap >= 0 (limit ${limit}, overlap ${overlap})`);
  }
  if (source.length === 0) return [];
  const measure = maxTokens !== undefined && countTokens ? countTokens : (piece: string) => piece.length;
  const lineStarts = lineStartsOf(source);
  const lineStartIndex = (index: number) => lineStarts[lineOfIndex(lineStarts, index)];
  const lineEndIndex = (index: number) => {
    const next = lineOfIndex(lineStarts, Math.max(index - 1, 0)) + 1;
    return next < lineStarts.length ? lineStarts[next] : source.length;
  };

  const definitions = units.filter((unit) => unit.kind !== 'module');
  const childrenOf = (parent: string | null) => definitions.filter((unit) => unit.parent === parent);

  const pieces: Piece[] = [];
  const addLines = (start: number, end: number) => {
    for (let line = lineOfIndex(lineStarts, start); line < lineStarts.length && lineStarts[line] < end; line++) {
      const lineEnd = Math.min(line + 1 < lineStarts.length ? lineStarts[line + 1] : source.length, end);
      const from = Math.max(lineStarts[line], start);
      const size = measure(source.slice(from, lineEnd));
      if (size <= limit) pieces.push({ start: from, end: lineEnd, size });
      else addCharacters(from, lineEnd);
    }
  };
  const addCharacters = (start: number, end: number) => {
    // A single line over the limit: cut it into runs that fit. The run length is found by doubling, then binary
    // search: searching the whole rest of the line measured slices as long as the line for every run, quadratic in
    // its length (a 1 MiB base64 literal took minutes to chunk by tokens).
    let from = start;
    while (from < end) {
      let low = 1;
      let high = 2;
      while (from + high <= end && measure(source.slice(from, from + high)) <= limit) {
        low = high;
        high *= 2;
      }
      high = Math.min(high - 1, end - from);
      while (low < high) {
        const middle = Math.ceil((low + high) / 2);
        if (measure(source.slice(from, from + middle)) <= limit) low = middle;
        else high = middle - 1;
      }
      pieces.push({ start: from, end: from + low, size: measure(source.slice(from, from + low)) });
      from += low;
    }
  };
  const addRegion = (start: number, end: number, members: readonly CodeUnit[]) => {
    let cursor = start;
    for (const member of members) {
      const memberStart = lineStartIndex(member.span.startIndex);
      const memberEnd = Math.min(lineEndIndex(member.span.endIndex), end);
      if (memberStart < cursor || memberEnd <= memberStart) continue;
      addLines(cursor, memberStart);
      const size = measure(source.slice(memberStart, memberEnd));
      if (size <= limit) pieces.push({ start: memberStart, end: memberEnd, size });
      else addRegion(memberStart, memberEnd, member.kind === 'class' ? childrenOf(member.qualifiedName) : []);
      cursor = memberEnd;
    }
    addLines(cursor, end);
  };
  addRegion(0, source.length, childrenOf(null));

  const chunks: EncoderChunk[] = [];
  let first = 0;
  while (first < pieces.length) {
    let last = first;
    let size = pieces[first].size;
    while (last + 1 < pieces.length && size + pieces[last + 1].size <= limit) size += pieces[++last].size;
    const start = pieces[first].start;
    const end = pieces[last].end;
    chunks.push({
      text: source.slice(start, end),
      startIndex: start,
      endIndex: end,
      startLine: lineOfIndex(lineStarts, start) + 1,
      endLine: lineOfIndex(lineStarts, Math.max(end - 1, start)) + 1,
    });
    if (last + 1 >= pieces.length) break;
    // Step back over whole trailing pieces that fit in the overlap, always moving forward by at least one piece.
    let next = last + 1;
    let repeated = 0;
    while (next - 1 > first && repeated + pieces[next - 1].size <= overlap) repeated += pieces[--next].size;
    first = next;
  }
  return chunks;
}

function lineStartsOf(source: string): number[] {
  const starts = [0];
  for (let index = source.indexOf('\n'); index !== -1; index = source.indexOf('\n', index + 1)) {
    if (index + 1 < source.length) starts.push(index + 1);
  }
  return starts;
}

/** 0-based line containing `index` (binary search over line starts). */
function lineOfIndex(lineStarts: readonly number[], index: number): number {
  let low = 0;
  let high = lineStarts.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (lineStarts[middle] <= index) low = middle;
    else high = middle - 1;
  }
  return low;
}
