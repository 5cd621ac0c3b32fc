// The benchmark's likelihood measure: a task's target teacher-forced after the method's prompt (methods.ts
// scoreTarget), its summaries (per method, and paired for the comparisons the claims rest on) and the report.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { completePrompt, scoreTarget, targetIds, type BenchRuntime } from '../src/bench/methods.ts';
import { renderReport } from '../src/bench/report.ts';
import { summarizeRun, type TaskRecord } from '../src/bench/run.ts';
import { initBackend } from '../src/model/backend.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { disposePreparedLora, prepareLora, randomLoraAdapter } from '../src/model/lora.ts';
import { PromptCache } from '../src/model/promptCache.ts';
import { letters, maxAbsDiff, tinyConfig } from './fixtures/tinyModel.ts';

beforeAll(async () => {
  await initBackend();
});

const config = tinyConfig({ max_position_embeddings: 128 });
const promptOf = (length: number, salt = 0) => Array.from({ length }, (_, i) => (i * 7 + salt * 13 + 3) % config.vocabSize);

/** The slow, obvious way: one full pass over prompt + target, log-softmax of every row, the target's entries. */
async function referenceNll(model: LlamaModel, prompt: number[], target: number[], lora: ReturnType<typeof prepareLora> | null) {
  const logits = model.forward([...prompt, ...target], { lora });
  const logProbabilities = tf.logSoftmax(logits);
  const values = await logProbabilities.data();
  tf.dispose([logits, logProbabilities]);
  return -target.reduce((sum, id, j) => sum + values[(prompt.length - 1 + j) * config.vocabSize + id], 0) / target.length;
}

describe('forward with logits for the last n positions', () => {
  it('gives the last n rows of the full logits, and refuses a count outside 1..T', async () => {
    const model = LlamaModel.random(config, { seed: 3, std: 0.2 });
    const ids = promptOf(20);
    const all = await model.forward(ids).data();
    const last = model.forward(ids, { logits: 5 });
    expect(last.shape).toEqual([5, config.vocabSize]);
    expect(maxAbsDiff(await last.data(), all.slice(-5 * config.vocabSize))).toBeLessThan(1e-5);
    last.dispose();
    for (const bad of [0, 21, 2.5]) expect(() => model.forward(ids, { logits: bad })).toThrow(RangeError);
    model.dispose();
  });
});

describe('scoreTarget', () => {
  it('equals a full pass, with and without an adapter, and an adapter changes it', async () => {
    const model = LlamaModel.random(config, { seed: 5, std: 0.2 });
    const lora = prepareLora(randomLoraAdapter(config, { seed: 1, std: 0.3 }), config);
    const prompt = promptOf(30);
    const target = promptOf(6, 4);
    const cache = new PromptCache(config.numLayers, 128);
    const scores = [];
    for (const adapter of [null, lora]) {
      const score = await scoreTarget(model, prompt, target, { lora: adapter, promptCache: cache });
      expect(score!.tokens).toBe(6);
      expect(Math.abs(score!.nll - await referenceNll(model, prompt, target, adapter))).toBeLessThan(1e-4);
      scores.push(score!.nll);
    }
    expect(Math.abs(scores[0] - scores[1])).toBeGreaterThan(1e-3);
    expect(await scoreTarget(model, prompt, [], { lora: null, promptCache: cache })).toBeNull();
    cache.clear();
    disposePreparedLora(lora);
    model.dispose();
  });

  it('reuses a cached prefix, and leaves the prompt cached for the decode, which writes what it writes without it', async () => {
    const model = LlamaModel.random(config, { seed: 8, std: 0.2 });
    const runtime: BenchRuntime = { model, tokenizer: letters, parser: null as never, maxNewTokens: 8, contextTokens: 128 };
    const cache = new PromptCache(config.numLayers, 128);
    const first = promptOf(24);
    const second = [...first.slice(0, 16), ...promptOf(10, 2)]; // shares 16 tokens with the first
    const target = promptOf(5, 7);
    await scoreTarget(model, first, target, { lora: null, promptCache: cache });
    const tensorsBefore = tf.memory().numTensors;
    const score = await scoreTarget(model, second, target, { lora: null, promptCache: cache });
    expect(cache.lastReused).toBe(16);
    expect(Math.abs(score!.nll - await referenceNll(model, second, target, null))).toBeLessThan(1e-4);
    expect(tf.memory().numTensors).toBe(tensorsBefore); // nothing left behind: the cache holds as many tensors as before
    const withCache = await completePrompt(runtime, second, { target: 'x\ny', promptCache: cache });
    expect(cache.lastReused).toBe(second.length - 1); // only the prompt's last token ran again
    expect(withCache).toBe(await completePrompt(runtime, second, { target: 'x\ny' }));
    cache.clear();
    model.dispose();
  });

  it('scores the target without special tokens, cut to the decoding budget', () => {
    const tokenizer = { encode: (text: string, options?: { addSpecialTokens?: boolean }) => [...(options?.addSpecialTokens === false ? [] : [0]), ...Array.from(text, (c) => c.charCodeAt(0))], decode: () => '' };
    expect(targetIds({ tokenizer, maxNewTokens: 3 }, 'abcdef')).toEqual([97, 98, 99]);
    expect(targetIds({ tokenizer, maxNewTokens: 64 }, '')).toEqual([]);
  });
});

