// The files of a commit's tree, and one of them read as text: what an editor opens.
import * as git from 'isomorphic-git';
import { GitError, rethrowAsGitError } from './errors.ts';
import type { GitFs } from './fsUtil.ts';
import { looksBinary } from './pathFilters.ts';
import { DEFAULT_MAX_FILE_BYTES } from './snapshot.ts';

/**
 * Every file path in `commit`'s tree, sorted.
 *
 * @example const paths = await listTreeFiles({ fs, dir, commit: head }) // ['README.md', 'pkg/__init__.py', ...]
 */
export async function listTreeFiles({ fs, dir, commit, cache }: { fs: GitFs; dir: string; commit: string; cache?: object }): Promise<string[]> {
  try {
    const paths = await git.listFiles({ fs, dir, ref: commit, cache });
    return paths.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  } catch (err) {
    rethrowAsGitError(err, 'git.listTreeFiles');
  }
}

/**
 * The text of `path` at `commit` (of a symbolic link: the path it points to, as git shows it). NOT_FOUND when the tree
 * has no such file, TOO_LARGE over `maxBytes`, NOT_TEXT for a binary or non-UTF-8 file or a submodule.
 *
 * @example const source = await readTextFile({ fs, dir, commit: head, path: 'pkg/core.py' })
 */
export async function readTextFile({ fs, dir, commit, path, maxBytes = DEFAULT_MAX_FILE_BYTES, cache }: {
  fs: GitFs; dir: string; commit: string; path: string; maxBytes?: number; cache?: object;
}): Promise<string> {
  let blob: Uint8Array;
  try {
    ({ blob } = await git.readBlob({ fs, dir, oid: commit, filepath: path, cache }));
  } catch (err) {
    if ((err as { code?: string }).code === 'NotFoundError') {
      // A submodule is listed in the tree, but its entry names a commit of another repository, which a clone never has.
      const submodule = await gitlinkAt({ fs, dir, commit, path, cache });
      const error = submodule
        ? new GitError('NOT_TEXT', `${path} is a submodule (commit ${submodule.slice(0, 8)} of another repository), not a file`, { commit, path, submodule })
        : new GitError('NOT_FOUND', `No file ${path} at ${commit.slice(0, 8)}`, { commit, path });
      error.caller = 'git.readTextFile';
      throw error;
    }
    rethrowAsGitError(err, 'git.readTextFile');
  }
  const fail = (code: 'TOO_LARGE' | 'NOT_TEXT', message: string): never => {
    const error = new GitError(code, message, { commit, path, bytes: blob.length });
    error.caller = 'git.readTextFile';
    throw error;
  };
  if (blob.length > maxBytes) fail('TOO_LARGE', `${path} is ${blob.length} bytes, over the ${maxBytes}-byte limit`);
  if (looksBinary(blob)) fail('NOT_TEXT', `${path} is a binary file`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(blob);
  } catch {
    return fail('NOT_TEXT', `${path} is not UTF-8 text`);
  }
}

/** The commit a submodule entry at `path` points to, or null when `path` is not a submodule of `commit`'s tree. */
async function gitlinkAt({ fs, dir, commit, path, cache }: { fs: GitFs; dir: string; commit: string; path: string; cache?: object }): Promise<string | null> {
  const slash = path.lastIndexOf('/');
  try {
    const { tree } = await git.readTree({ fs, dir, oid: commit, filepath: slash < 0 ? undefined : path.slice(0, slash), cache });
    const entry = tree.find((candidate) => candidate.path === path.slice(slash + 1));
    return entry?.type === 'commit' ? entry.oid : null;
  } catch {
    return null;
  }
}
