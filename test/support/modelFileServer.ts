// A static file server for model directories that misbehaves on demand, for the model-download fault tests.
//
// Serves every file under `root` at `${url}/<path>` with its Content-Length. A fault set for a file name (the path's
// last segment; change `server.faults` between requests) makes that file's answer:
//   - { status }: that HTTP status instead of the file;
//   - { cutAfter }: the full Content-Length, then the connection destroyed after this many body bytes (a dropped
//     connection, or the server stopped mid-transfer);
//   - { shortAfter }: only this many bytes, announced as the whole file: a complete, honest answer holding a cut file
//     (a broken proxy or a file half-copied on the server);
//   - { stallAfter }: the full Content-Length, this many bytes, then silence with the connection open.
// `stop()` closes the server and drops every open connection at once (the server stopped); `requests` logs paths.
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join, normalize } from 'node:path';

export type ModelFileFault = { status: number } | { cutAfter: number } | { shortAfter: number } | { stallAfter: number };

export interface ModelFileServer {
  /** Base URL without a trailing slash. */
  url: string;
  port: number;
  /** Faults by file name; mutable. */
  faults: Map<string, ModelFileFault>;
  requests: string[];
  /** Stops listening and drops every connection, mid-transfer or not. */
  stop(): Promise<void>;
}

export async function startModelFileServer({ root, port = 0 }: { root: string; port?: number }): Promise<ModelFileServer> {
  const faults = new Map<string, ModelFileFault>();
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer(async (request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url!, 'http://x').pathname)).replace(/^\/+/, '');
    requests.push(path);
    const fault = faults.get(path.split('/').pop()!);
    if (fault && 'status' in fault) {
      response.writeHead(fault.status, { 'content-type': 'text/plain' }).end(`fault: HTTP ${fault.status}\n`);
      return;
    }
    let body: Buffer;
    try {
      if (path.startsWith('..')) throw new Error('outside root');
      body = await readFile(join(root, path));
    } catch {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (fault && 'shortAfter' in fault) {
      response.writeHead(200, { 'content-length': fault.shortAfter }).end(body.subarray(0, fault.shortAfter));
      return;
    }
    response.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' });
    if (request.method === 'HEAD') {
      response.end();
      return;
    }
    if (!fault) {
      response.end(body);
      return;
    }
    const limit = 'cutAfter' in fault ? fault.cutAfter : fault.stallAfter;
    response.write(body.subarray(0, limit), () => {
      if ('cutAfter' in fault) setTimeout(() => response.socket?.destroy(), 20);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`, port: bound, faults, requests,
    stop: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    }),
  };
}
