// Runtime performance benchmark, the same code in Node (wasm) and the browser (wasm or webgpu): prefill and decode speed,
// LoRA unmerged/merged overhead, adapter swap time, context-length cost, achieved vs raw matmul GFLOP/s, kernels per token.
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../model/config.ts';
import { KVCache, LlamaModel, LINEAR_MODULES, linearShape, type RandomWeightsOptions } from '../model/llama.ts';
import { disposePreparedLora, mergeLora, prepareLora, randomLoraAdapter, unmergeLora, type PreparedLora } from '../model/lora.ts';

export interface RuntimeBenchOptions {
  /** Prompt length for the prefill figure. */
  prefillTokens?: number;
  /** Decode steps timed per variant and round (after one untimed warm-up step). */
  decodeTokens?: number;
  /** Interleaved rounds; each figure is the best round. */
  rounds?: number;
  /** Contexts (tokens already in the cache) at which base decode is timed. */
  contexts?: number[];
  /** LoRA rank of the random adapter on all seven linear modules of every layer. */
  rank?: number;
  /** Prefill chunk sizes (LlamaModel.prefillChunkTokens) to time a `prefillTokens` prompt with; none by default. */
  prefillChunkSweep?: number[];
  /** Keeps the model's linear weights and LM head quantized (WASM kernel); a quantized model cannot merge an adapter. */
  quantize?: RandomWeightsOptions['quantize'];
  /** Counts GPU kernel launches (see countKernels); absent on backends without them. */
  kernelCounter?: KernelCounter;
  onLog?: (line: string) => void;
}

export interface RuntimeBenchResult {
  backend: string;
  config: Pick<ModelConfig, 'hiddenSize' | 'numLayers' | 'intermediateSize' | 'numHeads' | 'numKvHeads' | 'vocabSize'>;
  parameters: number;
  prefill_tokens: number;
  prefill_tokens_per_s: number;
  /** Prefill tokens/s of the same prompt by chunk size (prefillChunkSweep). */
  prefill_tokens_per_s_by_chunk?: Record<string, number>;
  /** At the first context in `contexts`; merged is null for a quantized model. */
  decode_ms_per_token: { base: number; lora_unmerged: number; lora_merged: number | null };
  decode_ms_per_token_by_context: Record<string, number>;
  /** The same steps with tfjs's ops for attention instead of the WASM decode attention kernel (when it was on). */
  decode_ms_per_token_by_context_tfjs_attention?: Record<string, number>;
  unmerged_over_base: number;
  merged_over_base: number | null;
  adapter_swap_ms: number;
  adapter_rank: number;
  /** Model FLOPs per second achieved during prefill (linear layers, attention and LM head). */
  model_gflops: number;
  /** Model FLOPs per second during base decode at the first context. */
  decode_gflops: number;
  /** Best of plain tf.matMul on model-shaped operands in this run: the ceiling model_gflops is judged against. */
  matmul_peak_gflops: number;
  /** GPU kernel launches for one decode token (webgpu only), with the fused decode kernels (the default there). */
  dispatches_per_token?: { base: number; lora_unmerged: number; lora_merged: number };
  /** The same with LlamaModel.useFusedDecodeKernels off: the plain tfjs path. */
  dispatches_per_token_unfused?: { base: number; lora_unmerged: number; lora_merged: number };
}

/** Counts kernel launches between start() and stop(). */
export interface KernelCounter {
  start(): void;
  stop(): number;
}

/**
 * On the webgpu backend, counts `runWebGPUProgram` calls (one compute dispatch each); null on other backends.
 * Wraps the backend's method for the lifetime of the page.
 */
export function webgpuKernelCounter(): KernelCounter | null {
  if (tf.getBackend() !== 'webgpu') return null;
  const backend = tf.backend() as unknown as { runWebGPUProgram: (...args: unknown[]) => unknown };
  const original = backend.runWebGPUProgram.bind(backend);
  let count = 0;
  let counting = false;
  backend.runWebGPUProgram = (...args: unknown[]) => {
    if (counting) count++;
    return original(...args);
  };
  return {
    start() { count = 0; counting = true; },
    stop() { counting = false; return count; },
  };
}

