// Code2LoRA hypernetwork (inference), training/hypernet.py's forward exactly: file embeddings -> pooled repo vector -> trunk -> bounded heads -> LoRA adapter.
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../model/config.ts';
import { linearShape } from '../model/llama.ts';
import { LORA_MODULES, type LoraAdapter, type LoraModule } from '../model/lora.ts';
import { HypernetworkError } from './errors.ts';

/** training/hypernet.py HypernetConfig, in our names. */
export interface HypernetworkConfig {
  /** The encoder's file-embedding size E. */
  embeddingSize: number;
  /** [out, in] of each adapted projection of the base model; the modules present get an adapter. */
  shapes: Partial<Record<LoraModule, [number, number]>>;
  hiddenSize: number;
  rank: number;
  alpha: number;
  /** Weight of the softmax-weighted mean over files in the repo vector (the paper: 0.6). */
  meanWeight: number;
  /** Weight of the max over files in the repo vector (the paper: 1.4). */
  maxWeight: number;
  /** Initial learnable log-scale of every head (the paper: -3.5, so a fresh hypernetwork starts near the base model). */
  initLogScale: number;
  // Format version 2's options (training/hypernet.py); absent (version 1 files) means off.
  /** The repo vector is standardised, (v - mean) / std, with the training repositories' statistics (repo_norm.*). */
  standardizeRepo?: boolean;
  /** A learned adapter per layer, repository-independent, to which the heads' output is added (layer_base.*). */
  layerBase?: boolean;
  /** The base model's layer count: layer_base's first dimension. */
  numLayers?: number;
}

/**
 * Weights under PyTorch's state_dict names: file_score.{weight,bias}, trunk.0.{weight,bias}, trunk.2.{weight,bias},
 * heads.<module>.<A|B>.{weight,bias} (Linear weights are [out, in]) and the 0-d log_scale.<module>.<A|B>; with the
 * options, repo_norm.{mean,std} [2E] and layer_base.<module>.A [layers, r, in], .B [layers, out, r].
 * One difference from the state_dict: the heads' Linear weights are held transposed, [H, out] (heldShape); they are
 * nearly all of the weights, and tfjs-wasm multiplies by a transposed operand on its own loops, ~3x slower than
 * XNNPACK's (SmolLM2's heads: 13.8 ms against 5.2 ms per adapter). fromStateDict makes this layout.
 */
export type HypernetworkWeights = Map<string, tf.Tensor>;

/** Whether HypernetworkWeights hold this state_dict tensor transposed: the heads' Linear weights. */
export function heldTransposed(name: string): boolean {
  return /^heads\.\w+\.[AB]\.weight$/.test(name);
}

/** The shape HypernetworkWeights hold a state_dict tensor in: its own, a head's weight transposed. */
export function heldShape(name: string, stateDictShape: readonly number[]): number[] {
  return heldTransposed(name) ? [...stateDictShape].reverse() : [...stateDictShape];
}

/** A state_dict's tensors (hypernetworkWeightShapes' names and shapes) as HypernetworkWeights; takes ownership. */
export function fromStateDict(stateDict: Map<string, tf.Tensor>): HypernetworkWeights {
  return new Map([...stateDict].map(([name, tensor]) => {
    if (!heldTransposed(name)) return [name, tensor];
    const transposed = tf.transpose(tensor);
    tensor.dispose();
    return [name, transposed];
  }));
}

/** 'static': repository -> adapter; 'evo': the same plus a GRU state stepped by each commit's diff (src/code2lora/evo.ts). */
export type HypernetworkKind = 'code2lora-static' | 'code2lora-evo';

export interface Hypernetwork {
  kind: HypernetworkKind;
  config: HypernetworkConfig;
  weights: HypernetworkWeights;
  /** False for a randomly initialised hypernetwork (pipeline tests): its adapters carry no repository knowledge. */
  trained: boolean;
  /**
   * The encoder layer whose hidden state it reads (config encoder.layer: encoderAt, encoderCacheId); absent: the last,
   * final norm included.
   */
  encoderLayer?: number;
}

