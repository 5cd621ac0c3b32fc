// Llama / Qwen2 decoder in tfjs, as transformers computes it: RMSNorm, RoPE (rotate_half), GQA attention, SwiGLU, KV cache, unmerged LoRA.
//
// One sequence at a time (batch 1): the product decodes one completion per request. Weights are float32 tensors, except
// linear weights loaded from Q4_1/Q8_0 GGUF blocks on the WASM backend, which stay quantized in a QuantizedWeightStore
// (quantizedMatMul.ts) and are multiplied by its WASM SIMD kernel.
// Float32 linear weights are held as [in, out] kernels (Hugging Face's [out, in] transposed once at load), because
// tfjs-wasm multiplies x·W 5-10x faster than x·W^T (measured: 0.35 vs 3.6 ms for a 576x1536 decode step).
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from './config.ts';
import type { PreparedLora } from './lora.ts'; // types only: lora.ts imports this module
import { normalArray, seededUniform } from '../util/random.ts';
import { LowRankTerms, QuantizedMatrix, QuantizedWeightStore, type QuantizedFormat } from './quantizedMatMul.ts';
import { toFloat32, type ParsedSafetensors, type SafetensorsDtype, type TensorToWrite } from './safetensors.ts';
import { kernelDecodeAttention } from './decodeAttention.ts';
import { fusedDecodeAttention, fusedDecodeKernelsAvailable, fusedLinear, fusedRmsNorm, fusedRope, fusedSwiGlu } from './webgpuKernels.ts';

export const LINEAR_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LinearModule = (typeof LINEAR_MODULES)[number];

/**
 * A linear layer's weight: a float32 tensor [in, out] (the transpose of Hugging Face's `weight`, so y = x·kernel), or
 * Hugging Face's [out, in] rows kept quantized (see multiply).
 */
export type LinearWeight = tf.Tensor2D | QuantizedMatrix;

export interface Linear {
  kernel: LinearWeight;
  bias: tf.Tensor1D | null;
}

export interface DecoderLayer {
  inputNorm: tf.Tensor1D;
  postAttentionNorm: tf.Tensor1D;
  linear: Record<LinearModule, Linear>;
}

export interface LlamaWeights {
  /** [vocab, hidden]; null when the config ties word embeddings (rows are then read from lmHead's columns). */
  embedTokens: tf.Tensor2D | null;
  layers: DecoderLayer[];
  norm: tf.Tensor1D;
  /** [hidden, vocab]: lm_head.weight (or, tied, embed_tokens.weight) transposed; or its rows quantized. */
  lmHead: LinearWeight;
  /** Holds the quantized weights, when there are any. */
  quantizedStore: QuantizedWeightStore | null;
}

/**
 * x [T, in] · W for a linear weight of either kind: [T, out]; for a quantized one, plus the LoRA term `lowRank` names
 * (added by the kernel before y becomes a tensor).
 */
export function multiply(x: tf.Tensor2D, weight: LinearWeight, lowRank?: { terms: LowRankTerms; key: string }): tf.Tensor2D {
  if (!(weight instanceof QuantizedMatrix)) return tf.matMul(x, weight);
  // On tfjs-wasm reading x and creating y are CPU copies: ~2 KB each per decode step.
  const tokens = x.shape[0];
  const xValues = x.dataSync() as Float32Array;
  const y = weight.matMul(xValues, tokens);
  lowRank?.terms.addTo(lowRank.key, xValues, y, tokens);
  return tf.tensor2d(y, [tokens, weight.rows]);
}

/** Each prepared adapter's LoRA terms for quantized layers, made the first time a quantized model runs it. */
const lowRankTermsCache = new WeakMap<PreparedLora, LowRankTerms>();

function lowRankTermsOf(lora: PreparedLora): LowRankTerms {
  let terms = lowRankTermsCache.get(lora);
  if (!terms) {
    terms = new LowRankTerms(lora.layers.flatMap((modules, layer) => Object.entries(modules ?? {}).map(([module, { down, up }]) => ({
      key: `${layer}.${module}`, down: down.dataSync() as Float32Array, up: up.dataSync() as Float32Array,
      columns: down.shape[0], rank: down.shape[1], rows: up.shape[1],
    }))));
    lowRankTermsCache.set(lora, terms);
  }
  return terms;
}

/** The one table between Hugging Face checkpoint names and our weights. */
export const HF_NAMES = {
  embedTokens: 'model.embed_tokens.weight',
  norm: 'model.norm.weight',
  lmHead: 'lm_head.weight',
  inputNorm: (layer: number) => `model.layers.${layer}.input_layernorm.weight`,
  postAttentionNorm: (layer: number) => `model.layers.${layer}.post_attention_layernorm.weight`,
  /** Module path without `.weight`/`.bias`; PEFT keys are built from it too. */
  linear: (layer: number, module: LinearModule) =>
    `model.layers.${layer}.${MLP_MODULES.has(module) ? 'mlp' : 'self_attn'}.${module}`,
} as const;

