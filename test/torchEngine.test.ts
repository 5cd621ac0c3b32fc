// The torch engine's TypeScript side: completions back to predictions, adapters as PEFT directories, and which tasks
// the per-repo LoRA baseline is scored on. Decoding itself is held to the TypeScript engine by
// training/tests/test_eval_engine_parity.py.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTaskSetFromSpecs } from '../src/bench/benchmark.ts';
import { tinyRandomModel } from '../src/bench/benchModel.ts';
import { createMethod } from '../src/bench/methods.ts';
import { CODE_EXAMPLE, codeExamples, irTrainTasks, perRepoLoraTrainer } from '../src/bench/perRepoLora.ts';
import { plannedPairs } from '../src/bench/run.ts';
import { type DecodeCompletion, predictionText, writePeftDirectory } from '../src/bench/torchEngine.ts';
import { loadPeftDirectory, perRepoAdapterDirectory } from '../src/bench/weightFiles.ts';
import { untrainedHypernetwork } from '../src/code2lora/makeAdapter.ts';
import { initBackend } from '../src/model/backend.ts';
import { randomLoraAdapter } from '../src/model/lora.ts';
import { loadPythonParser, type PythonParser } from '../src/parse/pythonParser.ts';

const scratch = mkdtempSync(join(tmpdir(), 'torch-engine-test-'));
let parser: PythonParser;
beforeAll(async () => {
  await initBackend();
  parser = await loadPythonParser();
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('completions from training/evaluate.py', () => {
  // Ids are UTF-8 bytes, decoded as our byte-level tokenizer decodes (a cut character becomes U+FFFD).
  const bytes = { encode: (text: string) => [...new TextEncoder().encode(text)], decode: (ids: number[]) => new TextDecoder().decode(new Uint8Array(ids)) };
  const completion = (text: string, cut: number, stop: DecodeCompletion['stop']): DecodeCompletion => ({
    id: 't', completion_ids: bytes.encode(text).slice(0, bytes.encode(text).length - cut), text: '', stop, margins: [], seconds: 0,
  });

  it('are decoded with our tokenizer, as the TypeScript engine returns them', () => {
    expect(predictionText(completion('42)\n', 0, 'first_line'), bytes)).toBe('42)\n');
    expect(predictionText(completion('"é")\n', 0, 'eos'), bytes)).toBe('"é")\n');
  });

  it('drop a partial character only after a first-line stop (generate() had not released it yet)', () => {
    expect(predictionText(completion('1\né', 1, 'first_line'), bytes)).toBe('1\n');
    expect(predictionText(completion('1\né', 1, 'max_tokens'), bytes)).toBe('1\n\uFFFD');
  });
});

describe('adapters for the torch engine', () => {
  it('are written as PEFT directories that load back bit for bit', async () => {
    const { model } = tinyRandomModel(0);
    const adapter = randomLoraAdapter(model.config, { rank: 4, alpha: 8, seed: 3, targetModules: ['q_proj', 'down_proj'] });
    const directory = join(scratch, 'adapter');
    await writePeftDirectory(adapter, directory);
    const loaded = await loadPeftDirectory(directory, model.config);
    expect(loaded).toMatchObject({ rank: 4, alpha: 8, targetModules: ['down_proj', 'q_proj'] });
    adapter.layers.forEach((modules, layer) => {
      for (const module of ['q_proj', 'down_proj'] as const) {
        expect(loaded.layers[layer][module]!.A).toEqual(modules[module]!.A);
        expect(loaded.layers[layer][module]!.B).toEqual(modules[module]!.B);
      }
    });
  });
});

describe('per-repo LoRA tasks', () => {
  it('recomputes the builder\'s IR-train split, for training and held-out repositories alike', async () => {
    const trainingRepos = await buildTaskSetFromSpecs({ specs: [{ source: 'synth:1' }, { source: 'synth:2' }], parser, seed: 5, history: 8, heldOut: { val: 0, test: 0 } });
    const fromBuilder = trainingRepos.tasks.filter((task) => task.split === 'train').map((task) => task.id).sort();
    const recomputed = [...irTrainTasks(trainingRepos.tasks, 5).values()].flat().map((task) => task.id).sort();
    expect(recomputed).toEqual(fromBuilder);
    expect(recomputed.length).toBeGreaterThan(20);

    const heldOut = await buildTaskSetFromSpecs({ specs: [{ source: 'synth:1' }], parser, seed: 5, history: 8, heldOut: 'all' });
    const staticTasks = heldOut.tasks.filter((task) => task.mode === 'static');
    const train = irTrainTasks(heldOut.tasks, 5).get(staticTasks[0].repo)!;
    expect(train).toHaveLength(staticTasks.length - 2 * Math.floor(staticTasks.length * 0.1));
    expect(train.every((task) => task.split === 'cr_test')).toBe(true);
    // The same repository as a training repository: the same tasks in IR-train.
    expect(train.map((task) => `${task.file}:${task.line}`)).toEqual(
      trainingRepos.tasks.filter((task) => task.repo === train[0].repo && task.split === 'train').map((task) => `${task.file}:${task.line}`));
  });

  it('learns from code: seeded passages of whole lines of non-test files, each right after its context', () => {
    const library = Array.from({ length: 200 }, (_, i) => (i % 7 === 3 ? '' : `    value_${i} = compute(${i})  # step ${i}`)).join('\n');
    const files = [{ path: 'pkg/core.py', content: `def run():\n${library}\n` }, { path: 'tests/test_core.py', content: 'def test_run():\n    assert run()\n' }];
    const examples = codeExamples(files, 40, 3);
    expect(examples).toHaveLength(40);
    expect(codeExamples(files, 40, 3)).toEqual(examples);
    expect(codeExamples(files, 40, 4)).not.toEqual(examples);
    const content = files[0].content;
    for (const { prompt, target, kind } of examples) {
      expect(kind).toBe('code');
      const at = content.indexOf(prompt + target);
      expect(at).toBeGreaterThanOrEqual(0); // contiguous in the library, never from the test file
      expect(prompt.length).toBeLessThanOrEqual(CODE_EXAMPLE.promptChars);
      expect(prompt.length === CODE_EXAMPLE.promptChars || at === 0).toBe(true);
      expect(prompt.endsWith('    ')).toBe(true); // starts after its line's indentation
      expect(target).toMatch(/^value_\d+ = compute/);
      expect(content[at + prompt.length + target.length] ?? '\n').toBe('\n'); // whole lines
      expect(target.length).toBeLessThan(CODE_EXAMPLE.targetChars + 40); // the last line may run past the budget
    }
    expect(codeExamples([files[1]], 10, 0)).toEqual([]);
  });

  it('reuses a trained adapter on a rerun only if it was trained with the same steps, start and data', async () => {
    const { model, tokenizer } = tinyRandomModel(0);
    const workDirectory = join(scratch, 'per-repo');
    await writePeftDirectory(randomLoraAdapter(model.config, { rank: 4, alpha: 8, seed: 1, targetModules: ['q_proj'] }), join(workDirectory, 'r', 'adapter'));
    writeFileSync(join(workDirectory, 'training.jsonl'), JSON.stringify({
      repo: 'r', train_tasks: 160, seconds: 1, final_loss: 2, steps: 20, init_lora: null, learning_rate: null, data: 'code',
    }) + '\n');
    // Nothing is trained here: a trainer that would have to train fails on the missing python.
    const trainer = (overrides: Partial<Parameters<typeof perRepoLoraTrainer>[0]>) => perRepoLoraTrainer({
      modelDirectory: 'none', modelConfig: model.config, tokenizer, data: 'code', seed: 0, steps: 20, promptTokens: 256,
      workDirectory, python: '/nonexistent/python', ...overrides,
    });
    expect(await trainer({})('r', [])).toMatchObject({ rank: 4, alpha: 8 });
    await expect(trainer({ data: 'ir-train' })('r', [])).rejects.toThrow(/r's adapter .* was trained with .*"data":"code".* give another --out/);
    await expect(trainer({ steps: 40 })('r', [])).rejects.toThrow(/was trained with/);
  });

  it('finds a repository\'s adapter under --per-repo-lora in the trainer\'s layout or as a PEFT folder', async () => {
    const { model } = tinyRandomModel(0);
    const root = join(scratch, 'given');
    const adapter = randomLoraAdapter(model.config, { rank: 4, alpha: 8, seed: 2, targetModules: ['v_proj'] });
    await writePeftDirectory(adapter, join(root, 'owner__trained', 'adapter'));
    await writePeftDirectory(adapter, join(root, 'owner__plain'));
    expect(perRepoAdapterDirectory(root, 'owner/trained')).toBe(join(root, 'owner__trained', 'adapter'));
    expect(perRepoAdapterDirectory(root, 'owner/plain')).toBe(join(root, 'owner__plain'));
    expect(perRepoAdapterDirectory(root, 'a b/c')).toBe(join(root, 'a__b__c'));
    expect(await loadPeftDirectory(perRepoAdapterDirectory(root, 'owner/trained'), model.config)).toMatchObject({ rank: 4, alpha: 8 });
  });

  it('scores per-repo-lora on static tasks outside IR-train only, and says why for the rest', async () => {
    // A short history has few evo tasks: keep the repository whatever its count (the paper's minimum is 30).
    const { tasks } = await buildTaskSetFromSpecs({ specs: [{ source: 'synth:1' }], parser, seed: 5, history: 8, heldOut: 'all', limits: { minPerRepo: 1 } });
    const train = new Set([...irTrainTasks(tasks, 5).values()].flat().map((task) => task.id));
    const benchModel = tinyRandomModel(0);
    const runtime = { model: benchModel.model, tokenizer: benchModel.tokenizer, parser, maxNewTokens: 8, contextTokens: 512 };
    const resources = { hypernetwork: untrainedHypernetwork(benchModel.model.config), perRepoLora: async () => null, irTrainTaskIds: train };
    const methods = [createMethod('per-repo-lora', runtime, resources), createMethod('base', runtime, resources)];
    const { wanted, refused } = plannedPairs(tasks, methods);
    const scored = tasks.filter((task) => wanted.has(`${task.id}\u0000per-repo-lora`));
    expect(scored.length).toBe(tasks.filter((task) => task.mode === 'static').length - train.size);
    expect(scored.every((task) => task.mode === 'static' && !train.has(task.id))).toBe(true);
    expect(tasks.every((task) => wanted.has(`${task.id}\u0000base`))).toBe(true);
    const count = (text: string) => refused.filter((entry) => entry.reason.includes(text)).reduce((sum, entry) => sum + entry.tasks, 0);
    expect(count('IR-train')).toBe(train.size);
    expect(count('static tasks only')).toBe(tasks.filter((task) => task.mode === 'evo').length);
    expect(count('static tasks only')).toBeGreaterThan(0);
  });
});
