// src/git against the git CLI on generated repositories served over smart HTTP: clone, log, snapshots, diffs, errors.
import * as fs from 'node:fs';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HttpClient } from 'isomorphic-git';
import http from 'isomorphic-git/http/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cloneRepository, diffCommit, formatBytes, GitError, isEvoDiffPath, listCommits, listTreeFiles, normalizeRepoUrl, readSnapshot,
  readTextFile, requirePythonFiles,
} from '../src/git/index.ts';
import { guardHttp } from '../src/git/guardedHttp.ts';
import type { Progress } from '../src/util/progress.ts';
import { snapshotAt } from '../src/synth/generateRepo.ts';
import { makeSynthRepos, runGit, type SynthRepoOnDisk } from '../src/synth/writeGitRepo.ts';
import { startGitHttpServer, type GitHttpServer } from './support/gitHttpServer.ts';

const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
/** Seed 3, commit 21: a change git and plain Myers align differently (see the diffCommit tests). */
const SLID_COMMIT = 'b9d80ea2300a7324c3da26e96148fcaef6b3c64f';
const COMMITS = 30;
/** Fixed identity and date for commits the tests add with the git CLI, so runs are reproducible. */
const EXTRA_COMMIT_ENV = {
  GIT_AUTHOR_NAME: 'Extra Tester', GIT_AUTHOR_EMAIL: 'extra@example.org', GIT_AUTHOR_DATE: '1700000000 +0000',
  GIT_COMMITTER_NAME: 'Extra Tester', GIT_COMMITTER_EMAIL: 'extra@example.org', GIT_COMMITTER_DATE: '1700000000 +0000',
};

let scratch: string;
let served: string;
let server: GitHttpServer;
/** Used read-only by every test. */
let main: SynthRepoOnDisk;
/** Gets new commits pushed in the re-clone test. */
let growing: SynthRepoOnDisk;
let mainClone: string;
let cloneEvents: Progress[];
let cloneResult: Awaited<ReturnType<typeof cloneRepository>>;
let dirCount = 0;

const urlOf = (name: string) => `${server.url}/${name}.git`;
const freshDir = () => join(scratch, `clone-${++dirCount}`);
const pythonFilesOf = (tree: Record<string, string>) => Object.fromEntries(Object.entries(tree).filter(([path]) => path.endsWith('.py')));

async function expectGitError(promise: Promise<unknown>, code: GitError['code'], caller: string): Promise<GitError> {
  const error = await promise.then(() => null, (err: unknown) => err);
  expect(error, `expected a ${code} GitError`).toBeInstanceOf(GitError);
  expect((error as GitError).code).toBe(code);
  expect((error as GitError).caller).toBe(caller);
  return error as GitError;
}

/** Commit `files` (path -> content; null deletes) on top of the served bare repository `name` with the git CLI. */
async function pushCommit(name: string, message: string, files: Record<string, string | Buffer | null>): Promise<string> {
  const work = join(scratch, `work-${name}-${++dirCount}`);
  await runGit(['clone', '--quiet', join(served, `${name}.git`), work]);
  for (const [path, content] of Object.entries(files)) {
    if (content === null) await runGit(['rm', '--quiet', path], { cwd: work });
    else {
      await mkdir(join(work, path, '..'), { recursive: true });
      await writeFile(join(work, path), content);
    }
  }
  await runGit(['add', '--all'], { cwd: work });
  await runGit(['commit', '--quiet', '-m', message], { cwd: work, env: EXTRA_COMMIT_ENV });
  await runGit(['push', '--quiet', 'origin', 'HEAD:main'], { cwd: work });
  return (await runGit(['rev-parse', 'HEAD'], { cwd: work })).trim();
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'git-test-'));
  served = join(scratch, 'served');
  [main, growing] = await makeSynthRepos({ root: served, seeds: [3, 4], commits: COMMITS });
  server = await startGitHttpServer({ root: served });
  mainClone = freshDir();
  cloneEvents = [];
  cloneResult = await cloneRepository({ fs, http, dir: mainClone, url: urlOf(main.name), onProgress: (p) => cloneEvents.push({ ...p }) });
});

