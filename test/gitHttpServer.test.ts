// The local git smart-HTTP test server: clones with git and isomorphic-git, CORS, 404s, fault injection, script mode.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import git from 'isomorphic-git';
import http from 'isomorphic-git/http/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshotAt } from '../src/synth/generateRepo.ts';
import { makeSynthRepos, runGit, type SynthRepoOnDisk } from '../src/synth/writeGitRepo.ts';
import { startGitHttpServer, type GitHttpServer } from './support/gitHttpServer.ts';

const SERVER_SCRIPT = fileURLToPath(new URL('./support/gitHttpServer.ts', import.meta.url));

let scratch: string;
let repos: SynthRepoOnDisk[];
let server: GitHttpServer;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'git-http-test-'));
  repos = await makeSynthRepos({ root: join(scratch, 'served'), seeds: [1, 2], commits: 12 });
  server = await startGitHttpServer({ root: join(scratch, 'served') });
});

afterAll(async () => {
  await server?.close();
  await rm(scratch, { recursive: true, force: true });
});

const repoUrl = (repo: SynthRepoOnDisk) => `${server.url}/${repo.name}.git`;

/** An upload-pack request for one commit, as pkt-lines. */
function uploadPackRequest(sha: string): Buffer {
  const line = (text: string) => `${(text.length + 4).toString(16).padStart(4, '0')}${text}`;
  return Buffer.from(`${line(`want ${sha} ofs-delta\n`)}0000${line('done\n')}`);
}