const MLP_MODULES: ReadonlySet<LinearModule> = new Set(['gate_proj', 'up_proj', 'down_proj']);

/** Buffers some older checkpoints carry that transformers recomputes; we do too. */
const IGNORED_HF_TENSOR = /^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/;

/** [out, in] of each linear module, as Hugging Face stores its weight. */
export function linearShape(config: ModelConfig, module: LinearModule): [number, number] {
  const { hiddenSize: d, intermediateSize: ff, numHeads, numKvHeads, headDim } = config;
  switch (module) {
    case 'q_proj': return [numHeads * headDim, d];
    case 'k_proj': case 'v_proj': return [numKvHeads * headDim, d];
    case 'o_proj': return [d, numHeads * headDim];
    case 'gate_proj': case 'up_proj': return [ff, d];
    case 'down_proj': return [d, ff];
  }
}

function hasBias(config: ModelConfig, module: LinearModule): boolean {
  if (module === 'o_proj') return config.oBias;
  if (module === 'q_proj' || module === 'k_proj' || module === 'v_proj') return config.qkvBias;
  return config.mlpBias;
}

/** Every tensor a checkpoint of this config holds, with its shape. */
export function hfTensorShapes(config: ModelConfig): Map<string, number[]> {
  const shapes = new Map<string, number[]>([[HF_NAMES.embedTokens, [config.vocabSize, config.hiddenSize]]]);
  for (let i = 0; i < config.numLayers; i++) {
    shapes.set(HF_NAMES.inputNorm(i), [config.hiddenSize]);
    for (const module of LINEAR_MODULES) {
      const shape = linearShape(config, module);
      shapes.set(`${HF_NAMES.linear(i, module)}.weight`, shape);
      if (hasBias(config, module)) shapes.set(`${HF_NAMES.linear(i, module)}.bias`, [shape[0]]);
    }
    shapes.set(HF_NAMES.postAttentionNorm(i), [config.hiddenSize]);
  }
  shapes.set(HF_NAMES.norm, [config.hiddenSize]);
  if (!config.tieWordEmbeddings) shapes.set(HF_NAMES.lmHead, [config.vocabSize, config.hiddenSize]);
  return shapes;
}

/** Exact parameter count of a config: every tensor its checkpoint holds (a tied lm_head counted once). */
export function parameterCount(config: ModelConfig): number {
  let count = 0;
  for (const shape of hfTensorShapes(config).values()) count += shape.reduce((a, b) => a * b, 1);
  return count;
}

export type WeightsErrorCode = 'MISSING_TENSOR' | 'UNEXPECTED_TENSOR' | 'SHAPE_MISMATCH';

export class ModelWeightsError extends Error {
  readonly code: WeightsErrorCode;
  readonly tensor: string;
  constructor(code: WeightsErrorCode, tensor: string, message: string) {
    super(message);
    this.name = 'ModelWeightsError';
    this.code = code;
    this.tensor = tensor;
  }
}

/**
 * Checks one checkpoint tensor against the config before it is converted. Returns false for buffers we ignore
 * (and for lm_head.weight in a tied checkpoint that stores it anyway); throws for unknown names and wrong shapes.
 */
export function checkHfTensor(expected: Map<string, number[]>, name: string, shape: number[]): boolean {
  if (IGNORED_HF_TENSOR.test(name) || (name === HF_NAMES.lmHead && !expected.has(name))) return false;
  const want = expected.get(name);
  if (!want) throw new ModelWeightsError('UNEXPECTED_TENSOR', name, `Checkpoint has a tensor this config does not use: "${name}"`);
  if (want.length !== shape.length || want.some((d, i) => d !== shape[i])) {
    throw new ModelWeightsError('SHAPE_MISMATCH', name, `Tensor "${name}" has shape [${shape}], config expects [${want}]`);
  }
  return true;
}

/** Whether the checkpoint matrix `name` is a linear weight: LlamaWeights holds it transposed, or quantized. */
export function isKernel(config: ModelConfig, name: string): boolean {
  return name.endsWith('_proj.weight') || name === (config.tieWordEmbeddings ? HF_NAMES.embedTokens : HF_NAMES.lmHead);
}

/**
 * Uploads one checkpoint tensor (float32 values in Hugging Face's layout) the way LlamaWeights holds it, a matrix held
 * as a kernel transposed at once. Done tensor by tensor while loading, the transpose's temporary copy is freed before
 * the next tensor arrives and its memory reused (on WASM, whose heap never shrinks, transposing the LM head after
 * everything is loaded would raise the peak by its 113 MB for good).
 */
export function uploadHfTensor(config: ModelConfig, name: string, values: Float32Array, shape: number[]): tf.Tensor {
  const tensor = tf.tensor(values, shape, 'float32');
  if (!isKernel(config, name) || shape.length !== 2) return tensor;
  const kernel = tf.transpose(tensor);
  tensor.dispose();
  return kernel;
}