afterAll(async () => {
  await server?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('cloneRepository', () => {
  it('clones the whole short history and reports progress: phases in order, counts and bytes that only grow', () => {
    expect(cloneResult).toMatchObject({ head: main.head, branch: 'main', reused: false });
    expect(cloneResult.bytes).toBeGreaterThan(1000);
    const phases = [...new Set(cloneEvents.map((e) => e.detail))];
    expect(phases[0]).toBe('Connecting');
    expect(phases).toContain('Receiving objects');
    expect(phases[phases.length - 1]).toBe('Resolving deltas');
    for (let i = 1; i < cloneEvents.length; i++) {
      expect(cloneEvents[i].bytes!).toBeGreaterThanOrEqual(cloneEvents[i - 1].bytes!);
      if (cloneEvents[i].detail === cloneEvents[i - 1].detail) expect(cloneEvents[i].done).toBeGreaterThanOrEqual(cloneEvents[i - 1].done);
    }
    expect(cloneEvents[cloneEvents.length - 1].bytes).toBe(cloneResult.bytes);
    const receiving = cloneEvents.filter((e) => e.detail === 'Receiving objects');
    expect(receiving[receiving.length - 1].done).toBe(receiving[receiving.length - 1].total);
    expect(receiving[receiving.length - 1].done).toBeGreaterThan(COMMITS); // commits, trees and blobs
  });

  it('keeps only the last `depth` commits, and listCommits stops at that boundary', async () => {
    const dir = freshDir();
    const result = await cloneRepository({ fs, http, dir, url: urlOf(main.name), depth: 5 });
    expect(result.head).toBe(main.head);
    const commits = await listCommits({ fs, dir, limit: 200 });
    expect(commits.map((c) => c.sha)).toEqual(main.commitShas.slice(-5).reverse());
    expect(fs.readFileSync(join(dir, '.git', 'shallow'), 'utf8').trim()).toBe(main.commitShas[COMMITS - 5]);
  });
});

describe('listCommits', () => {
  it('gives the same commits, parents, authors, times, messages and changed files as `git log --name-only`', async () => {
    const raw = await runGit(['log', '--no-renames', '--name-only', '--format=%x1e%H%x00%P%x00%an%x00%ae%x00%at%x00%B%x00'], { cwd: main.dir });
    const expected = raw.split('\x1e').slice(1).map((record) => {
      const [sha, parents, name, email, time, message, files] = record.split('\0');
      return {
        sha, parents: parents ? parents.split(' ') : [], author: { name, email }, timestamp: Number(time), message: message.trim(),
        files: files.split('\n').filter(Boolean).sort(),
      };
    });
    expect(expected).toHaveLength(COMMITS);
    const commits = await listCommits({ fs, dir: mainClone, withFiles: true });
    expect(commits.map((c) => ({ ...c, files: [...c.files!].sort() }))).toEqual(expected);
    expect(commits.map((c) => c.message)).toEqual(main.repo.commits.map((c) => c.message.trim()).reverse());
  });

  it('follows first parents only with `firstParent`, as `git rev-list --first-parent` (a merge is one step)', async () => {
    const dir = freshDir();
    await runGit(['init', '--quiet', '--initial-branch=main', dir]);
    const commit = async (path: string, content: string, message: string) => {
      await writeFile(join(dir, path), content);
      await runGit(['add', path], { cwd: dir });
      await runGit(['commit', '--quiet', '-m', message], { cwd: dir, env: EXTRA_COMMIT_ENV });
    };
    await commit('a.py', 'A = 1\n', 'root');
    await commit('a.py', 'A = 2\n', 'main 1');
    await runGit(['checkout', '--quiet', '-b', 'side', 'HEAD~1'], { cwd: dir });
    await commit('b.py', 'B = 1\n', 'side 1');
    await commit('b.py', 'B = 2\n', 'side 2');
    await runGit(['checkout', '--quiet', 'main'], { cwd: dir });
    await runGit(['merge', '--quiet', '--no-ff', '-m', 'merge side', 'side'], { cwd: dir, env: EXTRA_COMMIT_ENV });
    await commit('a.py', 'A = 3\n', 'main 2');
    const expected = (await runGit(['rev-list', '--first-parent', 'HEAD'], { cwd: dir })).trim().split('\n');
    expect(expected).toHaveLength(4);
    const cache = {};
    const commits = await listCommits({ fs, dir, firstParent: true, withFiles: true, cache });
    expect(commits.map((c) => c.sha)).toEqual(expected);
    expect(commits.map((c) => c.message)).toEqual(['main 2', 'merge side', 'main 1', 'root']);
    expect(commits[1].files).toEqual(['b.py']); // the merge against its first parent
    expect((await listCommits({ fs, dir, firstParent: true, limit: 2, ref: expected[1] })).map((c) => c.sha)).toEqual(expected.slice(1, 3));
  });

  it('returns the newest `limit` commits, without files unless asked', async () => {
    const commits = await listCommits({ fs, dir: mainClone, limit: 7 });
    expect(commits.map((c) => c.sha)).toEqual(main.commitShas.slice(-7).reverse());
    expect(commits.every((c) => c.files === undefined)).toBe(true);
  });
});

describe('readSnapshot', () => {
  it('reads exactly the generator\'s Python files at several commits and counts the other files', async () => {
    for (const index of [0, 9, 17, COMMITS - 1]) {
      const tree = snapshotAt(main.repo, index);
      const snapshot = await readSnapshot({ fs, dir: mainClone, commit: main.commitShas[index] });
      expect(Object.fromEntries(snapshot.files.map((f) => [f.path, f.content])), `commit ${index}`).toEqual(pythonFilesOf(tree));
      expect(snapshot.files.map((f) => f.path)).toEqual(Object.keys(pythonFilesOf(tree)).sort());
      expect(snapshot.skipped).toEqual({
        binary: 0, tooLarge: 0, vendored: 0, generated: 0, notIncluded: Object.keys(tree).length - snapshot.files.length, symlinks: 0, submodules: 0,
      });
    }
  });

  it('skips and counts binary, oversized, vendored and generated files and notebooks', async () => {
    await runGit(['clone', '--quiet', '--bare', main.dir, join(served, 'extras.git')]);
    const extras = {
      'pkg_data/blob.py': Buffer.from([0x70, 0x72, 0x69, 0x6e, 0x74, 0x00, 0x01, 0x02]),
      'pkg_data/huge_table.py': `TABLE = [\n${'    "0123456789abcdef",\n'.repeat(400)}]\n`,
      'vendor/six.py': 'PY3 = True\n',
      'third_party/lib/inner/util.py': 'def helper():\n    return 1\n',
      'third_party/lib/README.md': '# vendored\n',
      'pkg_data/api_pb2.py': '# Generated by the protocol buffer compiler.  DO NOT EDIT!\n',
      'notebooks/demo.ipynb': '{"cells": [], "nbformat": 4}\n',
      'docs/logo.png': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00]),
    };
    const head = await pushCommit('extras', 'Add assets, vendored code and generated files', extras);
    const dir = freshDir();
    await cloneRepository({ fs, http, dir, url: urlOf('extras') });
    const snapshot = await readSnapshot({ fs, dir, commit: head, maxFileBytes: 4096 });
    const tree = snapshotAt(main.repo, COMMITS - 1);
    expect(Object.fromEntries(snapshot.files.map((f) => [f.path, f.content]))).toEqual(pythonFilesOf(tree));
    const nonPython = Object.keys(tree).length - snapshot.files.length;
    // The README, the notebook and the PNG are not Python: they count as not included, wherever they are.
    expect(snapshot.skipped).toEqual({ binary: 1, tooLarge: 1, vendored: 2, generated: 1, notIncluded: nonPython + 3, symlinks: 0, submodules: 0 });
  });

  it('fails with TOO_MANY_FILES past maxFiles, and accepts exactly maxFiles', async () => {
    const commit = main.head;
    const count = Object.keys(pythonFilesOf(snapshotAt(main.repo, COMMITS - 1))).length;
    expect((await readSnapshot({ fs, dir: mainClone, commit, maxFiles: count })).files).toHaveLength(count);
    const error = await expectGitError(readSnapshot({ fs, dir: mainClone, commit, maxFiles: count - 1 }), 'TOO_MANY_FILES', 'git.readSnapshot');
    expect(error.data).toEqual({ maxFiles: count - 1 });
  });

  it('reports a snapshot without Python as NO_PYTHON (requirePythonFiles)', async () => {
    await runGit(['init', '--quiet', '--bare', '--initial-branch=main', join(served, 'docs-only.git')]);
    const work = join(scratch, 'docs-only-work');
    await runGit(['clone', '--quiet', join(served, 'docs-only.git'), work]);
    await writeFile(join(work, 'README.md'), '# Just documentation\n');
    await writeFile(join(work, 'setup.cfg'), '[metadata]\nname = docs\n');
    await runGit(['add', '--all'], { cwd: work });
    await runGit(['commit', '--quiet', '-m', 'docs'], { cwd: work, env: EXTRA_COMMIT_ENV });
    await runGit(['push', '--quiet', 'origin', 'HEAD:main'], { cwd: work });
    const dir = freshDir();
    const { head } = await cloneRepository({ fs, http, dir, url: urlOf('docs-only') });
    const snapshot = await readSnapshot({ fs, dir, commit: head });
    expect(snapshot.skipped.notIncluded).toBe(2);
    const error = await expectGitError(Promise.resolve().then(() => requirePythonFiles(snapshot)), 'NO_PYTHON', 'git.requirePythonFiles');
    expect(error.message).toContain('2 other files');
    const python = await readSnapshot({ fs, dir: mainClone, commit: main.head });
    expect(requirePythonFiles(python)).toBe(python);
  });
});

