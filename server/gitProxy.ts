// The git CORS proxy route served by `npm start`/`npm run dev`: read-only smart-HTTP, public git hosts only (never an open proxy).
//
// Rules, each checked before any byte goes upstream: GET .../info/refs?service=git-upload-pack or POST .../git-upload-pack
// only; https on the default port to an allowlisted host; no credentials in the URL; the host name is resolved once,
// every address it resolves to must be public, and the connection goes to that checked address (a DNS answer that
// changes between check and connect cannot reach a private one); a redirect must stay on the same host and passes the
// same checks; request bodies, response bodies, idle time and total time are bounded. Loopback hosts (the local test git
// server) are allowed only with `allowLoopback`, which `vite.config.ts` sets from CODE2LORA_PROXY_ALLOW_LOOPBACK=1.
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { lookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import type { Plugin } from 'vite';

export const GIT_PROXY_ROUTE = '/git-proxy';

/** Public git hosts the proxy will talk to. Anything else is refused. */
export const ALLOWED_GIT_HOSTS = ['github.com', 'gitlab.com', 'bitbucket.org', 'codeberg.org', 'git.sr.ht', 'huggingface.co'];

/** What the proxy got back from upstream: status, headers and a body to relay. */
export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: AsyncIterable<Uint8Array> & { destroy?: (error?: Error) => void };
}

/** Sends one request to `address` (already checked), speaking to `target`'s host name (TLS name, Host header). */
export type UpstreamConnector = (
  target: URL, address: string, init: { method: string; headers: Record<string, string>; body?: Uint8Array; idleTimeoutMs: number; signal: AbortSignal },
) => Promise<UpstreamResponse>;

export interface GitProxyOptions {
  allowedHosts?: string[];
  /** Tests only: also allow 127.0.0.1/localhost/[::1] (the local git server fixture), over http. Never set in production. */
  allowLoopback?: boolean;
  /** Largest request body (a git-upload-pack POST of wants and haves). */
  maxRequestBytes?: number;
  /** Stop relaying a response after this many bytes. */
  maxResponseBytes?: number;
  /** Give up when upstream sends nothing for this long. */
  idleTimeoutMs?: number;
  /** Give up on a whole exchange (request and relayed response) after this long. */
  totalTimeoutMs?: number;
  /** Resolves a host name to its addresses (default: the system resolver). Called once per upstream request. */
  resolveHost?: (hostname: string) => Promise<string[]>;
  /** Opens the upstream request (default: node:https to the checked address). */
  connect?: UpstreamConnector;
}

const DEFAULTS = {
  maxRequestBytes: 8 * 1024 * 1024,
  maxResponseBytes: 512 * 1024 * 1024,
  idleTimeoutMs: 30_000,
  totalTimeoutMs: 10 * 60_000,
};

async function systemResolve(hostname: string): Promise<string[]> {
  return (await lookup(hostname, { all: true, verbatim: true })).map(({ address }) => address);
}

const FORWARDED_REQUEST_HEADERS = ['accept', 'content-type', 'content-encoding', 'git-protocol', 'user-agent'];
const FORWARDED_RESPONSE_HEADERS = ['content-type', 'cache-control', 'expires', 'pragma'];
const MAX_REDIRECTS = 3;

export class ProxyRefusal extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'ProxyRefusal';
  }
}

/** Only the two read-only endpoints of the smart-HTTP protocol; push (git-receive-pack) is refused. */
function isReadOnlyGitRequest(method: string, pathname: string, search: URLSearchParams): boolean {
  if (method === 'GET') return pathname.endsWith('/info/refs') && search.get('service') === 'git-upload-pack';
  if (method === 'POST') return pathname.endsWith('/git-upload-pack') && search.size === 0;
  return false;
}

/** The 16 bytes of an IPv6 address (dotted IPv4 tail included), or null if it is not one. */
function ipv6Bytes(address: string): number[] | null {
  if (isIP(address) !== 6) return null;
  let text = address.toLowerCase().replace(/%.*$/, '');
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1].split('.').map(Number);
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const groups = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const left = groups(head);
  const right = groups(tail);
  const all = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill(0), ...right];
  return all.flatMap((g) => [g >> 8, g & 255]);
}

/** IPv4 ranges that are not public unicast (RFC 6890 special-purpose, multicast, reserved). */
function isNonPublicIpv4([a, b, c]: number[]): boolean {
  return a === 0 || a === 10 || a === 127 || a >= 224
    || (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31)
    || (a === 192 && b === 168) || (a === 192 && b === 0 && (c === 0 || c === 2)) || (a === 198 && (b === 18 || b === 19))
    || (a === 198 && b === 51 && c === 100) || (a === 203 && b === 0 && c === 113) || (a === 192 && b === 88 && c === 99);
}

