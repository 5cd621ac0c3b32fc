// EvoSession: selecting commits steps the Evo state once per commit, goes back for free with the same adapter, reads
// states and diff embeddings from stores in a new session, reports the cost and the drift; the untrained Evo fallback.
import { beforeAll, describe, expect, it } from 'vitest';
import type { FileDiff } from '../src/git/diff.ts';
import { initBackend } from '../src/model/backend.ts';
import { tinyRandomModel } from '../src/model/tinyRandomModel.ts';
import { loadPythonParser, type PythonParser } from '../src/parse/pythonParser.ts';
import { EvoSession, evoStateIdentity, type EvoHistory } from '../src/code2lora/evoSession.ts';
import { MemoryFileEmbeddingCache } from '../src/code2lora/fileEmbeddingCache.ts';
import { generateAdapter, initHypernetworkWeights, type Hypernetwork } from '../src/code2lora/hypernetwork.ts';
import { adapterDigest, untrainedEvoHypernetwork, untrainedHypernetwork } from '../src/code2lora/makeAdapter.ts';
import { encodeRepository } from '../src/code2lora/repoEncoder.ts';

let model: ReturnType<typeof tinyRandomModel>['model'];
let encoder: ReturnType<typeof tinyRandomModel>;
let parser: PythonParser;
let evo: Hypernetwork;
let staticHypernetwork: Hypernetwork;

const COMMITS = Array.from({ length: 9 }, (_, i) => `${String(i).repeat(40)}`.slice(0, 40));
/** The file at commit i: one function per commit so far. */
const coreAt = (i: number) => Array.from({ length: i + 1 }, (_, k) => `def step_${k}(x):\n    return x * ${k + 2}\n`).join('\n');
/** Commit 3 changes only a test file: no diff embedding, the state stays. */
function diffOf(commit: string): FileDiff[] {
  const i = COMMITS.indexOf(commit);
  if (i === 3) return [];
  const added = `def step_${i}(x):\n    return x * ${i + 2}\n`;
  const patch = `--- a/pkg/core.py\n+++ b/pkg/core.py\n@@ -${2 * i},0 +${2 * i},3 @@\n+\n${added.split('\n').filter(Boolean).map((l) => `+${l}`).join('\n')}\n`;
  return [{ path: 'pkg/core.py', status: 'modified', binary: false, tooLarge: false, hunks: [], patch }];
}

function history(calls = { reads: 0, diffs: 0 }): EvoHistory & { calls: typeof calls } {
  return {
    calls,
    commits: COMMITS,
    readFiles: async (commit) => {
      calls.reads++;
      return [{ path: 'pkg/core.py', content: coreAt(COMMITS.indexOf(commit)) }, { path: 'tests/test_core.py', content: 'def test():\n    assert 1 == 1\n' }];
    },
    diff: async (commit) => {
      calls.diffs++;
      return diffOf(commit);
    },
  };
}

beforeAll(async () => {
  await initBackend();
  encoder = tinyRandomModel({ seed: 3 });
  model = encoder.model;
  parser = await loadPythonParser();
  staticHypernetwork = untrainedHypernetwork(model.config);
  evo = untrainedEvoHypernetwork(staticHypernetwork);
});

describe('untrainedEvoHypernetwork', () => {
  it('is the seeded Evo hypernetwork of the Static one\'s shape, sharing its weights', async () => {
    const full = initHypernetworkWeights(staticHypernetwork.config, 1234, 'code2lora-evo');
    expect([...evo.weights.keys()].sort()).toEqual([...full.keys()].sort());
    for (const [name, tensor] of full) {
      expect(Array.from(await evo.weights.get(name)!.data()), name).toEqual(Array.from(await tensor.data()));
    }
    expect(evo.weights.get('trunk.0.weight')).toBe(staticHypernetwork.weights.get('trunk.0.weight'));
    expect(evo).toMatchObject({ kind: 'code2lora-evo', trained: false });
    expect(evo.encoderLayer).toBeUndefined();
    // A Static hypernetwork that reads an earlier layer: its stand-in reads the same one (its first adapter is Static's).
    expect(untrainedEvoHypernetwork({ ...staticHypernetwork, encoderLayer: 1 }).encoderLayer).toBe(1);
  });
});

