// Vite plugin: after `vite build` has written the app, bundles src/offline/serviceWorker.ts into sw.js beside index.html with the build's file list and version (a digest of every listed file), so each new build is a new service worker that replaces the old build's offline copy.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { build, type Plugin, type ResolvedConfig } from 'vite';

export const SERVICE_WORKER_FILE = 'sw.js';
const ENTRY = 'src/offline/serviceWorker.ts';

/** The build's files kept for offline use: everything written to `outDir` but model files (kept on first use), the worker itself and source maps. */
export function isPrecached(path: string): boolean {
  return path !== SERVICE_WORKER_FILE && !path.startsWith('models/') && !path.endsWith('.map');
}

async function filesBelow(directory: string): Promise<string[]> {
  const found: string[] = [];
  async function walk(folder: string): Promise<void> {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) found.push(relative(directory, path).split(sep).join('/'));
    }
  }
  await walk(directory);
  return found.sort();
}

/** The files of a built app to keep offline (paths below its base) and the build's version: a digest of their paths and contents. */
export async function precacheManifest(outDir: string): Promise<{ version: string; files: string[] }> {
  const files = (await filesBelow(outDir)).filter(isPrecached);
  const digest = createHash('sha256');
  for (const file of files) {
    digest.update(`${file}\0`);
    digest.update(createHash('sha256').update(await readFile(join(outDir, file))).digest());
  }
  return { version: digest.digest('hex').slice(0, 16), files };
}

export function serviceWorkerPlugin(): Plugin {
  let config: ResolvedConfig;
  return {
    name: 'code2lora-service-worker',
    apply: 'build',
    configResolved(resolved) {
      config = resolved;
    },
    async closeBundle() {
      if (config.build.ssr || config.build.lib || !config.build.write) return;
      const outDir = resolve(config.root, config.build.outDir);
      const precache = await precacheManifest(outDir);
      await build({
        configFile: false,
        root: config.root,
        logLevel: 'warn',
        publicDir: false,
        define: { __CODE2LORA_PRECACHE__: JSON.stringify(precache) },
        build: {
          outDir,
          emptyOutDir: false,
          copyPublicDir: false,
          target: config.build.target,
          minify: true,
          sourcemap: false,
          lib: { entry: resolve(config.root, ENTRY), formats: ['iife'], name: 'code2loraServiceWorker', fileName: () => SERVICE_WORKER_FILE },
        },
      });
      config.logger.info(`${SERVICE_WORKER_FILE}: keeps ${precache.files.length} app files offline (build ${precache.version})`);
    },
  };
}
