// Local git smart-HTTP server for tests and e2e: `git http-backend` behind a small Node server with CORS headers.
//
// Serves every repository under `root` (bare `name.git` or work trees `name`) at `${url}/<name>[.git]`.
// Fault injection (for reliability tests), settable at start or later through `server.faults`:
//   - failAfterBytes: every response body is cut after this many bytes and the connection destroyed, as a
//     network failure mid-transfer would (ref advertisements of our small repos are a few hundred bytes, packs
//     several kilobytes, so a value of ~1000 lets the ref discovery through and breaks the pack download);
//   - statusFor(path, request): return a status (401, 403, 404, 500, ...) to answer a request with it instead of
//     serving it (401 also sends `WWW-Authenticate: Basic`), or undefined to serve normally;
//   - truncateAfterBytes: every response body ends after this many bytes, cleanly (a complete HTTP response that
//     holds a short packfile, as a broken proxy or server would send);
//   - stallAfterBytes: every response body stops after this many bytes and the connection stays open, silent,
//     until the client gives up or the server closes;
//   - delayMs: wait this long before answering each request (for cancellation tests).
// `server.requests` logs method, path and status of every answered request. GET / answers 200 with the JSON list of
// repository directories under root (a readiness URL for Playwright's webServer).
//
// As a script: npx tsx test/support/gitHttpServer.ts --root DIR [--port N] [--host H] [--seeds 1,2,3] [--commits N]
// (--seeds first writes those generated repositories into DIR as bare repositories), prints the URL, runs until killed.
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createGunzip } from 'node:zlib';
import { isolatedGitEnv, makeSynthRepos } from '../../src/synth/writeGitRepo.ts';

export interface GitHttpFaults {
  failAfterBytes?: number;
  truncateAfterBytes?: number;
  stallAfterBytes?: number;
  statusFor?: (path: string, request: IncomingMessage) => number | undefined;
  delayMs?: number;
}

export interface GitHttpServerOptions {
  root: string;
  port?: number;
  host?: string;
  faults?: GitHttpFaults;
}

export interface GitHttpRequestRecord {
  method: string;
  path: string;
  status: number;
}

export interface GitHttpServer {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  /** Mutable: change faults between requests. */
  faults: GitHttpFaults;
  requests: GitHttpRequestRecord[];
  close(): Promise<void>;
}

export const CORS_HEADERS: Record<string, string> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
  'Access-Control-Allow-Headers': 'Content-Type, Content-Encoding, Git-Protocol, Authorization, User-Agent, Accept, Range, Cache-Control, Pragma, X-Authorization',
  'Access-Control-Expose-Headers': 'Content-Type, Content-Length, Cache-Control, Expires, Pragma, Last-Modified, ETag, WWW-Authenticate, X-Git-Error',
  'Access-Control-Max-Age': '86400',
};

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 500: 'Internal Server Error', 502: 'Bad Gateway' };

