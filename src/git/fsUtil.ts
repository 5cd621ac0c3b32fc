// Small filesystem helpers over the promise API shared by node:fs and LightningFS.
import type { PromiseFsClient } from 'isomorphic-git';

export type GitFs = PromiseFsClient;

/**
 * Makes every change so far survive a reload. LightningFS writes a file's content to IndexedDB at once but saves the
 * directory tree that reaches it half a second after the last change: until then a reload finds the old tree, in which
 * a new file is missing while a file overwritten in place already holds its new content. So a write that makes new
 * files count (a ref that names new objects, the marker of a complete clone) comes after a flush, and a clone is
 * reported complete only after the flush that follows it. node:fs needs nothing (no flush there).
 */
export async function flush(fs: GitFs): Promise<void> {
  await (fs.promises as { flush?: () => Promise<void> }).flush?.();
}

export async function pathExists(fs: GitFs, path: string): Promise<boolean> {
  try {
    await fs.promises.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Recursive delete (LightningFS has no recursive rmdir). */
export async function removeDirectory(fs: GitFs, dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await fs.promises.readdir(dir);
  } catch {
    return;
  }
  for (const entry of entries) {
    const path = `${dir}/${entry}`;
    const stat = await fs.promises.lstat(path);
    if (stat.isDirectory()) await removeDirectory(fs, path);
    else await fs.promises.unlink(path);
  }
  await fs.promises.rmdir(dir);
}

export async function makeDirectories(fs: GitFs, dir: string): Promise<void> {
  const parts = dir.split('/').filter(Boolean);
  let path = dir.startsWith('/') ? '' : '.';
  for (const part of parts) {
    path += `/${part}`;
    if (!(await pathExists(fs, path))) await fs.promises.mkdir(path);
  }
}
