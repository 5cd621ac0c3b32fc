// listCommits: the recent history of a branch, newest first, optionally with the paths each commit changed.
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
 * @example const commits = await listCommits({ fs, dir: '/repos/demo', limit: 50, withFiles: true })
 */
export async function listCommits({
  fs,
  dir,
  ref = 'HEAD',
  limit = 200,
  withFiles = false,
}: {
  fs: GitFs;
  dir: string;
  ref?: string;
  limit?: number;
  withFiles?: boolean;
}): Promise<CommitInfo[]> {
  try {
    const entries = await git.log({ fs, dir, ref, depth: limit });
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
      if (withFiles) info.files = (await changedPaths({ fs, dir, commit: entry.oid, parent: commit.parent[0] })).map((c) => c.path);
      commits.push(info);
    }
    return commits;
  } catch (err) {
    rethrowAsGitError(err, 'git.listCommits');
  }
}
