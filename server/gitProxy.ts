// The git CORS proxy route served by `npm start`/`npm run dev`: read-only smart-HTTP, public git hosts only (never an open proxy).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { Readable } from 'node:stream';
import type { Plugin } from 'vite';

export const GIT_PROXY_ROUTE = '/git-proxy';

/** Public git hosts the proxy will talk to. Anything else is refused. */
export const ALLOWED_GIT_HOSTS = ['github.com', 'gitlab.com', 'bitbucket.org', 'codeberg.org', 'git.sr.ht', 'huggingface.co'];

export interface GitProxyOptions {
  allowedHosts?: string[];
  /** Tests only: also allow 127.0.0.1/localhost (the local git server fixture). Never set in production. */
  allowLoopback?: boolean;
  /** Stop relaying a response after this many bytes. */
  maxResponseBytes?: number;
  /** Resolves a host name to its addresses (default: the system resolver). */
  resolveHost?: (hostname: string) => Promise<string[]>;
}

async function systemResolve(hostname: string): Promise<string[]> {
  return (await lookup(hostname, { all: true })).map(({ address }) => address);
}

const FORWARDED_REQUEST_HEADERS = ['accept', 'content-type', 'content-encoding', 'git-protocol', 'user-agent'];
const FORWARDED_RESPONSE_HEADERS = ['content-type', 'cache-control', 'expires', 'pragma'];
const MAX_REDIRECTS = 3;

/** Only the two read-only endpoints of the smart-HTTP protocol; push (git-receive-pack) is refused. */
function isReadOnlyGitRequest(method: string, pathname: string, search: URLSearchParams): boolean {
  if (method === 'GET') return pathname.endsWith('/info/refs') && search.get('service') === 'git-upload-pack';
  if (method === 'POST') return pathname.endsWith('/git-upload-pack');
  return false;
}

function isPrivateAddress(address: string): boolean {
  if (isIP(address) === 6) {
    const a = address.toLowerCase();
    if (a.startsWith('::ffff:')) return isPrivateAddress(a.slice(7));
    return a === '::1' || a === '::' || a.startsWith('fc') || a.startsWith('fd') || a.startsWith('fe80');
  }
  const [a, b] = address.split('.').map(Number);
  return a === 10 || a === 127 || a === 0 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127);
}

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
}

export class ProxyRefusal extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Decides whether `target` may be fetched; resolves DNS so an allowed name pointing at a private address is refused. */
export async function checkProxyTarget(target: URL, method: string, options: GitProxyOptions): Promise<void> {
  const allowed = options.allowedHosts ?? ALLOWED_GIT_HOSTS;
  const hostname = target.hostname.toLowerCase();
  const loopback = isLoopbackHost(hostname);
  if (!isReadOnlyGitRequest(method, target.pathname, target.searchParams)) {
    throw new ProxyRefusal(403, 'Only read-only git smart-HTTP requests (info/refs, git-upload-pack) are proxied');
  }
  if (loopback) {
    if (!options.allowLoopback) throw new ProxyRefusal(403, 'Loopback addresses are not proxied');
    return;
  }
  if (!allowed.includes(hostname)) throw new ProxyRefusal(403, `Host ${hostname} is not on the proxy's allowlist: ${allowed.join(', ')}`);
  if (target.port && target.port !== '443') throw new ProxyRefusal(403, 'Only the default HTTPS port is proxied');
  const addresses = await (options.resolveHost ?? systemResolve)(hostname).catch(() => {
    throw new ProxyRefusal(502, `Cannot resolve ${hostname}`);
  });
  if (addresses.some(isPrivateAddress)) throw new ProxyRefusal(403, `${hostname} resolves to a private address`);
}

/** `/git-proxy/github.com/owner/repo.git/info/refs?...` -> `https://github.com/owner/repo.git/info/refs?...` (isomorphic-git's corsProxy form). */
export function proxyTargetFromPath(pathAndQuery: string, options: GitProxyOptions): URL {
  const rest = pathAndQuery.slice(GIT_PROXY_ROUTE.length).replace(/^\/+/, '');
  const hostPart = rest.split('/')[0] ?? '';
  const scheme = options.allowLoopback && isLoopbackHost(hostPart.split(':')[0]) ? 'http' : 'https';
  try {
    return new URL(`${scheme}://${rest}`);
  } catch {
    throw new ProxyRefusal(400, 'Malformed proxy URL');
  }
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new ProxyRefusal(413, 'Request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function setCors(res: ServerResponse): void {
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
  res.setHeader('Access-Control-Allow-Headers', FORWARDED_REQUEST_HEADERS.join(', '));
}

export function createGitProxyHandler(options: GitProxyOptions = {}) {
  const maxResponseBytes = options.maxResponseBytes ?? 512 * 1024 * 1024;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    setCors(res);
    if (req.method === 'OPTIONS') {
      res.statusCode = 204;
      res.end();
      return;
    }
    try {
      const method = req.method ?? 'GET';
      let target = proxyTargetFromPath(req.url ?? '', options);
      await checkProxyTarget(target, method, options);
      const headers: Record<string, string> = {};
      for (const name of FORWARDED_REQUEST_HEADERS) {
        const value = req.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      const body = method === 'POST' ? new Uint8Array(await readBody(req, 64 * 1024 * 1024)) : undefined;
      let upstream = await fetch(target, { method, headers, body, redirect: 'manual' });
      for (let hop = 0; upstream.status >= 300 && upstream.status < 400 && hop < MAX_REDIRECTS; hop++) {
        const location = upstream.headers.get('location');
        if (!location) break;
        target = new URL(location, target);
        await checkProxyTarget(target, method, options);
        upstream = await fetch(target, { method, headers, body, redirect: 'manual' });
      }
      res.statusCode = upstream.status;
      for (const name of FORWARDED_RESPONSE_HEADERS) {
        const value = upstream.headers.get(name);
        if (value) res.setHeader(name, value);
      }
      if (!upstream.body) {
        res.end();
        return;
      }
      let relayed = 0;
      const stream = Readable.fromWeb(upstream.body as import('node:stream/web').ReadableStream);
      stream.on('data', (chunk: Buffer) => {
        relayed += chunk.length;
        if (relayed > maxResponseBytes) stream.destroy(new Error('response too large'));
      });
      stream.on('error', () => res.destroy());
      stream.pipe(res);
    } catch (err) {
      const status = err instanceof ProxyRefusal ? err.status : 502;
      res.statusCode = status;
      res.setHeader('content-type', 'text/plain; charset=utf-8');
      res.end(err instanceof Error ? err.message : 'Proxy error');
    }
  };
}

/** Vite plugin: mounts the proxy on the dev and preview servers. */
export function gitProxyPlugin(options: GitProxyOptions = {}): Plugin {
  const handler = createGitProxyHandler(options);
  const mount = (middlewares: { use: (route: string, fn: (req: IncomingMessage, res: ServerResponse) => void) => void }) => {
    middlewares.use(GIT_PROXY_ROUTE, (req, res) => {
      req.url = GIT_PROXY_ROUTE + (req.url ?? '');
      void handler(req, res);
    });
  };
  return {
    name: 'code2lora-git-proxy',
    configureServer: (server) => mount(server.middlewares),
    configurePreviewServer: (server) => mount(server.middlewares),
  };
}
