// diffCommit: a commit against its first parent as unified hunks (-U3), by default only the paper's non-test .py/.md/.rst.
import * as git from 'isomorphic-git';
import { structuredPatch } from 'diff';
import { rethrowAsGitError } from './errors.ts';
import type { GitFs } from './fsUtil.ts';
import { isEvoDiffPath, looksBinary } from './pathFilters.ts';
import { changedPaths, type ChangedPath } from './treeDiff.ts';

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

export interface FileDiff {
  path: string;
  status: ChangedPath['status'];
  binary: boolean;
  hunks: DiffHunk[];
  /** The file's diff as `git diff -U3` text (without the `diff --git` and index lines). */
  patch: string;
}

/**
 * @example const diffs = await diffCommit({ fs, dir, commit: sha }) // [{ path: 'pkg/core.py', status: 'modified', hunks, patch }]
 */
export async function diffCommit({
  fs,
  dir,
  commit,
  include = isEvoDiffPath,
  context = 3,
}: {
  fs: GitFs;
  dir: string;
  commit: string;
  include?: (path: string) => boolean;
  context?: number;
}): Promise<FileDiff[]> {
  try {
    const { commit: parsed } = await git.readCommit({ fs, dir, oid: commit });
    const changes = (await changedPaths({ fs, dir, commit, parent: parsed.parent[0] })).filter((c) => include(c.path));
    const diffs: FileDiff[] = [];
    for (const change of changes) {
      const before = change.oldOid ? await readBlobBytes(fs, dir, change.oldOid) : new Uint8Array();
      const after = change.newOid ? await readBlobBytes(fs, dir, change.newOid) : new Uint8Array();
      if (looksBinary(before) || looksBinary(after)) {
        diffs.push({ path: change.path, status: change.status, binary: true, hunks: [], patch: `Binary files differ: ${change.path}\n` });
        continue;
      }
      const oldName = change.status === 'added' ? '/dev/null' : `a/${change.path}`;
      const newName = change.status === 'deleted' ? '/dev/null' : `b/${change.path}`;
      const oldText = decode(before);
      const patch = structuredPatch(oldName, newName, oldText, decode(after), '', '', { context });
      const oldTextLines = oldText.split('\n');
      const hunks = patch.hunks.map(({ oldStart, oldLines, newStart, newLines, lines }) => ({
        // jsdiff counts an empty side from 1; git from 0.
        oldStart: oldLines === 0 ? oldStart - 1 : oldStart,
        oldLines,
        newStart: newLines === 0 ? newStart - 1 : newStart,
        newLines,
        funcname: funcnameAbove(oldTextLines, oldStart - 1),
        lines,
      }));
      diffs.push({ path: change.path, status: change.status, binary: false, hunks, patch: formatPatch(oldName, newName, hunks) });
    }
    return diffs;
  } catch (err) {
    rethrowAsGitError(err, 'git.diffCommit');
  }
}

async function readBlobBytes(fs: GitFs, dir: string, oid: string): Promise<Uint8Array> {
  return (await git.readBlob({ fs, dir, oid })).blob;
}

function decode(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

const FUNCNAME_MAX_BYTES = 80;

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

/** A range as git writes it: the count is left out when it is 1. */
function range(start: number, count: number): string {
  return count === 1 ? `${start}` : `${start},${count}`;
}

function formatPatch(oldName: string, newName: string, hunks: DiffHunk[]): string {
  const out = [`--- ${oldName}`, `+++ ${newName}`];
  for (const h of hunks) {
    const heading = `@@ -${range(h.oldStart, h.oldLines)} +${range(h.newStart, h.newLines)} @@`;
    out.push(h.funcname ? `${heading} ${h.funcname}` : heading, ...h.lines);
  }
  return out.join('\n') + '\n';
}
