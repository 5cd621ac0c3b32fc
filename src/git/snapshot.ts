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

/** Files left out, each counted once: those `include` rejects count as notIncluded, whatever else they are. */
export interface SnapshotSkips {
  binary: number;
  tooLarge: number;
  vendored: number;
  generated: number;
  notIncluded: number;
  /** Symbolic links: their content is the path they point to (never followed), not code. */
  symlinks: number;
  /** Submodules (gitlinks): commits of other repositories, not fetched. */
  submodules: number;
}

const SYMLINK_MODE = 0o120000;

export interface Snapshot {
  commit: string;
  files: SnapshotFile[];
  skipped: SnapshotSkips;
}

export const DEFAULT_MAX_FILE_BYTES = 1024 * 1024;
export const DEFAULT_MAX_FILES = 20_000;

/**
 * Reads every included text file at `commit`. Vendored and generated paths, binaries, non-UTF-8 files, files over
 * `maxFileBytes`, symbolic links and submodules are skipped and counted; more than `maxFiles` included files is an
 * error (TOO_MANY_FILES).
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
  cache,
}: {
  fs: GitFs;
  dir: string;
  commit: string;
  include?: (path: string) => boolean;
  maxFileBytes?: number;
  maxFiles?: number;
  signal?: AbortSignal;
  /** isomorphic-git's object cache: pass one object to every call on a repository (a packfile is read once, not per call). */
  cache?: object;
}): Promise<Snapshot> {
  const skipped: SnapshotSkips = { binary: 0, tooLarge: 0, vendored: 0, generated: 0, notIncluded: 0, symlinks: 0, submodules: 0 };
  const files: SnapshotFile[] = [];
  const decoder = new TextDecoder('utf-8', { fatal: true });
  try {
    await git.walk({
      fs,
      dir,
      cache,
      trees: [git.TREE({ ref: commit })],
      map: async (path, [entry]) => {
        throwIfCancelled(signal);
        if (path === '.' || !entry) return undefined;
        const type = await entry.type();
        if (type === 'tree') return undefined;
        if (type !== 'blob' && type !== 'commit') return null;
        if (!include(path)) return (skipped.notIncluded++, null);
        if (type === 'commit') return (skipped.submodules++, null);
        if ((await entry.mode()) === SYMLINK_MODE) return (skipped.symlinks++, null);
        if (isVendoredPath(path)) return (skipped.vendored++, null);
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
          throw new GitError('TOO_MANY_FILES', `The repository has more than ${maxFiles} matching files`, { maxFiles });
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

/**
 * The snapshot itself when it holds at least one file, NO_PYTHON otherwise: call it on a Python snapshot (the default
 * `include`) before parsing, so that a repository without Python is reported as such, not as an empty adapter.
 *
 * @example const { files } = requirePythonFiles(await readSnapshot({ fs, dir, commit }))
 */
export function requirePythonFiles(snapshot: Snapshot): Snapshot {
  if (snapshot.files.length > 0) return snapshot;
  const skippedTotal = Object.values(snapshot.skipped).reduce((sum, count) => sum + count, 0);
  const error = new GitError('NO_PYTHON', `No Python files to read at ${snapshot.commit.slice(0, 8)} (${skippedTotal} other files skipped)`, {
    commit: snapshot.commit, skipped: snapshot.skipped,
  });
  rethrowAsGitError(error, 'git.requirePythonFiles');
}
