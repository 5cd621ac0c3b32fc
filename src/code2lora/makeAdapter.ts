// makeRepoAdapter: snapshot -> file embeddings (cached by blob id) -> hypernetwork -> LoRA adapter, plus the adapter's per-module update norms.
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../model/config.ts';
import { linearShape } from '../model/llama.ts';
import { LORA_MODULES, loraScale, type LoraAdapter, type LoraMatrix } from '../model/lora.ts';
import { generateAdapter, initHypernetworkWeights, type Hypernetwork, type HypernetworkConfig } from './hypernetwork.ts';
import { encodeRepository, type EncodeRepositoryOptions, type RepoEncoding } from './repoEncoder.ts';

export type { Hypernetwork } from './hypernetwork.ts';

/**
 * The hypernetwork for a base model without a shipped one: seeded random, in the trained architecture, near the base
 * model at the start (log-scales at -3.5). `embeddingSize` is the encoder's hidden size (by default the base model's:
 * the base model as its own encoder).
 * @example const hypernetwork = untrainedHypernetwork(model.config, encoder.model.config.hiddenSize);
 */
export function untrainedHypernetwork(baseModel: ModelConfig, embeddingSize = baseModel.hiddenSize, seed = 1234): Hypernetwork {
  const config: HypernetworkConfig = {
    embeddingSize,
    shapes: Object.fromEntries(LORA_MODULES.map((module) => [module, linearShape(baseModel, module)])),
    hiddenSize: 64, rank: 8, alpha: 16, meanWeight: 0.6, maxWeight: 1.4, initLogScale: -3.5,
  };
  return { kind: 'code2lora-static', config, weights: initHypernetworkWeights(config, seed), trained: false };
}

/**
 * An Evo hypernetwork for a model without a shipped one: the Static hypernetwork's config, weights (shared, not
 * copied) and encoder layer, with a seeded GRU and diff projection, untrained. At the history's first commit its
 * adapter is Static's; for an untrained Static one it is exactly initHypernetworkWeights(config, seed, 'code2lora-evo').
 * @example const evo = untrainedEvoHypernetwork(untrainedHypernetwork(model.config, encoderHiddenSize));
 */
export function untrainedEvoHypernetwork(staticHypernetwork: Hypernetwork, seed = 1234): Hypernetwork {
  const weights = new Map(staticHypernetwork.weights);
  const evoOnly = initHypernetworkWeights(staticHypernetwork.config, seed, 'code2lora-evo', (name) => !weights.has(name));
  for (const [name, tensor] of evoOnly) weights.set(name, tensor);
  // Static's trunk and heads read Static's layer: so must the stand-in, or its first-commit adapter would not be Static's.
  const { encoderLayer } = staticHypernetwork;
  return { kind: 'code2lora-evo', config: staticHypernetwork.config, weights, trained: false, ...(encoderLayer === undefined ? {} : { encoderLayer }) };
}

export interface RepoAdapter {
  adapter: LoraAdapter;
  encoding: RepoEncoding;
  /** ‖(alpha/r)·B·A‖_F of each module type (shared across layers): how strongly the adapter moves that projection. */
  deltaNorms: Record<string, number>;
  parameters: number;
}

/**
 * Encodes a snapshot's non-test Python files at the layer the hypernetwork reads (files in `cache`, a store of
 * encoderCacheId(encoder, hypernetwork.encoderLayer), are not encoded again) and turns them into the base model's
 * adapter. Errors: RepoEncodeError, HypernetworkError; an AbortError when `signal` aborts.
 * @example const { adapter } = await makeRepoAdapter({ files, encoder, parser, hypernetwork, baseModel: model.config, cache });
 */
export async function makeRepoAdapter({ hypernetwork, baseModel, ...encodeOptions }: Omit<EncodeRepositoryOptions, 'layer'> & {
  hypernetwork: Hypernetwork;
  /** The model the adapter is for. */
  baseModel: ModelConfig;
}): Promise<RepoAdapter> {
  const encoding = await encodeRepository({ ...encodeOptions, layer: hypernetwork.encoderLayer });
  const adapter = await generateAdapter(hypernetwork, baseModel, encoding.files.map((file) => file.embedding));
  return { adapter, encoding, deltaNorms: await adapterDeltaNorms(adapter), parameters: adapterParameterCount(adapter) };
}

