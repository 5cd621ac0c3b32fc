// Compares the trees of two commits, skipping identical subtrees, to list the blobs that differ.
import * as git from 'isomorphic-git';
import type { GitFs } from './fsUtil.ts';

export interface ChangedPath {
  path: string;
  status: 'added' | 'modified' | 'deleted';
  oldOid?: string;
  newOid?: string;
}

/** Whether a parent's objects are present: shallow clones stop at a boundary whose parents were never fetched. */
async function hasCommit(fs: GitFs, dir: string, oid: string | undefined, cache?: object): Promise<boolean> {
  if (!oid) return false;
  try {
    await git.readCommit({ fs, dir, oid, cache });
    return true;
  } catch {
    return false;
  }
}

export async function changedPaths(
  { fs, dir, commit, parent, cache }: { fs: GitFs; dir: string; commit: string; parent?: string; cache?: object },
): Promise<ChangedPath[]> {
  const trees = (await hasCommit(fs, dir, parent, cache)) ? [git.TREE({ ref: parent! }), git.TREE({ ref: commit })] : [git.TREE({ ref: commit })];
  const results = await git.walk({
    fs,
    dir,
    cache,
    trees,
    map: async (path, entries) => {
      if (path === '.') return undefined;
      const [before, after] = trees.length === 2 ? entries : [null, entries[0]];
      const beforeType = before ? await before.type() : undefined;
      const afterType = after ? await after.type() : undefined;
      const beforeOid = before ? await before.oid() : undefined;
      const afterOid = after ? await after.oid() : undefined;
      if (beforeOid && beforeOid === afterOid) return null; // identical subtree or blob: do not descend
      if (beforeType === 'tree' || afterType === 'tree') return undefined; // descend, emit nothing for the tree itself
      if (beforeType === 'commit' || afterType === 'commit') return null; // submodules are not followed
      if (!beforeOid) return { path, status: 'added', newOid: afterOid } satisfies ChangedPath;
      if (!afterOid) return { path, status: 'deleted', oldOid: beforeOid } satisfies ChangedPath;
      return { path, status: 'modified', oldOid: beforeOid, newOid: afterOid } satisfies ChangedPath;
    },
  });
  return (results as (ChangedPath | undefined)[]).flat(Infinity as 1).filter(Boolean) as ChangedPath[];
}
