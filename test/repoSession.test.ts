// RepoSession: each commit's snapshot is read once and each file parsed once for the parse and encode stages together,
// each chunk tokenised once; a Static adapter is made once per commit and models; the history, diffs and test files
// are what the git layer says; the benchmark's repositories are read through the same session.
import * as fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENCODER_SETTINGS } from '../src/code2lora/encoderSettings.ts';
import { MemoryFileEmbeddingCache, vectorStores } from '../src/code2lora/fileEmbeddingCache.ts';
import { fileChunkIds } from '../src/code2lora/repoEncoder.ts';
import { untrainedEvoHypernetwork, untrainedHypernetwork } from '../src/code2lora/makeAdapter.ts';
import { diffCommit, isEvoDiffPath, isPythonTestPath, isTestPath, readSnapshot } from '../src/git/index.ts';
import { initBackend } from '../src/model/backend.ts';
import { tinyRandomModel } from '../src/model/tinyRandomModel.ts';
import { loadPythonParser, type PythonParser } from '../src/parse/pythonParser.ts';
import { openRepository } from '../src/bench/repoSources.ts';
import { RepoSession, type AdapterModels, type SessionEnvironment } from '../src/session/repoSession.ts';
import { generateRepo } from '../src/synth/generateRepo.ts';
import { writeGitRepo, type WrittenRepo } from '../src/synth/writeGitRepo.ts';
import { BoundedMap } from '../src/util/boundedMap.ts';
import type { Progress } from '../src/util/progress.ts';

const COMMITS = 6;
let root: string;
let written: WrittenRepo;
let parser: PythonParser;
let models: AdapterModels;
/** Calls to the parser's `parse` and the encoder tokenizer's `encode` (by text), and encoder forward passes. */
const calls = { parse: 0, encoded: new Map<string, number>(), forward: 0 };

function environment(): SessionEnvironment {
  const counting = { parse: (source: string) => (calls.parse++, parser.parse(source)) } as PythonParser;
  return { fs, parser: async () => counting, stores: vectorStores(() => new MemoryFileEmbeddingCache()) };
}

function resetCalls(): void {
  calls.parse = 0;
  calls.encoded.clear();
  calls.forward = 0;
}

