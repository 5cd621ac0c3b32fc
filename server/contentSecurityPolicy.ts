// The Content-Security-Policy header of the served app (dev and preview): scripts only from our own origin, no inline
// script and no eval; WebAssembly compilation allowed (tfjs-backend-wasm and web-tree-sitter need 'wasm-unsafe-eval').
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Plugin } from 'vite';

/**
 * The policy. Model files and git repositories come from any https URL the user gives (and plain http on loopback, as
 * the local test git server is reached directly), so connect-src is wide; everything that runs code is not.
 * `scriptNonce` (dev only) lets the one inline script the dev server injects (React Fast Refresh's preamble) run.
 * `devSocket` adds the dev server's HMR WebSocket.
 */
export function contentSecurityPolicy({ scriptNonce, devSocket = false }: { scriptNonce?: string; devSocket?: boolean } = {}): string {
  // CSP host sources cannot name an IPv6 literal, so [::1] cannot be listed.
  const loopback = ['http://127.0.0.1:*', 'http://localhost:*'];
  return [
    "default-src 'self'",
    `script-src 'self' 'wasm-unsafe-eval'${scriptNonce ? ` 'nonce-${scriptNonce}'` : ''}`,
    "worker-src 'self'",
    // React and CodeMirror set inline styles and <style> elements; styles cannot run code.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    `connect-src 'self' https: ${loopback.join(' ')}${devSocket ? ' ws://127.0.0.1:* ws://localhost:*' : ''}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * Vite plugin: sends the policy with every response of the dev and preview servers. In dev, Vite stamps a per-start
 * random nonce on the scripts it injects (`html.cspNonce`), and only those may run inline.
 */
export function contentSecurityPolicyPlugin(): Plugin {
  const nonce = randomBytes(16).toString('base64');
  const header = (policy: string) => (_req: IncomingMessage, res: ServerResponse, next: () => void) => {
    res.setHeader('Content-Security-Policy', policy);
    next();
  };
  return {
    name: 'code2lora-content-security-policy',
    config: (_config, { command }) => (command === 'serve' ? { html: { cspNonce: nonce } } : undefined),
    configureServer: (server) => {
      server.middlewares.use(header(contentSecurityPolicy({ scriptNonce: nonce, devSocket: true })));
    },
    configurePreviewServer: (server) => {
      server.middlewares.use(header(contentSecurityPolicy()));
    },
  };
}
