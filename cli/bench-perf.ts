// `npm run bench:perf -- [--model DIR|tiny] [--repo SOURCE] [--repeats N] [--no-python] [--json FILE]`: cost ratios measured in
// one run: adapter generation vs per-repo LoRA training (estimate), time to first token with adapter vs RAG, decode
// tokens/s with and without adapter, and an Evo step (encoding one diff) vs re-encoding the whole repository.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadBenchModel, TINY_MODEL } from '../src/bench/benchModel.ts';
import { untrainedHypernetwork } from '../src/code2lora/makeAdapter.ts';
import { Bm25Index, chunkRepository } from '../src/bench/retrieval.ts';
import { openRepository } from '../src/bench/repoSources.ts';
import { generateAdapter } from '../src/code2lora/hypernetwork.ts';
import { embedFile, encodeRepository } from '../src/code2lora/repoEncoder.ts';
import { diffCommit, isTestPath } from '../src/git/index.ts';
import { initBackend } from '../src/model/backend.ts';
import { generate } from '../src/model/generate.ts';
import { prepareLora } from '../src/model/lora.ts';
import { mineRepoTasks } from '../src/parse/mineTasks.ts';
import { loadPythonParser } from '../src/parse/pythonParser.ts';
import { integerOption, UsageError } from './benchArgs.ts';

const USAGE = 'usage: npm run bench:perf -- [--model DIR|tiny] [--repo SOURCE (default synth:1)] [--repeats N] [--no-python] [--json FILE]';

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
  const repo = await openRepository({ source: values.repo }, { history: 20 });
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

    // Evo step stand-in: encoding the newest commit's diff (the GRU does not exist yet) vs re-encoding everything.
    let diffText = '';
    for (let i = repo.commits.length - 1; i > 0 && diffText === ''; i--) {
      diffText = (await diffCommit({ fs, dir: repo.dir, commit: repo.commits[i].sha })).map((d) => d.patch).join('\n');
    }
    const evoStepSeconds = diffText
      ? await median(repeats, () => embedFile(diffText, { encoder, parser }))
      : null;

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
      evo: evoStepSeconds === null ? null : {
        step_seconds: evoStepSeconds, full_encode_seconds: encodeSeconds, diff_chars: diffText.length,
        note: 'Evo step stand-in: embedFile on the diff text (the Evo GRU is not implemented yet)',
      },
      ratios: {
        lora_training_over_adapter: lora_estimate ? (lora_estimate.estimated_seconds as number) / adapterSeconds : null,
        ttft_rag_over_adapter: ttftRag / ttftAdapter,
        decode_adapter_over_base: tokensPerSecondAdapter / tokensPerSecondBase,
        full_encode_over_evo_step: evoStepSeconds === null ? null : encodeSeconds / evoStepSeconds,
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
    if (result.evo) {
      console.log(`Evo step (stand-in: encode one ${diffText.length}-char diff): ${s(result.evo.step_seconds)} vs full re-encode ${s(encodeSeconds)}`
        + ` -> ${result.ratios.full_encode_over_evo_step!.toFixed(1)}x`);
    }
    if (values.json) await writeFile(values.json, JSON.stringify(result, null, 2) + '\n');
  } finally {
    await repo.close();
  }
}

main().catch((error: unknown) => {
  const code = (error as { code?: string }).code;
  console.error(code ? `${code}: ${(error as Error).message}` : error);
  process.exit(1);
});
