// The served app's Content-Security-Policy: no inline script and no eval (wasm compilation only), sent by the dev and
// preview servers, and every script the dev server inlines carries its nonce.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, preview } from 'vite';
import { describe, expect, it } from 'vitest';
import { contentSecurityPolicy } from '../server/contentSecurityPolicy.ts';

/** The policy's directives by name. */
function directives(policy: string): Map<string, string[]> {
  return new Map(policy.split(';').map((d) => d.trim().split(/\s+/)).filter((d) => d[0]).map(([name, ...values]) => [name, values]));
}

/** The script-src rules a browser applies: no inline script (bar a nonce), no eval, no code from other origins. */
function expectNoInlineScriptOrEval(policy: string): void {
  const rules = directives(policy);
  const scriptSrc = rules.get('script-src')!;
  expect(scriptSrc).toContain("'self'");
  expect(scriptSrc).toContain("'wasm-unsafe-eval'");
  for (const unsafe of ["'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", '*', 'data:', 'blob:', 'http:', 'https:']) expect(scriptSrc).not.toContain(unsafe);
  expect(scriptSrc.filter((s) => s !== "'self'" && s !== "'wasm-unsafe-eval'").every((s) => s.startsWith("'nonce-"))).toBe(true);
  expect(rules.get('worker-src')).toEqual(["'self'"]);
  expect(rules.get('object-src')).toEqual(["'none'"]);
  expect(rules.get('base-uri')).toEqual(["'none'"]);
  expect(rules.get('default-src')).toEqual(["'self'"]);
}

/** Inline <script> elements of a page (no src), with their nonce attribute. */
function inlineScripts(html: string): Array<{ nonce: string | undefined; body: string }> {
  return [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)]
    .filter(([, attrs]) => !/\bsrc=/.test(attrs))
    .map(([, attrs, body]) => ({ nonce: /\bnonce="([^"]+)"/.exec(attrs)?.[1], body }));
}

describe('contentSecurityPolicy', () => {
  it('allows no inline script and no eval in production, only wasm compilation', () => {
    expectNoInlineScriptOrEval(contentSecurityPolicy());
    expect(directives(contentSecurityPolicy()).get('script-src')).toEqual(["'self'", "'wasm-unsafe-eval'"]);
  });
  it('in dev, adds only a nonce for the injected script and the HMR socket', () => {
    const policy = contentSecurityPolicy({ scriptNonce: 'abc', devSocket: true });
    expectNoInlineScriptOrEval(policy);
    expect(directives(policy).get('script-src')).toContain("'nonce-abc'");
    expect(directives(policy).get('connect-src')).toContain('ws://127.0.0.1:*');
  });
});

describe('served app', () => {
  it('the dev server sends the policy, and each inline script it injects carries the nonce', async () => {
    const server = await createServer({ configFile: 'vite.config.ts', logLevel: 'silent', server: { host: '127.0.0.1', port: 0 } });
    try {
      await server.listen();
      const base = server.resolvedUrls!.local[0];
      const page = await fetch(base);
      const policy = page.headers.get('content-security-policy')!;
      expectNoInlineScriptOrEval(policy);
      const nonce = /'nonce-([^']+)'/.exec(policy)?.[1];
      expect(nonce).toBeTruthy();
      const html = await page.text();
      expect(html).not.toMatch(/\son[a-z]+\s*=/i); // no inline event handlers
      const scripts = inlineScripts(html);
      expect(scripts.length).toBeGreaterThan(0); // React Fast Refresh's preamble
      for (const script of scripts) expect(script.nonce).toBe(nonce);
      // Other responses (scripts, the proxy's answers) carry it too.
      expect((await fetch(`${base}git-proxy/example.org/a.git/info/refs?service=git-upload-pack`)).headers.get('content-security-policy')).toBe(policy);
    } finally {
      await server.close();
    }
  }, 240_000); // a few seconds on an idle machine; starting Vite is slow on a busy one

  it('the preview server (npm start) sends the production policy with the built page', async () => {
    const outDir = await mkdtemp(join(tmpdir(), 'csp-preview-'));
    await writeFile(join(outDir, 'index.html'), '<!doctype html><title>built</title><script type="module" src="/assets/index.js"></script>');
    const server = await preview({ configFile: 'vite.config.ts', logLevel: 'silent', build: { outDir }, preview: { host: '127.0.0.1', port: 0 } });
    try {
      const page = await fetch(server.resolvedUrls!.local[0]);
      expect(await page.text()).toContain('<title>built</title>');
      expect(page.headers.get('content-security-policy')).toBe(contentSecurityPolicy());
    } finally {
      await new Promise<void>((resolve) => server.httpServer.close(() => resolve()));
      await rm(outDir, { recursive: true, force: true });
    }
  }, 240_000);

  it('index.html itself holds no inline script', async () => {
    const { readFile } = await import('node:fs/promises');
    expect(inlineScripts(await readFile('index.html', 'utf8'))).toEqual([]);
  });
});