/** FLOPs of one forward over `count` new tokens after `past` cached ones (multiply-add = 2). */
export function forwardFlops(config: ModelConfig, past: number, count: number, lmHeadRows = count): number {
  let linear = 0;
  for (const module of LINEAR_MODULES) {
    const [out, inFeatures] = linearShape(config, module);
    linear += out * inFeatures;
  }
  // q·K and softmax·V per query: numHeads * headDim * (positions seen) each; summed over the new tokens.
  let attention = 0;
  for (let t = 0; t < count; t++) attention += 2 * config.numHeads * config.headDim * (past + t + 1);
  return config.numLayers * (2 * linear * count + 2 * attention) + 2 * config.hiddenSize * config.vocabSize * lmHeadRows;
}

const now = () => performance.now();

async function syncData(tensor: tf.Tensor): Promise<void> {
  await tensor.data();
  tensor.dispose();
}

/**
 * Ms per decode step for each variant, measured in interleaved rounds (every variant once per round, after an untimed
 * warm-up step each) and reported as the best round: background load on a shared machine only ever adds time.
 */
async function timeDecodeVariants(
  model: LlamaModel, context: number, steps: number, rounds: number,
  variants: Array<{ lora?: PreparedLora | null; before?: () => void; after?: () => void }>,
): Promise<number[]> {
  const caches = await Promise.all(variants.map(() => prefilledCache(model, context)));
  const best = variants.map(() => Infinity);
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [index, { lora = null, before, after }] of variants.entries()) {
        before?.();
        const cache = caches[index];
        await syncData(model.forward([1], { cache, lora, logits: 'last' }));
        const started = now();
        for (let i = 0; i < steps; i++) await syncData(model.forward([(i * 7 + 3) % model.config.vocabSize], { cache, lora, logits: 'last' }));
        best[index] = Math.min(best[index], (now() - started) / steps);
        after?.();
      }
    }
  } finally {
    for (const cache of caches) cache.dispose();
  }
  return best;
}

function promptIds(config: ModelConfig, count: number): number[] {
  return Array.from({ length: count }, (_, i) => (i * 31 + 7) % config.vocabSize);
}

async function prefilledCache(model: LlamaModel, context: number): Promise<KVCache> {
  const cache = new KVCache(model.config.numLayers);
  await syncData(model.forward(promptIds(model.config, context), { cache, logits: 'last' }));
  return cache;
}

/** GFLOP/s of plain matMul [m, k]·[k, n], best of a few runs after a warm-up. */
async function matmulGflops(m: number, k: number, n: number): Promise<number> {
  const a = tf.randomNormal([m, k]);
  const b = tf.randomNormal([k, n]);
  await syncData(tf.matMul(a, b));
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    const started = now();
    await syncData(tf.matMul(a, b));
    best = Math.min(best, now() - started);
  }
  a.dispose();
  b.dispose();
  return (2 * m * k * n) / (best / 1000) / 1e9;
}

/**
 * Benchmarks a randomly initialised model of `config` on the current tfjs backend. Frees everything it creates.
 * @example
 * await initBackend();
 * const result = await benchmarkRuntime(config, { onLog: console.log });
 */
