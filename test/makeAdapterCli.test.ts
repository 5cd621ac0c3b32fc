// cli/make-adapter.ts: a generated repository (work tree, clone over HTTP, plain folder, older commit) -> c2l-base embeddings -> a random exported hypernetwork -> PEFT files equal to the library's own computation.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/model/backend.ts';
import { parseModelConfig, type ModelConfig } from '../src/model/config.ts';
import { linearShape, type LlamaModel } from '../src/model/llama.ts';
import { filesFromDirectory, loadHfModel } from '../src/model/loadHfModel.ts';
import { importPeftAdapter, LORA_MODULES } from '../src/model/lora.ts';
import { writeSafetensors } from '../src/model/safetensors.ts';
import { loadPythonParser } from '../src/parse/pythonParser.ts';
import { snapshotAt } from '../src/synth/generateRepo.ts';
import { makeSynthRepos, type SynthRepoOnDisk } from '../src/synth/writeGitRepo.ts';
import { BpeTokenizer } from '../src/tokenizer/bpeTokenizer.ts';
import { ENCODER_SETTINGS } from '../src/code2lora/encoderSettings.ts';
import {
  generateAdapter, heldTransposed, hypernetworkWeightShapes, initHypernetworkWeights, type HypernetworkConfig,
} from '../src/code2lora/hypernetwork.ts';
import { encodeRepository } from '../src/code2lora/repoEncoder.ts';
import { ENCODER_DIRECTORY, makeAdapterFromRepository, type MakeAdapterOptions } from '../cli/make-adapter.ts';
import { maxAbsDiff } from './fixtures/tinyModel.ts';
import { startGitHttpServer, type GitHttpServer } from './support/gitHttpServer.ts';

const COMMITS = 6;
let root: string;
let workTree: SynthRepoOnDisk;
let server: GitHttpServer;
let bareUrl: string;
let c2lConfig: ModelConfig;
let hypernetworkConfig: HypernetworkConfig;
let hypernetworkDirectory: string;

/** A random hypernetwork for c2l-base in training/export_hypernet.py's layout: hypernetwork_config.json + hypernetwork.safetensors. */
function writeRandomHypernetwork(directory: string, base: ModelConfig, name: string, config: HypernetworkConfig): void {
  const weights = initHypernetworkWeights(config, 11);
  const shapes = hypernetworkWeightShapes(config);
  mkdirSync(directory, { recursive: true });
  // Back to the state_dict's layout: the heads' weights are held transposed.
  const stateDictData = (name: string) => tf.tidy(() => {
    const held = weights.get(name)!;
    return (heldTransposed(name) ? tf.transpose(held) : held).dataSync() as Float32Array;
  });
  writeFileSync(join(directory, 'hypernetwork.safetensors'), writeSafetensors(Object.fromEntries([...shapes].map(([tensor, shape]) =>
    [tensor, { dtype: 'F32' as const, shape, data: stateDictData(tensor) }]))));
  weights.forEach((tensor) => tensor.dispose());
  writeFileSync(join(directory, 'hypernetwork_config.json'), JSON.stringify({
    format: 'code2lora-hypernetwork', format_version: 1,
    base_model: {
      name, sha256: null, num_hidden_layers: base.numLayers, hidden_size: base.hiddenSize, intermediate_size: base.intermediateSize,
      num_key_value_heads: base.numKvHeads, head_dim: base.headDim, vocab_size: base.vocabSize,
    },
    encoder: { model: 'c2l-base', chunk_tokens: ENCODER_SETTINGS.chunkTokens, chunks_per_file: ENCODER_SETTINGS.chunksPerFile, include_tests: false, hidden_size: 384 },
    embedding_size: config.embeddingSize, shapes: config.shapes, hidden_size: config.hiddenSize, rank: config.rank, alpha: config.alpha,
    mean_weight: config.meanWeight, max_weight: config.maxWeight, init_log_scale: config.initLogScale,
    training: { step: 0, note: 'random weights written by test/makeAdapterCli.test.ts' },
  }, null, 2));
}

