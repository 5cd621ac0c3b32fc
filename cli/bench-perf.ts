// `npm run bench:perf -- [--model DIR|tiny] [--repo SOURCE] [--repeats N] [--no-python] [--lora-only] [--lora-steps N]
// [--lora-prompt-tokens N] [--lora-threads N] [--hypernetwork DIR] [--json FILE]`: cost ratios measured in one run:
// adapter generation against training a per-repo LoRA (both measured: the shipped pipeline, c2l-base encoder +
// SmolLM2's trained Static hypernetwork, or the one in --hypernetwork DIR (a candidate to time), cold, against
// training/train_hypernet.py on the repository's IR-train tasks with the authors' per-repo budget), time to first
// token with adapter vs RAG, decode tokens/s with and without adapter, and an Evo step (one commit's diff encoded + one
// GRU step + its adapter) vs a cold Static adapter (every file encoded + the hypernetwork), both with the repo encoder
// the hypernetworks use (c2l-base).
import * as fs from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_MODEL_DIRECTORY, loadBenchModel, SMOLLM2_GGUF } from '../src/bench/benchModel.ts';
import { AUTHORS_PER_REPO_LORA, perRepoLoraSteps, trainPerRepoLora } from '../src/bench/perRepoLora.ts';
import { TRAINING_PYTHON } from '../src/bench/torchEngine.ts';
import { loadHypernetworkDirectory } from '../src/bench/weightFiles.ts';
import { diffChunkIds } from '../src/code2lora/diffEncoder.ts';
import { ENCODER_SETTINGS } from '../src/code2lora/encoderSettings.ts';
import { evoAdapter, stepEvoState } from '../src/code2lora/evo.ts';
import { adapterFromState, initHypernetworkWeights, repoState } from '../src/code2lora/hypernetwork.ts';
import { EVO_HYPERNETWORK_FOLDER, STATIC_HYPERNETWORK_FOLDER } from '../src/model/shippedModels.ts';
import { untrainedHypernetwork, type Hypernetwork } from '../src/code2lora/makeAdapter.ts';
import { Bm25Index, chunkRepository } from '../src/bench/retrieval.ts';
import { openRepository } from '../src/bench/repoSources.ts';
import { generateAdapter } from '../src/code2lora/hypernetwork.ts';
import { embedDiff, encodeRepository } from '../src/code2lora/repoEncoder.ts';
import { diffCommit, isTestPath } from '../src/git/index.ts';
import { initBackend } from '../src/model/backend.ts';
import { generate } from '../src/model/generate.ts';
import { prepareLora } from '../src/model/lora.ts';
import { mineRepoTasks, type SnapshotFile } from '../src/parse/mineTasks.ts';
import { irSplitTasks } from '../src/parse/splits.ts';
import { loadPythonParser } from '../src/parse/pythonParser.ts';
import { integerOption, UsageError } from './benchArgs.ts';

const USAGE = 'usage: npm run bench:perf -- [--model DIR|tiny] [--repo SOURCE (default synth:1)] [--history N] [--repeats N] [--no-python]\n'
  + '    [--lora-only] [--lora-steps N (default: the authors\' 3 epochs)] [--lora-prompt-tokens N (default 256)] [--lora-threads N (default 1)]\n'
  + '    [--hypernetwork DIR (default: the shipped code2lora-static/)] [--json FILE]\n'
  + '  the Evo figures use code2lora-evo/ beside SmolLM2 when it is installed (else a random Evo hypernetwork of the same shape);\n'
  + '  adapter generation vs per-repo LoRA training needs SmolLM2 (npm run models:smollm2), its float directory (npm run models:convert),\n'
  + '  code2lora-static/ beside it and training/.venv; --lora-only measures that alone';