export async function benchmarkRuntime(
  config: ModelConfig,
  { prefillTokens = 128, decodeTokens = 8, rounds = 3, contexts = [32, 512], rank = 16, prefillChunkSweep = [], quantize, kernelCounter, onLog = () => {} }: RuntimeBenchOptions = {},
): Promise<RuntimeBenchResult> {
  const model = LlamaModel.random(config, { seed: 1, quantize });
  const adapter = randomLoraAdapter(config, { rank, alpha: 2 * rank, seed: 2 });
  const parameters = model.config.numLayers * LINEAR_MODULES.reduce((sum, m) => sum + linearShape(config, m)[0] * linearShape(config, m)[1], 0)
    + config.vocabSize * config.hiddenSize * (config.tieWordEmbeddings ? 1 : 2);
  try {
    // Prefill: warm up once (kernels compile, buffers allocate), then time the best of two.
    const timePrefill = async () => {
      let best = Infinity;
      for (let run = 0; run < 3; run++) {
        const cache = new KVCache(config.numLayers);
        const started = now();
        await syncData(model.forward(promptIds(config, prefillTokens), { cache, logits: 'last' }));
        if (run > 0) best = Math.min(best, now() - started);
        cache.dispose();
      }
      return best;
    };
    const prefillMs = await timePrefill();
    const prefillTokensPerS = prefillTokens / (prefillMs / 1000);
    const defaultChunk = model.prefillChunkTokens;
    const byChunk: Record<string, number> = {};
    for (const chunk of prefillChunkSweep) {
      model.prefillChunkTokens = chunk;
      byChunk[chunk] = prefillTokens / ((await timePrefill()) / 1000);
    }
    model.prefillChunkTokens = defaultChunk;
    if (prefillChunkSweep.length > 0) {
      onLog(`prefill ${prefillTokens} tokens by chunk size (default ${defaultChunk}): ${prefillChunkSweep.map((c) => `${c}: ${byChunk[c].toFixed(0)} tokens/s`).join(', ')}`);
    }
    const modelGflops = forwardFlops(config, 0, prefillTokens, 1) / (prefillMs / 1000) / 1e9;
    onLog(`prefill ${prefillTokens} tokens: ${prefillMs.toFixed(1)} ms = ${prefillTokensPerS.toFixed(0)} tokens/s, ${modelGflops.toFixed(2)} GFLOP/s`);

    // Adapter swap: validate + upload + transpose + scale of every A and B.
    const swapStarted = now();
    const swaps = 3;
    for (let i = 0; i < swaps; i++) {
      const prepared = prepareLora(adapter, config);
      await Promise.all(prepared.layers.flatMap((modules) => Object.values(modules).map(({ up }) => up.data())));
      disposePreparedLora(prepared);
    }
    const swapMs = (now() - swapStarted) / swaps;
    const prepared = prepareLora(adapter, config);
    onLog(`adapter swap (prepareLora, rank ${rank}, 7 modules x ${config.numLayers} layers): ${swapMs.toFixed(1)} ms`);

    const [firstContext] = contexts;
    let merge: ReturnType<typeof mergeLora> | null = null;
    const [base, unmerged, merged = null] = await timeDecodeVariants(model, firstContext, decodeTokens, rounds, [
      {},
      { lora: prepared },
      ...(quantize ? [] : [{ before: () => { merge = mergeLora(model, adapter); }, after: () => unmergeLora(model, merge!) }]),
    ]);
    onLog(`decode at context ${firstContext}: base ${base.toFixed(2)} ms/token, LoRA unmerged ${unmerged.toFixed(2)} (${(unmerged / base).toFixed(3)}x base)`
      + (merged === null ? ' (quantized: no merged variant)' : `, merged ${merged.toFixed(2)} (${(merged / base).toFixed(3)}x)`));
    const byContext: Record<string, number> = {};
    // With the WASM decode attention kernel on (the default there), the same steps with tfjs's ops for attention beside.
    const kernelAttention = model.useDecodeAttentionKernel;
    const byContextTfjsAttention: Record<string, number> = {};
    for (const context of contexts) {
      [byContext[context], byContextTfjsAttention[context]] = await timeDecodeVariants(model, context, decodeTokens, rounds, [
        {},
        ...(kernelAttention ? [{ before: () => { model.useDecodeAttentionKernel = false; }, after: () => { model.useDecodeAttentionKernel = true; } }] : []),
      ]);
    }
    onLog(`decode (base) by context: ${contexts.map((c) => `${c}: ${byContext[c].toFixed(2)} ms/token`).join(', ')}`
      + (kernelAttention ? ` (decode attention kernel; tfjs ops instead: ${contexts.map((c) => `${c}: ${byContextTfjsAttention[c].toFixed(2)}`).join(', ')})` : ''));
    const dispatches = kernelCounter ? await countDispatches(model, adapter, prepared, firstContext, kernelCounter) : undefined;
    let unfusedDispatches: typeof dispatches;
    if (kernelCounter && model.useFusedDecodeKernels) {
      model.useFusedDecodeKernels = false;
      unfusedDispatches = await countDispatches(model, adapter, prepared, firstContext, kernelCounter);
      model.useFusedDecodeKernels = true;
    }
    if (dispatches) {
      onLog(`dispatches per decode token: base ${dispatches.base}, LoRA unmerged ${dispatches.lora_unmerged}, merged ${dispatches.lora_merged}`
        + (unfusedDispatches ? ` (fused WebGPU decode kernels; plain tfjs: base ${unfusedDispatches.base}, LoRA unmerged `
          + `${unfusedDispatches.lora_unmerged}, merged ${unfusedDispatches.lora_merged})` : ''));
    }
    disposePreparedLora(prepared);
    const decodeGflops = forwardFlops(config, firstContext, 1) / (base / 1000) / 1e9;

    // Raw matmul ceiling on operands shaped like the model's: prefill-sized rows times its widest projections.
    const { hiddenSize: d, intermediateSize: ff } = config;
    const peak = Math.max(await matmulGflops(prefillTokens, d, ff), await matmulGflops(prefillTokens, ff, d), await matmulGflops(prefillTokens, d, d));
    onLog(`raw matmul peak ${peak.toFixed(2)} GFLOP/s; model achieves ${modelGflops.toFixed(2)} in prefill (${((100 * modelGflops) / peak).toFixed(0)}%), `
      + `${decodeGflops.toFixed(2)} in decode`);
    return {
      backend: tf.getBackend(),
      config: { hiddenSize: d, numLayers: config.numLayers, intermediateSize: ff, numHeads: config.numHeads, numKvHeads: config.numKvHeads, vocabSize: config.vocabSize },
      parameters,
      prefill_tokens: prefillTokens,
      prefill_tokens_per_s: prefillTokensPerS,
      ...(prefillChunkSweep.length > 0 ? { prefill_tokens_per_s_by_chunk: byChunk } : {}),
      decode_ms_per_token: { base, lora_unmerged: unmerged, lora_merged: merged },
      decode_ms_per_token_by_context: byContext,
      ...(kernelAttention ? { decode_ms_per_token_by_context_tfjs_attention: byContextTfjsAttention } : {}),
      unmerged_over_base: unmerged / base,
      merged_over_base: merged === null ? null : merged / base,
      adapter_swap_ms: swapMs,
      adapter_rank: rank,
      model_gflops: modelGflops,
      decode_gflops: decodeGflops,
      matmul_peak_gflops: peak,
      ...(dispatches ? { dispatches_per_token: dispatches } : {}),
      ...(unfusedDispatches ? { dispatches_per_token_unfused: unfusedDispatches } : {}),
    };
  } finally {
    model.dispose();
  }
}

/** Kernel launches of one decode step: base, with the adapter unmerged, and with it merged. */
async function countDispatches(
  model: LlamaModel, adapter: ReturnType<typeof randomLoraAdapter>, prepared: PreparedLora, context: number, counter: KernelCounter,
): Promise<{ base: number; lora_unmerged: number; lora_merged: number }> {
  const count = async (lora: PreparedLora | null) => {
    const cache = await prefilledCache(model, context);
    await syncData(model.forward([1], { cache, lora, logits: 'last' }));
    counter.start();
    await syncData(model.forward([2], { cache, lora, logits: 'last' }));
    const launched = counter.stop();
    cache.dispose();
    return launched;
  };
  const base = await count(null);
  const loraUnmerged = await count(prepared);
  const merge = mergeLora(model, adapter);
  const loraMerged = await count(null);
  unmergeLora(model, merge);
  return { base, lora_unmerged: loraUnmerged, lora_merged: loraMerged };
}
