// Inline markers around assertion targets while test files are written, turned into planted-assertion records.
import { flattenWhitespace } from './python.ts';

/** The assertion kinds of the paper's target extractor (DESIGN.md section 1). */
export type AssertionKind = 'assert_compare' | 'assert_expr' | 'unittest_method' | 'pytest_raises' | 'pytest_approx' | 'assert_helper';

/** One assertion target present in a test file, as the miner should find it. */
export interface PlantedAssertion {
  /** Repository-relative path. */
  file: string;
  /** 1-based line on which the target text starts. */
  line: number;
  kind: AssertionKind;
  /** The target, flattened to one line (`" ".join(text.split())`). */
  target: string;
}

const START = '\u0001';
const END = '\u0002';
const KIND_CODES: Record<AssertionKind, string> = {
  assert_compare: 'c', assert_expr: 'e', unittest_method: 'u', pytest_raises: 'r', pytest_approx: 'a', assert_helper: 'h',
};
const KIND_BY_CODE = new Map(Object.entries(KIND_CODES).map(([kind, code]) => [code, kind as AssertionKind]));

/** Wrap target text so that its position survives until the file is complete. Markers may nest. */
export function markTarget(kind: AssertionKind, text: string): string {
  return START + KIND_CODES[kind] + text + END;
}

/** The text as it will read once markers are removed. */
export function stripMarkers(marked: string): string {
  return marked.replace(/\u0001.|\u0002/g, '');
}

/** Remove the markers from a finished file and report where each target ended up, in source order. */
export function extractPlantedAssertions(file: string, marked: string): { text: string; planted: PlantedAssertion[] } {
  let text = '';
  let line = 1;
  const open: { kind: AssertionKind; line: number; offset: number; order: number }[] = [];
  const found: { assertion: PlantedAssertion; order: number }[] = [];
  let order = 0;
  for (let i = 0; i < marked.length; i++) {
    const ch = marked[i];
    if (ch === START) {
      const kind = KIND_BY_CODE.get(marked[++i]);
      if (!kind) throw new Error(`bad target marker in ${file}`);
      open.push({ kind, line, offset: text.length, order: order++ });
    } else if (ch === END) {
      const start = open.pop();
      if (!start) throw new Error(`unbalanced target marker in ${file}`);
      found.push({ assertion: { file, line: start.line, kind: start.kind, target: flattenWhitespace(text.slice(start.offset)) }, order: start.order });
    } else {
      if (ch === '\n') line++;
      text += ch;
    }
  }
  if (open.length) throw new Error(`unclosed target marker in ${file}`);
  found.sort((a, b) => a.order - b.order);
  return { text, planted: found.map(({ assertion }) => assertion) };
}