/**
 * Assembles weights from tensors made by uploadHfTensor (and linear weights kept quantized in `quantizedStore`), keyed
 * by Hugging Face name. Takes ownership of the tensors (all are freed or kept) and of the store. Throws
 * ModelWeightsError if one is missing, unexpected or misshapen.
 */
export function weightsFromHfTensors(
  config: ModelConfig, tensors: Map<string, tf.Tensor | QuantizedMatrix>, quantizedStore: QuantizedWeightStore | null = null,
): LlamaWeights {
  const expected = hfTensorShapes(config);
  for (const [name, tensor] of tensors) {
    const hfShape = tensor instanceof QuantizedMatrix ? [tensor.rows, tensor.columns]
      : isKernel(config, name) && tensor.rank === 2 ? [...tensor.shape].reverse() : tensor.shape;
    if (tensor instanceof QuantizedMatrix && !isKernel(config, name)) {
      throw new ModelWeightsError('SHAPE_MISMATCH', name, `Tensor "${name}" is not a linear weight and cannot stay quantized`);
    }
    if (!checkHfTensor(expected, name, hfShape)) {
      if (tensor instanceof tf.Tensor) tensor.dispose();
      tensors.delete(name);
    }
  }
  const take = <T extends tf.Tensor | QuantizedMatrix>(name: string): T => {
    const tensor = tensors.get(name);
    if (!tensor) throw new ModelWeightsError('MISSING_TENSOR', name, `Checkpoint lacks tensor "${name}"`);
    return tensor as T;
  };
  for (const name of expected.keys()) take(name);
  const layers: DecoderLayer[] = [];
  for (let i = 0; i < config.numLayers; i++) {
    const linear = {} as Record<LinearModule, Linear>;
    for (const module of LINEAR_MODULES) {
      const path = HF_NAMES.linear(i, module);
      linear[module] = { kernel: take<LinearWeight>(`${path}.weight`), bias: hasBias(config, module) ? take<tf.Tensor1D>(`${path}.bias`) : null };
    }
    layers.push({ inputNorm: take(HF_NAMES.inputNorm(i)), postAttentionNorm: take(HF_NAMES.postAttentionNorm(i)), linear });
  }
  return {
    embedTokens: config.tieWordEmbeddings ? null : take<tf.Tensor2D>(HF_NAMES.embedTokens),
    layers,
    norm: take(HF_NAMES.norm),
    lmHead: take<LinearWeight>(config.tieWordEmbeddings ? HF_NAMES.embedTokens : HF_NAMES.lmHead),
    quantizedStore,
  };
}

export interface RandomWeightsOptions {
  seed?: number;
  std?: number;
  /** Keeps the linear weights and the LM head quantized in these ggml formats, multiplied by the WASM kernel. */
  quantize?: { linear: QuantizedFormat; lmHead: QuantizedFormat };
}

/**
 * Deterministic random weights (normal, std 0.02 as transformers' initializer_range; norms at 1, biases random too
 * so tests exercise them). The same seed gives the same model on every backend.
 */
