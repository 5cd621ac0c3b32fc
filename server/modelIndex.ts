// models/index.json: the list of model files the app serves, so the app asks for a file only when it is there (no 404 probes for optional files on every page load).
import { readdir } from 'node:fs/promises';
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

/**
 * Vite plugin: writes models/index.json ({ files: [...] }) into the build from public/models, and serves it live
 * from public/models on the dev server (a model installed while it runs shows up at once).
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
        void listModelFiles(join(publicDirectory, 'models')).then((files) => {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ files }));
        });
      });
    },
    async generateBundle() {
      const files = await listModelFiles(join(publicDirectory, 'models'));
      this.emitFile({ type: 'asset', fileName: MODEL_INDEX_FILE, source: JSON.stringify({ files }) });
    },
  };
}
