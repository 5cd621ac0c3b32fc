// Hostile repositories, generated here, through the real code in the app's order: clone over smart HTTP, log, diffs,
// tree listing and file reads, snapshot, parsing, assertion mining and the repo encoder (a tiny random model). Each
// case gives a result or a typed error, in bounded time and memory (printed per case at the end).
import * as fs from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'isomorphic-git/http/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cloneRepository, type CloneResult, type CommitInfo, diffCommit, type FileDiff, GitError, type GitFs, listCommits, listTreeFiles,
  readSnapshot, readTextFile, requirePythonFiles, type Snapshot,
} from '../src/git/index.ts';
import { MAX_EDIT_LENGTH } from '../src/git/unifiedDiff.ts';
import { initBackend } from '../src/model/backend.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { type FileSummary, summarizeFile } from '../src/parse/codeUnits.ts';
import { mineRepoTasks, type MineRepoResult } from '../src/parse/mineTasks.ts';
import { loadPythonParser, type PythonParser } from '../src/parse/pythonParser.ts';
import { trainBpeTokenizer } from '../src/tokenizer/trainBpe.ts';
import { RepoEncodeError } from '../src/code2lora/errors.ts';
import { encodeRepository, type RepoEncoding } from '../src/code2lora/repoEncoder.ts';
import { tinyConfig } from './fixtures/tinyModel.ts';
import { startGitHttpServer, type GitHttpServer } from './support/gitHttpServer.ts';
import { file, type HostileCommit, writeHostileRepo } from './support/hostileRepo.ts';

const MiB = 1024 * 1024;
/** Generous bounds: every case here stays far below them (the table printed at the end has the measured figures). */
const MAX_HEAP_GROWTH_MIB = 512;
const MAX_PEAK_RSS_MIB = 2048;

let scratch: string;
let served: string;
let server: GitHttpServer;
let parser: PythonParser;
/** Byte-level (no merges): every byte one token, the worst case for chunking long lines by tokens. */
const tokenizer = trainBpeTokenizer({ texts: [], vocabSize: 257, specialTokens: ['<|endoftext|>'] });
let encoder: { model: LlamaModel; tokenizer: typeof tokenizer };

interface Figure { case: string; outcome: string; seconds: number; heapGrowthMiB: number; rssGrowthMiB: number; peakRssMiB: number }
const figures: Figure[] = [];

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'hostile-'));
  served = join(scratch, 'served');
  server = await startGitHttpServer({ root: served });
  parser = await loadPythonParser();
  await initBackend();
  encoder = { model: LlamaModel.random(tinyConfig({ vocab_size: tokenizer.vocabSize }), { seed: 5, std: 0.2 }), tokenizer };
});

afterAll(async () => {
  await server?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
  console.table(figures);
});

/** What the app makes of a repository (src/app/workers/pipeline.worker.ts), stage by stage, up to the first error. */
interface Ingested {
  dir: string;
  clone?: CloneResult;
  commits?: CommitInfo[];
  diffs?: Map<string, FileDiff[]>;
  treeFiles?: string[];
  snapshot?: Snapshot;
  summaries?: Map<string, FileSummary>;
  mined?: MineRepoResult;
  encoding?: RepoEncoding;
  failed?: { stage: string; code: string; message: string };
  /** Seconds per stage. */
  seconds: Record<string, number>;
}