export function initRandomWeights(config: ModelConfig, { seed = 0, std = 0.02, quantize }: RandomWeightsOptions = {}): LlamaWeights {
  const uniform = seededUniform(seed);
  const tensors = new Map<string, tf.Tensor | QuantizedMatrix>();
  const store = quantize ? new QuantizedWeightStore() : null;
  for (const [name, shape] of hfTensorShapes(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const isNorm = name.endsWith('layernorm.weight') || name === HF_NAMES.norm;
    const values = isNorm ? new Float32Array(size).fill(1) : normalArray(size, std, uniform);
    const format = name.endsWith('_proj.weight') ? quantize?.linear : quantize?.lmHead;
    tensors.set(name, store && format && isKernel(config, name) ? store.addFloat32(format, values, shape[0], shape[1]) : uploadHfTensor(config, name, values, shape));
  }
  return weightsFromHfTensors(config, tensors, store);
}

/** A tensor as plain data: what structured clone copies to another thread. */
export interface PlainTensor {
  shape: number[];
  values: Float32Array;
}

/** The shape of LlamaWeights with leaves of type T (layers, linear modules, nulls where the model has none). */
interface WeightTree<T> {
  embedTokens: T | null;
  layers: Array<{ inputNorm: T; postAttentionNorm: T; linear: Record<LinearModule, { kernel: T; bias: T | null }> }>;
  norm: T;
  lmHead: T;
}

/** The same tree with `convert` applied to every leaf (nulls stay null). */
function mapWeightTree<A, B>({ embedTokens, layers, norm, lmHead }: WeightTree<A>, convert: (leaf: A) => B): WeightTree<B> {
  return {
    embedTokens: embedTokens && convert(embedTokens),
    layers: layers.map((layer) => ({
      inputNorm: convert(layer.inputNorm),
      postAttentionNorm: convert(layer.postAttentionNorm),
      linear: Object.fromEntries(LINEAR_MODULES.map((module) => {
        const { kernel, bias } = layer.linear[module];
        return [module, { kernel: convert(kernel), bias: bias && convert(bias) }];
      })) as WeightTree<B>['layers'][number]['linear'],
    })),
    norm: convert(norm),
    lmHead: convert(lmHead),
  };
}

/** LlamaWeights with every tensor as a PlainTensor. */
export type PlainWeights = WeightTree<PlainTensor>;

/** A model as plain data, to build the same model in a Web Worker (LlamaModel.fromPlain); the kernels stay [in, out]. */
export interface PlainModel {
  config: ModelConfig;
  weights: PlainWeights;
}

/** Keys [numKvHeads, headDim, length] (transposed, ready for q·K) and values [numKvHeads, length, headDim] of every layer. */
export class KVCache {
  keys: Array<tf.Tensor3D | null>;
  values: Array<tf.Tensor3D | null>;
  length = 0;
  constructor(numLayers: number) {
    this.keys = new Array(numLayers).fill(null);
    this.values = new Array(numLayers).fill(null);
  }
  /** Appends this step's keys [kv, headDim, T] and values [kv, T, headDim] for one layer (kept outside any tidy); frees the old ones. */
  append(layer: number, keys: tf.Tensor3D, values: tf.Tensor3D): { keys: tf.Tensor3D; values: tf.Tensor3D } {
    const oldKeys = this.keys[layer];
    const oldValues = this.values[layer];
    const allKeys = tf.keep(oldKeys ? tf.concat([oldKeys, keys], 2) : keys.clone());
    const allValues = tf.keep(oldValues ? tf.concat([oldValues, values], 1) : values.clone());
    oldKeys?.dispose();
    oldValues?.dispose();
    this.keys[layer] = allKeys;
    this.values[layer] = allValues;
    return { keys: allKeys, values: allValues };
  }
  /**
   * Keeps the first `length` positions of every layer (a prompt's unchanged prefix) and frees the rest. Also undoes
   * the layers a failed step had already appended to.
   */
  truncate(length: number): void {
    if (!Number.isInteger(length) || length < 0) throw new RangeError(`Cannot truncate a KV cache to ${length} positions`);
    for (let layer = 0; layer < this.keys.length; layer++) {
      const keys = this.keys[layer];
      const values = this.values[layer];
      if (!keys || !values || keys.shape[2] <= length) continue;
      this.keys[layer] = length > 0 ? tf.keep(tf.slice(keys, [0, 0, 0], [-1, -1, length])) : null;
      this.values[layer] = length > 0 ? tf.keep(tf.slice(values, [0, 0, 0], [-1, length, -1])) : null;
      keys.dispose();
      values.dispose();
    }
    this.length = Math.min(this.length, length);
  }

  dispose(): void {
    for (const tensor of [...this.keys, ...this.values]) tensor?.dispose();
    this.keys.fill(null);
    this.values.fill(null);
    this.length = 0;
  }
}

export interface ForwardOptions {
  /** Positions already in the cache come before `ids`; the cache is extended with them. */
  cache?: KVCache;
  /** Applied unmerged: y = xW^T + b + (alpha/r)(xA^T)B^T. Chosen per call; base weights are untouched. */
  lora?: PreparedLora | null;
  /**
   * 'last' computes logits only for the final position (what decoding needs); a number, only for that many final
   * positions (what scoring a continuation needs: the vocabulary projection is most of a short pass's cost).
   */
  logits?: 'all' | 'last' | number;
}

/** cos/sin tables for positions [start, start+count), computed in float32 steps exactly as transformers does. */
function ropeTables(config: ModelConfig, start: number, count: number): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
  const { headDim, ropeTheta } = config;
  const half = headDim / 2;
  const f = Math.fround;
  const inverseFrequency = new Float32Array(half);
  for (let i = 0; i < half; i++) inverseFrequency[i] = f(1 / f(ropeTheta ** f((2 * i) / headDim)));
  const cos = new Float32Array(count * headDim);
  const sin = new Float32Array(count * headDim);
  for (let t = 0; t < count; t++) {
    for (let i = 0; i < half; i++) {
      const angle = f((start + t) * inverseFrequency[i]);
      // emb = cat(freqs, freqs): both halves of the head share the same angles.
      cos[t * headDim + i] = cos[t * headDim + half + i] = Math.cos(angle);
      sin[t * headDim + i] = sin[t * headDim + half + i] = Math.sin(angle);
    }
  }
  return { cos: tf.tensor2d(cos, [count, headDim]), sin: tf.tensor2d(sin, [count, headDim]) };
}

/** x * cos + rotate_half(x) * sin, with rotate_half(x) = cat(-x2, x1) over the last axis. x: [heads, T, headDim]. */
function applyRope(x: tf.Tensor3D, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor3D {
  const [x1, x2] = tf.split(x, 2, 2);
  const rotated = tf.concat([tf.neg(x2), x1], 2);
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin));
}

