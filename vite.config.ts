// Vite: the React app, its workers, the git CORS proxy route and the Content-Security-Policy (dev and preview), the model file index, the service worker for offline use, and Vitest's settings.
import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';
import { contentSecurityPolicyPlugin } from './server/contentSecurityPolicy.ts';
import { gitProxyPlugin } from './server/gitProxy.ts';
import { modelIndexPlugin } from './server/modelIndex.ts';
import { serviceWorkerPlugin } from './server/serviceWorkerPlugin.ts';

export default defineConfig({
  // One page, no client-side routes: a missing file must be a 404 (model loading probes optional files), not index.html.
  appType: 'mpa',
  plugins: [react(), contentSecurityPolicyPlugin(), gitProxyPlugin({ allowLoopback: process.env.CODE2LORA_PROXY_ALLOW_LOOPBACK === '1' }), modelIndexPlugin(), serviceWorkerPlugin()],
  // LightningFS's text-encoding polyfill looks for `window` or `global`; a module Worker has neither.
  define: { global: 'globalThis' },
  worker: { format: 'es' },
  build: { target: 'es2022', chunkSizeWarningLimit: 8192 },
  optimizeDeps: { exclude: ['web-tree-sitter'] },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