beforeAll(async () => {
  await initBackend();
  root = mkdtempSync(join(tmpdir(), 'make-adapter-test-'));
  [workTree] = await makeSynthRepos({ root: join(root, 'work'), seeds: [3], commits: COMMITS, bare: false });
  const [bare] = await makeSynthRepos({ root: join(root, 'served'), seeds: [3], commits: COMMITS, bare: true });
  server = await startGitHttpServer({ root: join(root, 'served') });
  bareUrl = `${server.url}/${bare.name}.git`;
  c2lConfig = parseModelConfig(JSON.parse(readFileSync(join(ENCODER_DIRECTORY, 'config.json'), 'utf8')));
  hypernetworkConfig = {
    embeddingSize: 384, shapes: Object.fromEntries(LORA_MODULES.map((module) => [module, linearShape(c2lConfig, module)])),
    // A log-scale well above the paper's -3.5, so the random adapter is far from zero and files change it visibly.
    hiddenSize: 16, rank: 4, alpha: 8, meanWeight: 0.6, maxWeight: 1.4, initLogScale: -1,
  };
  hypernetworkDirectory = join(root, 'hypernetwork');
  writeRandomHypernetwork(hypernetworkDirectory, c2lConfig, 'c2l-base', hypernetworkConfig);
}, 120_000);

