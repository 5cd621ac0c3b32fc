// readSnapshot: the text files of a commit's tree, filtered and size-limited, read straight from the object store.
import * as git from 'isomorphic-git';
import { GitError, rethrowAsGitError } from './errors.ts';
import type { GitFs } from './fsUtil.ts';
import { isGeneratedPath, isPythonPath, isVendoredPath, looksBinary } from './pathFilters.ts';
import { throwIfCancelled } from './guardedHttp.ts';

export interface SnapshotFile {
  path: string;
  content: string;
}

export interface SnapshotSkips {
  binary: number;
  tooLarge: number;
  vendored: number;
  generated: number;
  notIncluded: number;
}

export interface Snapshot {
  commit: string;
  files: SnapshotFile[];
  skipped: SnapshotSkips;
}

export const DEFAULT_MAX_FILE_BYTES = 1024 * 1024;
export const DEFAULT_MAX_FILES = 20_000;

/**
 * Reads every included text file at `commit`. Vendored and generated paths, binaries and files over
 * `maxFileBytes` are skipped and counted; more than `maxFiles` included files is an error (TooManyFiles).
 *
 * @example const { files } = await readSnapshot({ fs, dir, commit: head }) // Python files by default
 */
export async function readSnapshot({
  fs,
  dir,
  commit,
  include = isPythonPath,
  maxFileBytes = DEFAULT_MAX_FILE_BYTES,
  maxFiles = DEFAULT_MAX_FILES,
  signal,
}: {
  fs: GitFs;
  dir: string;
  commit: string;
  include?: (path: string) => boolean;
  maxFileBytes?: number;
  maxFiles?: number;
  signal?: AbortSignal;
}): Promise<Snapshot> {
  const skipped: SnapshotSkips = { binary: 0, tooLarge: 0, vendored: 0, generated: 0, notIncluded: 0 };
  const files: SnapshotFile[] = [];
  const decoder = new TextDecoder('utf-8', { fatal: true });
  try {
    await git.walk({
      fs,
      dir,
      trees: [git.TREE({ ref: commit })],
      map: async (path, [entry]) => {
        throwIfCancelled(signal);
        if (path === '.' || !entry) return undefined;
        const type = await entry.type();
        if (type === 'tree') return isVendoredPath(`${path}/`) ? (skipped.vendored++, null) : undefined;
        if (type !== 'blob') return null;
        if (!include(path)) return (skipped.notIncluded++, null);
        if (isGeneratedPath(path)) return (skipped.generated++, null);
        const bytes = await entry.content();
        if (!bytes) return null;
        if (bytes.length > maxFileBytes) return (skipped.tooLarge++, null);
        if (looksBinary(bytes)) return (skipped.binary++, null);
        let content: string;
        try {
          content = decoder.decode(bytes);
        } catch {
          return (skipped.binary++, null);
        }
        if (files.length >= maxFiles) {
          throw new GitError('TooManyFiles', `The repository has more than ${maxFiles} matching files`, { maxFiles });
        }
        files.push({ path, content });
        return null;
      },
    });
  } catch (err) {
    rethrowAsGitError(err, 'git.readSnapshot');
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { commit, files, skipped };
}
