// The Python files of a plain directory (no git), as they are on disk: for CLIs given a local path.
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { SnapshotFile } from '../src/parse/mineTasks.ts';

const SKIPPED_DIRECTORIES = new Set(['.git', '__pycache__', 'node_modules', '.tox', '.nox', '.venv', 'venv', 'site-packages', 'build', 'dist']);

/** A plain directory (no git): its Python files as they are on disk. */
export async function readWorkingTree(root: string): Promise<SnapshotFile[]> {
  const files: SnapshotFile[] = [];
  const walk = async (directory: string) => {
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      const path = join(directory, entry.name);
      if (entry.isDirectory() && !SKIPPED_DIRECTORIES.has(entry.name)) await walk(path);
      else if (entry.isFile() && entry.name.endsWith('.py')) {
        files.push({ path: relative(root, path).split(sep).join('/'), content: await readFile(path, 'utf8') });
      }
    }
  };
  await walk(root);
  return files;
}
