// Finds assertion-completion targets in a parsed Python file, by the paper's rules (DESIGN.md section 1).
import type { Node } from 'web-tree-sitter';

export type AssertionKind =
  | 'assert_compare'
  | 'assert_expr'
  | 'unittest_method'
  | 'pytest_raises'
  | 'pytest_approx'
  | 'assert_helper';

export const ASSERTION_KINDS: readonly AssertionKind[] = [
  'assert_compare', 'assert_expr', 'unittest_method', 'pytest_raises', 'pytest_approx', 'assert_helper',
];

/** One place where a model must complete an assertion: the prompt ends at `startIndex`, the answer is `target`. */
export interface AssertionTarget {
  kind: AssertionKind;
  /** The expected completion, flattened to one line when the source spans several. */
  target: string;
  /** UTF-16 offset in the source where the target starts (the prompt is everything before it). */
  startIndex: number;
  /** 1-based line and 0-based UTF-16 column of the target start. */
  line: number;
  column: number;
  /** The target spanned several lines in the source. */
  wasMultiline: boolean;
}

// The unittest methods the authors' extractor recognises (the same list, so that counts are comparable).
const UNITTEST_ASSERT_METHODS = new Set([
  'assertEqual', 'assertNotEqual', 'assertTrue', 'assertFalse',
  'assertIs', 'assertIsNot', 'assertIsNone', 'assertIsNotNone',
  'assertIn', 'assertNotIn', 'assertIsInstance', 'assertNotIsInstance',
  'assertRaises', 'assertRaisesRegex', 'assertAlmostEqual', 'assertNotAlmostEqual',
  'assertDictEqual', 'assertListEqual', 'assertTupleEqual', 'assertSetEqual',
  'assertSequenceEqual', 'assertRegex', 'assertNotRegex', 'assertCountEqual',
  'assertWarns', 'assertLogs', 'assertMultiLineEqual',
  'assertGreater', 'assertGreaterEqual', 'assertLess', 'assertLessEqual',
]);
const FIRST_ARGUMENT_METHODS = new Set(['assertTrue', 'assertFalse', 'assertIsNone', 'assertIsNotNone', 'assertRaises']);

// unittest.mock's own assertion methods check calls, not values: they are not completion targets.
const MOCK_ASSERT_METHOD = /^assert_(called|not_called|any_call|has_calls|awaited|not_awaited|any_await|has_awaits)/;

// The authors' quality filters: a target must carry content and stay short.
const MAX_TARGET_CHARS = 500;
const PAREN_ONLY = new Set([')', '))', ')))', ']', ']]', '}']);

/** Collapses a multi-line target to one line the way the authors do (`" ".join(text.split())`). */
export function flattenTarget(text: string): string {
  return text.includes('\n') ? text.split(/\s+/).filter(Boolean).join(' ') : text;
}

function namedArguments(node: Node): Node[] {
  return node.namedChildren.filter((child): child is Node => child !== null && child.type !== 'comment');
}

/** Positional arguments as Python's ast sees them (`*xs` counts, keywords and `**kw` do not). */
function positionalArguments(argumentList: Node): Node[] {
  return namedArguments(argumentList)
    .filter((child) => child.type !== 'keyword_argument' && child.type !== 'dictionary_splat');
}

function keywordArguments(argumentList: Node): Node[] {
  return namedArguments(argumentList).filter((child) => child.type === 'keyword_argument');
}

function unwrapParentheses(node: Node): Node {
  let current = node;
  while (current.type === 'parenthesized_expression') {
    const inner = namedArguments(current);
    if (inner.length !== 1) break;
    current = inner[0];
  }
  return current;
}

/**
 * The outermost ERROR nodes' [start, end) ranges, sorted. A node lies under an ERROR node exactly when its range is
 * inside one of them (or it is an ancestor of that ERROR with the same range, and then it has an error itself).
 * Ranges instead of walking `node.parent`: tree-sitter finds a parent by descending from the root, so walking the
 * ancestors of every call was cubic in the nesting depth (`f(f(f(...)))` 1,000 deep took 30 s, 5,000 deep hung).
 */
function errorRanges(root: Node): [number, number][] {
  const ranges = root.descendantsOfType('ERROR')
    .filter((node): node is Node => node !== null)
    .map((node): [number, number] => [node.startIndex, node.endIndex])
    .sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  const outermost: [number, number][] = [];
  for (const range of ranges) {
    const last = outermost[outermost.length - 1];
    if (!last || range[0] >= last[1]) outermost.push(range);
    else if (range[1] > last[1]) last[1] = range[1];
  }
  return outermost;
}

