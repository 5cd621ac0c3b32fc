// `npm run bench:perf -- [--model DIR|tiny] [--repo SOURCE] [--repeats N] [--no-python] [--json FILE]`: cost ratios measured in
// one run: adapter generation vs per-repo LoRA training (estimate), time to first token with adapter vs RAG, decode
// tokens/s with and without adapter, and an Evo step (one commit's diff encoded + one GRU step + its adapter) vs a cold
// Static adapter (every file encoded + the hypernetwork), both with the repo encoder the hypernetworks use (c2l-base).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_MODEL_DIRECTORY, loadBenchModel, TINY_MODEL } from '../src/bench/benchModel.ts';
import { loadHypernetworkDirectory } from '../src/bench/weightFiles.ts';
import { diffChunkIds } from '../src/code2lora/diffEncoder.ts';
import { ENCODER_SETTINGS } from '../src/code2lora/encoderSettings.ts';
import { evoAdapter, stepEvoState } from '../src/code2lora/evo.ts';
import { adapterFromState, initHypernetworkWeights, repoState } from '../src/code2lora/hypernetwork.ts';
import { EVO_HYPERNETWORK_FOLDER } from '../src/model/shippedModels.ts';
import { untrainedHypernetwork } from '../src/code2lora/makeAdapter.ts';
import { Bm25Index, chunkRepository } from '../src/bench/retrieval.ts';
import { openRepository } from '../src/bench/repoSources.ts';
import { generateAdapter } from '../src/code2lora/hypernetwork.ts';
import { embedDiff, encodeRepository } from '../src/code2lora/repoEncoder.ts';
import { diffCommit, isTestPath } from '../src/git/index.ts';
import { initBackend } from '../src/model/backend.ts';
import { generate } from '../src/model/generate.ts';
import { prepareLora } from '../src/model/lora.ts';
import { mineRepoTasks } from '../src/parse/mineTasks.ts';
import { loadPythonParser } from '../src/parse/pythonParser.ts';
import { integerOption, UsageError } from './benchArgs.ts';

const USAGE = 'usage: npm run bench:perf -- [--model DIR|tiny] [--repo SOURCE (default synth:1)] [--history N] [--repeats N] [--no-python] [--json FILE]\n'
  + '  the Evo figures use code2lora-evo/ beside SmolLM2 when it is installed (else a random Evo hypernetwork of the same shape)';

