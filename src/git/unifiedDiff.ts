// Line diffs as `git diff -U<n>` prints them: Myers changes (jsdiff), then git's sliding of changed blocks, hunks and headers.
import { diffArrays } from 'diff';

/** One hunk, numbered as git's `@@ -oldStart,oldLines +newStart,newLines @@` header (an empty side starts at 0). */
export interface DiffHunk {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  /** What git prints after the header: the nearest line above the hunk that starts a definition ('' if none). */
  funcname: string;
  /** Hunk body lines, each prefixed with ' ', '+' or '-' (or `\ No newline at end of file`). */
  lines: string[];
}

const NO_NEWLINE = '\\ No newline at end of file';
/**
 * Myers' search costs about the square of the lines changed (a file of 10,000 lines rewritten: 26 s; of 60,000: hours).
 * Past this many changed lines the diff is not searched for: everything between the common first and last lines is
 * one change (valid, not minimal), as git's own cost limit also gives up on minimality for large rewrites.
 */
export const MAX_EDIT_LENGTH = 2000;
const FUNCNAME_MAX_BYTES = 80;

/** A file's lines, each with its `\n` (the last may lack one): what git compares. */
function records(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

/**
 * Changed-line marks of one side, indexed from -1 to n (both ends always 0), as xdiff keeps them. Where a changed block
 * could sit in several places (an added blank line next to another blank line), the place decides which lines a
 * hunk shows as changed: git and jsdiff choose differently, so the marks are rearranged the way git does.
 */
class ChangeMarks {
  private readonly marks: Uint8Array;

  constructor(readonly lines: readonly string[]) {
    this.marks = new Uint8Array(lines.length + 2);
  }

  get(index: number): boolean {
    return this.marks[index + 1] === 1;
  }

  set(index: number, changed: boolean): void {
    this.marks[index + 1] = changed ? 1 : 0;
  }
}

/** A run of changed lines [start, end) in one side; an empty group (start === end) sits between two unchanged lines. */
interface Group {
  start: number;
  end: number;
}

function firstGroup(side: ChangeMarks): Group {
  let end = 0;
  while (side.get(end)) end++;
  return { start: 0, end };
}

function nextGroup(side: ChangeMarks, group: Group): boolean {
  if (group.end === side.lines.length) return false;
  group.start = group.end + 1;
  group.end = group.start;
  while (side.get(group.end)) group.end++;
  return true;
}

function previousGroup(side: ChangeMarks, group: Group): boolean {
  if (group.start === 0) return false;
  group.end = group.start - 1;
  group.start = group.end;
  while (side.get(group.start - 1)) group.start--;
  return true;
}

/** Moves the block one line down when the line after it equals its first line (merging with a block it reaches). */
function slideDown(side: ChangeMarks, group: Group): boolean {
  if (group.end >= side.lines.length || side.lines[group.start] !== side.lines[group.end]) return false;
  side.set(group.start++, false);
  side.set(group.end++, true);
  while (side.get(group.end)) group.end++;
  return true;
}

function slideUp(side: ChangeMarks, group: Group): boolean {
  if (group.start <= 0 || side.lines[group.start - 1] !== side.lines[group.end - 1]) return false;
  side.set(--group.start, true);
  side.set(--group.end, false);
  while (side.get(group.start - 1)) group.start--;
  return true;
}

/**
 * git's compaction of one side (xdiff's change_compact, without its indent heuristic): each block is slid as far up
 * and then as far down as its lines allow, merging with the blocks it meets; it then rests where it lines up with a
 * change on the other side, else at the bottom (where the indent heuristic would sometimes choose a higher place).
 * `other` is walked in step: its groups correspond one to one with this side's (empty ones included).
 */
function compact(side: ChangeMarks, other: ChangeMarks): void {
  const group = firstGroup(side);
  const otherGroup = firstGroup(other);
  for (;;) {
    if (group.end !== group.start) {
      let size: number;
      let earliestEnd: number;
      let endMatchingOther: number;
      do {
        size = group.end - group.start;
        endMatchingOther = -1;
        while (slideUp(side, group)) previousGroup(other, otherGroup);
        earliestEnd = group.end;
        if (otherGroup.end > otherGroup.start) endMatchingOther = group.end;
        while (slideDown(side, group)) {
          nextGroup(other, otherGroup);
          if (otherGroup.end > otherGroup.start) endMatchingOther = group.end;
        }
      } while (size !== group.end - group.start);
      if (group.end !== earliestEnd && endMatchingOther !== -1) {
        while (otherGroup.end === otherGroup.start) {
          slideUp(side, group);
          previousGroup(other, otherGroup);
        }
      }
    }
    if (!nextGroup(side, group)) break;
    nextGroup(other, otherGroup);
  }
}

/** The fallback past MAX_EDIT_LENGTH: every line after the common prefix and before the common suffix changed. */
function markBetweenCommonEnds(before: ChangeMarks, after: ChangeMarks): void {
  const shorter = Math.min(before.lines.length, after.lines.length);
  let prefix = 0;
  while (prefix < shorter && before.lines[prefix] === after.lines[prefix]) prefix++;
  let suffix = 0;
  while (suffix < shorter - prefix && before.lines[before.lines.length - 1 - suffix] === after.lines[after.lines.length - 1 - suffix]) suffix++;
  for (let i = prefix; i < before.lines.length - suffix; i++) before.set(i, true);
  for (let j = prefix; j < after.lines.length - suffix; j++) after.set(j, true);
}

interface Change {
  oldIndex: number;
  oldCount: number;
  newIndex: number;
  newCount: number;
}

function changesOf(before: ChangeMarks, after: ChangeMarks): Change[] {
  const changes: Change[] = [];
  let i = 0;
  let j = 0;
  while (i < before.lines.length || j < after.lines.length) {
    if (before.get(i) || after.get(j)) {
      const change = { oldIndex: i, oldCount: 0, newIndex: j, newCount: 0 };
      while (i < before.lines.length && before.get(i)) i++;
      while (j < after.lines.length && after.get(j)) j++;
      change.oldCount = i - change.oldIndex;
      change.newCount = j - change.newIndex;
      changes.push(change);
    } else {
      i++;
      j++;
    }
  }
  return changes;
}

/**
 * git's default hunk heading (xdiff's def_ff, no diff driver): searching up from the line above the hunk's first line,
 * the first old-file line that starts with an ASCII letter, `_` or `$`, cut to 80 bytes, trailing whitespace removed.
 */
function funcnameAbove(oldLines: readonly string[], firstLineIndex: number): string {
  for (let index = firstLineIndex - 1; index >= 0; index--) {
    const line = oldLines[index];
    if (!/^[A-Za-z_$]/.test(line)) continue;
    const bytes = new TextEncoder().encode(line).subarray(0, FUNCNAME_MAX_BYTES);
    return new TextDecoder().decode(bytes).replace(/[\s\v\f]+$/, '');
  }
  return '';
}

/**
 * The hunks `git diff -U<context>` prints for two versions of a text file (default algorithm, no rename or whitespace
 * options), with git's hunk boundaries, ranges and headings. Measured (`npm run bench:ingest`, test/git.test.ts): all
 * 835 diffs of 8 generated histories and 772 of 788 diffs of 4 real repositories are byte-identical to git's; the
 * others differ in alignment only where a change can be matched in several ways (around repeated blank lines and
 * similar lines): there git's indent heuristic or its own Myers variant (xdiff) picks another matching than jsdiff.
 *
 * @example unifiedHunks('a\nb\n', 'a\nc\n', 3) // [{ oldStart: 1, oldLines: 2, newStart: 1, newLines: 2, funcname: '', lines: [' a', '-b', '+c'] }]
 */
export function unifiedHunks(oldText: string, newText: string, context: number): DiffHunk[] {
  const before = new ChangeMarks(records(oldText));
  const after = new ChangeMarks(records(newText));
  const parts = diffArrays(before.lines as string[], after.lines as string[], { maxEditLength: MAX_EDIT_LENGTH });
  if (parts) {
    let i = 0;
    let j = 0;
    for (const part of parts) {
      const count = part.value.length;
      if (part.removed) for (let k = 0; k < count; k++) before.set(i++, true);
      else if (part.added) for (let k = 0; k < count; k++) after.set(j++, true);
      else {
        i += count;
        j += count;
      }
    }
  } else {
    markBetweenCommonEnds(before, after);
  }
  compact(before, after);
  compact(after, before);

  const changes = changesOf(before, after);
  const hunks: DiffHunk[] = [];
  const push = (lines: string[], prefix: string, record: string) => {
    lines.push(prefix + (record.endsWith('\n') ? record.slice(0, -1) : record));
    if (!record.endsWith('\n')) lines.push(NO_NEWLINE);
  };
  for (let first = 0; first < changes.length;) {
    // Changes closer than twice the context share a hunk.
    let last = first;
    while (last + 1 < changes.length && changes[last + 1].oldIndex - (changes[last].oldIndex + changes[last].oldCount) <= 2 * context) last++;
    const head = changes[first];
    const tail = changes[last];
    const leading = Math.min(context, head.oldIndex, head.newIndex);
    const trailing = Math.min(context, before.lines.length - (tail.oldIndex + tail.oldCount), after.lines.length - (tail.newIndex + tail.newCount));
    const oldFrom = head.oldIndex - leading;
    const newFrom = head.newIndex - leading;
    const oldTo = tail.oldIndex + tail.oldCount + trailing;
    const newTo = tail.newIndex + tail.newCount + trailing;
    const lines: string[] = [];
    let position = oldFrom;
    for (const change of changes.slice(first, last + 1)) {
      for (; position < change.oldIndex; position++) push(lines, ' ', before.lines[position]);
      for (let k = 0; k < change.oldCount; k++) push(lines, '-', before.lines[change.oldIndex + k]);
      for (let k = 0; k < change.newCount; k++) push(lines, '+', after.lines[change.newIndex + k]);
      position = change.oldIndex + change.oldCount;
    }
    for (; position < oldTo; position++) push(lines, ' ', before.lines[position]);
    const oldLines = oldTo - oldFrom;
    const newLines = newTo - newFrom;
    hunks.push({
      oldStart: oldLines === 0 ? oldFrom : oldFrom + 1,
      oldLines,
      newStart: newLines === 0 ? newFrom : newFrom + 1,
      newLines,
      funcname: funcnameAbove(before.lines, oldFrom),
      lines,
    });
    first = last + 1;
  }
  return hunks;
}
