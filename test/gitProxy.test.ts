// The CORS proxy's refusals: never an open proxy (allowlisted public git hosts, read-only git endpoints, no private addresses).
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkProxyTarget, createGitProxyHandler, proxyTargetFromPath, ProxyRefusal } from '../server/gitProxy.ts';

async function refusal(promise: Promise<unknown>): Promise<number | null> {
  try {
    await promise;
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(ProxyRefusal);
    return (err as ProxyRefusal).status;
  }
}

describe('proxy target checks', () => {
  const infoRefs = '/info/refs?service=git-upload-pack';
  it('maps the isomorphic-git corsProxy path to an https URL', () => {
    expect(proxyTargetFromPath(`/git-proxy/github.com/a/b.git${infoRefs}`, {}).href).toBe(`https://github.com/a/b.git${infoRefs}`);
  });
  it('refuses hosts that are not on the allowlist', async () => {
    expect(await refusal(checkProxyTarget(new URL(`https://example.com/a/b.git${infoRefs}`), 'GET', {}))).toBe(403);
  });
  it('refuses push and arbitrary paths on allowed hosts', async () => {
    expect(await refusal(checkProxyTarget(new URL('https://github.com/a/b.git/info/refs?service=git-receive-pack'), 'GET', {}))).toBe(403);
    expect(await refusal(checkProxyTarget(new URL('https://github.com/a/b.git/git-receive-pack'), 'POST', {}))).toBe(403);
    expect(await refusal(checkProxyTarget(new URL('https://github.com/login'), 'GET', {}))).toBe(403);
  });
  it('refuses loopback unless the test flag allows it', async () => {
    expect(await refusal(checkProxyTarget(new URL(`http://127.0.0.1:9/a.git${infoRefs}`), 'GET', {}))).toBe(403);
    expect(await refusal(checkProxyTarget(new URL(`http://127.0.0.1:9/a.git${infoRefs}`), 'GET', { allowLoopback: true }))).toBeNull();
  });
  it('refuses an allowlisted name that resolves to a private address', async () => {
    const target = new URL(`https://github.com/a/b.git${infoRefs}`);
    for (const address of ['10.0.0.5', '192.168.1.1', '172.20.0.1', '169.254.169.254', '::1', 'fd00::1', '::ffff:127.0.0.1']) {
      expect(await refusal(checkProxyTarget(target, 'GET', { resolveHost: async () => [address] }))).toBe(403);
    }
    expect(await refusal(checkProxyTarget(target, 'GET', { resolveHost: async () => ['140.82.121.4'] }))).toBeNull();
    expect(await refusal(checkProxyTarget(target, 'GET', { resolveHost: async () => { throw new Error('NXDOMAIN'); } }))).toBe(502);
  });
  it('refuses non-default ports', async () => {
    expect(await refusal(checkProxyTarget(new URL(`https://github.com:8443/a/b.git${infoRefs}`), 'GET', {}))).toBe(403);
  });
});

describe('proxy handler', () => {
  let upstream: Server;
  let proxy: Server;
  let upstreamPort = 0;
  let proxyPort = 0;
  beforeAll(async () => {
    upstream = createServer((req, res) => {
      res.setHeader('content-type', 'application/x-git-upload-pack-advertisement');
      res.end(`upstream saw ${req.method} ${req.url}`);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamPort = (upstream.address() as { port: number }).port;
    const handler = createGitProxyHandler({ allowLoopback: true });
    proxy = createServer((req, res) => void handler(req, res));
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    proxyPort = (proxy.address() as { port: number }).port;
  });
  afterAll(() => {
    upstream.close();
    proxy.close();
  });

  it('relays read-only git requests with CORS headers', async () => {
    const res = await fetch(`http://127.0.0.1:${proxyPort}/git-proxy/127.0.0.1:${upstreamPort}/r.git/info/refs?service=git-upload-pack`);
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(await res.text()).toBe('upstream saw GET /r.git/info/refs?service=git-upload-pack');
  });
  it('answers preflight requests', async () => {
    const res = await fetch(`http://127.0.0.1:${proxyPort}/git-proxy/github.com/a/b.git/git-upload-pack`, { method: 'OPTIONS' });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
  });
  it('says why it refuses', async () => {
    const res = await fetch(`http://127.0.0.1:${proxyPort}/git-proxy/example.org/a.git/info/refs?service=git-upload-pack`);
    expect(res.status).toBe(403);
    expect(await res.text()).toMatch(/allowlist/);
  });
});