/** The modules a config adapts, in LORA_MODULES order (the order of training/hypernet.py MODULES). */
function hypernetworkModules(config: Pick<HypernetworkConfig, 'shapes'>): LoraModule[] {
  return LORA_MODULES.filter((module) => config.shapes[module] !== undefined);
}

/**
 * Every weight's name and shape, as training/hypernet.py's Hypernetwork(config).state_dict() holds them (for 'evo',
 * EvoHypernetwork's: Static's plus diff_in, diff_norm and the GRU cell).
 */
export function hypernetworkWeightShapes(config: HypernetworkConfig, kind: HypernetworkKind = 'code2lora-static'): Map<string, number[]> {
  const { embeddingSize: e, hiddenSize: h, rank: r } = config;
  const shapes = new Map<string, number[]>([
    ['file_score.weight', [1, e]], ['file_score.bias', [1]],
    ['trunk.0.weight', [h, 2 * e]], ['trunk.0.bias', [h]], ['trunk.2.weight', [h, h]], ['trunk.2.bias', [h]],
  ]);
  for (const module of hypernetworkModules(config)) {
    const [out, inSize] = config.shapes[module]!;
    shapes.set(`heads.${module}.A.weight`, [r * inSize, h]);
    shapes.set(`heads.${module}.A.bias`, [r * inSize]);
    shapes.set(`heads.${module}.B.weight`, [out * r, h]);
    shapes.set(`heads.${module}.B.bias`, [out * r]);
  }
  for (const module of hypernetworkModules(config)) {
    for (const part of ['A', 'B']) shapes.set(`log_scale.${module}.${part}`, []);
  }
  if (config.standardizeRepo) shapes.set('repo_norm.mean', [2 * e]).set('repo_norm.std', [2 * e]);
  if (config.layerBase) {
    for (const module of hypernetworkModules(config)) {
      const [out, inSize] = config.shapes[module]!;
      const layers = config.numLayers ?? 0;
      shapes.set(`layer_base.${module}.A`, [layers, r, inSize]).set(`layer_base.${module}.B`, [layers, out, r]);
    }
  }
  if (kind === 'code2lora-evo') {
    shapes.set('diff_in.weight', [h, 2 * e]).set('diff_in.bias', [h]).set('diff_norm.weight', [h]).set('diff_norm.bias', [h]);
    shapes.set('gru.weight_ih', [3 * h, h]).set('gru.weight_hh', [3 * h, h]).set('gru.bias_ih', [3 * h]).set('gru.bias_hh', [3 * h]);
  }
  return shapes;
}

/**
 * Deterministic random weights in PyTorch's default Linear init range (uniform ±1/sqrt(fan_in)), log-scales at
 * `initLogScale`: for the untrained pipeline and tests.
 * @example const weights = initHypernetworkWeights(config, 1234);
 */
export function initHypernetworkWeights(
  config: HypernetworkConfig, seed: number, kind: HypernetworkKind = 'code2lora-static',
  /** Makes only these weights, each with the values it gets in the full set (e.g. Evo's GRU beside Static's weights). */
  only?: (name: string) => boolean,
): HypernetworkWeights {
  const stateDict = new Map<string, tf.Tensor>();
  const shapes = hypernetworkWeightShapes(config, kind);
  // Constant weights: a scale, a norm's unit weight and zero bias, standardisation by nothing, PEFT's zero B. The
  // value alone, so that a weight left out by `only` allocates nothing.
  const constant = (name: string): number | null => {
    if (name.startsWith('log_scale.')) return config.initLogScale;
    if (name === 'diff_norm.weight' || name === 'repo_norm.std') return 1;
    if (name === 'diff_norm.bias' || name === 'repo_norm.mean' || /^layer_base\..*\.B$/.test(name)) return 0;
    return null;
  };
  let nextSeed = seed;
  for (const [name, shape] of shapes) {
    const value = constant(name);
    if (only && !only(name)) {
      if (value === null) nextSeed++;
    } else if (value !== null) {
      stateDict.set(name, tf.fill(shape, value));
    } else {
      const fanIn = name.startsWith('gru.') ? config.hiddenSize
        : name.startsWith('layer_base.') ? shape[2] : shapes.get(name.replace(/\.bias$/, '.weight'))![1];
      const bound = 1 / Math.sqrt(fanIn);
      stateDict.set(name, tf.randomUniform(shape, -bound, bound, 'float32', nextSeed++));
    }
  }
  return fromStateDict(stateDict);
}