function insideErrorRecovery(node: Node, errors: readonly [number, number][]): boolean {
  if (node.hasError) return true;
  let low = 0;
  let high = errors.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const [start, end] = errors[middle];
    if (node.startIndex < start) high = middle - 1;
    else if (node.startIndex >= end) low = middle + 1;
    else return node.endIndex <= end;
  }
  return false;
}

interface TargetDraft { kind: AssertionKind; start: Node; text: string }

function assertStatementTarget(statement: Node, source: string): TargetDraft | null {
  const [test] = namedArguments(statement);
  if (!test) return null;
  const comparison = unwrapParentheses(test);
  if (comparison.type === 'comparison_operator') {
    const operands = namedArguments(comparison);
    if (operands.length < 2) return null;
    const comparator = operands[1];
    return { kind: 'assert_compare', start: comparator, text: slice(source, comparator) };
  }
  return { kind: 'assert_expr', start: test, text: slice(source, test) };
}

function callTarget(call: Node, source: string): TargetDraft | null {
  const callee = call.childForFieldName('function');
  const argumentList = call.childForFieldName('arguments');
  if (!callee || !argumentList || argumentList.type !== 'argument_list') return null;
  const positional = positionalArguments(argumentList);
  if (positional.length === 0) return null;

  let receiver: string | null = null;
  let name: string;
  if (callee.type === 'attribute') {
    const object = callee.childForFieldName('object');
    const attribute = callee.childForFieldName('attribute');
    if (!object || !attribute) return null;
    receiver = object.type === 'identifier' ? slice(source, object) : null;
    name = slice(source, attribute);
  } else if (callee.type === 'identifier') {
    name = slice(source, callee);
  } else {
    return null;
  }

  if (receiver === 'self' && UNITTEST_ASSERT_METHODS.has(name)) {
    const first = positional[0];
    if (name === 'assertRaisesRegex' && positional.length >= 2) {
      return { kind: 'unittest_method', start: first, text: `${slice(source, first)}, ${slice(source, positional[1])})` };
    }
    if (name === 'assertRaisesRegex' || FIRST_ARGUMENT_METHODS.has(name)) {
      return { kind: 'unittest_method', start: first, text: `${slice(source, first)})` };
    }
    if (positional.length < 2) return null;
    const last = positional[positional.length - 1];
    return { kind: 'unittest_method', start: last, text: `${slice(source, last)})` };
  }
  if (receiver === 'pytest' && (name === 'raises' || name === 'approx')) {
    const first = positional[0];
    const keywords = keywordArguments(argumentList).map((keyword) => {
      const key = keyword.childForFieldName('name');
      const value = keyword.childForFieldName('value');
      return key && value ? `, ${slice(source, key)}=${slice(source, value)}` : '';
    });
    return {
      kind: name === 'raises' ? 'pytest_raises' : 'pytest_approx',
      start: first,
      text: `${slice(source, first)}${keywords.join('')})`,
    };
  }
  if (name.startsWith('assert_') && name !== 'assert_' && !MOCK_ASSERT_METHOD.test(name)) {
    const last = positional[positional.length - 1];
    return { kind: 'assert_helper', start: last, text: `${slice(source, last)})` };
  }
  return null;
}

function slice(source: string, node: Node): string {
  return source.slice(node.startIndex, node.endIndex);
}

function acceptable(target: string): boolean {
  const trimmed = target.trim();
  return trimmed.length > 0 && trimmed.length <= MAX_TARGET_CHARS && !trimmed.startsWith(',') && !PAREN_ONLY.has(trimmed);
}

/**
 * Every assertion target in a parsed file, in source order. Statements that tree-sitter could only parse by error
 * recovery are skipped; the rest of the file is still searched.
 */
export function findAssertionTargets(root: Node, source: string): AssertionTarget[] {
  const targets: AssertionTarget[] = [];
  const errors = errorRanges(root);
  for (const node of root.descendantsOfType(['assert_statement', 'call'])) {
    if (!node || insideErrorRecovery(node, errors)) continue;
    const draft = node.type === 'assert_statement' ? assertStatementTarget(node, source) : callTarget(node, source);
    if (!draft) continue;
    const target = flattenTarget(draft.text);
    if (!acceptable(target)) continue;
    targets.push({
      kind: draft.kind,
      target,
      startIndex: draft.start.startIndex,
      line: draft.start.startPosition.row + 1,
      column: draft.start.startPosition.column,
      wasMultiline: draft.text.includes('\n'),
    });
  }
  return targets.sort((a, b) => a.startIndex - b.startIndex);
}