function rmsNorm(x: tf.Tensor2D, weight: tf.Tensor1D, eps: number): tf.Tensor2D {
  const variance = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(variance, eps))), weight);
}

/**
 * a[h]·b[h] for every kv head h as one 2-D matmul each. tfjs-wasm runs a batched matmul on its own loops, 8-12x
 * slower than the XNNPACK path a 2-D one takes (182 vs 23 ms for [3,384,64]x[3,64,2000]), which made attention
 * dominate long prompts. Only worth it with many query rows: for one decode token the split's copies cost more than
 * the batched matmul (6.8 vs 3.1 ms at 2,000 positions).
 */
function perHeadMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  const bs = tf.unstack(b) as tf.Tensor2D[];
  return tf.stack((tf.unstack(a) as tf.Tensor2D[]).map((head, h) => tf.matMul(head, bs[h]))) as tf.Tensor3D;
}

/** Additive causal mask [T, S] for T new positions after `past` cached ones: query t sees keys s <= past + t. */
function causalMask(past: number, count: number): tf.Tensor2D {
  const total = past + count;
  const mask = new Float32Array(count * total);
  for (let t = 0; t < count; t++) mask.fill(-1e9, t * total + past + t + 1, (t + 1) * total);
  return tf.tensor2d(mask, [count, total]);
}

export class LlamaModel {
  /**
   * One-token steps (decode) use the custom WGSL kernels of webgpuKernels.ts: linear layers with bias and LoRA in one
   * dispatch, RMSNorm, RoPE and SwiGLU in one each, attention in two. On by default on the webgpu backend, where the
   * model's tensors live; tests turn it off to compare with the plain tfjs path. Prompts (several tokens) always take
   * the tfjs path.
   */
  useFusedDecodeKernels = fusedDecodeKernelsAvailable();

  /**
   * Positions per prefill chunk. A chunk's attention scores take heads x chunk x context floats, so this bounds the
   * transient memory of long prompts; too small and the matmuls lose efficiency (bench:runtime measures it).
   */
  prefillChunkTokens = 128;

  /** Prompt attention as one matmul per kv head (see perHeadMatMul); on when the model is built on the WASM backend. */
  splitAttentionMatMuls = tf.getBackend() === 'wasm';

  /** One-token attention by the WASM SIMD kernel (decodeAttention.ts); on when the model is built on the WASM backend. */
  useDecodeAttentionKernel: boolean;

  /** False for a model cut by firstLayers: hidden() returns the last kept layer's output without the final norm. */
  private finalNorm = true;

  constructor(readonly config: ModelConfig, readonly weights: LlamaWeights) {
    this.useDecodeAttentionKernel = tf.getBackend() === 'wasm' && config.headDim % 4 === 0; // the kernel's SIMD rows
  }

  /** A randomly initialised model (see initRandomWeights). */
  static random(config: ModelConfig, options: RandomWeightsOptions = {}): LlamaModel {
    return new LlamaModel(config, initRandomWeights(config, options));
  }

  /** Rebuilds a model that toPlain() copied out, on this thread's backend: the same weights, so the same outputs. */
  static fromPlain({ config, weights }: PlainModel): LlamaModel {
    const made: tf.Tensor[] = [];
    try {
      const tensors = mapWeightTree(weights, ({ shape, values }) => {
        const tensor = tf.tensor(values, shape, 'float32');
        made.push(tensor);
        return tensor;
      });
      // The ranks are those toPlain copied: [in, out] kernels and LM head, vectors for norms and biases.
      return new LlamaModel(config, { ...(tensors as Omit<LlamaWeights, 'quantizedStore'>), quantizedStore: null });
    } catch (error) {
      for (const tensor of made) tensor.dispose();
      throw error;
    }
  }

  /**
   * The same model cut to its first `count` layers, sharing these weights: a repo encoder that reads the hidden state
   * after layer `count` (a hypernetwork config's encoder.layer; training/embed.py --layer). The final norm belongs to
   * the last layer's output, so a cut model's hidden() is the residual stream as it is (all layers: the model itself).
   * For hidden() only. Dispose the full model only; the cut one owns nothing.
   */
  firstLayers(count: number): LlamaModel {
    if (!Number.isInteger(count) || count < 1 || count > this.config.numLayers) {
      throw new RangeError(`the model has layers 1..${this.config.numLayers}, asked for the first ${count}`);
    }
    const cut = new LlamaModel({ ...this.config, numLayers: count }, { ...this.weights, layers: this.weights.layers.slice(0, count) });
    cut.finalNorm = this.finalNorm && count === this.config.numLayers;
    cut.prefillChunkTokens = this.prefillChunkTokens;
    cut.splitAttentionMatMuls = this.splitAttentionMatMuls;
    cut.useFusedDecodeKernels = this.useFusedDecodeKernels;
    cut.useDecodeAttentionKernel = this.useDecodeAttentionKernel;
    return cut;
  }

