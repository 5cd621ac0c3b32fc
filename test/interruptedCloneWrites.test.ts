// A clone or update of a stored clone cut off after any one of its IndexedDB writes (a reload, a crash) leaves the last complete clone, or nothing for a first clone: LightningFS over fake-indexeddb, the database copied at every write and opened again as the next visit would.
import 'fake-indexeddb/auto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import LightningFS from '@isomorphic-git/lightning-fs';
import http from 'isomorphic-git/http/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cloneRepository, listCommits, listStoredClones, openClone, readSnapshot, removeStoredClone, type GitFs } from '../src/git/index.ts';
import { makeSynthRepos, runGit, type SynthRepoOnDisk } from '../src/synth/writeGitRepo.ts';
import { startGitHttpServer, type GitHttpServer } from './support/gitHttpServer.ts';

// LightningFS takes its lock from navigator.locks when there is one, else from IndexedDB; Node 20 has no navigator.
(globalThis as { navigator?: object }).navigator ??= {};

const DEPTH = 6;
const ROOT = '/repos';
const DIR = `${ROOT}/demo`;

let scratch: string;
let served: string;
let server: GitHttpServer;
let repo: SynthRepoOnDisk;
let databases = 0;

const url = () => `${server.url}/${repo.name}.git`;

/** Every record of LightningFS's file store (file contents by inode, and the directory tree under "!root"). */
async function readDatabase(name: string): Promise<Map<IDBValidKey, unknown>> {
  const db = await openDatabase(name);
  try {
    const store = db.transaction(`${name}_files`, 'readonly').objectStore(`${name}_files`);
    const [keys, values] = await Promise.all([request(store.getAllKeys()), request(store.getAll())]);
    return new Map(keys.map((key, i) => [key, values[i]]));
  } finally {
    db.close();
  }
}

/** A new database holding `records`, as the next visit would find the store: the name LightningFS opens it by. */
async function writeDatabase(records: Map<IDBValidKey, unknown>): Promise<string> {
  const name = `visit-${++databases}`;
  const db = await openDatabase(name);
  const transaction = db.transaction(`${name}_files`, 'readwrite');
  const store = transaction.objectStore(`${name}_files`);
  for (const [key, value] of records) store.put(value, key);
  await new Promise((resolve, reject) => {
    transaction.oncomplete = resolve;
    transaction.onerror = () => reject(transaction.error);
  });
  db.close();
  return name;
}

function openDatabase(name: string): Promise<IDBDatabase> {
  const opening = indexedDB.open(name);
  opening.onupgradeneeded = () => opening.result.createObjectStore(`${name}_files`);
  return request(opening);
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** The calls after which IndexedDB may hold something new: the writes, and flush (which saves the directory tree). */
const RECORDED = new Set(['writeFile', 'unlink', 'mkdir', 'rmdir', 'rename', 'symlink', 'flush']);

/**
 * `fs` whose every write is followed by a copy of what IndexedDB holds at that moment: each copy is what a reload
 * right after that write would find (the writes still in flight, and the debounced save of the tree, are lost).
 */
function recordingCrashPoints(fs: LightningFS, name: string): { fs: GitFs; points: Array<{ after: string; records: Map<IDBValidKey, unknown> }> } {
  const points: Array<{ after: string; records: Map<IDBValidKey, unknown> }> = [];
  const promises = new Proxy(fs.promises, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== 'function' || !RECORDED.has(String(key))) return value;
      return async (...args: unknown[]) => {
        const result = await value.apply(target, args);
        points.push({ after: `${String(key)} ${String(args[0])}`, records: await readDatabase(name) });
        return result;
      };
    },
  });
  return { fs: { promises } as GitFs, points };
}

/** The next visit: LightningFS opened afresh on a copy of the database as it was at one crash point. */
async function nextVisit(records: Map<IDBValidKey, unknown>): Promise<GitFs> {
  return new LightningFS(await writeDatabase(records)) as unknown as GitFs;
}

/** A fresh LightningFS whose first clone of the repository is complete and saved. */
async function storedClone(): Promise<{ name: string; fs: LightningFS; head: string }> {
  const name = `store-${++databases}`;
  const fs = new LightningFS(name);
  const { head } = await cloneRepository({ fs: fs as unknown as GitFs, http, dir: DIR, url: url(), depth: DEPTH });
  await fs.promises.flush();
  return { name, fs, head };
}

/** What a usable clone shows: its history to DEPTH and every file of its head. */
async function describeClone(fs: GitFs): Promise<{ commits: string[]; files: number }> {
  const { head } = await openClone({ fs, dir: DIR, url: url() });
  const commits = (await listCommits({ fs, dir: DIR, limit: DEPTH })).map((c) => c.sha);
  expect(commits[0]).toBe(head);
  return { commits, files: (await readSnapshot({ fs, dir: DIR, commit: head })).files.length };
}

