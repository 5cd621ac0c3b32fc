// The CORS proxy is not an open proxy: allowlisted public git hosts over https, read-only git endpoints, no credentials,
// no non-public addresses (checked once and connected to as checked), same-host redirects only, bounded sizes and time.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkProxyTarget, connectToAddress, createGitProxyHandler, isNonPublicAddress, proxyTargetFromPath, ProxyRefusal,
  type GitProxyOptions, type UpstreamConnector,
} from '../server/gitProxy.ts';

const infoRefs = '/info/refs?service=git-upload-pack';
const PUBLIC = '140.82.121.4';
const publicDns = async () => [PUBLIC];

async function refusal(promise: Promise<unknown>): Promise<number | null> {
  try {
    await promise;
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(ProxyRefusal);
    return (err as ProxyRefusal).status;
  }
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

describe('proxy target checks', () => {
  it('maps the isomorphic-git corsProxy path to an https URL', () => {
    expect(proxyTargetFromPath(`/git-proxy/github.com/a/b.git${infoRefs}`, {}).href).toBe(`https://github.com/a/b.git${infoRefs}`);
    expect(proxyTargetFromPath(`/git-proxy/127.0.0.1:9/a.git${infoRefs}`, {}).protocol).toBe('https:');
    expect(proxyTargetFromPath(`/git-proxy/127.0.0.1:9/a.git${infoRefs}`, { allowLoopback: true }).protocol).toBe('http:');
  });
  it('refuses hosts that are not on the allowlist, IP literals included', async () => {
    for (const host of ['example.com', 'github.com.evil.example', 'evil.example', PUBLIC, '[2606:4700::1]']) {
      expect(await refusal(checkProxyTarget(new URL(`https://${host}/a/b.git${infoRefs}`), 'GET', { resolveHost: publicDns })), host).toBe(403);
    }
    // userinfo that looks like the host is just userinfo: the host is evil.example
    expect(await refusal(checkProxyTarget(proxyTargetFromPath(`/git-proxy/github.com@evil.example/a.git${infoRefs}`, {}), 'GET', { resolveHost: publicDns }))).toBe(403);
  });
  it('passes the read-only smart-HTTP endpoints of an allowlisted host and returns the checked address', async () => {
    expect(await checkProxyTarget(new URL(`https://github.com/a/b.git${infoRefs}`), 'GET', { resolveHost: publicDns })).toBe(PUBLIC);
    expect(await checkProxyTarget(new URL('https://GitHub.com/a/b.git/git-upload-pack'), 'POST', { resolveHost: publicDns })).toBe(PUBLIC);
  });
  it('refuses push, other services, other methods and arbitrary paths on allowed hosts', async () => {
    const check = (url: string, method: string) => refusal(checkProxyTarget(new URL(url), method, { resolveHost: publicDns }));
    expect(await check('https://github.com/a/b.git/info/refs?service=git-receive-pack', 'GET')).toBe(403);
    expect(await check('https://github.com/a/b.git/info/refs', 'GET')).toBe(403);
    expect(await check('https://github.com/a/b.git/git-receive-pack', 'POST')).toBe(403);
    expect(await check('https://github.com/a/b.git/git-upload-pack?x=1', 'POST')).toBe(403);
    expect(await check(`https://github.com/a/b.git${infoRefs}`, 'PUT')).toBe(403);
    expect(await check(`https://github.com/a/b.git${infoRefs}`, 'DELETE')).toBe(403);
    expect(await check('https://github.com/a/b.git/git-upload-pack', 'GET')).toBe(403);
    expect(await check('https://github.com/login', 'GET')).toBe(403);
    expect(await check('https://github.com/settings/tokens', 'POST')).toBe(403);
  });
  it('refuses plain http, other ports and credentials in the URL', async () => {
    const check = (url: string) => refusal(checkProxyTarget(new URL(url), 'GET', { resolveHost: publicDns }));
    expect(await check(`http://github.com/a/b.git${infoRefs}`)).toBe(403);
    expect(await check(`https://github.com:8443/a/b.git${infoRefs}`)).toBe(403);
    expect(await check(`https://user:token@github.com/a/b.git${infoRefs}`)).toBe(403);
  });
  it('refuses loopback unless the test-only flag allows it', async () => {
    for (const host of ['127.0.0.1:9', 'localhost:9', '[::1]:9']) {
      expect(await refusal(checkProxyTarget(new URL(`http://${host}/a.git${infoRefs}`), 'GET', {})), host).toBe(403);
    }
    expect(await checkProxyTarget(new URL(`http://127.0.0.1:9/a.git${infoRefs}`), 'GET', { allowLoopback: true })).toBe('127.0.0.1');
    expect(await checkProxyTarget(new URL(`http://localhost:9/a.git${infoRefs}`), 'GET', { allowLoopback: true })).toBe('127.0.0.1');
  });
  it('refuses an allowlisted name that resolves to any non-public address', async () => {
    const target = new URL(`https://github.com/a/b.git${infoRefs}`);
    const nonPublic = [
      '10.0.0.5', '192.168.1.1', '172.20.0.1', '169.254.169.254', '127.0.0.1', '0.0.0.0', '100.64.0.1', '224.0.0.1', '255.255.255.255',
      '::1', '::', 'fd00::1', 'fe80::1', 'febf::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:a9fe:a9fe',
      '64:ff9b::a00:1', '2002:c0a8:101::1', '2001:db8::1',
    ];
    for (const address of nonPublic) {
      expect(isNonPublicAddress(address), address).toBe(true);
      expect(await refusal(checkProxyTarget(target, 'GET', { resolveHost: async () => [address] })), address).toBe(403);
      // one bad answer among good ones is enough to refuse
      expect(await refusal(checkProxyTarget(target, 'GET', { resolveHost: async () => [PUBLIC, address] })), address).toBe(403);
    }
    for (const address of [PUBLIC, '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8', '2002:808:808::1']) expect(isNonPublicAddress(address), address).toBe(false);
    expect(await refusal(checkProxyTarget(target, 'GET', { resolveHost: async () => { throw new Error('NXDOMAIN'); } }))).toBe(502);
    expect(await refusal(checkProxyTarget(target, 'GET', { resolveHost: async () => [] }))).toBe(502);
  });
});

describe('connectToAddress', () => {
  let upstream: { server: Server; url: string };
  beforeAll(async () => {
    upstream = await listen((req, res) => res.end(`host ${req.headers.host}`));
  });
  afterAll(() => upstream.server.close());

  it('connects to the address it is given, not to what DNS says of the name', async () => {
    const port = new URL(upstream.url).port;
    // git.invalid never resolves: reaching the server proves no second lookup happened.
    const target = new URL(`http://git.invalid:${port}/r.git${infoRefs}`);
    const response = await connectToAddress(target, '127.0.0.1', { method: 'GET', headers: {}, idleTimeoutMs: 5_000, signal: AbortSignal.timeout(5_000) });
    let text = '';
    for await (const chunk of response.body) text += Buffer.from(chunk).toString();
    expect(response.status).toBe(200);
    expect(text).toBe(`host git.invalid:${port}`);
  });
});

describe('proxy handler', () => {
  let upstream: { server: Server; url: string };
  let proxy: { server: Server; url: string } | undefined;
  /** What the test upstream answers, by path. */
  let answer: (req: IncomingMessage, res: ServerResponse) => void;

  beforeAll(async () => {
    upstream = await listen((req, res) => answer(req, res));
  });
  afterAll(() => {
    upstream.server.close();
    proxy?.server.close();
  });
  async function startProxy(options: GitProxyOptions): Promise<string> {
    proxy?.server.close();
    const handler = createGitProxyHandler(options);
    proxy = await listen((req, res) => void handler(req, res));
    return proxy.url;
  }
  const upstreamHost = () => new URL(upstream.url).host;

  it('relays read-only git requests with CORS headers (loopback only with the test flag)', async () => {
    answer = (req, res) => {
      res.setHeader('content-type', 'application/x-git-upload-pack-advertisement');
      res.setHeader('set-cookie', 'secret=1');
      res.end(`upstream saw ${req.method} ${req.url}`);
    };
    const proxyUrl = await startProxy({ allowLoopback: true });
    const res = await fetch(`${proxyUrl}/git-proxy/${upstreamHost()}/r.git${infoRefs}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('content-type')).toBe('application/x-git-upload-pack-advertisement');
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(await res.text()).toBe(`upstream saw GET /r.git${infoRefs}`);
    const post = await fetch(`${proxyUrl}/git-proxy/${upstreamHost()}/r.git/git-upload-pack`, { method: 'POST', body: '0000' });
    expect(await post.text()).toBe('upstream saw POST /r.git/git-upload-pack');

    const strict = await startProxy({});
    const refused = await fetch(`${strict}/git-proxy/${upstreamHost()}/r.git${infoRefs}`);
    expect(refused.status).toBe(403);
    expect(await refused.text()).toMatch(/Loopback/);
  });

  it('answers preflight requests', async () => {
    const proxyUrl = await startProxy({});
    const res = await fetch(`${proxyUrl}/git-proxy/github.com/a/b.git/git-upload-pack`, { method: 'OPTIONS' });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
  });

  it('says why it refuses', async () => {
    const proxyUrl = await startProxy({});
    const res = await fetch(`${proxyUrl}/git-proxy/example.org/a.git${infoRefs}`);
    expect(res.status).toBe(403);
    expect(await res.text()).toMatch(/allowlist/);
  });

  it('resolves once and connects to the checked address, whatever DNS answers later (rebinding)', async () => {
    const answers = [[PUBLIC], ['127.0.0.1']];
    const resolved: string[] = [];
    const connected: string[] = [];
    const connect: UpstreamConnector = async (target, address) => {
      connected.push(`${target.hostname} ${address}`);
      return { status: 200, headers: {}, body: (async function* () { yield new TextEncoder().encode('refs'); })() };
    };
    const proxyUrl = await startProxy({
      connect, resolveHost: async (name) => { resolved.push(name); return answers[Math.min(resolved.length - 1, 1)]; },
    });
    const res = await fetch(`${proxyUrl}/git-proxy/github.com/a/b.git${infoRefs}`);
    expect(await res.text()).toBe('refs');
    expect(resolved).toEqual(['github.com']);
    expect(connected).toEqual([`github.com ${PUBLIC}`]);
    // The next request asks DNS again and is refused on the answer it gets.
    const second = await fetch(`${proxyUrl}/git-proxy/github.com/a/b.git${infoRefs}`);
    expect(second.status).toBe(403);
    expect(connected).toHaveLength(1);
  });

  it('follows a redirect on the same host (checked again), refuses one to another host', async () => {
    answer = (req, res) => {
      if (req.url?.startsWith('/moved/')) res.writeHead(301, { location: `/r.git${infoRefs}` }).end();
      else if (req.url?.startsWith('/away/')) res.writeHead(302, { location: `https://gitlab.com/r.git${infoRefs}` }).end();
      else if (req.url?.startsWith('/push/')) res.writeHead(302, { location: '/r.git/info/refs?service=git-receive-pack' }).end();
      else res.end(`final ${req.url}`);
    };
    const proxyUrl = await startProxy({ allowLoopback: true });
    const same = await fetch(`${proxyUrl}/git-proxy/${upstreamHost()}/moved/r.git${infoRefs}`);
    expect(await same.text()).toBe(`final /r.git${infoRefs}`);
    const away = await fetch(`${proxyUrl}/git-proxy/${upstreamHost()}/away/r.git${infoRefs}`);
    expect(away.status).toBe(403);
    expect(await away.text()).toMatch(/another host/);
    const push = await fetch(`${proxyUrl}/git-proxy/${upstreamHost()}/push/r.git${infoRefs}`);
    expect(push.status).toBe(403);
  });

  it('bounds the request body', async () => {
    answer = (_req, res) => res.end('read');
    const proxyUrl = await startProxy({ allowLoopback: true, maxRequestBytes: 1000 });
    const big = await fetch(`${proxyUrl}/git-proxy/${upstreamHost()}/r.git/git-upload-pack`, { method: 'POST', body: 'x'.repeat(5000) });
    expect(big.status).toBe(413);
    const small = await fetch(`${proxyUrl}/git-proxy/${upstreamHost()}/r.git/git-upload-pack`, { method: 'POST', body: 'x'.repeat(500) });
    expect(await small.text()).toBe('read');
  });

  it('cuts a response over the size limit instead of relaying it whole', async () => {
    answer = (_req, res) => res.end('y'.repeat(200_000));
    const proxyUrl = await startProxy({ allowLoopback: true, maxResponseBytes: 50_000 });
    const res = await fetch(`${proxyUrl}/git-proxy/${upstreamHost()}/r.git${infoRefs}`);
    // Refused with 502 when the first chunk is already too big, cut mid-body otherwise: never 200 with the whole body.
    const outcome = res.status !== 200 ? `refused ${res.status}: ${await res.text()}` : await res.text().then((text) => `got ${text.length}`, () => 'cut');
    expect(outcome).toMatch(/^(refused 502: Response is over the 50000-byte limit|cut)$/);
  });

  it('gives up on an upstream that stalls, and on one that takes too long in all', async () => {
    const stalled: ServerResponse[] = [];
    answer = (_req, res) => { stalled.push(res); };
    let proxyUrl = await startProxy({ allowLoopback: true, idleTimeoutMs: 300 });
    let started = Date.now();
    let res = await fetch(`${proxyUrl}/git-proxy/${upstreamHost()}/r.git${infoRefs}`);
    expect(res.status).toBe(504);
    expect(await res.text()).toMatch(/sent nothing/);
    expect(Date.now() - started).toBeLessThan(10_000);

    // A trickle keeps the idle timer happy; the total limit still ends it.
    answer = (_req, res) => {
      stalled.push(res);
      res.writeHead(200);
      const timer = setInterval(() => (res.writableEnded ? clearInterval(timer) : res.write('.')), 50);
      res.on('close', () => clearInterval(timer));
    };
    proxyUrl = await startProxy({ allowLoopback: true, idleTimeoutMs: 300, totalTimeoutMs: 800 });
    started = Date.now();
    const trickled = await fetch(`${proxyUrl}/git-proxy/${upstreamHost()}/r.git${infoRefs}`);
    // Cut mid-body, or refused before the first byte when the machine is too busy to trickle in time: never whole.
    const outcome = trickled.status !== 200 ? 'refused' : await trickled.text().then(() => 'completed', () => 'cut');
    expect(outcome).not.toBe('completed');
    expect(Date.now() - started).toBeLessThan(10_000);
    for (const r of stalled) r.destroy();
  });
});