async function ingest(name: string, { encode = true, diffLimit = 50 }: { encode?: boolean; diffLimit?: number } = {}): Promise<Ingested> {
  const dir = join(scratch, 'clones', name);
  const result: Ingested = { dir, seconds: {} };
  let stage = 'clone';
  let started = performance.now();
  const next = (name: string) => {
    result.seconds[stage] = Number(((performance.now() - started) / 1000).toFixed(2));
    stage = name;
    started = performance.now();
  };
  try {
    result.clone = await cloneRepository({ fs, http, dir, url: `${server.url}/${name}.git` });
    next('log');
    result.commits = await listCommits({ fs, dir, limit: 200, withFiles: true });
    next('diff');
    result.diffs = new Map();
    for (const commit of result.commits.slice(0, diffLimit)) result.diffs.set(commit.sha, await diffCommit({ fs, dir, commit: commit.sha }));
    next('files');
    result.treeFiles = await listTreeFiles({ fs, dir, commit: result.clone.head });
    next('snapshot');
    result.snapshot = requirePythonFiles(await readSnapshot({ fs, dir, commit: result.clone.head }));
    next('parse');
    result.summaries = new Map(result.snapshot.files.map((f) => [f.path, summarizeFile(f.content, parser)]));
    next('mine');
    result.mined = mineRepoTasks({ repo: name, commit: result.clone.head, files: result.snapshot.files, parser, all: true });
    if (encode) {
      next('encode');
      result.encoding = await encodeRepository({ files: result.snapshot.files, encoder, parser });
    }
    next('done');
  } catch (err) {
    const code = err instanceof GitError || err instanceof RepoEncodeError ? err.code : `untyped ${(err as Error).name}`;
    result.failed = { stage, code, message: (err as Error).message };
  }
  return result;
}

function outcomeOf(r: Ingested): string {
  if (r.failed) return `${r.failed.stage}: ${r.failed.code}`;
  return `${r.commits!.length} commits, ${r.snapshot!.files.length} files, ${r.mined!.found} targets, ${r.encoding?.files.length ?? '-'} encoded`;
}

