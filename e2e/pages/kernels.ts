// Browser harness for src/model/webgpuKernels.ts: exposes `window.kernelsHarness` so Playwright can compare each fused
// kernel with the tfjs ops it replaces, and a whole model's decode with the kernels on and off, on the webgpu backend.
import * as tf from '@tensorflow/tfjs';
import { webgpuKernelCounter } from '../../src/bench/runtimeBench.ts';
import { initBackend } from '../../src/model/backend.ts';
import { parseModelConfig } from '../../src/model/config.ts';
import { generate } from '../../src/model/generate.ts';
import { KVCache, LlamaModel } from '../../src/model/llama.ts';
import { disposePreparedLora, prepareLora, randomLoraAdapter, type PreparedLora } from '../../src/model/lora.ts';
import { fusedDecodeAttention, fusedLinear, fusedRmsNorm, fusedRope, fusedSwiGlu } from '../../src/model/webgpuKernels.ts';
import { normalArray, seededUniform } from '../../src/util/random.ts';

export interface LinearCase { inFeatures: number; outFeatures: number; rank: number; bias: boolean }
export interface NormCase { rows: number; width: number; eps: number }
export interface RopeCase { heads: number; headDim: number }
export interface AttentionCase { numHeads: number; numKvHeads: number; headDim: number; positions: number }

/** Max |fused - unfused| of one case, with the largest |unfused| value for scale. */
export interface KernelDiff { maxDifference: number; scale: number }

export interface DecodeComparison {
  steps: number;
  /** Over every decode step's logits: max |kernels on - kernels off|, and the largest |logit|. */
  maxDifference: number;
  scale: number;
  greedyOn: number[];
  greedyOff: number[];
  dispatches: { baseOff: number; baseOn: number; loraOff: number; loraOn: number };
}

let counter: ReturnType<typeof webgpuKernelCounter> = null;

async function webgpu(): Promise<void> {
  const active = await initBackend({ preference: 'webgpu' });
  if (active !== 'webgpu') throw new Error(`asked for webgpu, got ${active}`);
  counter ??= webgpuKernelCounter();
}