// The paper's per-repo LoRA baseline (authors' trainer defaults): 3 epochs, micro-batch 4, over a repo's training tasks.
const LORA_EPOCHS = 3;
const LORA_MICRO_BATCH = 4;

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
    const task = tasks[0];
    const maxPrompt = model.config.maxPositionEmbeddings - 64;
    const keepLast = (ids: number[]) => ids.slice(Math.max(0, ids.length - maxPrompt));
    const say = (line: string) => process.stderr.write(`${line}\n`);

    // Adapter generation = encode the snapshot with the base LM + one hypernetwork forward. Warm-up first (kernels).
    say(`measuring on ${repo.name}@${repo.head.slice(0, 12)} with ${description} (${backend}), median of ${repeats}`);
    const encoder = { model, tokenizer };
    let embedding = await encodeRepository({ files: code, encoder, parser });
    const encodeSeconds = await median(repeats, async () => {
      embedding = await encodeRepository({ files: code, encoder, parser });
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

    // Per-repo LoRA training, estimated from one measured PyTorch micro-step on the same base model.
    let lora_estimate: Record<string, unknown> | null = null;
    const modelDirectory = values.model === TINY_MODEL ? null : resolve(values.model ?? 'public/models/c2l-base');
    const python = resolve('training/.venv/bin/python');
    if (!values['no-python'] && modelDirectory && fs.existsSync(python)) {
      say('measuring a PyTorch LoRA micro-step (training/.venv) ...');
      const run = spawnSync(python, ['scripts/bench/lora_step_cost.py', '--model', modelDirectory, '--batch', String(LORA_MICRO_BATCH),
        '--seq', String(model.config.maxPositionEmbeddings)], { encoding: 'utf8', env: { ...process.env, HF_HUB_OFFLINE: '1' } });
      if (run.status !== 0) throw new Error(`lora_step_cost.py failed: ${run.stderr.slice(-2000)}`);
      const step = JSON.parse(run.stdout.trim().split('\n').pop()!) as { seconds_per_micro_step: number };
      const trainTasks = Math.floor(Math.min(tasks.length, 200) * 0.8);
      const microSteps = LORA_EPOCHS * Math.ceil(trainTasks / LORA_MICRO_BATCH);
      lora_estimate = {
        ...step, train_tasks: trainTasks, epochs: LORA_EPOCHS, micro_steps: microSteps,
        estimated_seconds: microSteps * step.seconds_per_micro_step,
        note: 'estimate: measured micro-step x (3 epochs x ceil(train tasks / 4)); PyTorch CPU, full-length sequences',
      };
    }

    const result = {
      model: description, backend, repo: `${repo.name}@${repo.head}`, repeats,
      adapter: { encode_seconds: encodeSeconds, hypernetwork_seconds: hyperSeconds, total_seconds: adapterSeconds, files: embedding.files.length, tokens: embedding.tokens },
      lora_training_estimate: lora_estimate,
      ttft: { adapter_seconds: ttftAdapter, rag_seconds: ttftRag, base_seconds: ttftBase, prompt_tokens: plainIds.length, rag_prompt_tokens: ragIds.length },
      decode: { adapter_tokens_per_second: tokensPerSecondAdapter, base_tokens_per_second: tokensPerSecondBase },
      evo,
      ratios: {
        lora_training_over_adapter: lora_estimate ? (lora_estimate.estimated_seconds as number) / adapterSeconds : null,
        ttft_rag_over_adapter: ttftRag / ttftAdapter,
        decode_adapter_over_base: tokensPerSecondAdapter / tokensPerSecondBase,
        cold_static_adapter_over_evo_step: evo ? evo.cold_static_adapter_seconds / evo.step_seconds : null,
      },
    };
    const s = (x: number) => `${x < 0.1 ? (x * 1000).toFixed(1) + ' ms' : x.toFixed(2) + ' s'}`;
    console.log(`model ${description} (${backend}); repo ${repo.name}@${repo.head.slice(0, 12)}; median of ${repeats}`);
    console.log(`adapter generation: ${s(adapterSeconds)} (encode ${embedding.files.length} files / ${embedding.tokens} tokens ${s(encodeSeconds)}, hypernetwork ${s(hyperSeconds)})`);
    if (lora_estimate) {
      console.log(`per-repo LoRA training (ESTIMATE): ${s(lora_estimate.estimated_seconds as number)} = ${lora_estimate.micro_steps} micro-steps x ${s(lora_estimate.seconds_per_micro_step as number)}`
        + ` -> ${result.ratios.lora_training_over_adapter!.toFixed(0)}x adapter generation`);
    } else console.log('per-repo LoRA training: not measured (needs a model directory and training/.venv)');
    console.log(`time to first token: adapter ${s(ttftAdapter)} (${plainIds.length} prompt tokens), RAG ${s(ttftRag)} (${ragIds.length} tokens), base ${s(ttftBase)}`
      + ` -> RAG/adapter ${result.ratios.ttft_rag_over_adapter.toFixed(2)}x`);
    console.log(`decode: adapter ${tokensPerSecondAdapter.toFixed(1)} tok/s, base ${tokensPerSecondBase.toFixed(1)} tok/s -> ${result.ratios.decode_adapter_over_base.toFixed(2)}x`);
    if (evo) {
      console.log(`Evo step for ${evo.commit.slice(0, 12)} (${evo.changed_files} changed file(s), ${evo.diff_tokens} diff tokens; ${evo.hypernetwork}): `
        + `${s(evo.step_seconds)} (diff ${s(evo.diff_seconds)}, encode ${s(evo.diff_encode_seconds)}, GRU + adapter ${s(evo.gru_and_adapter_seconds)}) `
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
  let commit: string | null = null;
  for (let i = repo.commits.length - 1; i > 0 && commit === null; i--) {
    const diffs = await diffCommit({ fs, dir: repo.dir, commit: repo.commits[i].sha });
    if (diffs.filter((d) => !d.binary).length === 1) commit = repo.commits[i].sha;
  }
  if (commit === null) return null;
  const encoder = await loadBenchModel(DEFAULT_MODEL_DIRECTORY);
  const smolDirectory = resolve('public/models/smollm2-135m-instruct');
  const shipped = resolve(smolDirectory, EVO_HYPERNETWORK_FOLDER);
  const smol = fs.existsSync(resolve(smolDirectory, 'model.gguf')) && fs.existsSync(resolve(shipped, 'hypernetwork_config.json'))
    ? await loadBenchModel(resolve(smolDirectory, 'model.gguf')) : null;
  const baseModel = smol?.model.config ?? encoder.model.config;
  const hypernetwork = smol
    ? await loadHypernetworkDirectory(shipped, baseModel, encoder.model.config.hiddenSize)
    : (() => {
      const config = { ...untrainedHypernetwork(baseModel, encoder.model.config.hiddenSize).config };
      return { kind: 'code2lora-evo' as const, config, weights: initHypernetworkWeights(config, 1, 'code2lora-evo'), trained: false };
    })();
  const chunksOf = async () => diffChunkIds(await diffCommit({ fs, dir: repo.dir, commit: commit! }), encoder.tokenizer, ENCODER_SETTINGS);
  say(`Evo step on ${commit.slice(0, 12)} with ${smol ? shipped : 'a random Evo hypernetwork'} ...`);
  // The cold Static adapter is timed first, and its encoding gives the state the Evo step starts from: a 500-file
  // snapshot takes minutes to encode on these CPUs, so it is not encoded once more just for the state.
  let fileEmbeddings: Float32Array[] = [];
  const coldSeconds = await median(Math.min(repeats, 2), async () => {
    fileEmbeddings = (await encodeRepository({ files: code, encoder, parser })).files.map((f) => f.embedding);
    return adapterFromState(hypernetwork, baseModel, await repoState(hypernetwork, fileEmbeddings));
  });
  const state = await repoState(hypernetwork, fileEmbeddings);
  const chunks = await chunksOf();
  const embedding = (await embedDiff(chunks, encoder))!.embedding;
  const diffSeconds = await median(repeats, chunksOf);
  const diffEncodeSeconds = await median(repeats, () => embedDiff(chunks, encoder));
  const gruSeconds = await median(repeats, async () => evoAdapter(hypernetwork, baseModel, await stepEvoState(hypernetwork, state, embedding)));
  return {
    commit, changed_files: 1, diff_tokens: chunks.reduce((n, c) => n + c.length, 0), files: code.length,
    hypernetwork: smol ? `${EVO_HYPERNETWORK_FOLDER} (trained, SmolLM2)` : 'random Evo hypernetwork (c2l-base shapes)',
    diff_seconds: diffSeconds, diff_encode_seconds: diffEncodeSeconds, gru_and_adapter_seconds: gruSeconds,
    step_seconds: diffSeconds + diffEncodeSeconds + gruSeconds, cold_static_adapter_seconds: coldSeconds,
  };
}

main().catch((error: unknown) => {
  const code = (error as { code?: string }).code;
  console.error(code ? `${code}: ${(error as Error).message}` : error);
  process.exit(1);
});