afterAll(async () => {
  await server?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

const run = (options: Partial<MakeAdapterOptions> & { source: string; out: string }) => {
  const lines: string[] = [];
  return makeAdapterFromRepository({ model: ENCODER_DIRECTORY, hypernetwork: hypernetworkDirectory, log: (line) => lines.push(line), ...options })
    .then((report) => ({ report, lines }));
};

/** The adapter the library computes for a snapshot, without the CLI: c2l-base embeddings -> the same hypernetwork weights. */
async function expectedAdapter(files: Record<string, string>) {
  const tokenizer = BpeTokenizer.fromJSON(readFileSync(join(ENCODER_DIRECTORY, 'tokenizer.json'), 'utf8'));
  const { model } = await loadHfModel(filesFromDirectory(ENCODER_DIRECTORY));
  try {
    const encoding = await encodeRepository({
      files: Object.entries(files).map(([path, content]) => ({ path, content })), encoder: { model: model as LlamaModel, tokenizer }, parser: await loadPythonParser(),
    });
    const weights = initHypernetworkWeights(hypernetworkConfig, 11);
    const adapter = await generateAdapter({ config: hypernetworkConfig, weights }, c2lConfig, encoding.files.map((file) => file.embedding));
    weights.forEach((tensor) => tensor.dispose());
    return { adapter, encodedFiles: encoding.files.length };
  } finally {
    model.dispose();
  }
}

describe('make-adapter', () => {
  it('turns a local work tree into PEFT files equal to the library computation, timing every stage', async () => {
    const out = join(root, 'out-work-tree');
    const { report, lines } = await run({ source: workTree.dir, out });
    expect(report.stages.map((s) => s.stage)).toEqual(['load', 'read', 'parse+chunk', 'encode', 'hypernetwork', 'export']);
    for (const { seconds } of report.stages) expect(seconds).toBeGreaterThanOrEqual(0);
    expect(lines[0]).toBe(`make-adapter: ${workTree.dir}`);
    expect(lines.slice(1).map((line) => line.trim().split(/\s+/)[0])).toEqual(['load', 'read', 'parse+chunk', 'encode', 'hypernetwork', 'export']);
    expect(lines[1]).toContain('hypernetwork trained (step 0, note random weights written by test/makeAdapterCli.test.ts)');
    expect(report.commit).toBe(workTree.head);

    const head = snapshotAt(workTree.repo, COMMITS - 1);
    const pythonPaths = Object.keys(head).filter((path) => path.endsWith('.py'));
    expect(report.pythonFiles).toBe(pythonPaths.length);
    const { adapter, encodedFiles } = await expectedAdapter(head);
    expect(report.encodedFiles).toBe(encodedFiles);
    expect(report.encodedFiles).toBeLessThan(report.pythonFiles); // test files are never encoded
    expect(report.testFiles).toBeGreaterThan(0);

    const config = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, base_model_name_or_path: resolve(ENCODER_DIRECTORY) });
    expect(config.target_modules).toEqual([...LORA_MODULES].sort());
    const written = importPeftAdapter(new Uint8Array(readFileSync(join(out, 'adapter_model.safetensors'))), config, c2lConfig);
    expect(written.layers).toHaveLength(c2lConfig.numLayers);
    // Equal up to float rounding: git lists files in another order than the synth snapshot, and the file-score
    // softmax sums them in that order.
    for (const layer of [0, c2lConfig.numLayers - 1]) {
      for (const module of LORA_MODULES) {
        expect(maxAbsDiff(written.layers[layer][module]!.A as Float32Array, adapter.layers[layer][module]!.A as Float32Array)).toBeLessThan(1e-6);
        expect(maxAbsDiff(written.layers[layer][module]!.B as Float32Array, adapter.layers[layer][module]!.B as Float32Array)).toBeLessThan(1e-6);
      }
    }
    expect(report.parameters).toBe(c2lConfig.numLayers * LORA_MODULES.reduce((n, m) => n + 4 * linearShape(c2lConfig, m).reduce((a, b) => a + b), 0));
  }, 180_000);

  it('gives the same adapter from a clone over HTTP and from a plain folder, and another one at an older commit', async () => {
    const head = readFileSync(join(root, 'out-work-tree', 'adapter_model.safetensors'));

    const cloned = await run({ source: bareUrl, out: join(root, 'out-clone') });
    expect(cloned.report.stages.map((s) => s.stage)).toEqual(['load', 'clone', 'read', 'parse+chunk', 'encode', 'hypernetwork', 'export']);
    expect(cloned.report.commit).toBe(workTree.head);
    expect(readFileSync(join(root, 'out-clone', 'adapter_model.safetensors')).equals(head)).toBe(true);

    const folder = join(root, 'plain');
    for (const [path, content] of Object.entries(snapshotAt(workTree.repo, COMMITS - 1))) {
      mkdirSync(dirname(join(folder, path)), { recursive: true });
      writeFileSync(join(folder, path), content);
    }
    const plain = await run({ source: folder, out: join(root, 'out-plain') });
    expect(plain.report.commit).toBe('working-tree');
    expect(readFileSync(join(root, 'out-plain', 'adapter_model.safetensors')).equals(head)).toBe(true);

    const olderSha = workTree.commitShas[1];
    const older = await run({ source: bareUrl, commit: olderSha.slice(0, 10), out: join(root, 'out-older') });
    expect(older.report.commit).toBe(olderSha);
    const { adapter } = await expectedAdapter(snapshotAt(workTree.repo, 1));
    const config = readFileSync(join(root, 'out-older', 'adapter_config.json'), 'utf8');
    const written = importPeftAdapter(new Uint8Array(readFileSync(join(root, 'out-older', 'adapter_model.safetensors'))), config, c2lConfig);
    expect(maxAbsDiff(written.layers[0].q_proj!.B as Float32Array, adapter.layers[0].q_proj!.B as Float32Array)).toBeLessThan(1e-6);
    const atHead = importPeftAdapter(new Uint8Array(head), config, c2lConfig).layers[0].q_proj!.B as Float32Array;
    expect(maxAbsDiff(written.layers[0].q_proj!.B as Float32Array, atHead)).toBeGreaterThan(1e-3);
  }, 240_000);

  it('refuses with a code: no hypernetwork, one for another base model, --commit on a plain folder', async () => {
    const empty = join(root, 'no-hypernetwork');
    mkdirSync(empty, { recursive: true });
    await expect(run({ source: workTree.dir, hypernetwork: empty, out: join(root, 'x') })).rejects.toMatchObject({ code: 'NO_HYPERNETWORK' });
    const other = join(root, 'other-hypernetwork');
    writeRandomHypernetwork(other, c2lConfig, 'smollm2-135m-instruct', hypernetworkConfig);
    await expect(run({ source: workTree.dir, hypernetwork: other, out: join(root, 'x') })).rejects.toMatchObject({ code: 'BASE_MODEL_MISMATCH' });
    await expect(run({ source: join(root, 'plain'), commit: 'HEAD', out: join(root, 'x') })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(run({ source: `${server.url}/no-such-repo.git`, out: join(root, 'x') })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  }, 120_000);

  it('prints CODE: message and exits 1 from the command line', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'cli/make-adapter.ts', './no/such/dir', '--out', join(root, 'x')], { encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe(`USAGE: no such directory: ${resolve('no/such/dir')}`);
  }, 60_000);
});
