// makeRepoAdapter: snapshot -> repo embedding -> hypernetwork -> LoRA adapter, plus the adapter's per-module update norms.
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../model/config.ts';
import { LORA_MODULES, loraScale, type LoraAdapter, type LoraMatrix } from '../model/lora.ts';
import { generateAdapter, initHypernetworkWeights, type HypernetworkConfig, type HypernetworkWeights } from './hypernetwork.ts';
import { encodeRepository, type EncodeRepositoryOptions, type RepoEmbedding } from './repoEncoder.ts';

export interface Hypernetwork {
  config: HypernetworkConfig;
  weights: HypernetworkWeights;
  /** False for a randomly initialised hypernetwork (pipeline tests): its adapters carry no repository knowledge. */
  trained: boolean;
}

/** The app's and the benchmark's hypernetwork until a trained one ships: seeded random, near the base model at the start. */
export function untrainedHypernetwork(model: ModelConfig, seed = 1234): Hypernetwork {
  const config: HypernetworkConfig = { embeddingSize: 2 * model.hiddenSize, hiddenSize: 64, rank: 8, alpha: 16, targetModules: [...LORA_MODULES] };
  return { config, weights: initHypernetworkWeights(config, model, seed), trained: false };
}

export interface RepoAdapter {
  adapter: LoraAdapter;
  embedding: RepoEmbedding;
  /** ‖(alpha/r)·B·A‖_F of each module type (shared across layers): how strongly the adapter moves that projection. */
  deltaNorms: Record<string, number>;
  parameters: number;
}

/**
 * @example const { adapter } = await makeRepoAdapter({ files, model, tokenizer, parser, hypernetwork })
 */
export async function makeRepoAdapter({ hypernetwork, ...encodeOptions }: EncodeRepositoryOptions & { hypernetwork: Hypernetwork }): Promise<RepoAdapter> {
  const embedding = await encodeRepository(encodeOptions);
  const adapter = await generateAdapter(hypernetwork.config, hypernetwork.weights, encodeOptions.model.config, embedding.vector);
  return { adapter, embedding, deltaNorms: await adapterDeltaNorms(adapter), parameters: adapterParameterCount(adapter) };
}

function matrix(m: LoraMatrix, rows: number): tf.Tensor2D {
  return m instanceof Float32Array ? tf.tensor2d(m, [rows, m.length / rows]) : m;
}

export async function adapterDeltaNorms(adapter: LoraAdapter): Promise<Record<string, number>> {
  const norms: Record<string, number> = {};
  const first = adapter.layers[0] ?? {};
  for (const module of adapter.targetModules) {
    const pair = first[module];
    if (!pair) continue;
    const norm = tf.tidy(() => {
      const a = matrix(pair.A, adapter.rank); // [r, in]
      const bSize = pair.B instanceof Float32Array ? pair.B.length : pair.B.size;
      const b = matrix(pair.B, bSize / adapter.rank); // [out, r]
      return tf.mul(tf.norm(tf.matMul(b, a)), loraScale(adapter));
    });
    norms[module] = (await norm.data())[0];
    norm.dispose();
  }
  return norms;
}

export function adapterParameterCount(adapter: LoraAdapter): number {
  let count = 0;
  for (const layer of adapter.layers) {
    for (const pair of Object.values(layer)) {
      if (!pair) continue;
      count += (pair.A instanceof Float32Array ? pair.A.length : pair.A.size) + (pair.B instanceof Float32Array ? pair.B.length : pair.B.size);
    }
  }
  return count;
}
