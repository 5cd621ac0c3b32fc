// Serves the browser harness pages of e2e/pages (runtime.html, generation.html) with a Vite dev server, plus a directory of model files.
import { resolve } from 'node:path';
import { createServer, type ViteDevServer } from 'vite';

/**
 * Starts a Vite dev server on 127.0.0.1 (a secure context, so WebGPU is available) for a harness page; files under
 * `publicDirectory`, if given, are served from the site root. `crossOriginIsolated` sends COOP/COEP headers, which
 * WebAssembly threads (SharedArrayBuffer) need. Close it with `server.close()`.
 */
export async function startRuntimeHarness(
  { page = 'runtime.html', publicDirectory, crossOriginIsolated = false }: { page?: string; publicDirectory?: string; crossOriginIsolated?: boolean } = {},
): Promise<{ url: string; server: ViteDevServer }> {
  const root = resolve(import.meta.dirname, '../pages');
  const server = await createServer({
    configFile: false,
    root,
    // A missing file must be a 404 (model loading probes optional files such as the shard index), not an HTML fallback.
    appType: 'mpa',
    publicDir: publicDirectory ? resolve(publicDirectory) : false,
    logLevel: 'error',
    server: {
      host: '127.0.0.1', port: 0, fs: { allow: [resolve(root, '../..')] },
      // A source edit during a long benchmark must not reload the page under it.
      hmr: false, watch: null,
      headers: crossOriginIsolated ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } : {},
    },
    optimizeDeps: { entries: [resolve(root, page)] },
  });
  await server.listen();
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error('the harness server did not report its URL');
  return { url: `${url}${page}`, server };
}