/** Runs `body`, records its time, heap growth, RSS growth and the process's peak RSS, and holds them to the bounds. */
async function measured<T>(name: string, body: () => Promise<T>, outcome: (value: T) => string): Promise<T> {
  const before = process.memoryUsage();
  const started = performance.now();
  const value = await body();
  const after = process.memoryUsage();
  const figure: Figure = {
    case: name,
    outcome: outcome(value),
    seconds: Number(((performance.now() - started) / 1000).toFixed(2)),
    heapGrowthMiB: Number(((after.heapUsed - before.heapUsed) / MiB).toFixed(1)),
    rssGrowthMiB: Number(((after.rss - before.rss) / MiB).toFixed(1)),
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  figures.push(figure);
  expect(figure.heapGrowthMiB, `${name}: heap growth`).toBeLessThan(MAX_HEAP_GROWTH_MIB);
  expect(figure.peakRssMiB, `${name}: peak RSS`).toBeLessThan(MAX_PEAK_RSS_MIB);
  return value;
}

/** Writes `commits` as the served repository `name`, then ingests it, measured. */
async function hostile(name: string, commits: HostileCommit[], options?: Parameters<typeof ingest>[1]): Promise<{ shas: string[]; r: Ingested }> {
  const shas = await writeHostileRepo({ dir: join(served, `${name}.git`), commits });
  const r = await measured(name, () => ingest(name, options), outcomeOf);
  return { shas, r };
}

async function gitErrorOf(promise: Promise<unknown>): Promise<GitError> {
  const error = await promise.then(() => null, (err: unknown) => err);
  expect(error).toBeInstanceOf(GitError);
  return error as GitError;
}

/** A clone keeps only `.git`: no working tree is ever written, so no name or link in the repository reaches the disk. */
async function expectOnlyGitDirectory(dir: string): Promise<void> {
  expect(await readdir(dir)).toEqual(['.git']);
  const hooks = await readdir(join(dir, '.git', 'hooks'));
  expect(hooks).toEqual([]);
}

describe('hostile repositories', () => {
  it('binary files named .py: skipped as binary, NOT_TEXT in the editor, "Binary files differ" in the diff', async () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d]);
    const noise = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) % 256));
    const { r, shas } = await hostile('binary', [
      { message: 'binaries', entries: [file('pkg/core.py', png), file('tests/test_blob.py', noise), file('pkg/util.py', 'def f():\n    return 1\n')] },
      { message: 'change a binary', entries: [file('pkg/core.py', Buffer.concat([png, png]))] },
    ]);
    expect(r.failed).toBeUndefined();
    expect(r.snapshot!.files.map((f) => f.path)).toEqual(['pkg/util.py']);
    expect(r.snapshot!.skipped).toMatchObject({ binary: 2 });
    expect(r.diffs!.get(shas[1])).toEqual([
      { path: 'pkg/core.py', status: 'modified', binary: true, tooLarge: false, hunks: [], patch: 'Binary files differ: pkg/core.py\n' },
    ]);
    expect((await gitErrorOf(readTextFile({ fs, dir: r.dir, commit: shas[1], path: 'pkg/core.py' }))).code).toBe('NOT_TEXT');
    expect(r.encoding!.files.map((f) => f.path)).toEqual(['pkg/util.py']);
  });

  it('huge files and very long lines: over 1 MiB skipped and not diffed, big rewrites one hunk, 900 kB lines parsed and encoded', async () => {
    const lines = (count: number, tag: string) => Array.from({ length: count }, (_, i) => `V_${tag}_${i} = ${i}\n`).join('');
    const base64 = Buffer.from(Array.from({ length: 700_000 }, (_, i) => (i * 37) % 256)).toString('base64');
    const rewritten = 45_000;
    const { r, shas } = await hostile('huge', [
      { message: 'huge', entries: [
        file('pkg/big.py', lines(200_000, 'a')), file('pkg/rewritten.py', lines(rewritten, 'b')),
        file('pkg/blob_literal.py', `DATA = "${base64}"\n`), file('pkg/statements.py', `${'x = 1; '.repeat(130_000)}\n`),
      ] },
      { message: 'rewrite every line', entries: [file('pkg/big.py', lines(200_000, 'c')), file('pkg/rewritten.py', lines(rewritten, 'd'))] },
    ]);
    expect(r.failed).toBeUndefined();
    expect(r.snapshot!.skipped).toMatchObject({ tooLarge: 1 });
    expect(r.snapshot!.files.map((f) => [f.path, f.content.length])).toEqual([
      ['pkg/blob_literal.py', base64.length + 10], ['pkg/rewritten.py', lines(rewritten, 'b').length], ['pkg/statements.py', 910_001],
    ]);
    const [big, rewrite] = r.diffs!.get(shas[1])!;
    expect(big).toMatchObject({ path: 'pkg/big.py', tooLarge: true, hunks: [] });
    expect(big.patch).toMatch(/^File too large to diff: pkg\/big\.py \(3\.\d MiB, over the 1\.0 MiB limit\)\n$/);
    // Far more changed lines than Myers is allowed to search: one hunk, every old line out and every new line in.
    expect(2 * rewritten).toBeGreaterThan(MAX_EDIT_LENGTH);
    expect(rewrite.hunks).toHaveLength(1);
    expect(rewrite.hunks[0]).toMatchObject({ oldStart: 1, oldLines: rewritten, newStart: 1, newLines: rewritten });
    expect(rewrite.hunks[0].lines.filter((line) => line.startsWith('-'))).toHaveLength(rewritten);
    expect(r.seconds.diff).toBeLessThan(30);
    expect((await gitErrorOf(readTextFile({ fs, dir: r.dir, commit: shas[1], path: 'pkg/big.py' }))).code).toBe('TOO_LARGE');
    expect(r.summaries!.get('pkg/blob_literal.py')).toMatchObject({ lines: 1, hasSyntaxErrors: false });
    expect(r.encoding!.files).toHaveLength(3);
  });

  it('deep nesting (5,000 parentheses, brackets, calls, lambdas, dict levels; 1,000 ifs and classes): parsed and mined, no stack overflow', async () => {
    const depth = 5000;
    const deep = [
      'def test_parens():', `    assert f(${'('.repeat(depth)}1${')'.repeat(depth)}) == 1`,
      'def test_calls():', `    assert ${'g('.repeat(depth)}1${')'.repeat(depth)} == 2`,
      'def test_brackets():', `    assert x == ${'['.repeat(depth)}${']'.repeat(depth)}`,
      'def test_lambdas():', `    assert h(${'lambda: '.repeat(depth)}0) == 3`,
      'def test_sum():', `    assert total == ${Array.from({ length: depth }, (_, i) => String(i)).join(' + ')}`,
      'def test_plain():', '    assert 1 + 1 == 2', '',
    ].join('\n');
    const ifs = ['def test_ifs():', ...Array.from({ length: 1000 }, (_, i) => `${' '.repeat(i + 1)}if x${i}:`), `${' '.repeat(1001)}assert y == 1`, ''].join('\n');
    const classes = [...Array.from({ length: 1000 }, (_, i) => `${' '.repeat(i)}class C${i}:`), `${' '.repeat(1000)}pass`, ''].join('\n');
    const { r } = await hostile('deep', [{ message: 'deep', entries: [
      file('tests/test_deep.py', deep), file('tests/test_ifs.py', ifs), file('pkg/classes.py', classes),
      file('tests/test_unclosed.py', `def test_unclosed():\n    assert f(${'('.repeat(depth)}\n`),
      file('pkg/dict.py', `D = ${'{"k": '.repeat(depth)}1${'}'.repeat(depth)}\n`),
    ] }]);
    expect(r.failed).toBeUndefined();
    // Targets over 500 characters (the brackets, the sum) are dropped by the paper's filter, not by the depth.
    expect(r.mined!.tasks.map((t) => [t.functionName, t.target])).toEqual([
      ['test_parens', '1'], ['test_calls', '2'], ['test_lambdas', '3'], ['test_plain', '2'],
    ]);
    // tree-sitter's Python scanner gives up on indentation that deep: an error node, no units, no crash.
    expect(r.mined!.filesWithSyntaxErrors).toEqual(['tests/test_ifs.py', 'tests/test_unclosed.py']);
    expect(r.summaries!.get('pkg/classes.py')!.hasSyntaxErrors).toBe(true);
    expect(r.summaries!.get('pkg/dict.py')).toMatchObject({ lines: 1, hasSyntaxErrors: false });
    expect(r.seconds.parse + r.seconds.mine).toBeLessThan(30);
    expect(r.encoding!.files.map((f) => f.path)).toEqual(['pkg/classes.py', 'pkg/dict.py']);
  });

  it('non-UTF-8 and mixed encodings: skipped as binary (NOT_TEXT in the editor), UTF-8 with a BOM, CRLF and non-ASCII read', async () => {
    const latin1Name = Buffer.from('pkg/caf\xe9.py', 'latin1');
    const { r, shas } = await hostile('encodings', [{ message: 'encodings', entries: [
      file('pkg/latin1.py', Buffer.from('NAME = "caf\xe9"\n', 'latin1')),
      file('pkg/utf16.py', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('X = 1\n', 'utf16le')])),
      file('pkg/mixed.py', Buffer.concat([Buffer.from('A = "ü"\n'), Buffer.from('B = "\xfc"\n', 'latin1')])),
      file('pkg/surrogate.py', Buffer.from([0x5a, 0x3d, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x0a])), // CESU-8 surrogate half
      file('pkg/overlong.py', Buffer.from([0x5a, 0x3d, 0x22, 0xc0, 0xaf, 0x22, 0x0a])), // overlong "/"
      file('pkg/bom.py', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('Y = 2\n')])),
      file('pkg/crlf.py', 'def f():\r\n    return 1\r\n'),
      file('pkg/emoji.py', 'S = "😀 ✓ ناصر"\n'),
      file(latin1Name, 'Z = 3\n'),
    ] }]);
    expect(r.failed).toBeUndefined();
    expect(r.snapshot!.skipped).toMatchObject({ binary: 5 });
    // isomorphic-git decodes names as UTF-8: a Latin-1 name reads with U+FFFD in it, and its file still reads by that name.
    expect(r.snapshot!.files.map((f) => [f.path, f.content])).toEqual([
      ['pkg/bom.py', 'Y = 2\n'], ['pkg/caf\ufffd.py', 'Z = 3\n'], ['pkg/crlf.py', 'def f():\r\n    return 1\r\n'], ['pkg/emoji.py', 'S = "😀 ✓ ناصر"\n'],
    ]);
    expect(await readTextFile({ fs, dir: r.dir, commit: shas[0], path: 'pkg/caf\ufffd.py' })).toBe('Z = 3\n');
    const latin1 = await gitErrorOf(readTextFile({ fs, dir: r.dir, commit: shas[0], path: 'pkg/latin1.py' }));
    expect([latin1.code, latin1.message]).toEqual(['NOT_TEXT', 'pkg/latin1.py is not UTF-8 text']);
    expect((await gitErrorOf(readTextFile({ fs, dir: r.dir, commit: shas[0], path: 'pkg/utf16.py' }))).message).toBe('pkg/utf16.py is a binary file');
    expect(r.encoding!.files).toHaveLength(4);
  });

  it('symlinks pointing outside the repository: never followed, not read as code, nothing written outside the clone', async () => {
    const secret = join(scratch, 'secret.txt');
    await writeFile(secret, 'TOP SECRET\n');
    const { r, shas } = await hostile('symlinks', [{ message: 'links', entries: [
      file('pkg/passwd.py', '/etc/passwd', '120000'), file('pkg/up.py', '../../../../../../../../etc/passwd', '120000'),
      file('pkg/secret.py', secret, '120000'), file('pkg/alias.py', 'real.py', '120000'), file('tests', '/etc', '120000'),
      file('pkg/real.py', 'def f():\n    return 1\n'),
    ] }]);
    expect(r.failed).toBeUndefined();
    expect(r.snapshot!.files.map((f) => f.path)).toEqual(['pkg/real.py']);
    expect(r.snapshot!.skipped).toMatchObject({ symlinks: 4, notIncluded: 1 });
    // The editor shows a link as git does: the path it points to, never the target's content.
    expect(await readTextFile({ fs, dir: r.dir, commit: shas[0], path: 'pkg/secret.py' })).toBe(secret);
    expect(JSON.stringify([...r.diffs!.values()])).not.toContain('TOP SECRET');
    await expectOnlyGitDirectory(r.dir);
  });

  it('submodules: listed, not fetched, not read; NOT_TEXT with the commit when opened', async () => {
    const gitmodules = '[submodule "lib"]\n\tpath = lib\n\turl = https://example.org/lib.git\n[submodule "evil"]\n\tpath = pkg/evil\n\turl = ../../../etc\n';
    const { r, shas } = await hostile('submodules', [
      { message: 'submodules', entries: [
        file('.gitmodules', gitmodules), file('lib', '1234567890123456789012345678901234567890', '160000'),
        file('pkg/evil', 'deadbeefdeadbeefdeadbeefdeadbeefdeadbeef', '160000'), file('pkg/real.py', 'def f():\n    return 1\n'),
      ] },
      { message: 'move a submodule', entries: [file('lib', 'abcdefabcdefabcdefabcdefabcdefabcdefabcd', '160000')] },
    ]);
    expect(r.failed).toBeUndefined();
    expect(r.treeFiles).toEqual(['.gitmodules', 'lib', 'pkg/evil', 'pkg/real.py']);
    expect(r.commits!.map((c) => c.files)).toEqual([[], ['.gitmodules', 'pkg/real.py']]);
    expect(r.diffs!.get(shas[1])).toEqual([]);
    const opened = await gitErrorOf(readTextFile({ fs, dir: r.dir, commit: shas[1], path: 'lib' }));
    expect([opened.code, opened.message, opened.data.submodule]).toEqual([
      'NOT_TEXT', 'lib is a submodule (commit abcdefab of another repository), not a file', 'abcdefabcdefabcdefabcdefabcdefabcdefabcd',
    ]);
    const everything = await readSnapshot({ fs, dir: r.dir, commit: shas[1], include: () => true });
    expect(everything.files.map((f) => f.path)).toEqual(['.gitmodules', 'pkg/real.py']);
    expect(everything.skipped).toMatchObject({ submodules: 2 });
    await expectOnlyGitDirectory(r.dir);
  });

  it('file names, a commit message and an author holding HTML and script come back as the same text', async () => {
    const names = [
      '<img src=x onerror=alert(1)>.py', 'pkg/<script>alert(1)</script>.py', 'tests/test_<b>bold</b>.py', 'a&amp;b\u202egnp.py',
      "x' onmouseover='alert(1).py",
    ];
    const message = '<script>alert("message")</script>\n\n<img src=x onerror=alert(1)> &lt;b&gt; [link](javascript:alert(1))';
    const author = 'Mallory "\'onmouseover=alert(2) &amp;';
    const latin1Message = Buffer.from('Caf\xe9 <b>', 'latin1');
    const { r, shas } = await hostile('markup', [
      { message, author, entries: names.map((name) => file(name, `def test_it():\n    assert "<script>alert(3)</script>" == render(${JSON.stringify(name)})\n`)) },
      { message: latin1Message, entries: [file('README.md', '<script>alert(4)</script>\n')] },
    ]);
    expect(r.failed).toBeUndefined();
    expect(r.treeFiles).toEqual(['<img src=x onerror=alert(1)>.py', 'README.md', 'a&amp;b\u202egnp.py', 'pkg/<script>alert(1)</script>.py', 'tests/test_<b>bold</b>.py', "x' onmouseover='alert(1).py"]);
    const [latest, first] = r.commits!;
    expect([first.message, first.author.name]).toEqual([message, author]);
    expect(latest.message).toBe('Caf\ufffd <b>');
    for (const name of names) expect(await readTextFile({ fs, dir: r.dir, commit: shas[0], path: name })).toContain(JSON.stringify(name));
    expect(r.mined!.tasks.map((t) => [t.file, t.target])).toEqual([['tests/test_<b>bold</b>.py', 'render("tests/test_<b>bold</b>.py")']]);
    expect(r.diffs!.get(shas[1])![0].patch).toContain('+<script>alert(4)</script>');
  });

  it.each([
    ['dotdot', '../evil.py'], ['dotgit', '.git/hooks/post-checkout'], ['dotgit-case', '.GIT/config'], ['dot', 'a/./b.py'],
  ])('a tree entry git refuses as unsafe (%s: %s): UNSAFE_PATH, and nothing written', async (name, path) => {
    const { r, shas } = await hostile(`unsafe-${name}`, [{ message: 'unsafe', entries: [file(path, '#!/bin/sh\ntouch pwned\n', '100755'), file('pkg/ok.py', 'OK = 1\n')] }]);
    expect(r.failed).toMatchObject({ stage: 'log', code: 'UNSAFE_PATH' });
    for (const read of [
      () => readSnapshot({ fs, dir: r.dir, commit: shas[0] }), () => listTreeFiles({ fs, dir: r.dir, commit: shas[0] }),
      () => diffCommit({ fs, dir: r.dir, commit: shas[0] }),
    ]) {
      const error = await gitErrorOf(read());
      expect(error.code).toBe('UNSAFE_PATH');
      expect(error.message).toMatch(/^The repository holds a file name that git refuses as unsafe: The filepath ".+" contains unsafe character sequences$/);
    }
    await expectOnlyGitDirectory(r.dir);
    expect(fs.existsSync(join(r.dir, '..', 'evil.py'))).toBe(false);
  });

  it('thousands of files: 5,000 Python files read, TOO_MANY_FILES past maxFiles, the packfile read once per diff', async () => {
    const modules = Array.from({ length: 5000 }, (_, i) => file(`pkg/m${i % 50}/mod_${i}.py`, `def f_${i}(x):\n    return x + ${i}\n`));
    const flat = Array.from({ length: 3000 }, (_, i) => file(`flat/f_${i}.txt`, `${i}\n`));
    const { r, shas } = await hostile('thousands', [
      { message: 'many', entries: [...modules, ...flat, file('tests/test_many.py', 'def test_a():\n    assert f_1(1) == 2\n')] },
      { message: 'touch 100', entries: modules.slice(0, 100).map((e) => file(e.path, `${String(e.content)}# touched\n`)) },
    ], { encode: false });
    expect(r.failed).toBeUndefined();
    expect(r.snapshot!.files).toHaveLength(5001);
    expect(r.snapshot!.skipped).toMatchObject({ notIncluded: 3000 });
    expect(r.treeFiles).toHaveLength(8001);
    expect([r.diffs!.get(shas[1])!.length, r.diffs!.get(shas[0])!.length]).toEqual([100, 5000]);
    expect(r.mined!.found).toBe(1);
    const error = await gitErrorOf(readSnapshot({ fs, dir: r.dir, commit: shas[1], maxFiles: 1000 }));
    expect([error.code, error.data]).toEqual(['TOO_MANY_FILES', { maxFiles: 1000 }]);
    // Without a shared object cache every blob read loaded the packfile again: 5,000 reads, 47 s for the root commit.
    let packReads = 0;
    const counting: GitFs = { promises: { ...fs.promises, readFile: ((path: string, ...rest: unknown[]) => {
      if (String(path).endsWith('.pack')) packReads++;
      return (fs.promises.readFile as (...args: unknown[]) => Promise<unknown>)(path, ...rest);
    }) as typeof fs.promises.readFile } };
    expect(await diffCommit({ fs: counting, dir: r.dir, commit: shas[0] })).toHaveLength(5000);
    expect(packReads).toBeLessThanOrEqual(1);
  });

  it('empty repositories: EMPTY_REPOSITORY without commits or with HEAD on a missing branch, NO_PYTHON for an empty tree', async () => {
    await writeHostileRepo({ dir: join(served, 'no-commits.git'), commits: [] });
    const none = await measured('no-commits', () => ingest('no-commits'), outcomeOf);
    expect(none.failed).toMatchObject({ stage: 'clone', code: 'EMPTY_REPOSITORY' });
    const { r: emptyTree } = await hostile('empty-tree', [{ message: 'nothing at all' }]);
    expect(emptyTree.failed).toEqual({ stage: 'snapshot', code: 'NO_PYTHON', message: expect.stringMatching(/^No Python files to read at [0-9a-f]{8} \(0 other files skipped\)$/) });
    expect(emptyTree.diffs!.size).toBe(1);
    // HEAD names main; the only commits are on `other`. isomorphic-git resolves HEAD on every fetch, so `other` cannot be cloned either.
    await writeHostileRepo({ dir: join(served, 'unborn-head.git'), commits: [{ branch: 'other', message: 'x', entries: [file('a.py', 'A = 1\n')] }] });
    const unborn = await measured('unborn-head', () => ingest('unborn-head'), outcomeOf);
    expect(unborn.failed).toEqual({ stage: 'clone', code: 'EMPTY_REPOSITORY', message: 'The repository\'s default branch (its HEAD) has no commits' });
    expect(fs.existsSync(unborn.dir)).toBe(false);
    const dir = join(scratch, 'clones', 'unborn-other');
    const other = await gitErrorOf(cloneRepository({ fs, http, dir, url: `${server.url}/unborn-head.git`, branch: 'other' }));
    expect(other.code).toBe('EMPTY_REPOSITORY');
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('orphan branches: three roots in one history, all listed; the first-parent chain stops at its root', async () => {
    const { r, shas } = await hostile('orphans', [
      { message: 'root A', entries: [file('a.py', 'A = 1\n')] },
      { message: 'A2', entries: [file('a.py', 'A = 2\n')] },
      { branch: 'orphan', message: 'root B', entries: [file('b.py', 'B = 1\n')] },
      { message: 'merge unrelated B', parents: [1, 2], entries: [file('b.py', 'B = 1\n')] },
      { message: 'new root on main', parents: [], entries: [file('c.py', 'C = 1\n')] },
      { message: 'merge the old main', parents: [4, 3] },
    ]);
    expect(r.failed).toBeUndefined();
    expect(r.commits!.map((c) => [c.message, c.parents.length, c.files])).toEqual([
      ['merge the old main', 2, []], ['new root on main', 0, ['c.py']], ['merge unrelated B', 2, ['b.py']], ['root B', 0, ['b.py']],
      ['A2', 1, ['a.py']], ['root A', 0, ['a.py']],
    ]);
    expect((await listCommits({ fs, dir: r.dir, firstParent: true })).map((c) => c.message)).toEqual(['merge the old main', 'new root on main']);
    expect(r.diffs!.get(shas[2])!.map((d) => [d.path, d.status])).toEqual([['b.py', 'added']]);
    expect(r.snapshot!.files.map((f) => f.path)).toEqual(['c.py']);
  });

  it('a merge-heavy history (150 merges, an 8-branch octopus) cut at 200 commits and at 5: listed without error', async () => {
    const commits: HostileCommit[] = [{ message: 'root', entries: [file('pkg/core.py', 'X = 0\n')] }];
    for (let i = 0; i < 150; i++) {
      const base = commits.length - 1;
      commits.push({ branch: `side${i}`, message: `side ${i}`, parents: [base], entries: [file(`pkg/side_${i}.py`, `S = ${i}\n`)] });
      commits.push({ message: `main ${i}`, parents: [base], entries: [file('pkg/core.py', `X = ${i + 1}\n`)] });
      commits.push({ message: `merge ${i}`, parents: [commits.length - 1, commits.length - 2] });
    }
    const octopusBase = commits.length - 1;
    const heads: number[] = [];
    for (let k = 0; k < 8; k++) {
      commits.push({ branch: `oct${k}`, message: `oct ${k}`, parents: [octopusBase], entries: [file(`pkg/oct_${k}.py`, `O = ${k}\n`)] });
      heads.push(commits.length - 1);
    }
    commits.push({ message: 'octopus', parents: [octopusBase, ...heads] });
    const { r, shas } = await hostile('merges', commits);
    expect(r.failed).toBeUndefined();
    expect(r.commits).toHaveLength(200);
    expect(r.commits![0]).toMatchObject({ sha: shas[shas.length - 1], message: 'octopus' });
    expect(r.commits![0].parents).toHaveLength(9);
    expect(r.diffs!.get(shas[shas.length - 1])).toEqual([]); // an octopus that changes nothing against its first parent
    const shallow = join(scratch, 'clones', 'merges-shallow');
    await cloneRepository({ fs, http, dir: shallow, url: `${server.url}/merges.git`, depth: 5 });
    const cut = await listCommits({ fs, dir: shallow, limit: 200, withFiles: true });
    expect(cut[0].message).toBe('octopus');
    expect(cut.length).toBeGreaterThanOrEqual(5);
    expect((await listCommits({ fs, dir: shallow, limit: 200, firstParent: true })).map((c) => c.message)).toEqual([
      'octopus', 'merge 149', 'main 149', 'merge 148', 'main 148',
    ]);
  });
});