  /**
   * The model's config and weights as plain arrays (a copy, read synchronously), for fromPlain in another thread.
   * Quantized weights are copied widened to float32 kernels [in, out]: the copy is a float32 model.
   */
  toPlain(): PlainModel {
    return {
      config: this.config,
      weights: mapWeightTree<LinearWeight | tf.Tensor, PlainTensor>(this.weights, (tensor) => (tensor instanceof QuantizedMatrix
        ? { shape: [tensor.columns, tensor.rows], values: tensor.transposedAsFloat32() }
        : { shape: [...tensor.shape], values: tensor.dataSync() as Float32Array })),
    };
  }

  /** Builds the model from one parsed safetensors file or the shards of one; converts tensor by tensor. */
  static fromSafetensors(config: ModelConfig, parsed: ParsedSafetensors | ParsedSafetensors[]): LlamaModel {
    const expected = hfTensorShapes(config);
    const tensors = new Map<string, tf.Tensor>();
    try {
      for (const file of Array.isArray(parsed) ? parsed : [parsed]) {
        for (const [name, entry] of file.tensors) {
          if (checkHfTensor(expected, name, entry.shape)) tensors.set(name, uploadHfTensor(config, name, toFloat32(entry), entry.shape));
        }
      }
      return new LlamaModel(config, weightsFromHfTensors(config, tensors));
    } catch (error) {
      for (const tensor of tensors.values()) tensor.dispose();
      throw error;
    }
  }

  /**
   * Final-norm hidden states [T, hiddenSize] for the new positions `ids` (of a firstLayers cut: its last layer's
   * output). Long inputs run in chunks of `prefillChunkTokens` positions (through a temporary cache when none is
   * given), and each layer's intermediates are freed as soon as the layer is done: peak memory grows with the chunk
   * times the context, not with T^2 x layers.
   */
  hidden(ids: ArrayLike<number>, { cache, lora }: Omit<ForwardOptions, 'logits'> = {}): tf.Tensor2D {
    const count = ids.length;
    if (count === 0) throw new RangeError('forward needs at least one token id');
    const { vocabSize, numLayers } = this.config;
    for (let i = 0; i < count; i++) {
      if (!Number.isInteger(ids[i]) || ids[i] < 0 || ids[i] >= vocabSize) throw new RangeError(`Token id ${ids[i]} is outside the vocabulary (0..${vocabSize - 1})`);
    }
    const chunk = this.prefillChunkTokens;
    const idList = Array.from(ids);
    if (count <= chunk) return this.hiddenChunk(idList, cache, lora);
    const chunkCache = cache ?? new KVCache(numLayers);
    const parts: tf.Tensor2D[] = [];
    try {
      for (let start = 0; start < count; start += chunk) {
        parts.push(this.hiddenChunk(idList.slice(start, start + chunk), chunkCache, lora));
      }
      return tf.concat(parts);
    } finally {
      for (const part of parts) part.dispose();
      if (!cache) chunkCache.dispose();
    }
  }

  /** hidden() for ids that run as one chunk. */
  private hiddenChunk(ids: number[], cache: KVCache | undefined, lora: PreparedLora | null | undefined): tf.Tensor2D {
    const count = ids.length;
    const past = cache?.length ?? 0;
    const { cos, sin } = ropeTables(this.config, past, count);
    const mask = count > 1 ? causalMask(past, count) : null;
    const { embedTokens, lmHead } = this.weights;
    let x = tf.tidy(() => {
      if (!embedTokens && lmHead instanceof QuantizedMatrix) return tf.tensor2d(lmHead.rowsAsFloat32(ids), [count, lmHead.columns]);
      const idTensor = tf.tensor1d(ids, 'int32');
      return (embedTokens ? tf.gather(embedTokens, idTensor) : tf.transpose(tf.gather(lmHead as tf.Tensor2D, idTensor, 1))) as tf.Tensor2D;
    });
    try {
      for (let i = 0; i < this.config.numLayers; i++) {
        const layer = this.weights.layers[i];
        const input = x;
        x = tf.tidy(() => {
          const afterAttention = tf.add(input, this.attention(i, this.rmsNorm(input, layer.inputNorm), { cos, sin, mask, past, cache, lora })) as tf.Tensor2D;
          return tf.add(afterAttention, this.mlp(i, this.rmsNorm(afterAttention, layer.postAttentionNorm), lora)) as tf.Tensor2D;
        });
        input.dispose();
      }
      const output = this.finalNorm ? tf.tidy(() => this.rmsNorm(x, this.weights.norm)) : x.clone();
      if (cache) cache.length = past + count;
      return output;
    } catch (error) {
      cache?.truncate(past); // the layers this chunk reached hold positions the others lack
      throw error;
    } finally {
      x.dispose();
      for (const tensor of [cos, sin, mask]) tensor?.dispose();
    }
  }