/**
 * True unless `address` is a public unicast address: private, loopback, link-local, shared, documentation, multicast and
 * reserved ranges are refused, and so is an IPv6 address that embeds IPv4 (mapped, compatible, NAT64, 6to4, Teredo)
 * when the embedded one is not public, or any IPv6 address outside global unicast 2000::/3.
 */
export function isNonPublicAddress(address: string): boolean {
  if (isIP(address) === 4) return isNonPublicIpv4(address.split('.').map(Number));
  const bytes = ipv6Bytes(address);
  if (!bytes) return true;
  const zeros = (from: number, to: number) => bytes.slice(from, to).every((b) => b === 0);
  if (zeros(0, 10) && ((bytes[10] === 0xff && bytes[11] === 0xff) || (bytes[10] === 0 && bytes[11] === 0))) {
    return isNonPublicIpv4(bytes.slice(12)); // ::ffff:a.b.c.d and ::a.b.c.d (:: and ::1 land here as 0.0.0.x)
  }
  if (bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b) return isNonPublicIpv4(bytes.slice(12)); // NAT64
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return isNonPublicIpv4(bytes.slice(2, 6)); // 6to4
  if (bytes[0] === 0x20 && bytes[1] === 0x01 && ((bytes[2] === 0 && bytes[3] === 0) || (bytes[2] === 0x0d && bytes[3] === 0xb8))) return true; // Teredo, documentation
  return (bytes[0] & 0xe0) !== 0x20; // not global unicast 2000::/3: ULA fc00::/7, link-local fe80::/10, multicast ff00::/8, ...
}

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
}

/**
 * Decides whether `target` may be fetched with `method`, and returns the address to connect to: the host name is
 * resolved here, once, and every address must be public. Throws ProxyRefusal (403, or 502 when the name does not resolve).
 */
export async function checkProxyTarget(target: URL, method: string, options: GitProxyOptions): Promise<string> {
  const allowed = options.allowedHosts ?? ALLOWED_GIT_HOSTS;
  const hostname = target.hostname.toLowerCase();
  if (!isReadOnlyGitRequest(method, target.pathname, target.searchParams)) {
    throw new ProxyRefusal(403, 'Only read-only git smart-HTTP requests (GET info/refs?service=git-upload-pack, POST git-upload-pack) are proxied');
  }
  if (target.username || target.password) throw new ProxyRefusal(403, 'Credentials in the URL are not proxied');
  if (isLoopbackHost(hostname)) {
    if (!options.allowLoopback) throw new ProxyRefusal(403, 'Loopback addresses are not proxied');
    if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new ProxyRefusal(403, `Scheme ${target.protocol} is not proxied`);
    return hostname === 'localhost' ? '127.0.0.1' : hostname.replace(/^\[|\]$/g, '');
  }
  if (!allowed.includes(hostname)) throw new ProxyRefusal(403, `Host ${hostname} is not on the proxy's allowlist: ${allowed.join(', ')}`);
  if (target.protocol !== 'https:') throw new ProxyRefusal(403, 'Only https is proxied');
  if (target.port && target.port !== '443') throw new ProxyRefusal(403, 'Only the default HTTPS port is proxied');
  const addresses = await (options.resolveHost ?? systemResolve)(hostname).catch(() => {
    throw new ProxyRefusal(502, `Cannot resolve ${hostname}`);
  });
  if (addresses.length === 0) throw new ProxyRefusal(502, `Cannot resolve ${hostname}`);
  const refused = addresses.find(isNonPublicAddress);
  if (refused) throw new ProxyRefusal(403, `${hostname} resolves to a non-public address (${refused})`);
  return addresses[0];
}

/** `/git-proxy/github.com/owner/repo.git/info/refs?...` -> `https://github.com/owner/repo.git/info/refs?...` (isomorphic-git's corsProxy form). */
export function proxyTargetFromPath(pathAndQuery: string, options: GitProxyOptions): URL {
  const rest = pathAndQuery.slice(GIT_PROXY_ROUTE.length).replace(/^\/+/, '');
  const hostPart = rest.split('/')[0] ?? '';
  const scheme = options.allowLoopback && isLoopbackHost(hostPart.replace(/:\d+$/, '')) ? 'http' : 'https';
  try {
    return new URL(`${scheme}://${rest}`);
  } catch {
    throw new ProxyRefusal(400, 'Malformed proxy URL');
  }
}

