// diffCommit: a commit against its first parent as unified hunks (-U3), by default only the paper's non-test .py/.md/.rst.
import * as git from 'isomorphic-git';
import { rethrowAsGitError } from './errors.ts';
import type { GitFs } from './fsUtil.ts';
import { isEvoDiffPath, looksBinary } from './pathFilters.ts';
import { changedPaths, type ChangedPath } from './treeDiff.ts';
import { type DiffHunk, unifiedHunks } from './unifiedDiff.ts';

export type { DiffHunk } from './unifiedDiff.ts';

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
  cache,
}: {
  fs: GitFs;
  dir: string;
  commit: string;
  include?: (path: string) => boolean;
  context?: number;
  /** isomorphic-git's object cache: pass one object to every call on a repository (a packfile is read once, not per call). */
  cache?: object;
}): Promise<FileDiff[]> {
  try {
    const { commit: parsed } = await git.readCommit({ fs, dir, oid: commit, cache });
    const changes = (await changedPaths({ fs, dir, commit, parent: parsed.parent[0], cache })).filter((c) => include(c.path));
    const diffs: FileDiff[] = [];
    for (const change of changes) {
      const before = change.oldOid ? await readBlobBytes(fs, dir, change.oldOid, cache) : new Uint8Array();
      const after = change.newOid ? await readBlobBytes(fs, dir, change.newOid, cache) : new Uint8Array();
      if (looksBinary(before) || looksBinary(after)) {
        diffs.push({ path: change.path, status: change.status, binary: true, hunks: [], patch: `Binary files differ: ${change.path}\n` });
        continue;
      }
      const oldName = change.status === 'added' ? '/dev/null' : `a/${change.path}`;
      const newName = change.status === 'deleted' ? '/dev/null' : `b/${change.path}`;
      const hunks = unifiedHunks(decode(before), decode(after), context);
      diffs.push({ path: change.path, status: change.status, binary: false, hunks, patch: formatPatch(oldName, newName, hunks) });
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
