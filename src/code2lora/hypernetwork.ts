// Code2LoRA hypernetwork (inference): repo embedding -> trunk -> one bounded head per (module type, A|B) -> LoRA adapter.
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../model/config.ts';
import { linearShape } from '../model/llama.ts';
import type { LoraAdapter, LoraModule } from '../model/lora.ts';

export interface HypernetworkConfig {
  /** Length of the repo embedding (2 × the encoder's hidden size: [mean ; max]). */
  embeddingSize: number;
  hiddenSize: number;
  rank: number;
  alpha: number;
  targetModules: LoraModule[];
}

/** Weights named as the PyTorch side names them: trunk.0, trunk.2, heads.<module>.<A|B>, log_scale.<module>.<A|B>. */
export type HypernetworkWeights = Map<string, tf.Tensor>;

/** The paper initialises the learnable log-scale at -3.5, so a fresh hypernetwork starts near the base model. */
const INITIAL_LOG_SCALE = -3.5;

export class HypernetworkError extends Error {
  readonly code = 'EmbeddingSizeMismatch';
}

function headSize(model: ModelConfig, rank: number, module: LoraModule, part: 'A' | 'B'): number {
  const [out, inSize] = linearShape(model, module);
  return part === 'A' ? rank * inSize : out * rank;
}

/** Deterministic random weights (PyTorch's default Linear init range), for the untrained pipeline and tests. */
export function initHypernetworkWeights(config: HypernetworkConfig, model: ModelConfig, seed: number): HypernetworkWeights {
  const weights: HypernetworkWeights = new Map();
  let nextSeed = seed;
  const linear = (name: string, inSize: number, outSize: number) => {
    const bound = 1 / Math.sqrt(inSize);
    weights.set(`${name}.weight`, tf.randomUniform([outSize, inSize], -bound, bound, 'float32', nextSeed++));
    weights.set(`${name}.bias`, tf.randomUniform([outSize], -bound, bound, 'float32', nextSeed++));
  };
  linear('trunk.0', config.embeddingSize, config.hiddenSize);
  linear('trunk.2', config.hiddenSize, config.hiddenSize);
  for (const module of config.targetModules) {
    for (const part of ['A', 'B'] as const) {
      linear(`heads.${module}.${part}`, config.hiddenSize, headSize(model, config.rank, module, part));
      weights.set(`log_scale.${module}.${part}`, tf.scalar(INITIAL_LOG_SCALE));
    }
  }
  return weights;
}

function dense(x: tf.Tensor2D, weights: HypernetworkWeights, name: string): tf.Tensor2D {
  const w = weights.get(`${name}.weight`) as tf.Tensor2D;
  const b = weights.get(`${name}.bias`) as tf.Tensor1D;
  return tf.add(tf.matMul(x, w, false, true), b);
}

/** The exact (erf) GELU that torch.nn.GELU() computes. */
function gelu(x: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));
}

/**
 * trunk: Linear+GELU+Linear+GELU, L2-normalised and scaled by sqrt(H); heads: tanh(head(x)) · clamp(exp(s), 1e-5, 0.3).
 * One A, B per module type, shared by every layer (the paper's choice: no layer embedding).
 */
export async function generateAdapter(
  config: HypernetworkConfig,
  weights: HypernetworkWeights,
  model: ModelConfig,
  repoEmbedding: Float32Array,
): Promise<LoraAdapter> {
  if (repoEmbedding.length !== config.embeddingSize) {
    throw new HypernetworkError(`Repo embedding has ${repoEmbedding.length} values, the hypernetwork expects ${config.embeddingSize}`);
  }
  const outputs = tf.tidy(() => {
    const x = tf.tensor2d(repoEmbedding, [1, config.embeddingSize]);
    const h = gelu(dense(gelu(dense(x, weights, 'trunk.0')), weights, 'trunk.2'));
    const trunk = tf.mul(tf.div(h, tf.maximum(tf.norm(h), 1e-12)), Math.sqrt(config.hiddenSize)) as tf.Tensor2D;
    return config.targetModules.flatMap((module) =>
      (['A', 'B'] as const).map((part) => {
        const scale = tf.clipByValue(tf.exp(weights.get(`log_scale.${module}.${part}`)!), 1e-5, 0.3);
        return tf.mul(tf.tanh(dense(trunk, weights, `heads.${module}.${part}`)), scale);
      }),
    );
  });
  const data = await Promise.all(outputs.map((t) => t.data() as Promise<Float32Array>));
  outputs.forEach((t) => t.dispose());
  const shared: Partial<Record<LoraModule, { A: Float32Array; B: Float32Array }>> = {};
  config.targetModules.forEach((module, i) => {
    shared[module] = { A: data[2 * i], B: data[2 * i + 1] };
  });
  return {
    rank: config.rank,
    alpha: config.alpha,
    targetModules: [...config.targetModules],
    layers: Array.from({ length: model.numLayers }, () => ({ ...shared })),
  };
}