async function pushCommits(count: number): Promise<string> {
  const work = join(scratch, `work-${++databases}`);
  await runGit(['clone', '--quiet', join(served, `${repo.name}.git`), work]);
  for (let i = 0; i < count; i++) {
    await mkdir(join(work, 'pkg'), { recursive: true });
    await writeFile(join(work, 'pkg', `added_${databases}_${i}.py`), `def added_${i}(x):\n    return x + ${i}\n`);
    await runGit(['add', '--all'], { cwd: work });
    await runGit(['-c', 'user.name=T', '-c', 'user.email=t@example.org', 'commit', '--quiet', '-m', `add ${i}`], { cwd: work });
  }
  await runGit(['push', '--quiet', 'origin', 'HEAD:main'], { cwd: work });
  return (await runGit(['rev-parse', 'HEAD'], { cwd: work })).trim();
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'interrupted-clone-'));
  served = join(scratch, 'served');
  [repo] = await makeSynthRepos({ root: served, seeds: [8], commits: 12 });
  server = await startGitHttpServer({ root: served });
});

afterAll(async () => {
  await server?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('a reload after any write', () => {
  it('of a first clone finds either no clone (and a clone then starts clean) or the whole clone', async () => {
    const name = `store-${++databases}`;
    const { fs, points } = recordingCrashPoints(new LightningFS(name), name);
    const { head } = await cloneRepository({ fs, http, dir: DIR, url: url(), depth: DEPTH });
    const complete = await describeClone(fs);
    expect(points.length).toBeGreaterThan(5);
    let found = 0;
    for (const [i, point] of points.entries()) {
      const visit = await nextVisit(point.records);
      const [stored] = await listStoredClones({ fs: visit, root: ROOT });
      if (stored?.url) {
        expect(await describeClone(visit), `after write ${i}: ${point.after}`).toEqual(complete);
        found++;
      } else {
        await expect(openClone({ fs: visit, dir: DIR, url: url() })).rejects.toMatchObject({ code: 'NOT_CLONED' });
        // The half-written directory is discarded by the next clone, which is then complete.
        expect(await cloneRepository({ fs: visit, http, dir: DIR, url: url(), depth: DEPTH })).toMatchObject({ head, reused: false });
        expect(await describeClone(visit)).toEqual(complete);
      }
    }
    // The clone is kept from the write that completes it: a reload right after cloneRepository returns finds it.
    expect(found, 'crash points after which the clone was found complete').toBeGreaterThanOrEqual(1);
    console.log(`first clone: ${points.length} crash points, the clone found whole after ${found}, none after ${points.length - found}`);
    const last = await nextVisit(points[points.length - 1].records);
    expect(await describeClone(last)).toEqual(complete);
  });

  it('of an update with new commits finds the clone before or after the update, whole', async () => {
    const { name, fs: store } = await storedClone();
    const before = await describeClone(store as unknown as GitFs);
    const newHead = await pushCommits(3);
    const { fs, points } = recordingCrashPoints(store, name);
    expect(await cloneRepository({ fs, http, dir: DIR, url: url(), depth: DEPTH })).toMatchObject({ head: newHead, reused: true });
    const after = await describeClone(fs);
    expect(after.commits.slice(3)).toEqual(before.commits.slice(0, DEPTH - 3));
    const seen = { before: 0, after: 0 };
    for (const [i, point] of points.entries()) {
      const found = await describeClone(await nextVisit(point.records)).catch((error: Error) => error);
      expect(found, `after write ${i}: ${point.after}`).not.toBeInstanceOf(Error);
      if ((found as { commits: string[] }).commits[0] === newHead) {
        expect(found, `after write ${i}: ${point.after}`).toEqual(after);
        seen.after++;
      } else {
        expect(found, `after write ${i}: ${point.after}`).toEqual(before);
        seen.before++;
      }
    }
    expect(seen.before).toBeGreaterThan(0);
    console.log(`update: ${points.length} crash points, the clone before the update after ${seen.before}, after it after ${seen.after}`);
    // A reload right after cloneRepository returned finds the update.
    expect(await describeClone(await nextVisit(points[points.length - 1].records))).toEqual(after);
  });

  it('of a deletion finds the clone whole or no complete clone', async () => {
    const { name, fs: store } = await storedClone();
    const whole = await describeClone(store as unknown as GitFs);
    const { fs, points } = recordingCrashPoints(store, name);
    await removeStoredClone({ fs, root: ROOT, dir: DIR });
    let kept = 0;
    for (const [i, point] of points.entries()) {
      const visit = await nextVisit(point.records);
      const [stored] = await listStoredClones({ fs: visit, root: ROOT });
      if (stored?.url) {
        expect(await describeClone(visit), `after write ${i}: ${point.after}`).toEqual(whole);
        kept++;
      } else await expect(openClone({ fs: visit, dir: DIR, url: url() })).rejects.toMatchObject({ code: 'NOT_CLONED' });
    }
    console.log(`deletion: ${points.length} crash points, the clone found whole after ${kept}, a half-deleted one (no marker) after ${points.length - kept}`);
    const last = await nextVisit(points[points.length - 1].records);
    expect(await listStoredClones({ fs: last, root: ROOT })).toEqual([]);
  });
});