describe('listTreeFiles and readTextFile', () => {
  it("list every file of a commit's tree and read each one as the generator wrote it", async () => {
    for (const index of [0, COMMITS - 1]) {
      const tree = snapshotAt(main.repo, index);
      const commit = main.commitShas[index];
      const paths = await listTreeFiles({ fs, dir: mainClone, commit });
      expect(paths, `commit ${index}`).toEqual(Object.keys(tree).sort());
      for (const path of paths.slice(0, 5)) expect(await readTextFile({ fs, dir: mainClone, commit, path })).toBe(tree[path]);
    }
  });

  it('say NOT_FOUND for a path the tree lacks, NOT_TEXT for a binary file, TOO_LARGE past maxBytes', async () => {
    await runGit(['clone', '--quiet', '--bare', main.dir, join(served, 'editor-files.git')]);
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00]);
    const head = await pushCommit('editor-files', 'Add a logo', { 'docs/logo.png': png });
    const dir = freshDir();
    await cloneRepository({ fs, http, dir, url: urlOf('editor-files') });
    expect(await listTreeFiles({ fs, dir, commit: head })).toContain('docs/logo.png');
    await expectGitError(readTextFile({ fs, dir, commit: head, path: 'docs/logo.png' }), 'NOT_TEXT', 'git.readTextFile');
    const missing = await expectGitError(readTextFile({ fs, dir, commit: head, path: 'no/such.py' }), 'NOT_FOUND', 'git.readTextFile');
    expect(missing.data).toEqual({ commit: head, path: 'no/such.py' });
    const python = Object.keys(pythonFilesOf(snapshotAt(main.repo, COMMITS - 1)))[0];
    await expectGitError(readTextFile({ fs, dir, commit: head, path: python, maxBytes: 4 }), 'TOO_LARGE', 'git.readTextFile');
  });
});