/** Checks that a hypernetwork's module shapes are the base model's projections. */
function checkHypernetworkBase(config: HypernetworkConfig, baseModel: ModelConfig): void {
  for (const module of hypernetworkModules(config)) {
    const expected = linearShape(baseModel, module);
    if (config.shapes[module]!.join(',') !== expected.join(',')) {
      throw new HypernetworkError('BASE_MODEL_MISMATCH',
        `The hypernetwork's ${module} is [${config.shapes[module]}], the base model's is [${expected}]`);
    }
  }
  if (config.layerBase && config.numLayers !== baseModel.numLayers) {
    throw new HypernetworkError('BASE_MODEL_MISMATCH',
      `The hypernetwork has per-layer adapters for ${config.numLayers} layers, the base model has ${baseModel.numLayers}`);
  }
}

/** PyTorch's Linear: x W^T + b, with W as HypernetworkWeights hold it (a head's already transposed). */
export function dense(x: tf.Tensor2D, weights: HypernetworkWeights, name: string): tf.Tensor2D {
  const w = weights.get(`${name}.weight`) as tf.Tensor2D;
  const b = weights.get(`${name}.bias`) as tf.Tensor1D;
  return tf.add(tf.matMul(x, w, false, !heldTransposed(`${name}.weight`)), b);
}

/** The exact (erf) GELU that torch.nn.GELU() computes. */
function gelu(x: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));
}

/**
 * The trunk's state for a repository, as training/hypernet.py Hypernetwork.repo_state computes it:
 *   repo vector  [meanWeight · Σ softmax(file_score(f)) f ; maxWeight · max over files]
 *   standardised (v - mean) / std when config.standardizeRepo
 *   trunk        Linear + GELU + Linear + GELU, L2-normalised and scaled by sqrt(H)
 * Errors: HypernetworkError NO_FILES, EMBEDDING_SIZE_MISMATCH.
 * @example const state = await repoState(hypernetwork, encoding.files.map((f) => f.embedding)); // Float32Array [H]
 */
export async function repoState({ config, weights }: Pick<Hypernetwork, 'config' | 'weights'>, files: readonly Float32Array[]): Promise<Float32Array> {
  if (files.length === 0) throw new HypernetworkError('NO_FILES', 'The hypernetwork needs at least one file embedding');
  const wrong = files.find((file) => file.length !== config.embeddingSize);
  if (wrong) {
    throw new HypernetworkError('EMBEDDING_SIZE_MISMATCH',
      `A file embedding has ${wrong.length} values, the hypernetwork expects ${config.embeddingSize} (another encoder?)`);
  }
  const stacked = new Float32Array(files.length * config.embeddingSize);
  files.forEach((file, i) => stacked.set(file, i * config.embeddingSize));
  const state = tf.tidy(() => {
    const x = tf.tensor2d(stacked, [files.length, config.embeddingSize]);
    const fileWeights = tf.softmax(tf.reshape(dense(x, weights, 'file_score'), [1, files.length])); // [1, F]
    const pooled = tf.concat([
      tf.mul(tf.matMul(fileWeights, x), config.meanWeight),
      tf.mul(tf.max(x, 0, true), config.maxWeight),
    ], 1) as tf.Tensor2D;
    const repo = config.standardizeRepo
      ? tf.div(tf.sub(pooled, weights.get('repo_norm.mean')!), weights.get('repo_norm.std')!) as tf.Tensor2D
      : pooled;
    return normalised(gelu(dense(gelu(dense(repo, weights, 'trunk.0')), weights, 'trunk.2')), config.hiddenSize);
  });
  const values = (await state.data()) as Float32Array;
  state.dispose();
  return values;
}

