// Code2LoRA-Evo inference: the GRU step's rules, the timeline's caching (forward steps once, back is free, a store
// survives a new session), drift norms, refusals by code. Values against PyTorch: training/tests/test_hypernet_parity.py.
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/model/backend.ts';
import { linearShape } from '../src/model/llama.ts';
import { LORA_MODULES } from '../src/model/lora.ts';
import { evoAdapter, stepEvoState } from '../src/code2lora/evo.ts';
import { EvoTimeline } from '../src/code2lora/evoTimeline.ts';
import { MemoryFileEmbeddingCache } from '../src/code2lora/fileEmbeddingCache.ts';
import { hypernetworkWeightShapes, initHypernetworkWeights, repoState, type Hypernetwork, type HypernetworkConfig } from '../src/code2lora/hypernetwork.ts';
import { adapterDeltaNorms } from '../src/code2lora/makeAdapter.ts';
import { tinyConfig } from './fixtures/tinyModel.ts';

const base = tinyConfig({ vocab_size: 64 });
const config: HypernetworkConfig = {
  embeddingSize: 6, hiddenSize: 8, rank: 2, alpha: 4, meanWeight: 0.6, maxWeight: 1.4, initLogScale: -1,
  shapes: Object.fromEntries(LORA_MODULES.map((module) => [module, linearShape(base, module)])),
};
let evo: Hypernetwork;
const files = [Float32Array.from([1, 2, 0, -1, 0.5, 3]), Float32Array.from([0, -2, 1, 1, 0.5, -1])];
const commits = Array.from({ length: 10 }, (_, i) => `c${i}`);
/** Commit c3 changes no non-test source file: no diff embedding. */
const diffOf = (commit: string) => commit === 'c3' ? null : Float32Array.from({ length: 12 }, (_, i) => Math.sin(i + 3 * Number(commit.slice(1))));

function timeline(store?: MemoryFileEmbeddingCache) {
  const calls = { diffs: 0, initial: 0 };
  const line = new EvoTimeline({
    hypernetwork: evo, commits, store,
    initialState: async () => { calls.initial++; return repoState(evo, files); },
    diffEmbedding: async (commit) => { calls.diffs++; return diffOf(commit); },
  });
  return { line, calls };
}

beforeAll(async () => {
  await initBackend();
  evo = { kind: 'code2lora-evo', config, weights: initHypernetworkWeights(config, 7, 'code2lora-evo'), trained: false };
});

describe('stepEvoState', () => {
  it('moves the state with a diff, keeps it without one, and refuses wrong sizes and Static hypernetworks', async () => {
    const start = await repoState(evo, files);
    const moved = await stepEvoState(evo, start, diffOf('c1'));
    expect(Math.max(...moved.map((v, i) => Math.abs(v - start[i])))).toBeGreaterThan(1e-3);
    expect(await stepEvoState(evo, start, null)).toBe(start);
    await expect(stepEvoState(evo, new Float32Array(3), null)).rejects.toMatchObject({ code: 'STATE_SIZE_MISMATCH' });
    await expect(stepEvoState(evo, start, new Float32Array(6))).rejects.toMatchObject({ code: 'EMBEDDING_SIZE_MISMATCH' });
    const staticOnly = { ...evo, kind: 'code2lora-static' as const };
    await expect(stepEvoState(staticOnly, start, diffOf('c1'))).rejects.toMatchObject({ code: 'NOT_EVO' });
    expect(hypernetworkWeightShapes(config, 'code2lora-evo').get('gru.weight_ih')).toEqual([24, 8]);
  });
});

describe('EvoTimeline', () => {
  it('steps forward once per commit, goes back for free, and forward again to the same adapter', async () => {
    const { line, calls } = timeline();
    const fifth = await line.stateAt(5);
    expect(calls).toEqual({ initial: 1, diffs: 5 });
    const back = await line.stateAt(2);
    expect(calls.diffs).toBe(5);
    expect(line.stepsTo(2)).toBe(0);
    // By hand: the same steps from the initial state.
    let state = await repoState(evo, files);
    for (let i = 1; i <= 2; i++) state = await stepEvoState(evo, state, diffOf(commits[i]));
    expect(Array.from(back)).toEqual(Array.from(state));
    expect(Array.from(await line.stateAt(3))).toEqual(Array.from(await line.stateAt(2))); // c3 has no diff
    const progress: number[] = [];
    await line.stateAt(8, { onProgress: (p) => progress.push(p.done) });
    expect(progress).toEqual([1, 2, 3]);
    expect(calls.diffs).toBe(8);
    const again = await line.stateAt(5);
    expect(again).toBe(fifth);
    const adapter = await evoAdapter(evo, base, again);
    const norms = await adapterDeltaNorms(adapter, await evoAdapter(evo, base, fifth));
    expect(Object.values(norms).every((n) => n === 0)).toBe(true);
    const drift = await adapterDeltaNorms(await evoAdapter(evo, base, await line.stateAt(8)), adapter);
    expect(Math.min(...Object.values(drift))).toBeGreaterThan(0);
  });

  it('reuses a store across sessions, keyed by the history start', async () => {
    const store = new MemoryFileEmbeddingCache();
    const first = timeline(store);
    const last = await first.line.stateAt(9);
    const second = timeline(store);
    expect(Array.from(await second.line.stateAt(9))).toEqual(Array.from(last));
    expect(second.calls).toEqual({ initial: 0, diffs: 0 });
    const shifted = new EvoTimeline({
      hypernetwork: evo, commits: commits.slice(2), store,
      initialState: async () => repoState(evo, files), diffEmbedding: async (commit) => diffOf(commit),
    });
    expect(Array.from(await shifted.stateAt(7))).not.toEqual(Array.from(last)); // another start: another state
  });

  it('refuses indices outside the history and stops when aborted', async () => {
    const { line } = timeline();
    await expect(line.stateAt(10)).rejects.toThrow(RangeError);
    await expect(line.stateAt(-1)).rejects.toThrow(RangeError);
    const controller = new AbortController();
    controller.abort();
    await expect(line.stateAt(4, { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });
});