function sendPlain(response: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  response.writeHead(status, { ...CORS_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', ...extra });
  response.end(`${text}\n`);
}

/** Split CGI output into its header block and the first bytes of the body; null until the blank line arrives. */
function splitCgiHead(buffer: Buffer): { head: string; body: Buffer } | null {
  const crlf = buffer.indexOf('\r\n\r\n');
  const lf = buffer.indexOf('\n\n');
  if (crlf < 0 && lf < 0) return null;
  const [at, length] = crlf >= 0 && (lf < 0 || crlf < lf) ? [crlf, 4] : [lf, 2];
  return { head: buffer.subarray(0, at).toString('latin1'), body: buffer.subarray(at + length) };
}

function parseCgiHead(head: string): { status: number; headers: Record<string, string> } {
  let status = 200;
  const headers: Record<string, string> = {};
  for (const line of head.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 500;
    else headers[name] = value;
  }
  return { status, headers };
}

/**
 * Writes to the response until `limit` body bytes have gone out, then: destroys the connection (`cut`), ends the
 * response as if it were complete (`truncate`), or writes nothing more and leaves the connection open (`stall`).
 */
function limitedWriter(response: ServerResponse, { limit, then }: { limit: number | undefined; then: 'cut' | 'truncate' | 'stall' }) {
  let sent = 0;
  let stopped = false;
  return {
    /** The body was stopped at the limit: the backend's later output and its end are not forwarded. */
    get stopped() {
      return stopped;
    },
    write(chunk: Buffer): void {
      if (stopped) return;
      if (limit === undefined || sent + chunk.length <= limit) {
        sent += chunk.length;
        response.write(chunk);
        return;
      }
      response.write(chunk.subarray(0, limit - sent));
      sent = limit;
      stopped = true;
      // Let the partial chunk reach the socket first.
      if (then === 'cut') setImmediate(() => response.socket?.destroy());
      else if (then === 'truncate') response.end();
    },
  };
}

function writerFor(response: ServerResponse, faults: GitHttpFaults) {
  if (faults.failAfterBytes !== undefined) return limitedWriter(response, { limit: faults.failAfterBytes, then: 'cut' });
  if (faults.truncateAfterBytes !== undefined) return limitedWriter(response, { limit: faults.truncateAfterBytes, then: 'truncate' });
  return limitedWriter(response, { limit: faults.stallAfterBytes, then: 'stall' });
}

function serveWithHttpBackend(root: string, request: IncomingMessage, response: ServerResponse, url: URL, faults: GitHttpFaults): void {
  const env = isolatedGitEnv({
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: '1',
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.slice(1),
    REQUEST_METHOD: request.method ?? 'GET',
    CONTENT_TYPE: request.headers['content-type'] ?? '',
    REMOTE_ADDR: request.socket.remoteAddress ?? '127.0.0.1',
    SERVER_PROTOCOL: `HTTP/${request.httpVersion}`,
    ...(request.headers['git-protocol'] ? { HTTP_GIT_PROTOCOL: String(request.headers['git-protocol']) } : {}),
  });
  const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const stderr: Buffer[] = [];
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  child.stdin.on('error', () => {}); // http-backend may answer (e.g. 404) without reading the body
  const gzipped = String(request.headers['content-encoding'] ?? '').toLowerCase() === 'gzip';
  (gzipped ? request.pipe(createGunzip()) : request).on('error', () => child.kill()).pipe(child.stdin);

  const writer = writerFor(response, faults);
  let pending: Buffer = Buffer.alloc(0);
  let headSent = false;
  child.stdout.on('data', (chunk: Buffer) => {
    if (headSent) {
      writer.write(chunk);
      return;
    }
    pending = Buffer.concat([pending, chunk]);
    const split = splitCgiHead(pending);
    if (!split) return;
    const { status, headers } = parseCgiHead(split.head);
    response.writeHead(status, { ...headers, ...CORS_HEADERS });
    headSent = true;
    if (split.body.length) writer.write(split.body);
  });
  child.on('error', (error) => {
    if (!headSent) sendPlain(response, 502, `git http-backend failed to start: ${error.message}`);
  });
  child.on('close', (exitCode) => {
    if (writer.stopped) return;
    if (!headSent) sendPlain(response, 502, `git http-backend exited ${exitCode}: ${Buffer.concat(stderr).toString('utf8').trim()}`);
    else response.end();
  });
  response.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
}

/** Directory names under root that hold a git repository (bare `name.git` or a work tree with `.git`). */
async function listRepositories(root: string): Promise<string[]> {
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  const names: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const gitDir = entry.name.endsWith('.git') ? join(root, entry.name) : join(root, entry.name, '.git');
    if (await stat(join(gitDir, 'HEAD')).then(() => true, () => false)) names.push(entry.name);
  }
  return names.sort();
}

/**
 * Start the server; resolves once it listens.
 *
 * @example
 * const server = await startGitHttpServer({ root: reposDir });
 * await git.clone({ fs, http, dir, url: `${server.url}/myrepo.git` });
 * await server.close();
 */
export function startGitHttpServer({ root, port = 0, host = '127.0.0.1', faults = {} }: GitHttpServerOptions): Promise<GitHttpServer> {
  const projectRoot = resolve(root);
  const requests: GitHttpRequestRecord[] = [];
  const state = { faults };

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    response.on('finish', () => requests.push({ method: request.method ?? '', path: url.pathname + url.search, status: response.statusCode }));
    response.on('close', () => {
      if (!response.writableFinished) requests.push({ method: request.method ?? '', path: url.pathname + url.search, status: response.statusCode });
    });
    const handle = () => {
      if (request.method === 'OPTIONS') {
        response.writeHead(204, CORS_HEADERS);
        response.end();
        return;
      }
      if (request.method !== 'GET' && request.method !== 'POST') {
        sendPlain(response, 405, 'method not allowed', { Allow: 'GET, POST, OPTIONS' });
        return;
      }
      let path: string;
      try {
        path = decodeURIComponent(url.pathname);
      } catch {
        sendPlain(response, 400, 'bad path');
        return;
      }
      if (path.split('/').includes('..')) {
        sendPlain(response, 404, 'not found');
        return;
      }
      if (path === '/' && request.method === 'GET') {
        void listRepositories(projectRoot).then((repositories) => {
          response.writeHead(200, { ...CORS_HEADERS, 'Content-Type': 'application/json' });
          response.end(JSON.stringify({ repositories }));
        });
        return;
      }
      const injected = state.faults.statusFor?.(path, request);
      if (injected !== undefined) {
        request.resume();
        sendPlain(response, injected, STATUS_TEXT[injected] ?? 'injected failure', injected === 401 ? { 'WWW-Authenticate': 'Basic realm="git"' } : {});
        return;
      }
      serveWithHttpBackend(projectRoot, request, response, url, state.faults);
    };
    if (state.faults.delayMs) setTimeout(handle, state.faults.delayMs);
    else handle();
  });

  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const { port: actualPort } = server.address() as AddressInfo;
      const hostInUrl = host.includes(':') ? `[${host}]` : host;
      resolvePromise({
        url: `http://${hostInUrl}:${actualPort}`,
        port: actualPort,
        get faults() {
          return state.faults;
        },
        set faults(value: GitHttpFaults) {
          state.faults = value;
        },
        requests,
        close: () => new Promise<void>((done, fail) => {
          server.close((error) => (error ? fail(error) : done()));
          server.closeAllConnections();
        }),
      });
    });
  });
}

function parseArgs(argv: string[]): Record<string, string> {
  const args: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i];
    if (!key.startsWith('--') || i + 1 >= argv.length) throw new Error(`expected --name value pairs, got ${key}`);
    args[key.slice(2)] = argv[++i];
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (!args.root) throw new Error('usage: gitHttpServer.ts --root DIR [--port N] [--host H] [--seeds 1,2,3] [--commits N]');
  const repos = args.seeds
    ? await makeSynthRepos({
      root: args.root,
      seeds: args.seeds.split(',').map((seed) => Number.parseInt(seed, 10)),
      commits: args.commits ? Number.parseInt(args.commits, 10) : undefined,
      replace: true,
    })
    : [];
  const server = await startGitHttpServer({ root: args.root, port: args.port ? Number.parseInt(args.port, 10) : 0, host: args.host });
  console.log(server.url);
  for (const repo of repos) console.log(`${server.url}/${repo.name}.git  seed ${repo.seed}  head ${repo.head}`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((error: Error) => {
    console.error(error.message);
    process.exit(1);
  });
}