/**
 * The default connector: node:http(s) to `address` itself (a lookup that answers with it, so no second DNS query),
 * with `target`'s host name for TLS verification and the Host header.
 */
export const connectToAddress: UpstreamConnector = (target, address, { method, headers, body, idleTimeoutMs, signal }) => {
  const family = isIP(address);
  const pinned: LookupFunction = (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all) (callback as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address, family }]);
    else callback(null, address, family);
  };
  const send = target.protocol === 'https:' ? (httpsRequest as typeof httpRequest) : httpRequest;
  return new Promise((resolve, reject) => {
    const request = send(target, { method, headers, lookup: pinned, signal, timeout: idleTimeoutMs }, (response: IncomingMessage) => {
      resolve({ status: response.statusCode ?? 502, headers: response.headers, body: response });
    });
    request.on('timeout', () => request.destroy(new ProxyRefusal(504, `${target.hostname} sent nothing for ${idleTimeoutMs} ms`)));
    request.on('error', reject);
    request.end(body);
  });
};

async function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) throw new ProxyRefusal(413, `Request body of ${declared} bytes is over the ${limit}-byte limit`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new ProxyRefusal(413, `Request body is over the ${limit}-byte limit`);
    chunks.push(chunk as Buffer);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

function setCors(res: ServerResponse): void {
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
  res.setHeader('Access-Control-Allow-Headers', FORWARDED_REQUEST_HEADERS.join(', '));
}

/**
 * The proxy as a Node request handler. Refusals answer with their status and a plain-text reason; an upstream that
 * stalls or sends too much is cut off.
 * @example createServer(createGitProxyHandler()).listen(8080)
 */
export function createGitProxyHandler(options: GitProxyOptions = {}) {
  const { maxRequestBytes, maxResponseBytes, idleTimeoutMs, totalTimeoutMs } = { ...DEFAULTS, ...options };
  const connect = options.connect ?? connectToAddress;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    setCors(res);
    if (req.method === 'OPTIONS') {
      res.statusCode = 204;
      res.end();
      return;
    }
    const deadline = AbortSignal.timeout(totalTimeoutMs);
    let upstream: UpstreamResponse | undefined;
    try {
      const method = req.method ?? 'GET';
      let target = proxyTargetFromPath(req.url ?? '', options);
      let address = await checkProxyTarget(target, method, options);
      const headers: Record<string, string> = {};
      for (const name of FORWARDED_REQUEST_HEADERS) {
        const value = req.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      const body = method === 'POST' ? await readBody(req, maxRequestBytes) : undefined;
      const init = { method, headers, body, idleTimeoutMs, signal: deadline };
      upstream = await connect(target, address, init);
      for (let hop = 0; upstream.status >= 300 && upstream.status < 400 && typeof upstream.headers.location === 'string'; hop++) {
        upstream.body.destroy?.();
        const next = new URL(upstream.headers.location, target);
        if (hop >= MAX_REDIRECTS) throw new ProxyRefusal(502, `More than ${MAX_REDIRECTS} redirects`);
        if (next.host !== target.host) throw new ProxyRefusal(403, `Redirect from ${target.host} to another host (${next.host}) is not followed`);
        target = next;
        address = await checkProxyTarget(target, method, options);
        upstream = await connect(target, address, init);
      }
      res.statusCode = upstream.status;
      for (const name of FORWARDED_RESPONSE_HEADERS) {
        const value = upstream.headers[name];
        if (typeof value === 'string') res.setHeader(name, value);
      }
      let relayed = 0;
      for await (const chunk of upstream.body) {
        relayed += chunk.byteLength;
        if (relayed > maxResponseBytes) throw new ProxyRefusal(502, `Response is over the ${maxResponseBytes}-byte limit`);
        if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
      }
      res.end();
    } catch (err) {
      upstream?.body.destroy?.();
      if (res.headersSent) {
        res.destroy(); // mid-body: cut the connection so the client cannot take a partial answer for a whole one
        return;
      }
      const refusal = err instanceof ProxyRefusal ? err
        : deadline.aborted ? new ProxyRefusal(504, `Gave up after ${totalTimeoutMs} ms`)
          : new ProxyRefusal(502, `Upstream failed: ${err instanceof Error ? err.message : String(err)}`);
      res.statusCode = refusal.status;
      res.setHeader('content-type', 'text/plain; charset=utf-8');
      res.end(refusal.message);
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
