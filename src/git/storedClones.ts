// The clones kept under one root directory (the app's /repos in LightningFS): list them with URL and size, delete one.
import { COMPLETE_MARKER, completeCloneUrl } from './clone.ts';
import { GitError, rethrowAsGitError } from './errors.ts';
import { flush, type GitFs, pathExists, removeDirectory } from './fsUtil.ts';

export interface StoredClone {
  /** The clone's directory, e.g. /repos/127.0.0.1_8080_demo.git: what `removeStoredClone` takes. */
  dir: string;
  /** The URL it was cloned from; null for a half-written clone (a crash mid-clone), which is only worth deleting. */
  url: string | null;
  /** Bytes of its files (packfiles and index), not counting IndexedDB's own overhead. */
  bytes: number;
}

/**
 * Every directory under `root` with its URL (from the marker a complete clone writes last) and size, sorted by
 * directory; an empty list when `root` does not exist yet.
 * @example const clones = await listStoredClones({ fs, root: '/repos' }) // [{ dir: '/repos/…', url: 'http://…', bytes: 51234 }]
 */
export async function listStoredClones({ fs, root }: { fs: GitFs; root: string }): Promise<StoredClone[]> {
  if (!(await pathExists(fs, root))) return [];
  const clones: StoredClone[] = [];
  for (const entry of (await fs.promises.readdir(root)).sort()) {
    const dir = `${root}/${entry}`;
    if (!(await fs.promises.lstat(dir)).isDirectory()) continue;
    clones.push({ dir, url: await completeCloneUrl(fs, dir), bytes: await directoryBytes(fs, dir) });
  }
  return clones;
}

/**
 * Deletes one clone under `root`. Errors: GitError UNSAFE_PATH when `dir` is not a direct child of `root` (the UI
 * passes back a listed directory; anything else is refused rather than deleted), NOT_CLONED when it is not there.
 * @example await removeStoredClone({ fs, root: '/repos', dir: clones[0].dir })
 */
export async function removeStoredClone({ fs, root, dir }: { fs: GitFs; root: string; dir: string }): Promise<void> {
  const name = dir.startsWith(`${root}/`) ? dir.slice(root.length + 1) : '';
  if (!name || name.includes('/') || name === '.' || name === '..') {
    rethrowAsGitError(new GitError('UNSAFE_PATH', `Not a stored clone: ${dir}`), 'git.removeStoredClone');
  }
  if (!(await pathExists(fs, dir))) rethrowAsGitError(new GitError('NOT_CLONED', `No clone is stored in ${dir}`), 'git.removeStoredClone');
  // The marker goes first, and for good, so that a reload mid-delete finds a half-deleted clone, never a complete one
  // missing files.
  if (await pathExists(fs, `${dir}/${COMPLETE_MARKER}`)) {
    await fs.promises.unlink(`${dir}/${COMPLETE_MARKER}`);
    await flush(fs);
  }
  await removeDirectory(fs, dir);
  await flush(fs);
}

async function directoryBytes(fs: GitFs, dir: string): Promise<number> {
  let bytes = 0;
  for (const entry of await fs.promises.readdir(dir)) {
    const stat = await fs.promises.lstat(`${dir}/${entry}`);
    bytes += stat.isDirectory() ? await directoryBytes(fs, `${dir}/${entry}`) : stat.size;
  }
  return bytes;
}