  /**
   * Logits [T, vocab] for the new positions (or the last [1, vocab] with `logits: 'last'`, the last [n, vocab] with
   * `logits: n`). With a cache, `ids` continue the cached sequence and the cache grows by ids.length.
   * @example
   * const cache = new KVCache(model.config.numLayers);
   * const prefill = model.forward(promptIds, { cache, logits: 'last' });
   * const next = model.forward([nextId], { cache, lora: adapter });
   */
  forward(ids: ArrayLike<number>, { logits = 'all', ...options }: ForwardOptions = {}): tf.Tensor2D {
    const keep = logits === 'all' ? ids.length : logits === 'last' ? 1 : logits;
    if (typeof logits === 'number' && !(Number.isInteger(logits) && logits >= 1 && logits <= ids.length)) {
      throw new RangeError(`logits: ${logits} is not a count of positions in 1..${ids.length}`);
    }
    const hidden = this.hidden(ids, options);
    return tf.tidy(() => {
      const rows = keep === hidden.shape[0] ? hidden : tf.slice(hidden, [hidden.shape[0] - keep, 0], [keep, -1]);
      const { lmHead } = this.weights;
      const result = this.fused(rows) && !(lmHead instanceof QuantizedMatrix) ? fusedLinear(rows, lmHead, null, null) : multiply(rows, lmHead);
      hidden.dispose();
      return result as tf.Tensor2D;
    });
  }

  /** Whether rows x [T, ...] take the fused WebGPU kernels: only single-token steps, only when enabled. */
  private fused(x: tf.Tensor2D): boolean {
    return this.useFusedDecodeKernels && x.shape[0] === 1;
  }

  private rmsNorm(x: tf.Tensor2D, weight: tf.Tensor1D): tf.Tensor2D {
    return this.fused(x) ? fusedRmsNorm(x, weight, this.config.rmsNormEps) : rmsNorm(x, weight, this.config.rmsNormEps);
  }

  /** y = x W^T + b, plus the adapter's (alpha/r) (x A^T) B^T when it adapts this module of this layer. */
  private linear(layer: number, module: LinearModule, x: tf.Tensor2D, lora: PreparedLora | null | undefined): tf.Tensor2D {
    const { kernel, bias } = this.weights.layers[layer].linear[module];
    if (this.fused(x) && !(kernel instanceof QuantizedMatrix)) return fusedLinear(x, kernel, bias, lora?.layers[layer]?.[module] ?? null);
    const pair = lora?.layers[layer]?.[module];
    // A quantized layer takes its LoRA term from the kernel, in the same call.
    const lowRank = pair && kernel instanceof QuantizedMatrix ? { terms: lowRankTermsOf(lora!), key: `${layer}.${module}` } : undefined;
    let y = multiply(x, kernel, lowRank);
    if (bias) y = tf.add(y, bias) as tf.Tensor2D;
    // down = A^T, up = (alpha/r) B^T, prepared once per adapter.
    if (pair && !lowRank) y = tf.add(y, tf.matMul(tf.matMul(x, pair.down), pair.up)) as tf.Tensor2D;
    return y;
  }

  private attention(
    layer: number,
    x: tf.Tensor2D,
    { cos, sin, mask, past, cache, lora }: {
      cos: tf.Tensor2D; sin: tf.Tensor2D; mask: tf.Tensor2D | null; past: number; cache?: KVCache; lora?: PreparedLora | null;
    },
  ): tf.Tensor2D {
    if (this.fused(x)) return this.decodeAttention(layer, x, { cos, sin, cache, lora });
    const { numHeads, numKvHeads, headDim } = this.config;
    const count = x.shape[0];
    const group = numHeads / numKvHeads;
    const heads = (y: tf.Tensor2D, n: number) => tf.transpose(tf.reshape(y, [count, n, headDim]), [1, 0, 2]) as tf.Tensor3D;
    const q = applyRope(heads(this.linear(layer, 'q_proj', x, lora), numHeads), cos, sin);
    let keys = tf.transpose(applyRope(heads(this.linear(layer, 'k_proj', x, lora), numKvHeads), cos, sin), [0, 2, 1]) as tf.Tensor3D;
    let values = heads(this.linear(layer, 'v_proj', x, lora), numKvHeads);
    if (cache) ({ keys, values } = cache.append(layer, keys, values));
    if (count === 1 && this.useDecodeAttentionKernel) {
      return this.linear(layer, 'o_proj', kernelDecodeAttention(tf.reshape(q, [numHeads, headDim]) as tf.Tensor2D, keys, values), lora);
    }
    const total = past + count;
    // Query head h reads kv head floor(h / group) (transformers' repeat_kv): fold the group into the query rows.
    const queries = tf.reshape(q, [numKvHeads, group * count, headDim]) as tf.Tensor3D;
    const matMul = this.splitAttentionMatMuls && count > 1 ? perHeadMatMul : tf.matMul;
    let scores: tf.Tensor3D = tf.mul(matMul(queries, keys), 1 / Math.sqrt(headDim));
    if (mask) scores = tf.reshape(tf.add(tf.reshape(scores, [numKvHeads, group, count, total]), mask), [numKvHeads, group * count, total]);
    const context = matMul(tf.softmax(scores), values); // [numKvHeads, group*T, headDim]
    const merged = tf.reshape(tf.transpose(tf.reshape(context, [numHeads, count, headDim]), [1, 0, 2]), [count, numHeads * headDim]);
    return this.linear(layer, 'o_proj', merged as tf.Tensor2D, lora);
  }