describe('likelihood in the summaries and the report', () => {
  /** Twenty tasks; each method's EM and target NLL per task from the given functions. */
  const records = (method: string, em: (i: number) => boolean, nll: ((i: number) => number) | null): TaskRecord[] =>
    Array.from({ length: 20 }, (_, i) => ({
      task_id: `t${i}`, repo: i < 10 ? 'a' : 'b', commit: 'c', file: 'tests/test_x.py', line: i, kind: 'assert_compare', mode: 'static',
      method, split: 'cr_test', target: 'x', prediction: 'x', prediction_clean: 'x', em: em(i), editsim: em(i) ? 1 : 0,
      prompt_tokens: 10, extra_prompt_tokens: 0, seconds: 0.1, ...(nll ? { target_nll: nll(i), target_tokens: 3 } : {}),
    }));
  const run = {
    prepares: [],
    records: [
      ...records('base', () => false, (i) => 2 + (i % 3) * 0.1),
      ...records('shared-lora', (i) => i % 2 === 0, (i) => 1.2 + (i % 3) * 0.1),
      ...records('code2lora-static', (i) => i % 2 === 0, (i) => 1.1 + (i % 3) * 0.1),
      // Made before the measure existed: no likelihood, and none paired with it.
      ...records('shuffled-adapter', (i) => i % 4 === 0, null),
    ],
  };

  it('pairs every method with base and static with the shared LoRA and the shuffled adapter, in likelihood where both have it', () => {
    const { summary, paired } = summarizeRun(run, { methodOrder: ['base', 'shared-lora', 'code2lora-static', 'shuffled-adapter'] });
    const staticRow = summary.find((s) => s.method === 'code2lora-static')!;
    expect(staticRow.target_nll).toBeCloseTo(1.1 + (7 * 0 + 7 * 0.1 + 6 * 0.2) / 20, 6);
    expect(staticRow.nll_n).toBe(20);
    expect(summary.find((s) => s.method === 'shuffled-adapter')!.target_nll).toBeUndefined();
    const pair = (method: string, against: string) => paired.find((p) => p.method === method && p.baseline === against);
    const staticShared = pair('code2lora-static', 'shared-lora')!;
    expect(staticShared.em_diff).toBe(0);
    expect(staticShared.target_nll_diff).toBeCloseTo(-0.1, 6);
    expect(staticShared.target_nll_diff_ci![1]).toBeLessThan(0); // the same -0.1 on every task
    expect(staticShared.nll_n).toBe(20);
    const staticShuffled = pair('code2lora-static', 'shuffled-adapter')!;
    expect(staticShuffled.em_diff).toBeCloseTo(25, 6);
    expect(staticShuffled.target_nll_diff).toBeUndefined();
    expect(pair('shared-lora', 'base')!.target_nll_diff).toBeCloseTo(-0.8, 6);
    expect(pair('code2lora-evo', 'shared-lora')).toBeUndefined(); // no evo records
    // Differences from base first, then the claims.
    expect(paired.map((p) => `${p.method}-${p.baseline}`)).toEqual([
      'shared-lora-base', 'code2lora-static-base', 'shuffled-adapter-base', 'code2lora-static-shared-lora', 'code2lora-static-shuffled-adapter',
    ]);
  });

  it('reports the likelihood table and the paired differences with ΔNLL', () => {
    const methods = ['base', 'shared-lora', 'code2lora-static', 'shuffled-adapter'];
    const report = renderReport(summarizeRun(run, { methodOrder: methods }), {
      command: 'test', wallSeconds: 1, computeSeconds: 1, model: 'tiny', taskSet: 'tiny', methods, notes: [], skipped: [],
    }, []);
    expect(report).toContain('## Likelihood of the target');
    expect(report).toMatch(/\| code2lora-static \| 1\.195 \[[\d.]+, [\d.]+\] \(n 20\) \|/);
    expect(report).toMatch(/\| code2lora-static \| shared-lora \| cr_test \| 20 \| \+0\.0 .* \| -0\.100 \[-0\.100, -0\.100\], p <0\.001 \(n 20\) \|/);
    expect(report).not.toMatch(/\| shuffled-adapter \| 1\./); // no likelihood row for a method that did not measure it
    // Per repository, beside EM: repository a's ten tasks, shared LoRA then Static, and the shuffled adapter without it.
    expect(report).toMatch(/\n\| a \| [^|]+ · NLL 2\.090 \| 50\.0 \(n 10\) · NLL 1\.290 \| 50\.0 \(n 10\) · NLL 1\.190 \| \d+\.\d \(n 10\) \|\n/);
  });

  it('compares on the tasks that need repository knowledge apart: against base and in the claims', () => {
    // Tasks 0-9 need a name of the repository: Static makes them likelier than the shared LoRA (1.0 against 1.2);
    // on tasks 10-19 it is worse (1.3), so over all tasks the gap is a quarter of that on the knowledge tasks.
    const needs = (i: number) => i < 10;
    const withNames = (list: TaskRecord[]) => list.map((r, i) => (needs(i) ? { ...r, repo_names: ['Name'], name_recall: r.em ? 1 : 0 } : r));
    const methods = ['base', 'shared-lora', 'code2lora-static'];
    const summary = summarizeRun({
      prepares: [],
      records: [
        ...withNames(records('base', () => false, () => 2)),
        ...withNames(records('shared-lora', (i) => i % 2 === 0, () => 1.2)),
        ...withNames(records('code2lora-static', (i) => i % 2 === 0, (i) => (needs(i) ? 1.0 : 1.3))),
      ],
    }, { methodOrder: methods });
    const knowledge = summary.repoKnowledge.find((k) => k.method === 'code2lora-static')!;
    expect(knowledge).toMatchObject({ n: 10, nll_n: 10 });
    expect(knowledge.target_nll).toBeCloseTo(1.0, 6);
    expect(knowledge.target_nll_diff!.mean).toBeCloseTo(-1.0, 6); // against base on the same ten tasks
    expect(summary.repoKnowledge.find((k) => k.method === 'base')!.target_nll_diff).toBeUndefined();
    expect(summary.repoKnowledgePaired.map((p) => `${p.method}-${p.baseline}`)).toEqual(['code2lora-static-shared-lora']);
    const [claim] = summary.repoKnowledgePaired;
    expect(claim).toMatchObject({ n: 10, nll_n: 10, em_diff: 0 });
    expect(claim.target_nll_diff).toBeCloseTo(-0.2, 6);
    expect(summary.paired.find((p) => p.method === 'code2lora-static' && p.baseline === 'shared-lora')!.target_nll_diff).toBeCloseTo(-0.05, 6);

    const report = renderReport(summary, {
      command: 'test', wallSeconds: 1, computeSeconds: 1, model: 'tiny', taskSet: 'tiny', methods, notes: [], skipped: [],
    }, []);
    const section = report.slice(report.indexOf('## Tasks that need repository knowledge'));
    expect(section).toMatch(/\| code2lora-static \| cr_test \| 10 \| .* \| 1\.000 \[1\.000, 1\.000\] \| -1\.000 \[-1\.000, -1\.000\] \|/);
    expect(section).toMatch(/\| code2lora-static \| shared-lora \| cr_test \| 10 \| .* \| -0\.200 \[-0\.200, -0\.200\], p <0\.001 \(n 10\) \|/);
  });
});