async function compare(fused: tf.Tensor, reference: tf.Tensor): Promise<KernelDiff> {
  if (fused.shape.join() !== reference.shape.join()) throw new Error(`shape [${fused.shape}] != [${reference.shape}]`);
  const [a, b] = [await fused.data(), await reference.data()];
  let maxDifference = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    maxDifference = Math.max(maxDifference, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { maxDifference, scale };
}

function randomTensor<R extends tf.Rank>(shape: number[], std: number, uniform: () => number): tf.Tensor<R> {
  return tf.tensor(normalArray(shape.reduce((a, b) => a * b, 1), std, uniform), shape as tf.ShapeMap[R], 'float32') as tf.Tensor<R>;
}

const harness = {
  async linear(cases: LinearCase[]): Promise<KernelDiff[]> {
    await webgpu();
    const results: KernelDiff[] = [];
    for (const [index, { inFeatures, outFeatures, rank, bias }] of cases.entries()) {
      const uniform = seededUniform(100 + index);
      const x = randomTensor<tf.Rank.R2>([1, inFeatures], 1, uniform);
      const kernel = randomTensor<tf.Rank.R2>([inFeatures, outFeatures], 0.1, uniform);
      const biasTensor = bias ? randomTensor<tf.Rank.R1>([outFeatures], 0.5, uniform) : null;
      const lora = rank > 0 ? { down: randomTensor<tf.Rank.R2>([inFeatures, rank], 0.1, uniform), up: randomTensor<tf.Rank.R2>([rank, outFeatures], 0.1, uniform) } : null;
      const fused = fusedLinear(x, kernel, biasTensor, lora);
      const reference = tf.tidy(() => {
        let y: tf.Tensor = tf.matMul(x, kernel);
        if (biasTensor) y = tf.add(y, biasTensor);
        if (lora) y = tf.add(y, tf.matMul(tf.matMul(x, lora.down), lora.up));
        return y;
      });
      results.push(await compare(fused, reference));
      tf.dispose([x, kernel, biasTensor, lora?.down, lora?.up, fused, reference].filter((t): t is tf.Tensor => t != null));
    }
    return results;
  },

  async rmsNorm(cases: NormCase[]): Promise<KernelDiff[]> {
    await webgpu();
    const results: KernelDiff[] = [];
    for (const [index, { rows, width, eps }] of cases.entries()) {
      const uniform = seededUniform(200 + index);
      const x = randomTensor<tf.Rank.R2>([rows, width], 2, uniform);
      const weight = tf.add(randomTensor<tf.Rank.R1>([width], 0.3, uniform), 1) as tf.Tensor1D;
      const fused = fusedRmsNorm(x, weight, eps);
      // The formula of llama.ts's rmsNorm.
      const reference = tf.tidy(() => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), weight));
      results.push(await compare(fused, reference));
      tf.dispose([x, weight, fused, reference]);
    }
    return results;
  },

  async rope(cases: RopeCase[]): Promise<KernelDiff[]> {
    await webgpu();
    const results: KernelDiff[] = [];
    for (const [index, { heads, headDim }] of cases.entries()) {
      const uniform = seededUniform(400 + index);
      const x = randomTensor<tf.Rank.R2>([heads, headDim], 1, uniform);
      const angles = Array.from({ length: headDim }, () => 100 * uniform());
      const cos = tf.tensor2d(angles.map(Math.cos), [1, headDim]);
      const sin = tf.tensor2d(angles.map(Math.sin), [1, headDim]);
      const fused = fusedRope(x, cos, sin);
      // The ops of llama.ts's applyRope: x * cos + cat(-x2, x1) * sin.
      const reference = tf.tidy(() => {
        const [x1, x2] = tf.split(x, 2, 1);
        return tf.add(tf.mul(x, cos), tf.mul(tf.concat([tf.neg(x2), x1], 1), sin));
      });
      results.push(await compare(fused, reference));
      tf.dispose([x, cos, sin, fused, reference]);
    }
    return results;
  },

  async swiGlu(widths: number[]): Promise<KernelDiff[]> {
    await webgpu();
    const results: KernelDiff[] = [];
    for (const [index, width] of widths.entries()) {
      const uniform = seededUniform(500 + index);
      const gate = randomTensor<tf.Rank.R2>([1, width], 3, uniform);
      const up = randomTensor<tf.Rank.R2>([1, width], 1, uniform);
      const fused = fusedSwiGlu(gate, up);
      const reference = tf.tidy(() => tf.mul(tf.mul(gate, tf.sigmoid(gate)), up));
      results.push(await compare(fused, reference));
      tf.dispose([gate, up, fused, reference]);
    }
    return results;
  },

  async attention(cases: AttentionCase[]): Promise<KernelDiff[]> {
    await webgpu();
    const results: KernelDiff[] = [];
    for (const [index, { numHeads, numKvHeads, headDim, positions }] of cases.entries()) {
      const uniform = seededUniform(300 + index);
      const queries = randomTensor<tf.Rank.R2>([numHeads, headDim], 1.5, uniform);
      const keys = randomTensor<tf.Rank.R3>([numKvHeads, headDim, positions], 1.5, uniform);
      const values = randomTensor<tf.Rank.R3>([numKvHeads, positions, headDim], 1, uniform);
      const fused = fusedDecodeAttention(queries, keys, values);
      // The tfjs path of LlamaModel.attention for one position: query heads grouped per kv head.
      const reference = tf.tidy(() => {
        const grouped = tf.reshape(queries, [numKvHeads, numHeads / numKvHeads, headDim]);
        const scores = tf.mul(tf.matMul(grouped, keys), 1 / Math.sqrt(headDim));
        return tf.reshape(tf.matMul(tf.softmax(scores), values), [1, numHeads * headDim]);
      });
      results.push(await compare(fused, reference));
      tf.dispose([queries, keys, values, fused, reference]);
    }
    return results;
  },

  /**
   * A random model of `configJson` (weights of std `std`), a prompt prefilled through the tfjs path, then `steps` decode
   * steps with the kernels off and on (logits compared), greedy generation both ways, and dispatches per decode token.
   */
  async decode(configJson: object, { std, promptLength, steps, rank }: { std: number; promptLength: number; steps: number; rank: number }): Promise<DecodeComparison> {
    await webgpu();
    const config = parseModelConfig(configJson);
    const model = LlamaModel.random(config, { seed: 3, std });
    const lora = prepareLora(randomLoraAdapter(config, { rank, alpha: 2 * rank, seed: 4, std: 0.1 }), config);
    const prompt = Array.from({ length: promptLength }, (_, i) => (i * 37 + 11) % config.vocabSize);
    const decodeLogits = async (fused: boolean, adapter: PreparedLora | null): Promise<Float32Array[]> => {
      model.useFusedDecodeKernels = fused;
      const cache = new KVCache(config.numLayers);
      tf.dispose(model.forward(prompt, { cache, lora: adapter, logits: 'last' }));
      const out: Float32Array[] = [];
      for (let step = 0; step < steps; step++) {
        const logits = model.forward([(step * 13 + 5) % config.vocabSize], { cache, lora: adapter, logits: 'last' });
        out.push((await logits.data()) as Float32Array);
        logits.dispose();
      }
      cache.dispose();
      return out;
    };
    const dispatchesPerToken = async (fused: boolean, adapter: PreparedLora | null): Promise<number> => {
      model.useFusedDecodeKernels = fused;
      const cache = new KVCache(config.numLayers);
      tf.dispose(model.forward(prompt, { cache, lora: adapter, logits: 'last' }));
      counter!.start();
      const logits = model.forward([1], { cache, lora: adapter, logits: 'last' });
      const launched = counter!.stop();
      await logits.data();
      logits.dispose();
      cache.dispose();
      return launched;
    };
    const greedy = async (fused: boolean): Promise<number[]> => {
      model.useFusedDecodeKernels = fused;
      const idsAsText = { encode: () => [], decode: (generated: number[]) => generated.join(',') };
      return (await generate(model, prompt, { tokenizer: idsAsText, maxNewTokens: steps, stopTokenIds: [], lora })).ids;
    };
    try {
      let maxDifference = 0;
      let scale = 0;
      for (const adapter of [null, lora]) {
        const [off, on] = [await decodeLogits(false, adapter), await decodeLogits(true, adapter)];
        for (let step = 0; step < steps; step++) {
          for (let i = 0; i < off[step].length; i++) {
            maxDifference = Math.max(maxDifference, Math.abs(on[step][i] - off[step][i]));
            scale = Math.max(scale, Math.abs(off[step][i]));
          }
        }
      }
      return {
        steps, maxDifference, scale,
        greedyOff: await greedy(false), greedyOn: await greedy(true),
        dispatches: {
          baseOff: await dispatchesPerToken(false, null), baseOn: await dispatchesPerToken(true, null),
          loraOff: await dispatchesPerToken(false, lora), loraOn: await dispatchesPerToken(true, lora),
        },
      };
    } finally {
      disposePreparedLora(lora);
      model.dispose();
    }
  },
};

declare global {
  interface Window { kernelsHarness: typeof harness }
}
window.kernelsHarness = harness;
document.getElementById('status')!.textContent = 'ready';
