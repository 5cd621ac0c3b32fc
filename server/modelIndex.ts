// models/index.json: the list of model files the app serves, so the app asks for a file only when it is there (no 404 probes for optional files on every page load), and each file's content digest, so a copy kept for offline use is fetched again when the file changes.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Plugin } from 'vite';

export const MODEL_INDEX_FILE = 'models/index.json';

/** Every file below `modelsDirectory`, as paths relative to the site root ("models/c2l-base/config.json"), sorted. */
export async function listModelFiles(modelsDirectory: string): Promise<string[]> {
  const found: string[] = [];
  async function walk(directory: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(directory, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile() || entry.isSymbolicLink()) found.push(`models/${relative(modelsDirectory, path).split(sep).join('/')}`);
    }
  }
  await walk(modelsDirectory);
  return found.filter((path) => path !== MODEL_INDEX_FILE).sort();
}

export interface ModelIndexFile {
  files: string[];
  /** Per file, the first 16 hex digits of its SHA-256: the version a kept copy is checked against. */
  versions: Record<string, string>;
}

// Digests by path, size and modification time: the dev server serves the index on every page load, and a
// 100 MB model is hashed once, not each time.
const digestMemo = new Map<string, string>();

/** The first 16 hex digits of the SHA-256 of the file at `path`. */
export async function fileVersion(path: string): Promise<string> {
  const { size, mtimeMs } = await stat(path);
  const key = `${path}\0${size}\0${mtimeMs}`;
  const known = digestMemo.get(key);
  if (known) return known;
  const digest = createHash('sha256');
  for await (const chunk of createReadStream(path)) digest.update(chunk as Buffer);
  const version = digest.digest('hex').slice(0, 16);
  digestMemo.set(key, version);
  return version;
}

/** models/index.json's content for `modelsDirectory` (public/models). */
export async function modelIndex(modelsDirectory: string): Promise<ModelIndexFile> {
  const files = await listModelFiles(modelsDirectory);
  const versions: Record<string, string> = {};
  for (const file of files) versions[file] = await fileVersion(join(modelsDirectory, file.slice('models/'.length)));
  return { files, versions };
}

/**
 * Vite plugin: writes models/index.json ({ files: [...], versions: {...} }) into the build from public/models, and
 * serves it live from public/models on the dev server (a model installed while it runs shows up at once).
 */
export function modelIndexPlugin(): Plugin {
  let publicDirectory = 'public';
  return {
    name: 'code2lora-model-index',
    configResolved(config) {
      publicDirectory = config.publicDir || 'public';
    },
    configureServer(server) {
      server.middlewares.use(`/${MODEL_INDEX_FILE}`, (_req, res) => {
        void modelIndex(join(publicDirectory, 'models')).then((index) => {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify(index));
        }, (error: unknown) => {
          res.statusCode = 500;
          res.end(String(error));
        });
      });
    },
    async generateBundle() {
      const index = await modelIndex(join(publicDirectory, 'models'));
      this.emitFile({ type: 'asset', fileName: MODEL_INDEX_FILE, source: JSON.stringify(index) });
    },
  };
}
