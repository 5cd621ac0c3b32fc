// Storage full and stored clones: a quota refusal becomes GitError STORAGE_FULL saying what to delete, a clone that hits it keeps nothing, and stored clones are listed and deleted.
import * as fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'isomorphic-git/http/node';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { asStorageFull, cloneRepository, GitError, listStoredClones, removeStoredClone, STORAGE_FULL_ADVICE, type GitFs } from '../src/git/index.ts';
import { PersistentFileEmbeddingCache, reportingStorageFull, type KeyValueStore } from '../src/app/workers/embeddingStore.ts';
import { makeSynthRepos, type SynthRepoOnDisk } from '../src/synth/writeGitRepo.ts';
import { startGitHttpServer, type GitHttpServer } from './support/gitHttpServer.ts';

const quotaError = () => new DOMException('The quota has been exceeded.', 'QuotaExceededError');

let scratch: string;
let server: GitHttpServer;
let repo: SynthRepoOnDisk;
const urlOf = (name: string) => `${server.url}/${name}.git`;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'storage-full-test-'));
  [repo] = await makeSynthRepos({ root: join(scratch, 'served'), seeds: [5], commits: 4 });
  server = await startGitHttpServer({ root: join(scratch, 'served') });
});

afterAll(async () => {
  await server?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

afterEach(() => vi.unstubAllGlobals());

describe('asStorageFull', () => {
  it('turns a QuotaExceededError DOMException into STORAGE_FULL with the usage of the quota and what to delete', async () => {
    vi.stubGlobal('navigator', { storage: { estimate: async () => ({ usage: 1.9 * 1024 ** 3, quota: 2 * 1024 ** 3 }) } });
    const mapped = await asStorageFull(quotaError(), 'the clone');
    expect(mapped).toBeInstanceOf(GitError);
    expect((mapped as GitError).code).toBe('STORAGE_FULL');
    expect((mapped as GitError).message).toBe(
      `Browser storage is full (1.90 GiB of 2.00 GiB used): the clone could not be saved. To make room, ${STORAGE_FULL_ADVICE}.`,
    );
    expect((mapped as GitError).data).toEqual({ usage: 1.9 * 1024 ** 3, quota: 2 * 1024 ** 3 });
  });

  it('says no usage where the browser gives no estimate', async () => {
    vi.stubGlobal('navigator', {});
    const mapped = (await asStorageFull(quotaError(), 'the clone')) as GitError;
    expect(mapped.message).toBe(`Browser storage is full: the clone could not be saved. To make room, ${STORAGE_FULL_ADVICE}.`);
  });

  it('returns any other error unchanged, a DOMException of another name included', async () => {
    for (const other of [new DOMException('aborted', 'AbortError'), new Error('disk says no'), new GitError('NETWORK', 'cut')]) {
      expect(await asStorageFull(other, 'the clone')).toBe(other);
    }
  });
});

describe('the embedding and Evo state cache over a full store', () => {
  it('keeps working in memory, reports STORAGE_FULL once per cache, and passes other failures on unreported', async () => {
    vi.stubGlobal('navigator', { storage: { estimate: async () => ({ usage: 500 * 1024 ** 2, quota: 512 * 1024 ** 2 }) } });
    let next: Error = quotaError();
    const full: KeyValueStore = { get: async () => undefined, set: async () => { throw next; } };
    const reported: GitError[] = [];
    const store = reportingStorageFull(full, (error) => reported.push(error));

    const cache = new PersistentFileEmbeddingCache(store, 'enc');
    await cache.set('blob1', Float32Array.from([1, 2]));
    await cache.set('blob2', Float32Array.from([3])); // the store was given up after the first failure: not tried again
    expect(await cache.get('blob1')).toEqual(Float32Array.from([1, 2]));
    expect(await cache.get('blob2')).toEqual(Float32Array.from([3]));
    expect(reported.map((error) => [error.code, error.message])).toEqual([[
      'STORAGE_FULL',
      `Browser storage is full (500.0 MiB of 512.0 MiB used): the cache of embeddings and Evo states could not be saved. To make room, ${STORAGE_FULL_ADVICE}.`,
    ]]);

    next = new Error('IndexedDB is closed');
    expect(await store.set('k', 1).then(() => null, (err: unknown) => err)).toBe(next);
    expect(reported).toHaveLength(1);
  });
});

/** node:fs whose writeFile refuses for quota once `allowed` files were written: a browser store filling up mid-clone. */
function fillingFs(allowed: number): GitFs & { refused: number } {
  let written = 0;
  const filling = {
    refused: 0,
    promises: {
      ...fs.promises,
      writeFile: async (...args: Parameters<typeof fs.promises.writeFile>) => {
        if (++written > allowed) {
          filling.refused++;
          throw quotaError();
        }
        return fs.promises.writeFile(...args);
      },
    },
  };
  return filling as unknown as GitFs & { refused: number };
}

describe('cloneRepository into a full store', () => {
  it('fails with STORAGE_FULL tagged git.cloneRepository and leaves no directory behind', async () => {
    const dir = join(scratch, 'full-clone');
    const full = fillingFs(3);
    const error = await cloneRepository({ fs: full, http, dir, url: urlOf(repo.name) }).then(() => null, (err: unknown) => err);
    expect(full.refused).toBeGreaterThan(0);
    expect(error).toBeInstanceOf(GitError);
    expect((error as GitError).code).toBe('STORAGE_FULL');
    expect((error as GitError).caller).toBe('git.cloneRepository');
    expect((error as GitError).message).toContain(STORAGE_FULL_ADVICE);
    expect(fs.existsSync(dir)).toBe(false);
  });
});

describe('listStoredClones and removeStoredClone', () => {
  it('lists complete clones with URL and size and half-written ones without URL; deletes one; refuses paths outside the root', async () => {
    const root = join(scratch, 'repos');
    const dir = join(root, 'complete');
    await cloneRepository({ fs, http, dir, url: urlOf(repo.name) });
    fs.mkdirSync(join(root, 'half'), { recursive: true });
    fs.writeFileSync(join(root, 'half', 'partial.pack'), 'x'.repeat(10));

    const listed = await listStoredClones({ fs, root });
    expect(listed.map(({ dir: d, url }) => ({ d, url }))).toEqual([{ d: dir, url: urlOf(repo.name) }, { d: join(root, 'half'), url: null }]);
    expect(listed[0].bytes).toBeGreaterThan(1000);
    expect(listed[1].bytes).toBe(10);

    for (const outside of [root, `${root}/..`, `${root}/complete/.git`, join(scratch, 'served')]) {
      const refused = await removeStoredClone({ fs, root, dir: outside }).then(() => null, (err: unknown) => err);
      expect((refused as GitError).code, outside).toBe('UNSAFE_PATH');
    }
    await removeStoredClone({ fs, root, dir });
    expect(fs.existsSync(dir)).toBe(false);
    expect((await listStoredClones({ fs, root })).map((clone) => clone.dir)).toEqual([join(root, 'half')]);
    const missing = await removeStoredClone({ fs, root, dir }).then(() => null, (err: unknown) => err);
    expect((missing as GitError).code).toBe('NOT_CLONED');
    expect(await listStoredClones({ fs, root: join(scratch, 'nothing-here') })).toEqual([]);
  });
});