function matrix(m: LoraMatrix, rows: number): tf.Tensor2D {
  return m instanceof Float32Array ? tf.tensor2d(m, [rows, m.length / rows]) : m;
}

/**
 * ‖(alpha/r)·B·A‖_F of each adapted module over all layers (the root of the sum of the layers' squares); with
 * `previous` (an adapter of the same shape), the norm of the change ‖(alpha/r)·(B·A − B'·A')‖_F: Evo's drift per commit.
 * Computed without forming B·A: ‖B·A‖_F² = Σ (BᵀB) ⊙ (A·Aᵀ), r×r matrices, and the change is the product of
 * [B − B', B'] and [A; A − A'], so the cost grows with (out + in)·r² rather than out·in·r.
 */
export async function adapterDeltaNorms(adapter: LoraAdapter, previous?: LoraAdapter): Promise<Record<string, number>> {
  const norms: Record<string, number> = {};
  const pairMatrices = (pair: { A: LoraMatrix; B: LoraMatrix }, rank: number): [tf.Tensor2D, tf.Tensor2D] => {
    const bSize = pair.B instanceof Float32Array ? pair.B.length : pair.B.size;
    return [matrix(pair.B, bSize / rank), matrix(pair.A, rank)]; // [out, r], [r, in]
  };
  for (const module of adapter.targetModules) {
    if (!adapter.layers.some((layer) => layer[module])) continue;
    const norm = tf.tidy(() => {
      let squares: tf.Scalar = tf.scalar(0);
      adapter.layers.forEach((layer, index) => {
        const pair = layer[module];
        if (!pair) return;
        let [b, a] = pairMatrices(pair, adapter.rank);
        const before = previous?.layers[index]?.[module];
        if (before) {
          // B·A − B'·A' = (B − B')·A + B'·(A − A'): every term of the sum below is then a product of two changes, so
          // a small drift is not the difference of two large sums (and no change gives exactly 0).
          const [b0, a0] = pairMatrices(before, previous!.rank);
          [b, a] = [tf.concat([tf.sub(b, b0), b0], 1) as tf.Tensor2D, tf.concat([a, tf.sub(a, a0)], 0) as tf.Tensor2D];
        }
        squares = tf.add(squares, tf.sum(tf.mul(tf.matMul(b, b, true, false), tf.matMul(a, a, false, true))));
      });
      return tf.mul(tf.sqrt(tf.relu(squares)), loraScale(adapter));
    });
    norms[module] = (await norm.data())[0];
    norm.dispose();
  }
  return norms;
}

/** Number of LoRA values over all layers and modules. */
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

/**
 * A short digest of an adapter's values (SHA-256 over rank, alpha and every layer's A and B in LORA_MODULES order, first 16
 * hex digits): equal digests, equal adapters. The app shows it so that a test can compare adapters without a download.
 * @example await adapterDigest(adapter) // '3f9a0c…'
 */
export async function adapterDigest(adapter: LoraAdapter): Promise<string> {
  const parts: Uint8Array[] = [new Uint8Array(Float32Array.from([adapter.rank, adapter.alpha]).buffer)];
  // Modules in one fixed order, whatever order the adapter lists them in (a PEFT config read back lists them sorted).
  const modules = LORA_MODULES.filter((module) => adapter.targetModules.includes(module));
  for (const layer of adapter.layers) {
    for (const module of modules) {
      const pair = layer[module];
      if (!pair) continue;
      for (const m of [pair.A, pair.B]) {
        const values = m instanceof Float32Array ? m : ((await m.data()) as Float32Array);
        parts.push(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      }
    }
  }
  const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(hash.slice(0, 8), (b) => b.toString(16).padStart(2, '0')).join('');
}