/** x / ||x|| · sqrt(H): the scale the heads were trained on. */
export function normalised(x: tf.Tensor2D, hiddenSize: number): tf.Tensor2D {
  return tf.mul(tf.div(x, tf.maximum(tf.norm(x), 1e-12)), Math.sqrt(hiddenSize));
}

/**
 * The adapter the heads make of a state [H] (Static's trunk output, or a normalised Evo state):
 *   heads  tanh(Linear(h)) · clamp(exp(log_scale), 1e-5, 0.3); A is [r, in], B is [out, r]
 * One A, B per module type, shared by every layer of the base model (the paper's choice: no layer embedding); with
 * config.layerBase, layer l's A, B are layer_base's [l] plus those.
 * Errors: HypernetworkError BASE_MODEL_MISMATCH.
 */
export async function adapterFromState(
  { config, weights }: Pick<Hypernetwork, 'config' | 'weights'>,
  baseModel: ModelConfig,
  state: Float32Array,
): Promise<LoraAdapter> {
  checkHypernetworkBase(config, baseModel);
  const modules = hypernetworkModules(config);
  const layerCount = baseModel.numLayers;
  // [1, size] per (module, part); with layerBase [layers, size]: layer_base + the heads' output, added in the backend
  // (a JavaScript loop over SmolLM2's 4.9M values cost more than the rest of the hypernetwork).
  const outputs = tf.tidy(() => {
    const h = tf.tensor2d(state, [1, config.hiddenSize]);
    return modules.flatMap((module) => (['A', 'B'] as const).map((part) => {
      const bound = tf.clipByValue(tf.exp(weights.get(`log_scale.${module}.${part}`)!), 1e-5, 0.3);
      const head = tf.mul(tf.tanh(dense(h, weights, `heads.${module}.${part}`)), bound);
      return config.layerBase ? tf.add(tf.reshape(weights.get(`layer_base.${module}.${part}`)!, [layerCount, -1]), head) : head;
    }));
  });
  const data = await Promise.all(outputs.map((t) => t.data() as Promise<Float32Array>));
  outputs.forEach((t) => t.dispose());
  // Without layerBase every layer shares one A, B pair; with it, each layer gets views of its rows.
  const pairs = (layer: number) => Object.fromEntries(modules.map((module, i) => {
    const [a, b] = [data[2 * i], data[2 * i + 1]];
    if (!config.layerBase) return [module, { A: a, B: b }];
    const [aSize, bSize] = [a.length / layerCount, b.length / layerCount];
    return [module, { A: a.subarray(layer * aSize, (layer + 1) * aSize), B: b.subarray(layer * bSize, (layer + 1) * bSize) }];
  }));
  const shared = config.layerBase ? null : pairs(0);
  const layers: LoraAdapter['layers'] = Array.from({ length: layerCount }, (_, layer) => (shared ? { ...shared } : pairs(layer)));
  return { rank: config.rank, alpha: config.alpha, targetModules: modules, layers };
}

/**
 * The repository's adapter from its file embeddings, as training/hypernet.py's Hypernetwork.forward computes it:
 * adapterFromState(repoState(files)).
 * Errors: HypernetworkError NO_FILES, EMBEDDING_SIZE_MISMATCH, BASE_MODEL_MISMATCH.
 * @example const adapter = await generateAdapter(hypernetwork, model.config, encoding.files.map((f) => f.embedding));
 */
export async function generateAdapter(
  hypernetwork: Pick<Hypernetwork, 'config' | 'weights'>,
  baseModel: ModelConfig,
  files: readonly Float32Array[],
): Promise<LoraAdapter> {
  checkHypernetworkBase(hypernetwork.config, baseModel);
  return adapterFromState(hypernetwork, baseModel, await repoState(hypernetwork, files));
}