describe('startGitHttpServer', () => {
  it('serves a clone to the git CLI', async () => {
    const [repo] = repos;
    const dir = join(scratch, 'cli-clone');
    await runGit(['clone', '--quiet', repoUrl(repo), dir]);
    expect((await runGit(['rev-parse', 'HEAD'], { cwd: dir })).trim()).toBe(repo.head);
    expect((await runGit(['rev-list', '--count', 'HEAD'], { cwd: dir })).trim()).toBe('12');
  });

  it('serves a clone to isomorphic-git over http', async () => {
    const repo = repos[1];
    const dir = join(scratch, 'iso-clone');
    const phases = new Set<string>();
    await git.clone({ fs, http, dir, url: repoUrl(repo), onProgress: (event) => void phases.add(event.phase) });
    const log = await git.log({ fs, dir });
    expect(log.map((entry) => entry.oid)).toEqual([...repo.commitShas].reverse());
    expect(await readFile(join(dir, 'README.md'), 'utf8')).toBe(snapshotAt(repo.repo, 11)['README.md']);
    expect(phases.size).toBeGreaterThan(0);
  });

  it('sends CORS headers on responses and answers preflight requests', async () => {
    const refs = await fetch(`${repoUrl(repos[0])}/info/refs?service=git-upload-pack`, { headers: { Origin: 'http://localhost:5173' } });
    expect(refs.status).toBe(200);
    expect(refs.headers.get('content-type')).toBe('application/x-git-upload-pack-advertisement');
    expect(refs.headers.get('access-control-allow-origin')).toBe('*');
    expect(refs.headers.get('access-control-expose-headers')).toMatch(/WWW-Authenticate/);
    expect(await refs.text()).toContain(repos[0].head);

    const preflight = await fetch(`${repoUrl(repos[0])}/git-upload-pack`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://localhost:5173', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type, git-protocol' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-methods')).toMatch(/POST/);
    for (const header of ['content-type', 'git-protocol', 'authorization', 'user-agent']) {
      expect(preflight.headers.get('access-control-allow-headers')!.toLowerCase()).toContain(header);
    }
  });

  it('lists the served repositories at /', async () => {
    const response = await fetch(`${server.url}/`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ repositories: repos.map((repo) => `${repo.name}.git`).sort() });
  });

  it('answers 404 for a repository that does not exist', async () => {
    const response = await fetch(`${server.url}/no-such-repo.git/info/refs?service=git-upload-pack`);
    expect(response.status).toBe(404);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    await expect(git.getRemoteInfo({ http, url: `${server.url}/no-such-repo.git` })).rejects.toMatchObject({ code: 'HttpError' });
  });

  it('accepts gzip-compressed upload-pack requests', async () => {
    const [repo] = repos;
    const post = (body: Buffer, gzip: boolean) => fetch(`${repoUrl(repo)}/git-upload-pack`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-git-upload-pack-request', ...(gzip ? { 'Content-Encoding': 'gzip' } : {}) },
      body: new Uint8Array(gzip ? gzipSync(body) : body),
    });
    for (const gzip of [false, true]) {
      const response = await post(uploadPackRequest(repo.head), gzip);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/x-git-upload-pack-result');
      const bytes = Buffer.from(await response.arrayBuffer());
      expect(bytes.subarray(0, 8).toString()).toBe('0008NAK\n');
      expect(bytes.includes(Buffer.from('PACK'))).toBe(true);
    }
  });

  it('injects status codes, cut connections, truncated and stalled bodies, and recovers when the faults are cleared', async () => {
    const repo = repos[0];
    server.faults = { statusFor: (path) => (path.startsWith(`/${repo.name}.git/`) ? 401 : undefined) };
    const denied = await fetch(`${repoUrl(repo)}/info/refs?service=git-upload-pack`);
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toMatch(/^Basic/);
    expect(denied.headers.get('access-control-allow-origin')).toBe('*');
    await expect(git.clone({ fs, http, dir: join(scratch, 'denied'), url: repoUrl(repo) }))
      .rejects.toMatchObject({ code: 'HttpError', data: { statusCode: 401 } });
    expect((await fetch(`${repoUrl(repos[1])}/info/refs?service=git-upload-pack`)).status).toBe(200);

    server.faults = { failAfterBytes: 1000 };
    await expect(git.clone({ fs, http, dir: join(scratch, 'cut'), url: repoUrl(repo) })).rejects.toMatchObject({ code: 'ECONNRESET' });
    const cut = server.requests.filter((request) => request.path.endsWith('/git-upload-pack')).at(-1);
    expect(cut).toMatchObject({ method: 'POST', status: 200 });

    server.faults = { truncateAfterBytes: 50 };
    const truncated = await fetch(`${repoUrl(repo)}/info/refs?service=git-upload-pack`);
    expect(truncated.status).toBe(200);
    expect((await truncated.arrayBuffer()).byteLength).toBe(50);

    server.faults = { stallAfterBytes: 50 };
    const stalled = await fetch(`${repoUrl(repo)}/info/refs?service=git-upload-pack`, { signal: AbortSignal.timeout(500) });
    const reader = stalled.body!.getReader();
    let stalledBytes = 0;
    const stallEnd = await (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return 'ended';
        stalledBytes += value.byteLength;
      }
    })().catch((error: Error) => error.name);
    expect([stalledBytes, stallEnd]).toEqual([50, 'TimeoutError']);

    server.faults = { delayMs: 300 };
    const started = performance.now();
    expect((await fetch(`${repoUrl(repo)}/info/refs?service=git-upload-pack`)).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);

    server.faults = {};
    await git.clone({ fs, http, dir: join(scratch, 'after-faults'), url: repoUrl(repo) });
    expect(await git.resolveRef({ fs, dir: join(scratch, 'after-faults'), ref: 'HEAD' })).toBe(repo.head);
  });

  it('runs as a script that generates repositories and prints the URL', async () => {
    const root = join(scratch, 'script-root');
    const child = spawn(process.execPath, ['--import', 'tsx', SERVER_SCRIPT, '--root', root, '--seeds', '3', '--commits', '4'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const lines = await new Promise<string[]>((resolve, reject) => {
        let output = '';
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const lines = output.split('\n');
          if (lines.length > 2) resolve(lines);
        });
        child.on('exit', (code) => reject(new Error(`server script exited ${code}`)));
      });
      expect(lines[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const repoLine = lines[1].split(/\s+/);
      expect(repoLine[0]).toMatch(new RegExp(`^${lines[0]}/.+\\.git$`));
      const info = await git.getRemoteInfo({ http, url: repoLine[0] });
      expect(info.refs?.heads?.main).toBe(repoLine.at(-1));
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  });
});