describe('EvoSession', () => {
  it('steps forward 5 commits, back 3 for free, forward again to the same adapter; drift per commit', async () => {
    const h = history();
    const session = new EvoSession({ hypernetwork: evo, baseModel: model.config, encoder, parser, history: h });
    const progress: number[] = [];
    const fifth = await session.select(5, { onProgress: (p) => p.stage === 'evo' && progress.push(p.done) });
    expect(progress).toEqual([1, 2, 3, 4, 5]);
    expect(fifth.report).toMatchObject({ index: 5, commit: COMMITS[5], steps: 5, startedFrom: 0, filesEncoded: 1, diffsEncoded: 4, statesFromStore: 0 });
    expect(fifth.report.diffTokens).toBeGreaterThan(0);
    expect(h.calls).toEqual({ reads: 1, diffs: 5 });

    const back = await session.select(2);
    expect(back.report).toMatchObject({ steps: 0, startedFrom: 2, diffsEncoded: 0, diffTokens: 0, filesEncoded: 0 });
    expect(h.calls).toEqual({ reads: 1, diffs: 5 });
    const again = await session.select(5);
    expect(again.report).toMatchObject({ steps: 0, diffsEncoded: 0 });
    expect(await adapterDigest(again.adapter)).toBe(await adapterDigest(fifth.adapter));

    const drift = session.driftSeries();
    expect(drift.map((p) => p.index)).toEqual([1, 2, 3, 4, 5]);
    expect(drift.find((p) => p.index === 3)!.drift).toBe(0); // no diff: the adapter did not move
    expect(drift.filter((p) => p.index !== 3).every((p) => p.drift > 0)).toBe(true);
    expect(fifth.report.drift).not.toBeNull();
    expect(Object.keys(fifth.report.drift!).sort()).toEqual([...evo.config.shapes ? Object.keys(evo.config.shapes) : []].sort());

    const ahead = await session.select(7);
    expect(ahead.report).toMatchObject({ steps: 2, startedFrom: 5, diffsEncoded: 2 });
    expect(session.driftSeries().map((p) => p.index)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it.each([undefined, 1])('equals the Static adapter at the first commit (untrained Evo of a Static hypernetwork reading layer %s)', async (layer) => {
    const staticAtLayer = layer === undefined ? staticHypernetwork : { ...staticHypernetwork, encoderLayer: layer };
    const standIn = layer === undefined ? evo : untrainedEvoHypernetwork(staticAtLayer);
    const session = new EvoSession({ hypernetwork: standIn, baseModel: model.config, encoder, parser, history: history() });
    const first = await session.select(0);
    expect(first.report).toMatchObject({ steps: 0, drift: null });
    const encoding = await encodeRepository({ files: await history().readFiles(COMMITS[0]), encoder, layer, parser });
    const staticAdapter = await generateAdapter(staticAtLayer, model.config, encoding.files.map((f) => f.embedding));
    // Equal up to rounding: evoAdapter normalises the (already normalised) state once more.
    for (const module of staticAdapter.targetModules) {
      for (const part of ['A', 'B'] as const) {
        const ours = first.adapter.layers[0][module]![part] as Float32Array;
        const theirs = staticAdapter.layers[0][module]![part] as Float32Array;
        expect(Math.max(...ours.map((v, i) => Math.abs(v - theirs[i]))), `${module}.${part}`).toBeLessThan(1e-6);
      }
    }
  });

  it('reads states and diff embeddings from its stores in a new session, and never another hypernetwork\'s', async () => {
    const states = new MemoryFileEmbeddingCache();
    const diffEmbeddings = new MemoryFileEmbeddingCache();
    const fileEmbeddings = new MemoryFileEmbeddingCache();
    const stores = { states, diffEmbeddings, fileEmbeddings };
    const first = await new EvoSession({ hypernetwork: evo, baseModel: model.config, encoder, parser, history: history(), ...stores }).select(6);
    const h = history();
    const second = new EvoSession({ hypernetwork: evo, baseModel: model.config, encoder, parser, history: h, ...stores });
    const reopened = await second.select(6);
    expect(reopened.report).toMatchObject({ steps: 0, statesFromStore: 2, diffsEncoded: 0, filesEncoded: 0 }); // 6, and 5 for the drift
    expect(reopened.report.drift).toEqual(first.report.drift);
    expect(await adapterDigest(reopened.adapter)).toBe(await adapterDigest(first.adapter));
    expect(h.calls).toEqual({ reads: 0, diffs: 0 });
    // A state lost from the store: stepped again from the nearest stored one, its diff embedding read from the store.
    const fresh = new EvoSession({ hypernetwork: evo, baseModel: model.config, encoder, parser, history: h, diffEmbeddings, fileEmbeddings });
    const recomputed = await fresh.select(6);
    expect(recomputed.report).toMatchObject({ steps: 6, diffsEncoded: 0, diffsFromCache: 6, filesEncoded: 0, filesFromCache: 1 });
    expect(await adapterDigest(recomputed.adapter)).toBe(await adapterDigest(first.adapter));

    const other = untrainedEvoHypernetwork(untrainedHypernetwork(model.config, model.config.hiddenSize, 99), 99);
    expect(await evoStateIdentity(other)).not.toBe(await evoStateIdentity(evo));
    expect(await evoStateIdentity(untrainedEvoHypernetwork(staticHypernetwork))).toBe(await evoStateIdentity(evo));
  });

  it('refuses a Static hypernetwork and indices outside the history, and stops when aborted', async () => {
    expect(() => new EvoSession({ hypernetwork: staticHypernetwork, baseModel: model.config, encoder, parser, history: history() }))
      .toThrow(expect.objectContaining({ code: 'NOT_EVO' }));
    const session = new EvoSession({ hypernetwork: evo, baseModel: model.config, encoder, parser, history: history() });
    await expect(session.select(COMMITS.length)).rejects.toThrow(RangeError);
    const controller = new AbortController();
    controller.abort();
    await expect(session.select(4, { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });
});