  /**
   * attention() for one token with the fused kernels. With a single position the head transposes are reshapes (the
   * data is already in [heads, headDim] order), so keys and values reach the cache without a transpose dispatch.
   */
  private decodeAttention(
    layer: number, x: tf.Tensor2D,
    { cos, sin, cache, lora }: { cos: tf.Tensor2D; sin: tf.Tensor2D; cache?: KVCache; lora?: PreparedLora | null },
  ): tf.Tensor2D {
    const { numHeads, numKvHeads, headDim } = this.config;
    const heads = (module: LinearModule, n: number) => tf.reshape(this.linear(layer, module, x, lora), [n, headDim]) as tf.Tensor2D;
    const q = fusedRope(heads('q_proj', numHeads), cos, sin);
    let keys = tf.reshape(fusedRope(heads('k_proj', numKvHeads), cos, sin), [numKvHeads, headDim, 1]) as tf.Tensor3D;
    let values = tf.reshape(heads('v_proj', numKvHeads), [numKvHeads, 1, headDim]) as tf.Tensor3D;
    if (cache) ({ keys, values } = cache.append(layer, keys, values));
    return this.linear(layer, 'o_proj', fusedDecodeAttention(q, keys, values), lora);
  }

  private mlp(layer: number, x: tf.Tensor2D, lora: PreparedLora | null | undefined): tf.Tensor2D {
    const gate = this.linear(layer, 'gate_proj', x, lora);
    const up = this.linear(layer, 'up_proj', x, lora);
    const activated = this.fused(x) ? fusedSwiGlu(gate, up) : tf.mul(tf.mul(gate, tf.sigmoid(gate)), up) as tf.Tensor2D;
    return this.linear(layer, 'down_proj', activated, lora);
  }

  /** Every weight under its Hugging Face name, ready for writeSafetensors (tied lm_head omitted, as transformers saves). */
  async toSafetensorsTensors(dtype: Extract<SafetensorsDtype, 'F32' | 'F16' | 'BF16'> = 'F32'): Promise<Record<string, TensorToWrite>> {
    const out: Record<string, TensorToWrite> = {};
    const add = async (name: string, tensor: tf.Tensor) => {
      out[name] = { dtype, shape: tensor.shape, data: (await tensor.data()) as Float32Array };
    };
    const addTransposed = async (name: string, kernel: LinearWeight) => {
      if (kernel instanceof QuantizedMatrix) {
        out[name] = { dtype, shape: [kernel.rows, kernel.columns], data: kernel.rowsAsFloat32(Array.from({ length: kernel.rows }, (_, r) => r)) };
        return;
      }
      const weight = tf.transpose(kernel);
      await add(name, weight);
      weight.dispose();
    };
    const { embedTokens, layers, norm, lmHead } = this.weights;
    if (embedTokens) await add(HF_NAMES.embedTokens, embedTokens);
    else await addTransposed(HF_NAMES.embedTokens, lmHead);
    for (let i = 0; i < layers.length; i++) {
      await add(HF_NAMES.inputNorm(i), layers[i].inputNorm);
      await add(HF_NAMES.postAttentionNorm(i), layers[i].postAttentionNorm);
      for (const module of LINEAR_MODULES) {
        const { kernel, bias } = layers[i].linear[module];
        await addTransposed(`${HF_NAMES.linear(i, module)}.weight`, kernel);
        if (bias) await add(`${HF_NAMES.linear(i, module)}.bias`, bias);
      }
    }
    await add(HF_NAMES.norm, norm);
    if (embedTokens) await addTransposed(HF_NAMES.lmHead, lmHead);
    return out;
  }

  /** Frees every weight tensor and the quantized weights' memory. */
  dispose(): void {
    const { embedTokens, layers, norm, lmHead, quantizedStore } = this.weights;
    const all = new Set<LinearWeight | tf.Tensor>([norm, lmHead]);
    if (embedTokens) all.add(embedTokens);
    for (const layer of layers) {
      all.add(layer.inputNorm).add(layer.postAttentionNorm);
      for (const { kernel, bias } of Object.values(layer.linear)) {
        all.add(kernel);
        if (bias) all.add(bias);
      }
    }
    for (const tensor of all) if (tensor instanceof tf.Tensor) tensor.dispose();
    quantizedStore?.dispose();
  }
}