beforeAll(async () => {
  await initBackend();
  parser = await loadPythonParser();
  root = await mkdtemp(join(tmpdir(), 'repo-session-'));
  written = await writeGitRepo({ repo: generateRepo({ seed: 5, commits: COMMITS }), dir: join(root, 'repo') });
  const { model, tokenizer } = tinyRandomModel({ seed: 2 });
  const countingTokenizer = {
    ...tokenizer,
    encode: (text: string) => (calls.encoded.set(text, (calls.encoded.get(text) ?? 0) + 1), tokenizer.encode(text)),
    decode: tokenizer.decode.bind(tokenizer),
  };
  const countingModel = Object.create(model, {
    hidden: { value: (...args: Parameters<typeof model.hidden>) => (calls.forward++, model.hidden(...args)) },
  }) as typeof model;
  const hypernetwork = untrainedHypernetwork(model.config);
  models = {
    baseModel: model.config, encoder: { model: countingModel, tokenizer: countingTokenizer }, encoderId: 'tiny', encoderName: 'tiny',
    hypernetwork, evoHypernetwork: untrainedEvoHypernetwork(hypernetwork),
  };
}, 60_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('RepoSession', () => {
  it('opens a work tree with its history, newest first, and reads what the git layer reads', async () => {
    const session = await RepoSession.open({ ...environment(), dir: written.dir, depth: 50 });
    expect(session.commits.map((c) => c.sha)).toEqual([...written.commitShas].reverse());
    expect(session.history).toEqual(written.commitShas);
    expect(session.info).toMatchObject({ head: written.head, name: 'repo', reused: true });
    const head = written.head;
    const direct = await readSnapshot({ fs, dir: written.dir, commit: head });
    expect((await session.snapshot(head)).files).toEqual(direct.files);
    expect((await session.testFiles(head)).map((f) => f.path)).toEqual(direct.files.map((f) => f.path).filter(isPythonTestPath));
    const diff = await session.diff(head);
    expect(diff.files).toEqual(await diffCommit({ fs, dir: written.dir, commit: head }));
    const changed = await diffCommit({ fs, dir: written.dir, commit: head, include: () => true });
    expect(diff.leftOut.sort()).toEqual(changed.map((f) => f.path).filter((p) => !isEvoDiffPath(p)).sort());
  });

  it('parses each file once for the parse and encode stages together', async () => {
    const session = await RepoSession.open({ ...environment(), dir: written.dir, depth: 50 });
    resetCalls();
    const progress: Progress[] = [];
    const summary = await session.summarize(written.head, { onProgress: (p) => progress.push(p) });
    expect(calls.parse).toBe(summary.pythonFiles);
    expect(progress.at(-1)).toEqual({ stage: 'parse', done: summary.pythonFiles, total: summary.pythonFiles, unit: 'files' });
    const { info } = await session.adapter(written.head, 'static', models, { onProgress: (p) => progress.push(p) });
    // No file was parsed again for the encoder.
    expect(calls.parse).toBe(summary.pythonFiles);
    expect(info.encodedFiles).toBe(summary.pythonFiles - summary.testFiles);
    expect(progress.filter((p) => p.stage === 'encode').at(-1)).toMatchObject({ done: info.encodedFiles, total: info.encodedFiles, unit: 'files' });
  });

  it('tokenises each of a file\'s chunks once while chunking it for the encoder', async () => {
    const files = (await readSnapshot({ fs, dir: written.dir, commit: written.head })).files.filter((f) => !isTestPath(f.path));
    for (const file of files) {
      resetCalls();
      const chunks = fileChunkIds(file.content, parser, models.encoder.tokenizer, ENCODER_SETTINGS);
      expect(chunks.length).toBeGreaterThan(0);
      expect([...calls.encoded].filter(([, count]) => count > 1)).toEqual([]);
    }
  });

  it('makes a Static adapter once per commit and models; other models make it anew', async () => {
    const session = await RepoSession.open({ ...environment(), dir: written.dir, depth: 50 });
    const older = written.commitShas[COMMITS - 3];
    const first = await session.adapter(older, 'static', models);
    resetCalls();
    const again = await session.adapter(older, 'static', models);
    expect(calls.forward).toBe(0);
    expect(again.lora).toBe(first.lora);
    expect(again.info).toMatchObject({ digest: first.info.digest, encodedTokens: 0, seconds: 0 });
    const otherModels = { ...models, hypernetwork: untrainedHypernetwork(models.baseModel, undefined, 99) };
    const other = await session.adapter(older, 'static', otherModels);
    expect(other.info.digest).not.toBe(first.info.digest);
    // Embeddings are kept by blob id across models of the same encoder: nothing is encoded again.
    expect(other.info.cachedFiles).toBe(other.info.encodedFiles);
  });

  it('keeps the embeddings of a hypernetwork that reads an earlier encoder layer apart from the last layer\'s', async () => {
    const env = environment();
    const session = await RepoSession.open({ ...env, dir: written.dir, depth: 50 });
    const last = await session.adapter(written.head, 'static', models);
    const layerOne = { ...models, hypernetwork: { ...models.hypernetwork, encoderLayer: 1 } };
    const cut = await session.adapter(written.head, 'static', layerOne);
    expect(cut.info.cachedFiles).toBe(0); // the last layer's vectors are not this hypernetwork's
    expect(cut.info.digest).not.toBe(last.info.digest);
    const lastAgain = await session.adapter(written.head, 'static', { ...models });
    expect(lastAgain.info).toMatchObject({ digest: last.info.digest, cachedFiles: last.info.encodedFiles });
    const cutAgain = await session.adapter(written.head, 'static', { ...layerOne });
    expect(cutAgain.info).toMatchObject({ digest: cut.info.digest, cachedFiles: cut.info.encodedFiles });
  });

  it('steps Evo along the loaded history and refuses a commit outside it', async () => {
    const session = await RepoSession.open({ ...environment(), dir: written.dir, depth: 50 });
    const { info } = await session.adapter(written.head, 'evo', models);
    expect(info.evo).toMatchObject({ index: COMMITS - 1, steps: COMMITS - 1, historyLength: COMMITS });
    const back = await session.adapter(written.commitShas[1], 'evo', models);
    expect(back.info.evo).toMatchObject({ steps: 0, diffsEncoded: 0 });
    await expect(session.adapter('f'.repeat(40), 'evo', models)).rejects.toMatchObject({ name: 'GitError', code: 'NOT_FOUND' });
  });

  it('is what the benchmark reads a repository through', async () => {
    const opened = await openRepository({ source: written.dir }, { history: 50 });
    expect(opened.session).toBeInstanceOf(RepoSession);
    expect(opened.commits.map((c) => c.sha)).toEqual(written.commitShas);
    const tests = await opened.readFiles(written.head, isPythonTestPath);
    expect(tests.length).toBeGreaterThan(0);
    expect(tests.every((f) => isTestPath(f.path))).toBe(true);
    await opened.close();
  });
});

describe('BoundedMap', () => {
  it('keeps the most recently used entries up to its capacity', () => {
    const map = new BoundedMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    expect(map.get('a')).toBe(1); // a is now the most recent
    map.set('c', 3);
    expect([map.get('a'), map.get('b'), map.get('c'), map.size]).toEqual([1, undefined, 3, 2]);
    expect(() => new BoundedMap(0)).toThrow(RangeError);
  });
});
