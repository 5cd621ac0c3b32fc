// listCommits: the recent history of a branch, newest first (all parents or first parents only), optionally with the paths each commit changed.
import * as git from 'isomorphic-git';
import { rethrowAsGitError } from './errors.ts';
import type { GitFs } from './fsUtil.ts';
import { changedPaths } from './treeDiff.ts';

export interface CommitInfo {
  sha: string;
  parents: string[];
  author: { name: string; email: string };
  /** Author time, unix seconds. */
  timestamp: number;
  message: string;
  /** Paths changed against the first parent (only with `withFiles`; a root or shallow-boundary commit lists its whole tree). */
  files?: string[];
}

/**
 * `firstParent` follows only first parents (git log --first-parent: the mainline, merges as single steps) and stops
 * at a root or shallow boundary; otherwise every ancestor, newest first.
 *
 * @example const commits = await listCommits({ fs, dir: '/repos/demo', limit: 50, withFiles: true })
 */
export async function listCommits({
  fs,
  dir,
  ref = 'HEAD',
  limit = 200,
  withFiles = false,
  firstParent = false,
  cache,
}: {
  fs: GitFs;
  dir: string;
  ref?: string;
  limit?: number;
  withFiles?: boolean;
  firstParent?: boolean;
  /** isomorphic-git's object cache: pass one object to every call on a repository (a packfile is read once, not per call). */
  cache?: object;
}): Promise<CommitInfo[]> {
  // One object cache for the whole listing when the caller passes none: each commit's changedPaths would load the packfile again.
  cache ??= {};
  try {
    const entries = firstParent ? await firstParentLog({ fs, dir, ref, limit, cache }) : await git.log({ fs, dir, ref, depth: limit, cache });
    const commits: CommitInfo[] = [];
    for (const entry of entries) {
      const { commit } = entry;
      const info: CommitInfo = {
        sha: entry.oid,
        parents: commit.parent,
        author: { name: commit.author.name, email: commit.author.email },
        timestamp: commit.author.timestamp,
        message: commit.message.trim(),
      };
      if (withFiles) info.files = (await changedPaths({ fs, dir, commit: entry.oid, parent: commit.parent[0], cache })).map((c) => c.path);
      commits.push(info);
    }
    return commits;
  } catch (err) {
    rethrowAsGitError(err, 'git.listCommits');
  }
}

/** The first-parent chain from `ref`, newest first, as git.log's entries; ends at a root or a missing (shallow) parent. */
async function firstParentLog(
  { fs, dir, ref, limit, cache }: { fs: GitFs; dir: string; ref: string; limit: number; cache?: object },
): Promise<git.ReadCommitResult[]> {
  const entries: git.ReadCommitResult[] = [];
  let oid: string | undefined = await git.resolveRef({ fs, dir, ref }).catch(() => git.expandOid({ fs, dir, oid: ref, cache }));
  while (oid && entries.length < limit) {
    let entry: git.ReadCommitResult;
    try {
      entry = await git.readCommit({ fs, dir, oid, cache });
    } catch (err) {
      if (entries.length > 0 && (err as { code?: string }).code === 'NotFoundError') break; // shallow boundary
      throw err;
    }
    entries.push(entry);
    oid = entry.commit.parent[0];
  }
  return entries;
}
