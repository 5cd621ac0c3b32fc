// diffCommit: a commit against its first parent as unified hunks (-U3), by default only the paper's non-test .py/.md/.rst.
import * as git from 'isomorphic-git';
import { rethrowAsGitError } from './errors.ts';
import type { GitFs } from './fsUtil.ts';
import { isEvoDiffPath, looksBinary } from './pathFilters.ts';
import { DEFAULT_MAX_FILE_BYTES } from './snapshot.ts';
import { formatBytes } from './guardedHttp.ts';
import { changedPaths, type ChangedPath } from './treeDiff.ts';
import { type DiffHunk, unifiedHunks } from './unifiedDiff.ts';

export type { DiffHunk } from './unifiedDiff.ts';

export interface FileDiff {
  path: string;
  status: ChangedPath['status'];
  binary: boolean;
  /** A side is over `maxFileBytes`: not diffed (no hunks), as readSnapshot does not read it either. */
  tooLarge: boolean;
  hunks: DiffHunk[];
  /** The file's diff as `git diff -U3` text (without the `diff --git` and index lines). */
  patch: string;
}

/**
 * Binary files and files over `maxFileBytes` (on either side) are listed without hunks; a change of more than
 * MAX_EDIT_LENGTH lines in one file is one hunk from its first to its last changed line (unifiedHunks).
 *
 * @example const diffs = await diffCommit({ fs, dir, commit: sha }) // [{ path: 'pkg/core.py', status: 'modified', hunks, patch }]
 */
export async function diffCommit({
  fs,
  dir,
  commit,
  include = isEvoDiffPath,
  context = 3,
  maxFileBytes = DEFAULT_MAX_FILE_BYTES,
  cache,
}: {
  fs: GitFs;
  dir: string;
  commit: string;
  include?: (path: string) => boolean;
  context?: number;
  maxFileBytes?: number;
  /** isomorphic-git's object cache: pass one object to every call on a repository (a packfile is read once, not per call). */
  cache?: object;
}): Promise<FileDiff[]> {
  // One object cache for every read of this call when the caller passes none: without it each readBlob loads the
  // packfile again (a root commit of 5,000 files took 47 s).
  cache ??= {};
  try {
    const { commit: parsed } = await git.readCommit({ fs, dir, oid: commit, cache });
    const changes = (await changedPaths({ fs, dir, commit, parent: parsed.parent[0], cache })).filter((c) => include(c.path));
    const diffs: FileDiff[] = [];
    for (const change of changes) {
      const before = change.oldOid ? await readBlobBytes(fs, dir, change.oldOid, cache) : new Uint8Array();
      const after = change.newOid ? await readBlobBytes(fs, dir, change.newOid, cache) : new Uint8Array();
      const bytes = Math.max(before.length, after.length);
      if (bytes > maxFileBytes) {
        const patch = `File too large to diff: ${change.path} (${formatBytes(bytes)}, over the ${formatBytes(maxFileBytes)} limit)\n`;
        diffs.push({ path: change.path, status: change.status, binary: false, tooLarge: true, hunks: [], patch });
        continue;
      }
      if (looksBinary(before) || looksBinary(after)) {
        diffs.push({ path: change.path, status: change.status, binary: true, tooLarge: false, hunks: [], patch: `Binary files differ: ${change.path}\n` });
        continue;
      }
      const oldName = change.status === 'added' ? '/dev/null' : `a/${change.path}`;
      const newName = change.status === 'deleted' ? '/dev/null' : `b/${change.path}`;
      const hunks = unifiedHunks(decode(before), decode(after), context);
      diffs.push({ path: change.path, status: change.status, binary: false, tooLarge: false, hunks, patch: formatPatch(oldName, newName, hunks) });
    }
    return diffs;
  } catch (err) {
    rethrowAsGitError(err, 'git.diffCommit');
  }
}

async function readBlobBytes(fs: GitFs, dir: string, oid: string, cache?: object): Promise<Uint8Array> {
  return (await git.readBlob({ fs, dir, oid, cache })).blob;
}

function decode(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
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