async function median(repeats: number, run: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const started = performance.now();
    await run();
    times.push((performance.now() - started) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      repo: { type: 'string', default: 'synth:1' },
      repeats: { type: 'string' },
      history: { type: 'string' },
      'no-python': { type: 'boolean', default: false },
      'lora-only': { type: 'boolean', default: false },
      'lora-steps': { type: 'string' },
      'lora-prompt-tokens': { type: 'string' },
      'lora-threads': { type: 'string' },
      hypernetwork: { type: 'string' },
      json: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const repeats = integerOption('repeats', values.repeats, 3, 1);
  const backend = await initBackend();
  const { model, tokenizer, description } = await loadBenchModel(values.model);
  const parser = await loadPythonParser();
  const hypernetwork = untrainedHypernetwork(model.config);
  const repo = await openRepository({ source: values.repo }, { history: integerOption('history', values.history, 20, 2) });
  try {
    const files = await repo.readPythonFiles(repo.head);
    const code = files.filter((file) => !isTestPath(file.path));
    if (code.length === 0) throw new UsageError(`${values.repo} has no non-test Python files at its head`);
    const tasks = mineRepoTasks({ repo: repo.name, commit: repo.head, files, parser, all: true }).tasks;
    if (tasks.length === 0) throw new UsageError(`${values.repo} has no assertion tasks at its head`);
    const say = (line: string) => process.stderr.write(`${line}\n`);
    const s = (x: number) => `${x < 0.1 ? (x * 1000).toFixed(1) + ' ms' : x.toFixed(2) + ' s'}`;

    // Adapter generation against per-repo LoRA training, both measured, in this run.
    let versusLora: Awaited<ReturnType<typeof measureAdapterVersusLora>> | null = null;
    const hypernetworkDirectory = resolve(values.hypernetwork ?? SHIPPED_STATIC_HYPERNETWORK);
    const missing = values['no-python'] ? [] : versusLoraMissing(hypernetworkDirectory);
    if (missing.length > 0 && values['lora-only']) throw new UsageError(`adapter vs per-repo LoRA needs ${missing.join(', ')}`);
    if (missing.length > 0) console.log(`per-repo LoRA training: not measured (needs ${missing.join(', ')})`);
    else if (!values['no-python']) {
      versusLora = await measureAdapterVersusLora({
        repo, files, code, parser, repeats, say, hypernetworkDirectory,
        steps: values['lora-steps'] === undefined ? null : integerOption('lora-steps', values['lora-steps'], 0, 1),
        promptTokens: integerOption('lora-prompt-tokens', values['lora-prompt-tokens'], 256, 1),
        threads: integerOption('lora-threads', values['lora-threads'], 1, 1),
      });
      printVersusLora(versusLora, `${repo.name}@${repo.head.slice(0, 12)}`, s);
    } else console.log('per-repo LoRA training: not measured (--no-python)');
    if (values['lora-only']) {
      if (values.json) await writeFile(values.json, JSON.stringify({ repo: `${repo.name}@${repo.head}`, adapter_vs_lora: versusLora }, null, 2) + '\n');
      return;
    }

    const task = tasks[0];
    const maxPrompt = model.config.maxPositionEmbeddings - 64;
    const keepLast = (ids: number[]) => ids.slice(Math.max(0, ids.length - maxPrompt));

    // Adapter generation = encode the snapshot with the base LM + one hypernetwork forward. Warm-up first (kernels).
    say(`measuring on ${repo.name}@${repo.head.slice(0, 12)} with ${description} (${backend}), median of ${repeats}`);
    const encoder = { model, tokenizer };
    const layer = hypernetwork.encoderLayer;
    let embedding = await encodeRepository({ files: code, encoder, layer, parser });
    const encodeSeconds = await median(repeats, async () => {
      embedding = await encodeRepository({ files: code, encoder, layer, parser });
    });
    const fileEmbeddings = embedding.files.map((file) => file.embedding);
    let adapter = await generateAdapter(hypernetwork, model.config, fileEmbeddings);
    const hyperSeconds = await median(repeats, async () => {
      adapter = await generateAdapter(hypernetwork, model.config, fileEmbeddings);
    });
    const adapterSeconds = encodeSeconds + hyperSeconds;

    // Time to first token: the task's prompt with the adapter vs the same prompt with RAG's retrieved code.
    const lora = prepareLora(adapter, model.config);
    const plainIds = keepLast(tokenizer.encode(task.prompt));
    const index = new Bm25Index(chunkRepository(files, parser));
    const retrieved = index.search(task.prompt.slice(-2000), 3)
      .map((chunk) => `# Retrieved from ${chunk.path}, line ${chunk.startLine}:\n${chunk.text.trimEnd()}\n\n`).join('');
    const ragIds = keepLast(tokenizer.encode(retrieved + task.prompt));
    const firstToken = (ids: number[], withLora: boolean) => generate(model, ids, { tokenizer, maxNewTokens: 1, lora: withLora ? lora : null, stopTokenIds: [] });
    await firstToken(plainIds, true);
    const ttftAdapter = await median(repeats, () => firstToken(plainIds, true));
    const ttftRag = await median(repeats, () => firstToken(ragIds, false));
    const ttftBase = await median(repeats, () => firstToken(plainIds, false));

    // Decode speed: tokens after the first, over the time from the first token to the last (prefill excluded).
    const decodeRate = async (withLora: boolean) => {
      const rates: number[] = [];
      for (let i = 0; i < repeats; i++) {
        const stamps: number[] = [];
        await generate(model, plainIds, {
          tokenizer, maxNewTokens: 64, lora: withLora ? lora : null, stopTokenIds: [], onToken: () => stamps.push(performance.now()),
        });
        rates.push(((stamps.length - 1) * 1000) / (stamps[stamps.length - 1] - stamps[0]));
      }
      return rates.sort((a, b) => a - b)[Math.floor(rates.length / 2)];
    };
    const tokensPerSecondAdapter = await decodeRate(true);
    const tokensPerSecondBase = await decodeRate(false);

    const evo = await measureEvoStep({ repo, code, parser, repeats, say });

    const result = {
      model: description, backend, repo: `${repo.name}@${repo.head}`, repeats,
      adapter: { encode_seconds: encodeSeconds, hypernetwork_seconds: hyperSeconds, total_seconds: adapterSeconds, files: embedding.files.length, tokens: embedding.tokens },
      adapter_vs_lora: versusLora,
      ttft: { adapter_seconds: ttftAdapter, rag_seconds: ttftRag, base_seconds: ttftBase, prompt_tokens: plainIds.length, rag_prompt_tokens: ragIds.length },
      decode: { adapter_tokens_per_second: tokensPerSecondAdapter, base_tokens_per_second: tokensPerSecondBase },
      evo,
      ratios: {
        ttft_rag_over_adapter: ttftRag / ttftAdapter,
        decode_adapter_over_base: tokensPerSecondAdapter / tokensPerSecondBase,
        cold_static_adapter_over_evo_step: evo ? evo.cold_static_adapter_seconds / evo.step_seconds : null,
      },
    };
    console.log(`model ${description} (${backend}); repo ${repo.name}@${repo.head.slice(0, 12)}; median of ${repeats}`);
    console.log(`adapter generation: ${s(adapterSeconds)} (encode ${embedding.files.length} files / ${embedding.tokens} tokens ${s(encodeSeconds)}, hypernetwork ${s(hyperSeconds)})`);
    console.log(`time to first token: adapter ${s(ttftAdapter)} (${plainIds.length} prompt tokens), RAG ${s(ttftRag)} (${ragIds.length} tokens), base ${s(ttftBase)}`
      + ` -> RAG/adapter ${result.ratios.ttft_rag_over_adapter.toFixed(2)}x`);
    console.log(`decode: adapter ${tokensPerSecondAdapter.toFixed(1)} tok/s, base ${tokensPerSecondBase.toFixed(1)} tok/s -> ${result.ratios.decode_adapter_over_base.toFixed(2)}x`);
    if (evo) {
      console.log(`Evo step for ${evo.commit.slice(0, 12)} (${evo.changed_files} changed file(s), ${evo.diff_tokens} diff tokens; ${evo.hypernetwork}): `
        + `${s(evo.step_seconds)} (diff ${s(evo.diff_seconds)}, encode ${s(evo.diff_encode_seconds)}, GRU + adapter ${s(evo.gru_and_adapter_seconds)}; `
        + `the repository's first diff, which loads its packfile, ${s(evo.first_diff_of_repository_seconds!)}) `
        + `vs a cold Static adapter for ${evo.files} files ${s(evo.cold_static_adapter_seconds)} -> ${result.ratios.cold_static_adapter_over_evo_step!.toFixed(1)}x`);
    } else console.log('Evo step: no commit in the history changes exactly one non-test source file');
    if (values.json) await writeFile(values.json, JSON.stringify(result, null, 2) + '\n');
  } finally {
    await repo.close();
  }
}

/**
 * An Evo step on the newest commit of the history that changes exactly one non-test .py/.md/.rst file: diff against
 * its parent, encoder chunks, diff embedding, one GRU step and the step's adapter; against a cold Static adapter of the
 * same snapshot (every non-test file encoded without a cache, repo state, heads). Both with c2l-base, the encoder the
 * hypernetworks were trained on.
 */
async function measureEvoStep({ repo, code, parser, repeats, say }: {
  repo: Awaited<ReturnType<typeof openRepository>>;
  code: Awaited<ReturnType<Awaited<ReturnType<typeof openRepository>>['readPythonFiles']>>;
  parser: Awaited<ReturnType<typeof loadPythonParser>>;
  repeats: number;
  say: (line: string) => void;
}) {
  // One isomorphic-git object cache for the repository, as the app's session keeps: the first diff reads the
  // packfile (timed apart, once per repository), the step's diff reads objects already loaded.
  const gitCache = {};
  let commit: string | null = null;
  let firstDiffSeconds: number | null = null;
  for (let i = repo.commits.length - 1; i > 0 && commit === null; i--) {
    const started = performance.now();
    const diffs = await diffCommit({ fs, dir: repo.dir, commit: repo.commits[i].sha, cache: gitCache });
    firstDiffSeconds ??= (performance.now() - started) / 1000;
    if (diffs.filter((d) => !d.binary).length === 1) commit = repo.commits[i].sha;
  }
  if (commit === null) return null;
  const encoder = await loadBenchModel(DEFAULT_MODEL_DIRECTORY);
  const smolDirectory = resolve('public/models/smollm2-135m-instruct');
  const shipped = resolve(smolDirectory, EVO_HYPERNETWORK_FOLDER);
  const smol = fs.existsSync(resolve(smolDirectory, 'model.gguf')) && fs.existsSync(resolve(shipped, 'hypernetwork_config.json'))
    ? await loadBenchModel(resolve(smolDirectory, 'model.gguf')) : null;
  const baseModel = smol?.model.config ?? encoder.model.config;
  const hypernetwork: Hypernetwork = smol
    ? await loadHypernetworkDirectory(shipped, baseModel, encoder.model.config)
    : (() => {
      const config = { ...untrainedHypernetwork(baseModel, encoder.model.config.hiddenSize).config };
      return { kind: 'code2lora-evo' as const, config, weights: initHypernetworkWeights(config, 1, 'code2lora-evo'), trained: false };
    })();
  const chunksOf = async () => diffChunkIds(await diffCommit({ fs, dir: repo.dir, commit: commit!, cache: gitCache }), encoder.tokenizer, ENCODER_SETTINGS);
  say(`Evo step on ${commit.slice(0, 12)} with ${smol ? shipped : 'a random Evo hypernetwork'} ...`);
  // The cold Static adapter is timed first, and its encoding gives the state the Evo step starts from: a 500-file
  // snapshot takes minutes to encode on these CPUs, so it is not encoded once more just for the state.
  let fileEmbeddings: Float32Array[] = [];
  const coldSeconds = await median(Math.min(repeats, 2), async () => {
    fileEmbeddings = (await encodeRepository({ files: code, encoder, layer: hypernetwork.encoderLayer, parser })).files.map((f) => f.embedding);
    return adapterFromState(hypernetwork, baseModel, await repoState(hypernetwork, fileEmbeddings));
  });
  const state = await repoState(hypernetwork, fileEmbeddings);
  const chunks = await chunksOf();
  const embedding = (await embedDiff(chunks, encoder, hypernetwork.encoderLayer))!.embedding;
  const diffSeconds = await median(repeats, chunksOf);
  const diffEncodeSeconds = await median(repeats, () => embedDiff(chunks, encoder, hypernetwork.encoderLayer));
  const gruSeconds = await median(repeats, async () => evoAdapter(hypernetwork, baseModel, await stepEvoState(hypernetwork, state, embedding)));
  return {
    commit, changed_files: 1, diff_tokens: chunks.reduce((n, c) => n + c.length, 0), files: code.length,
    hypernetwork: smol ? `${EVO_HYPERNETWORK_FOLDER} (trained, SmolLM2)` : 'random Evo hypernetwork (c2l-base shapes)',
    diff_seconds: diffSeconds, first_diff_of_repository_seconds: firstDiffSeconds, diff_encode_seconds: diffEncodeSeconds, gru_and_adapter_seconds: gruSeconds,
    step_seconds: diffSeconds + diffEncodeSeconds + gruSeconds, cold_static_adapter_seconds: coldSeconds,
  };
}

const SHIPPED_STATIC_HYPERNETWORK = resolve(dirname(SMOLLM2_GGUF), STATIC_HYPERNETWORK_FOLDER);
const TORCH_MODEL_DIRECTORY = resolve('data/models/smollm2-135m-instruct');

/** What measureAdapterVersusLora needs that is not here, with how to get it. */
function versusLoraMissing(hypernetworkDirectory: string): string[] {
  return [
    [resolve(SMOLLM2_GGUF), 'npm run models:smollm2'],
    [resolve(hypernetworkDirectory, 'hypernetwork_config.json'), hypernetworkDirectory === SHIPPED_STATIC_HYPERNETWORK ? 'the shipped Static hypernetwork' : '--hypernetwork'],
    [resolve(TORCH_MODEL_DIRECTORY, 'model.safetensors'), 'npm run models:convert'], [TRAINING_PYTHON, 'the training venv (npm run models:convert makes it)'],
  ].filter(([path]) => !fs.existsSync(path)).map(([path, how]) => `${path} (${how})`);
}

/**
 * Adapter generation against training a per-repository LoRA, both measured on this machine in this run:
 * - cold end-to-end adapter generation, as the app makes one on a first visit: every non-test file encoded with
 *   c2l-base (no embedding cache; the first encode of the process, so tfjs's first-use costs are in it) and one
 *   forward of SmolLM2's trained Static hypernetwork (code2lora-static/);
 * - the hypernetwork step alone (file embeddings -> A/B matrices): its first call, and the median of warm ones;
 * - a per-repo LoRA trained from scratch on the repository's IR-train tasks (the benchmark's miner, paper caps,
 *   8:1:1 in-repo split with seed 0) by training/train_hypernet.py with the authors' per-repo budget (r16 on all 7
 *   modules, alpha 32, lr 2e-4, 3 epochs of batch 16), or `steps` steps of it (then the full budget is extrapolated
 *   from the measured mean step and labelled so). The ratios use the optimizer steps alone (not Python's start-up,
 *   model loading or validation), the figure least favourable to the adapter.
 * Both sides run one thread (tfjs-wasm has one; torch gets `threads`, default 1: the 2 cores are shared).
 */
async function measureAdapterVersusLora({ repo, files, code, parser, repeats, say, hypernetworkDirectory, steps, promptTokens, threads }: {
  repo: Awaited<ReturnType<typeof openRepository>>;
  files: SnapshotFile[];
  code: SnapshotFile[];
  parser: Awaited<ReturnType<typeof loadPythonParser>>;
  repeats: number;
  say: (line: string) => void;
  hypernetworkDirectory: string;
  steps: number | null;
  promptTokens: number;
  threads: number;
}) {
  const base = await loadBenchModel(SMOLLM2_GGUF);
  const encoder = await loadBenchModel(DEFAULT_MODEL_DIRECTORY);
  const hypernetwork = await loadHypernetworkDirectory(hypernetworkDirectory, base.model.config, encoder.model.config);

  const layer = hypernetwork.encoderLayer;
  say(`adapter generation: encoding ${code.length} non-test files with c2l-base${layer === undefined ? '' : ` (layer ${layer})`}, no cache ...`);
  let started = performance.now();
  const encoding = await encodeRepository({ files: code, encoder, layer, parser });
  const encodeSeconds = (performance.now() - started) / 1000;
  const fileEmbeddings = encoding.files.map((file) => file.embedding);
  started = performance.now();
  await generateAdapter(hypernetwork, base.model.config, fileEmbeddings);
  const hypernetworkColdSeconds = (performance.now() - started) / 1000;
  const hypernetworkSeconds = await median(Math.max(repeats, 20), () => generateAdapter(hypernetwork, base.model.config, fileEmbeddings));
  base.model.dispose();

  // The per-repo LoRA's data: the benchmark's static tasks at the head, and their in-repo train split.
  const mined = mineRepoTasks({ repo: repo.name, commit: repo.head, files, parser, mode: 'static', seed: 0 });
  const trainTasks = irSplitTasks(mined.tasks, 0, repo.name).train;
  if (trainTasks.length === 0) throw new UsageError(`${repo.name} gives no IR-train tasks (${mined.dropped?.message ?? 'no tasks'})`);
  const budget = AUTHORS_PER_REPO_LORA;
  const fullSteps = perRepoLoraSteps(trainTasks.length, budget.epochs, budget.batchSize);
  const runSteps = Math.min(steps ?? fullSteps, fullSteps);
  const folder = resolve('data/results/perf/per-repo-lora', repo.name.replace(/[^\w.@-]+/g, '__'));
  say(`per-repo LoRA: ${trainTasks.length} IR-train tasks, ${runSteps} of ${fullSteps} steps (${budget.epochs} epochs x batch ${budget.batchSize}), `
    + `prompts cut to ${promptTokens} tokens, torch ${threads} thread(s), in ${folder} ...`);
  const run = await trainPerRepoLora({
    repo: repo.name, tasks: trainTasks, tokenizer: base.tokenizer, modelDirectory: TORCH_MODEL_DIRECTORY, folder, steps: runSteps,
    batchSize: budget.batchSize, rank: budget.rank, alpha: budget.alpha, learningRate: budget.learningRate, promptTokens, threads,
    onNote: (line) => say(line),
  });
  const stepsSeconds = run.stepSeconds.reduce((sum, x) => sum + x, 0);
  const meanStep = stepsSeconds / run.steps;
  const measuredFull = run.steps === fullSteps;
  const loraSeconds = measuredFull ? stepsSeconds : meanStep * fullSteps;
  const endToEndSeconds = encodeSeconds + hypernetworkColdSeconds;
  return {
    encoder: ENCODER_SETTINGS.model, encoder_layer: layer ?? encoder.model.config.numLayers,
    hypernetwork: `${relative(process.cwd(), hypernetworkDirectory)} (trained)`, base_model: SMOLLM2_GGUF,
    files: encoding.files.length, tokens: encoding.tokens,
    encode_seconds: encodeSeconds,
    hypernetwork_first_call_seconds: hypernetworkColdSeconds,
    hypernetwork_seconds: hypernetworkSeconds,
    hypernetwork_repeats: Math.max(repeats, 20),
    end_to_end_cold_seconds: endToEndSeconds,
    lora: {
      trainer: 'training/train_hypernet.py --method=per-repo-lora', train_tasks: trainTasks.length, mined_tasks: mined.tasks.length,
      rank: budget.rank, alpha: budget.alpha, learning_rate: budget.learningRate, epochs: budget.epochs, batch_size: budget.batchSize,
      prompt_tokens: promptTokens, threads, autocast_dtype: run.start.autocast_dtype ?? null,
      full_budget_steps: fullSteps, steps_run: run.steps, mean_step_seconds: meanStep,
      steps_seconds: stepsSeconds, process_seconds: run.seconds, final_loss: run.finalLoss,
      training_seconds: loraSeconds,
      training_seconds_kind: measuredFull ? 'measured: every step of the full budget' : `EXTRAPOLATED: ${run.steps} measured steps x ${fullSteps / run.steps} (mean step x full-budget steps)`,
    },
    ratios: {
      lora_training_over_hypernetwork_step: loraSeconds / hypernetworkSeconds,
      lora_training_over_end_to_end_cold: loraSeconds / endToEndSeconds,
    },
    targets: { hypernetwork_step: 30_000, end_to_end: 100 },
  };
}

function printVersusLora(result: Awaited<ReturnType<typeof measureAdapterVersusLora>>, where: string, s: (x: number) => string): void {
  const { lora, ratios } = result;
  const x = (ratio: number) => `${ratio >= 100 ? Math.round(ratio).toLocaleString('en-US') : ratio.toFixed(1)}x`;
  console.log(`adapter generation vs per-repo LoRA training on ${where} (one run; tfjs-wasm and torch, 1 thread each):`);
  console.log(`  cold end-to-end adapter: ${s(result.end_to_end_cold_seconds)} (encode ${result.files} files / ${result.tokens} tokens with ${result.encoder} `
    + `${s(result.encode_seconds)}, hypernetwork first call ${s(result.hypernetwork_first_call_seconds)})`);
  console.log(`  hypernetwork step alone: ${s(result.hypernetwork_seconds)} (median of ${result.hypernetwork_repeats} warm calls)`);
  console.log(`  per-repo LoRA training (${lora.training_seconds_kind}): ${s(lora.training_seconds)} of optimizer steps `
    + `(${lora.full_budget_steps} steps = ${lora.epochs} epochs x ${lora.train_tasks} IR-train tasks / batch ${lora.batch_size}; `
    + `mean step ${s(lora.mean_step_seconds)}, prompts ${lora.prompt_tokens} tokens, ${lora.autocast_dtype}; train_hypernet.py ran ${s(lora.process_seconds)} in all, final loss ${lora.final_loss})`);
  console.log(`  -> LoRA training / hypernetwork step: ${x(ratios.lora_training_over_hypernetwork_step)} (target >= ${x(result.targets.hypernetwork_step)}); `
    + `LoRA training / cold end-to-end adapter: ${x(ratios.lora_training_over_end_to_end_cold)} (target >= ${x(result.targets.end_to_end)})`);
}

main().catch((error: unknown) => {
  const code = (error as { code?: string }).code;
  console.error(code ? `${code}: ${(error as Error).message}` : error);
  process.exit(1);
});