describe('diffCommit', () => {
  /** `git diff` text for the paper's files, without the `diff --git`, index and mode lines our patches leave out. */
  async function gitDiffText(parent: string, commit: string): Promise<string> {
    const names = (await runGit(['diff', '--no-renames', '--name-only', parent, commit], { cwd: main.dir })).split('\n').filter(isEvoDiffPath);
    if (names.length === 0) return '';
    const text = await runGit(['diff', '--no-renames', '-U3', parent, commit, '--', ...names], { cwd: main.dir });
    return text.split('\n').filter((line) => !/^(diff --git |index |new file mode |deleted file mode )/.test(line)).join('\n');
  }

  it('equals `git diff -U3` of the non-test .py/.md/.rst files byte for byte, hunk headings included, for every commit', async () => {
    let hunks = 0;
    let slid = 0;
    for (const [index, sha] of main.commitShas.entries()) {
      const parent = index === 0 ? EMPTY_TREE : main.commitShas[index - 1];
      const diffs = await diffCommit({ fs, dir: mainClone, commit: sha });
      expect(diffs.every((d) => isEvoDiffPath(d.path) && !d.binary)).toBe(true);
      expect(diffs.map((d) => d.patch).join(''), `commit ${index} ${sha}`).toBe(await gitDiffText(parent, sha));
      hunks += diffs.reduce((sum, d) => sum + d.hunks.length, 0);
      if (sha === SLID_COMMIT) slid++;
    }
    expect(hunks).toBeGreaterThan(COMMITS);
    expect(slid).toBe(1);
  });

  it('places a block that could slide where git does (jsdiff alone puts it elsewhere)', async () => {
    // Seed 3's commit 21 turns a one-line docstring into three lines before a blank line: the added blank line can
    // be matched with either blank line. Plain Myers (jsdiff) keeps the old blank line first; git slides the block.
    const [file] = await diffCommit({ fs, dir: mainClone, commit: SLID_COMMIT });
    expect(file.hunks[0].lines.filter((line) => line.startsWith('+')).slice(0, 4)).toEqual([
      expect.stringContaining('Register'), '+', expect.stringContaining('Handlers are stored'), '+    """',
    ]);
  });

  it('gives hunk ranges as git writes them, and lists the changes of a root commit as additions', async () => {
    const [root] = main.commitShas;
    const diffs = await diffCommit({ fs, dir: mainClone, commit: root });
    expect(diffs.length).toBeGreaterThan(0);
    for (const diff of diffs) {
      expect(diff.status).toBe('added');
      expect(diff.hunks).toHaveLength(1);
      expect(diff.hunks[0]).toMatchObject({ oldStart: 0, oldLines: 0, newStart: 1 });
      expect(diff.hunks[0].lines.every((line) => line.startsWith('+'))).toBe(true);
    }
  });
});

