// Pre-tokenization: splits normalized text into the pieces BPE encodes one at a time, as HF's Split/Digits/ByteLevel do.

import type { PreTokenizerStep, SplitBehavior } from './tokenizerConfig.ts';

export type PieceSink = (piece: string) => void;

/**
 * Chains the steps so that each piece a step produces flows through the remaining steps and, at the end, into `sink`.
 * Empty pieces are dropped, as HF drops them.
 */
export function buildPreTokenizer(steps: readonly PreTokenizerStep[], sink: PieceSink): PieceSink {
  let next = sink;
  for (let s = steps.length - 1; s >= 0; s--) {
    const step = steps[s];
    const downstream = next;
    if (step.kind === 'byteLevel') {
      const { addPrefixSpace, regex } = step;
      next = (text) => {
        if (text === '') return; // HF adds no prefix space to empty text: it has no splits at all
        const spaced = addPrefixSpace && !text.startsWith(' ') ? ` ${text}` : text;
        if (regex) splitIsolated(spaced, regex, downstream);
        else downstream(spaced);
      };
    } else if (step.behavior === 'Isolated' && !step.invert) {
      const { regex } = step;
      next = (text) => splitIsolated(text, regex, downstream);
    } else {
      const { regex, behavior, invert } = step;
      next = (text) => splitWithBehavior(text, regex, behavior, invert, downstream);
    }
  }
  return next;
}

/** The common case: every match and every gap between matches is its own piece. */
function splitIsolated(text: string, regex: RegExp, emit: PieceSink): void {
  let prev = 0;
  regex.lastIndex = 0;
  for (let m = regex.exec(text); m !== null; m = regex.exec(text)) {
    const start = m.index;
    const end = start + m[0].length;
    if (start > prev) emit(text.slice(prev, start));
    if (end > start) emit(m[0]);
    else if (start >= text.length) break;
    else regex.lastIndex = start + (text.codePointAt(start)! > 0xffff ? 2 : 1); // step over an empty match
    prev = end;
  }
  if (prev < text.length) emit(text.slice(prev));
}

interface Span {
  start: number;
  end: number;
  isMatch: boolean;
}

/** Matches and gaps in order, like HF's find_matches: empty matches are kept as split points, none at the very end. */
function findSpans(text: string, regex: RegExp): Span[] {
  const spans: Span[] = [];
  let prev = 0;
  regex.lastIndex = 0;
  for (let m = regex.exec(text); m !== null && m.index < text.length; m = regex.exec(text)) {
    const start = m.index;
    const end = start + m[0].length;
    if (start > prev) spans.push({ start: prev, end: start, isMatch: false });
    spans.push({ start, end, isMatch: true });
    if (end === start) regex.lastIndex = start + (text.codePointAt(start)! > 0xffff ? 2 : 1);
    prev = end;
  }
  if (prev < text.length) spans.push({ start: prev, end: text.length, isMatch: false });
  return spans;
}

/** HF's SplitDelimiterBehavior, applied to the spans of one piece of text. */
function splitWithBehavior(text: string, regex: RegExp, behavior: SplitBehavior, invert: boolean, emit: PieceSink): void {
  const spans = findSpans(text, regex);
  if (invert) for (const span of spans) span.isMatch = !span.isMatch;
  const pieces: Span[] = [];
  let previousMatch = false;
  if (behavior === 'MergedWithNext') {
    // A delimiter joins the piece after it: fold from the right, as HF does.
    for (let i = spans.length - 1; i >= 0; i--) {
      const span = spans[i];
      if (span.isMatch && !previousMatch && pieces.length > 0) pieces[pieces.length - 1].start = span.start;
      else pieces.push({ ...span });
      previousMatch = span.isMatch;
    }
    pieces.reverse();
  } else {
    for (const span of spans) {
      const last = pieces[pieces.length - 1];
      const joinsLast =
        last !== undefined &&
        ((behavior === 'Contiguous' && span.isMatch === previousMatch) || (behavior === 'MergedWithPrevious' && span.isMatch && !previousMatch));
      if (joinsLast) last.end = span.end;
      else pieces.push({ ...span });
      previousMatch = span.isMatch;
    }
  }
  for (const piece of pieces) {
    if (behavior === 'Removed' && piece.isMatch) continue;
    if (piece.end > piece.start) emit(text.slice(piece.start, piece.end));
  }
}