describe('clone failures', () => {
  it('rejects host names that some URL parsers let through (Chromium keeps a space as %20) with INVALID_URL', () => {
    for (const input of ['http://exa%20mple.org/owner/repo', 'https://exa mple.org/a/b', 'http://a..b/x.git', 'http://host!/x']) {
      expect(() => normalizeRepoUrl(input), input).toThrow(expect.objectContaining({ code: 'INVALID_URL' }));
    }
    for (const input of ['http://127.0.0.1:8080/x.git', 'http://[::1]:9/x', 'https://git.example-host.org/a/b.git', 'https://bücher.de/a/b']) {
      expect(normalizeRepoUrl(input).url, input).toMatch(/^https?:\/\//);
    }
  });

  it('reports a missing repository as NOT_FOUND (404) and leaves no directory', async () => {
    const dir = freshDir();
    const error = await expectGitError(cloneRepository({ fs, http, dir, url: urlOf('no-such-repo') }), 'NOT_FOUND', 'git.cloneRepository');
    expect(error.data).toEqual({ status: 404 });
    expect(fs.existsSync(dir)).toBe(false);
  });

  it.each([401, 403])('reports HTTP %i as UNAUTHORIZED', async (status) => {
    server.faults = { statusFor: (path) => (path.startsWith(`/${main.name}.git/`) ? status : undefined) };
    try {
      const dir = freshDir();
      const error = await expectGitError(cloneRepository({ fs, http, dir, url: urlOf(main.name) }), 'UNAUTHORIZED', 'git.cloneRepository');
      // The server's own words ride along (its body is the status text here, so the message does not repeat it).
      expect(error.data).toEqual({ status, reason: status === 401 ? 'Unauthorized' : 'Forbidden' });
      expect(error.message).not.toContain('the server says');
      expect(fs.existsSync(dir)).toBe(false);
    } finally {
      server.faults = {};
    }
  });

  it('reports any other HTTP error as NETWORK with the reason the server gave', async () => {
    server.faults = { statusFor: (path) => (path.startsWith(`/${main.name}.git/`) ? 502 : undefined) };
    try {
      const error = await expectGitError(cloneRepository({ fs, http, dir: freshDir(), url: urlOf(main.name) }), 'NETWORK', 'git.cloneRepository');
      expect(error.message).toBe('The git server answered HTTP 502: Bad Gateway');
      expect(error.data).toEqual({ status: 502, reason: 'Bad Gateway' });
    } finally {
      server.faults = {};
    }
  });

  it('reports a connection cut mid-pack as NETWORK and keeps nothing half-written', async () => {
    server.faults = { failAfterBytes: 1500 };
    try {
      const dir = freshDir();
      await expectGitError(cloneRepository({ fs, http, dir, url: urlOf(main.name) }), 'NETWORK', 'git.cloneRepository');
      expect(fs.existsSync(dir)).toBe(false);
      expect(server.requests.some((r) => r.path.endsWith('/git-upload-pack'))).toBe(true);
    } finally {
      server.faults = {};
    }
  });

  it('stops with TOO_LARGE past maxBytes and keeps nothing', async () => {
    const dir = freshDir();
    const error = await expectGitError(cloneRepository({ fs, http, dir, url: urlOf(main.name), maxBytes: 4096 }), 'TOO_LARGE', 'git.cloneRepository');
    expect(error.data).toEqual({ maxBytes: 4096 });
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('stops with TOO_LARGE when an object would inflate past packLimits, in a first clone and in a re-clone\'s fetch', async () => {
    // 3 MiB of zeros deflate to a few kilobytes: far under maxBytes, which counts what arrives.
    const limits = { maxObjectBytes: 1024 * 1024, maxInflatedBytes: 64 * 1024 * 1024 };
    await runGit(['clone', '--quiet', '--bare', join(served, `${main.name}.git`), join(served, 'inflating.git')]);
    const kept = freshDir();
    const before = await cloneRepository({ fs, http, dir: kept, url: urlOf('inflating'), packLimits: limits });
    await pushCommit('inflating', 'add a file that inflates', { 'zeros.py': Buffer.alloc(3 * 1024 * 1024) });

    const again = await expectGitError(cloneRepository({ fs, http, dir: kept, url: urlOf('inflating'), packLimits: limits }), 'TOO_LARGE', 'git.cloneRepository');
    expect(again.message).toMatch(/an object of more than 1\.0 MiB \(3\.0 MiB or more\)/);
    expect((await listCommits({ fs, dir: kept, limit: 1 }))[0].sha).toBe(before.head); // the clone as it was
    const dir = freshDir();
    const { bytes } = await cloneRepository({ fs, http, dir: freshDir(), url: urlOf('inflating') }); // default limits: fine
    expect(bytes).toBeLessThan(200 * 1024);
    await expectGitError(cloneRepository({ fs, http, dir, url: urlOf('inflating'), packLimits: limits }), 'TOO_LARGE', 'git.cloneRepository');
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('reports a repository without commits as EMPTY_REPOSITORY', async () => {
    await runGit(['init', '--quiet', '--bare', '--initial-branch=main', join(served, 'empty.git')]);
    const dir = freshDir();
    await expectGitError(cloneRepository({ fs, http, dir, url: urlOf('empty') }), 'EMPTY_REPOSITORY', 'git.cloneRepository');
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('cancels through an AbortSignal while the pack is on its way, and keeps nothing', async () => {
    server.faults = { delayMs: 400 };
    try {
      const dir = freshDir();
      const controller = new AbortController();
      const started = performance.now();
      const phasesSeen: string[] = [];
      const clone = cloneRepository({
        fs, http, dir, url: urlOf(main.name), signal: controller.signal,
        // The refs have arrived (bytes > 0): the pack request is now waiting on the server's delay.
        onProgress: (p) => {
          phasesSeen.push(p.detail!);
          if (p.bytes! > 0) controller.abort();
        },
      });
      await expectGitError(clone, 'CANCELLED', 'git.cloneRepository');
      expect(performance.now() - started).toBeLessThan(2 * 400 + 300); // did not wait for the pack
      expect(phasesSeen).not.toContain('Resolving deltas');
      expect(fs.existsSync(dir)).toBe(false);
    } finally {
      server.faults = {};
    }
  });
});

describe('re-cloning a URL already cloned', () => {
  it('reuses the clone and fetches only the new commits', async () => {
    const dir = freshDir();
    const first = await cloneRepository({ fs, http, dir, url: urlOf(growing.name) });
    expect(first).toMatchObject({ head: growing.head, reused: false });
    const newHead = await pushCommit(growing.name, 'Document the release', { 'CHANGELOG.md': '# Changelog\n\n- first release\n' });
    const events: Progress[] = [];
    const second = await cloneRepository({ fs, http, dir, url: urlOf(growing.name), onProgress: (p) => events.push(p) });
    expect(second).toMatchObject({ head: newHead, reused: true, branch: 'main' });
    expect(second.bytes).toBeLessThan(first.bytes / 3);
    const counted = events.filter((e) => e.detail === 'Counting objects').pop();
    expect(counted?.total).toBe(3); // the server packs the new commit, its root tree and the new blob
    const commits = await listCommits({ fs, dir, withFiles: true });
    expect(commits[0]).toMatchObject({ sha: newHead, parents: [growing.head], message: 'Document the release', files: ['CHANGELOG.md'] });
    expect(commits.slice(1).map((c) => c.sha)).toEqual([...growing.commitShas].reverse());
  });

  it.each([
    ['cut off', { failAfterBytes: 200 }], ['TRUNCATED', { truncateAfterBytes: 100 }],
  ])('keeps the earlier complete clone when an update is %s, and updates it on the next try', async (_, faults) => {
    const dir = freshDir();
    const { head } = await cloneRepository({ fs, http, dir, url: urlOf(main.name) });
    server.faults = faults;
    try {
      await expectGitError(cloneRepository({ fs, http, dir, url: urlOf(main.name) }), 'NETWORK', 'git.cloneRepository');
    } finally {
      server.faults = {};
    }
    expect((await listCommits({ fs, dir, limit: 1 }))[0].sha).toBe(head);
    expect((await readSnapshot({ fs, dir, commit: head })).files.length).toBeGreaterThan(0);
    expect(await cloneRepository({ fs, http, dir, url: urlOf(main.name) })).toMatchObject({ head, reused: true });
  });
});


describe('network faults during a clone, and a retry that starts clean', () => {
  /** A clone after the fault is cleared: the whole history, as a clone that never failed. */
  async function expectCleanRetry(dir: string): Promise<void> {
    server.faults = {};
    const retried = await cloneRepository({ fs, http, dir, url: urlOf(main.name) });
    expect(retried).toMatchObject({ head: main.head, reused: false });
    expect((await listCommits({ fs, dir })).map((c) => c.sha)).toEqual([...main.commitShas].reverse());
    expect((await readSnapshot({ fs, dir, commit: main.head })).files.length).toBeGreaterThan(0);
  }

  it('reports HTTP 500 on the pack request as NETWORK, keeps nothing, and a retry clones the whole history', async () => {
    server.faults = { statusFor: (path) => (path.endsWith('/git-upload-pack') ? 500 : undefined) };
    try {
      const dir = freshDir();
      const error = await expectGitError(cloneRepository({ fs, http, dir, url: urlOf(main.name) }), 'NETWORK', 'git.cloneRepository');
      expect(error.data).toMatchObject({ status: 500 });
      expect(fs.existsSync(dir)).toBe(false);
      await expectCleanRetry(dir);
    } finally {
      server.faults = {};
    }
  });

  // Responses that end cleanly but early: isomorphic-git read a cut ref advertisement as an empty repository, and a cut
  // pack as "commit ... is not available locally" or a pkt-line length mismatch.
  it.each([
    ['the ref advertisement', 100], ['the ref advertisement', 300], ['the pack', 1500], ['the pack', 5000], ['the pack', 20_000],
  ])('reports %s truncated after %i bytes as a transfer cut short, keeps nothing, and a retry starts clean', async (_, bytes) => {
    server.faults = { truncateAfterBytes: bytes };
    try {
      const dir = freshDir();
      const error = await expectGitError(cloneRepository({ fs, http, dir, url: urlOf(main.name) }), 'NETWORK', 'git.cloneRepository');
      expect(error.message).toBe(`The server's answer ended before git's end marker after ${formatBytes(bytes)}: the transfer was cut short, try again`);
      expect(fs.existsSync(dir)).toBe(false);
      await expectCleanRetry(dir);
    } finally {
      server.faults = {};
    }
  });

  it('cancels a pack transfer that stalls mid-way within a second, keeps nothing, and a retry starts clean', async () => {
    server.faults = { stallAfterBytes: 1500 };
    try {
      const dir = freshDir();
      const controller = new AbortController();
      let abortedAt = 0;
      const clone = cloneRepository({
        fs, http, dir, url: urlOf(main.name), signal: controller.signal,
        // Past the ref advertisement: the pack has started, then the server goes silent.
        onProgress: (p) => {
          if (p.bytes! > 1000 && !abortedAt) {
            setTimeout(() => {
              abortedAt = performance.now();
              controller.abort();
            }, 300);
          }
        },
      });
      await expectGitError(clone, 'CANCELLED', 'git.cloneRepository');
      expect(abortedAt).toBeGreaterThan(0);
      expect(performance.now() - abortedAt).toBeLessThan(1000);
      expect(fs.existsSync(dir)).toBe(false);
      await expectCleanRetry(dir);
    } finally {
      server.faults = {};
    }
  });

  it('reports a server stopped mid-transfer, and one that is down, as NETWORK; a retry after it is back clones it all', async () => {
    const own = await startGitHttpServer({ root: served, faults: { stallAfterBytes: 1500 } });
    const url = `${own.url}/${main.name}.git`;
    const dir = freshDir();
    let stopping: Promise<void> | undefined;
    try {
      const stopped = await expectGitError(cloneRepository({
        fs, http, dir, url, onProgress: (p) => {
          if (p.bytes! > 1000) stopping ??= own.close();
        },
      }), 'NETWORK', 'git.cloneRepository');
      expect(stopped.message).toMatch(/^Network failure: /);
      await stopping;
      expect(fs.existsSync(dir)).toBe(false);
      const down = await expectGitError(cloneRepository({ fs, http, dir, url }), 'NETWORK', 'git.cloneRepository');
      expect(down.message).toContain('ECONNREFUSED');
      expect(fs.existsSync(dir)).toBe(false);
    } finally {
      await stopping;
    }
    const back = await startGitHttpServer({ root: served, port: own.port });
    try {
      expect(await cloneRepository({ fs, http, dir, url })).toMatchObject({ head: main.head, reused: false });
      expect(await listCommits({ fs, dir })).toHaveLength(COMMITS);
    } finally {
      await back.close();
    }
  });

  it('checks the end marker of smart-HTTP answers across chunks of any size (1 to 4 bytes at the end), not of other answers', async () => {
    const complete = Buffer.from('001e# service=git-upload-pack\n0000003fabc HEAD\n0000');
    const respond = (body: Buffer, chunk: number): HttpClient => ({
      request: async () => ({
        url: 'x', method: 'GET', statusCode: 200, statusMessage: 'OK', headers: { 'content-type': 'application/x-git-upload-pack-advertisement' },
        body: (async function* () {
          for (let at = 0; at < body.length; at += chunk) yield body.subarray(at, at + chunk);
        })(),
      }),
    });
    for (const chunk of [1, 2, 3, 4, 5, 64]) {
      for (const [body, whole] of [[complete, true], [complete.subarray(0, complete.length - 1), false], [complete.subarray(0, 40), false]] as const) {
        const guarded = guardHttp(respond(body, chunk), {});
        const response = await guarded.request({ url: 'http://h/r.git/info/refs?service=git-upload-pack', method: 'GET', headers: {} });
        const read = (async () => {
          for await (const part of response.body!) void part;
        })();
        if (whole) await read;
        else await expect(read, `${body.length} bytes in chunks of ${chunk}`).rejects.toMatchObject({ code: 'NETWORK', data: { bytes: body.length } });
        expect(guarded.streamError === undefined, `${body.length} bytes in chunks of ${chunk}`).toBe(whole);
      }
    }
    // Not a smart-HTTP answer (a dumb server's plain text): not checked, isomorphic-git says what it is.
    const plain: HttpClient = { request: async () => ({ ...(await respond(complete.subarray(0, 40), 8).request({ url: 'x' })), headers: { 'content-type': 'text/plain' } }) };
    const guarded = guardHttp(plain, {});
    for await (const part of (await guarded.request({ url: 'http://h/r.git/info/refs?service=git-upload-pack', method: 'GET', headers: {} })).body!) void part;
    expect(guarded.streamError).toBeUndefined();
  });
});
