// LoRA adapters: the data type, upload for hot-swapping, exact merge/unmerge, and PEFT's on-disk layout (import and export).
//
// Unmerged (default): the decoder adds (alpha/r)(x A^T) B^T next to each adapted projection, so one loaded model
// serves base and any number of adapters; swapping costs one prepareLora (upload + transpose, O(adapter size)). Merged: W + (alpha/r) B A is
// folded in for the fastest decode. Unmerging restores base weights bit for bit because merging keeps the original
// tensors (memory: one extra copy of the adapted matrices while merged) instead of subtracting, which would leave
// float32 rounding error behind.
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from './config.ts';
import { HF_NAMES, LINEAR_MODULES, linearShape, type LinearModule, type LlamaModel } from './llama.ts';
import { QuantizedMatrix } from './quantizedMatMul.ts';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../util/jsonDepth.ts';
import { normalArray, seededUniform } from '../util/random.ts';
import { parseSafetensors, SafetensorsError, toFloat32, writeSafetensors, type TensorToWrite } from './safetensors.ts';

export type LoraModule = LinearModule;
export const LORA_MODULES: readonly LoraModule[] = LINEAR_MODULES;

/** Plain data (transferable to a worker) or a tensor already on the device. */
export type LoraMatrix = Float32Array | tf.Tensor2D;

/** A: [rank, in], B: [out, rank], as PEFT stores lora_A.weight and lora_B.weight. */
export interface LoraPair {
  A: LoraMatrix;
  B: LoraMatrix;
}

export interface LoraAdapter {
  rank: number;
  alpha: number;
  targetModules: LoraModule[];
  /** One entry per decoder layer; a module absent from a layer is left unadapted there. */
  layers: Array<Partial<Record<LoraModule, LoraPair>>>;
}

export type LoraErrorCode = 'BAD_CONFIG' | 'UNSUPPORTED_FEATURE' | 'BAD_KEY' | 'SHAPE_MISMATCH' | 'MISSING_PAIR' | 'NOT_MERGED' | 'BAD_FILE';

export class LoraError extends Error {
  readonly code: LoraErrorCode;
  constructor(code: LoraErrorCode, message: string) {
    super(message);
    this.name = 'LoraError';
    this.code = code;
  }
}

/** The factor PEFT multiplies B A by (no rsLoRA). */
export const loraScale = (adapter: Pick<LoraAdapter, 'rank' | 'alpha'>): number => adapter.alpha / adapter.rank;

function matrixShape(matrix: LoraMatrix): number[] | null {
  return matrix instanceof Float32Array ? null : matrix.shape;
}

/** Checks rank, layer count, modules and every A/B size against the model config; throws LoraError. */
export function validateLoraAdapter(adapter: LoraAdapter, config: ModelConfig): void {
  const { rank, alpha } = adapter;
  if (!Number.isSafeInteger(rank) || rank <= 0) throw new LoraError('BAD_CONFIG', `LoRA rank must be a positive integer, got ${rank}`);
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) throw new LoraError('BAD_CONFIG', `LoRA alpha must be a finite number, got ${alpha}`);
  if (adapter.layers.length > config.numLayers) {
    throw new LoraError('SHAPE_MISMATCH', `Adapter has ${adapter.layers.length} layers, the model ${config.numLayers}`);
  }
  adapter.layers.forEach((modules, layer) => {
    for (const [module, pair] of Object.entries(modules ?? {}) as Array<[string, LoraPair]>) {
      if (!LORA_MODULES.includes(module as LoraModule) || !adapter.targetModules.includes(module as LoraModule)) {
        throw new LoraError('BAD_KEY', `Layer ${layer} adapts "${module}", which is not among the target modules [${adapter.targetModules}]`);
      }
      const [out, inFeatures] = linearShape(config, module as LoraModule);
      for (const [label, matrix, shape] of [['A', pair.A, [rank, inFeatures]], ['B', pair.B, [out, rank]]] as const) {
        const size = shape[0] * shape[1];
        const actual = matrixShape(matrix);
        const ok = actual ? actual.length === 2 && actual[0] === shape[0] && actual[1] === shape[1] : (matrix as Float32Array).length === size;
        if (!ok) {
          throw new LoraError('SHAPE_MISMATCH',
            `Layer ${layer} ${module} lora_${label} should be [${shape}], got ${actual ? `[${actual}]` : `${(matrix as Float32Array).length} values`}`);
        }
      }
    }
  });
}

/**
 * An adapter on the device in the layout the decoder multiplies with: y += (x·down)·up, where down = A^T [in, r] and
 * up = (alpha/r) B^T [r, out] (the scale folded in once, so a step costs two small matmuls and an add per module).
 */
export interface PreparedLora {
  rank: number;
  alpha: number;
  layers: Array<Partial<Record<LoraModule, { down: tf.Tensor2D; up: tf.Tensor2D }>>>;
}

/**
 * Readies an adapter for `forward({ lora })` / `generate({ lora })`: validates it against the model config and moves it
 * to the device. O(adapter size); the adapter itself is not changed. Free the result with disposePreparedLora.
 * @example
 * const prepared = prepareLora(importPeftAdapter(bytes, configJson, model.config), model.config);
 * const adapted = model.forward(ids, { lora: prepared });
 */
export function prepareLora(adapter: LoraAdapter, config: ModelConfig): PreparedLora {
  validateLoraAdapter(adapter, config);
  const scale = loraScale(adapter);
  const layers = adapter.layers.map((modules) => {
    const prepared: PreparedLora['layers'][number] = {};
    for (const [module, pair] of Object.entries(modules ?? {}) as Array<[LoraModule, LoraPair]>) {
      const [out, inFeatures] = linearShape(config, module);
      prepared[module] = tf.tidy(() => ({
        down: tf.transpose(pair.A instanceof Float32Array ? tf.tensor2d(pair.A, [adapter.rank, inFeatures]) : pair.A) as tf.Tensor2D,
        up: tf.mul(tf.transpose(pair.B instanceof Float32Array ? tf.tensor2d(pair.B, [out, adapter.rank]) : pair.B), scale) as tf.Tensor2D,
      }));
    }
    return prepared;
  });
  return { rank: adapter.rank, alpha: adapter.alpha, layers };
}

/** Frees a prepared adapter's tensors. */
export function disposePreparedLora(prepared: PreparedLora): void {
  for (const modules of prepared.layers) {
    for (const { down, up } of Object.values(modules ?? {})) {
      down.dispose();
      up.dispose();
    }
  }
}

/** Frees the tensors of an adapter (Float32Array matrices need nothing). */
export function disposeLoraAdapter(adapter: LoraAdapter): void {
  for (const modules of adapter.layers) {
    for (const pair of Object.values(modules ?? {})) {
      if (!(pair.A instanceof Float32Array)) pair.A.dispose();
      if (!(pair.B instanceof Float32Array)) pair.B.dispose();
    }
  }
}

/** Downloads an adapter's tensors into plain Float32Arrays (for export or transfer). */
export async function loraAdapterToArrays(adapter: LoraAdapter): Promise<LoraAdapter> {
  const toArray = async (matrix: LoraMatrix) => (matrix instanceof Float32Array ? matrix : ((await matrix.data()) as Float32Array));
  const layers: LoraAdapter['layers'] = [];
  for (const modules of adapter.layers) {
    const plain: Partial<Record<LoraModule, LoraPair>> = {};
    for (const [module, pair] of Object.entries(modules ?? {}) as Array<[LoraModule, LoraPair]>) {
      plain[module] = { A: await toArray(pair.A), B: await toArray(pair.B) };
    }
    layers.push(plain);
  }
  return { ...adapter, targetModules: [...adapter.targetModules], layers };
}

/**
 * A random adapter on every layer for the given modules (normal entries of the given std, for A and B alike, so B is
 * non-zero and the adapter changes the logits). Deterministic per seed.
 */
export function randomLoraAdapter(
  config: ModelConfig,
  { rank = 8, alpha = 16, targetModules = [...LORA_MODULES], seed = 0, std = 0.05 }:
    { rank?: number; alpha?: number; targetModules?: LoraModule[]; seed?: number; std?: number } = {},
): LoraAdapter {
  const uniform = seededUniform(seed);
  const layers: LoraAdapter['layers'] = [];
  for (let layer = 0; layer < config.numLayers; layer++) {
    const modules: Partial<Record<LoraModule, LoraPair>> = {};
    for (const module of targetModules) {
      const [out, inFeatures] = linearShape(config, module);
      modules[module] = { A: normalArray(rank * inFeatures, std, uniform), B: normalArray(out * rank, std, uniform) };
    }
    layers.push(modules);
  }
  return { rank, alpha, targetModules: [...targetModules], layers };
}

/** What mergeLora changed, so unmergeLora can put the original tensors back. */
export interface MergedLora {
  adapter: LoraAdapter;
  /** The base kernel of each merged (layer, module), and the merged kernel that replaced it. */
  replaced: Array<{ layer: number; module: LoraModule; base: tf.Tensor2D; merged: tf.Tensor2D }>;
}

/**
 * Folds W + (alpha/r) B A into the model's weights for the fastest decode. The base tensors are kept (not freed) so
 * unmergeLora restores them exactly. Do not also pass the same adapter as `lora` to forward while it is merged.
 */
export function mergeLora(model: LlamaModel, adapter: LoraAdapter): MergedLora {
  adapter.layers.forEach((modules, layer) => {
    for (const module of Object.keys(modules ?? {}) as LoraModule[]) {
      if (model.weights.layers[layer]?.linear[module]?.kernel instanceof QuantizedMatrix) {
        throw new LoraError('UNSUPPORTED_FEATURE', `Layer ${layer} ${module} is quantized: an adapter can only be applied to it unmerged`);
      }
    }
  });
  const prepared = prepareLora(adapter, model.config);
  const replaced: MergedLora['replaced'] = [];
  prepared.layers.forEach((modules, layer) => {
    for (const [module, { down, up }] of Object.entries(modules ?? {}) as Array<[LoraModule, { down: tf.Tensor2D; up: tf.Tensor2D }]>) {
      const linear = model.weights.layers[layer].linear[module];
      const base = linear.kernel as tf.Tensor2D; // not quantized: checked above
      // kernel = W^T, so it gains (alpha/r) (B A)^T = A^T (alpha/r) B^T = down·up.
      const merged = tf.tidy(() => tf.add(base, tf.matMul(down, up)) as tf.Tensor2D);
      replaced.push({ layer, module, base, merged });
      linear.kernel = merged;
    }
  });
  disposePreparedLora(prepared);
  return { adapter, replaced };
}

/** Puts back the exact base weights that mergeLora replaced and frees the merged ones. */
export function unmergeLora(model: LlamaModel, merged: MergedLora): void {
  for (const { layer, module, merged: mergedWeight } of merged.replaced) {
    if (model.weights.layers[layer].linear[module].kernel !== mergedWeight) {
      throw new LoraError('NOT_MERGED', `Layer ${layer} ${module} no longer holds this merge (merged twice, or already unmerged?)`);
    }
  }
  for (const { layer, module, base, merged: mergedWeight } of merged.replaced) {
    model.weights.layers[layer].linear[module].kernel = base;
    mergedWeight.dispose();
  }
  merged.replaced.length = 0;
}

const peftKey = (layer: number, module: LoraModule, which: 'A' | 'B') => `base_model.model.${HF_NAMES.linear(layer, module)}.lora_${which}.weight`;
const PEFT_KEY = /^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.([a-z_]+)\.lora_(A|B)\.weight$/;

export interface PeftAdapterConfig {
  peft_type: 'LORA';
  task_type: 'CAUSAL_LM';
  r: number;
  lora_alpha: number;
  target_modules: LoraModule[];
  base_model_name_or_path: string;
  lora_dropout: 0;
  bias: 'none';
  fan_in_fan_out: false;
  inference_mode: true;
  use_rslora: false;
  use_dora: false;
  init_lora_weights: true;
  modules_to_save: null;
  layers_to_transform: null;
  rank_pattern: Record<string, never>;
  alpha_pattern: Record<string, never>;
}

/**
 * Writes an adapter as PEFT saves one: adapter_model.safetensors (float32) and adapter_config.json, loadable with
 * `PeftModel.from_pretrained(base_model, dir)`.
 * @example
 * const { safetensors, adapterConfig } = await exportPeftAdapter(adapter, { baseModelNameOrPath: 'Qwen/Qwen2.5-Coder-1.5B' });
 */
export async function exportPeftAdapter(
  adapter: LoraAdapter, { baseModelNameOrPath = '' }: { baseModelNameOrPath?: string } = {},
): Promise<{ safetensors: Uint8Array; adapterConfig: PeftAdapterConfig }> {
  const plain = await loraAdapterToArrays(adapter);
  const tensors: Record<string, TensorToWrite> = {};
  plain.layers.forEach((modules, layer) => {
    for (const [module, pair] of Object.entries(modules ?? {}) as Array<[LoraModule, LoraPair]>) {
      const A = pair.A as Float32Array;
      const B = pair.B as Float32Array;
      tensors[peftKey(layer, module, 'A')] = { dtype: 'F32', shape: [adapter.rank, A.length / adapter.rank], data: A };
      tensors[peftKey(layer, module, 'B')] = { dtype: 'F32', shape: [B.length / adapter.rank, adapter.rank], data: B };
    }
  });
  const adapterConfig: PeftAdapterConfig = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: adapter.rank,
    lora_alpha: adapter.alpha,
    target_modules: [...adapter.targetModules].sort(),
    base_model_name_or_path: baseModelNameOrPath,
    lora_dropout: 0,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    use_rslora: false,
    use_dora: false,
    init_lora_weights: true,
    modules_to_save: null,
    layers_to_transform: null,
    rank_pattern: {},
    alpha_pattern: {},
  };
  return { safetensors: writeSafetensors(tensors, { format: 'pt' }), adapterConfig };
}

function parseAdapterConfig(configJson: string | Uint8Array | object): { rank: number; alpha: number; targetModules: LoraModule[] } {
  let json: unknown = configJson;
  if (typeof configJson === 'string' || configJson instanceof Uint8Array) {
    try {
      json = JSON.parse(typeof configJson === 'string' ? configJson : new TextDecoder().decode(configJson));
    } catch (error) {
      throw new LoraError('BAD_CONFIG', `adapter_config.json is not valid JSON: ${(error as Error).message}`);
    }
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new LoraError('BAD_CONFIG', 'adapter_config.json is not a JSON object');
  if (nestsDeeperThan(json)) throw new LoraError('BAD_CONFIG', `adapter_config.json nests deeper than ${MAX_JSON_DEPTH} levels`);
  const c = json as Record<string, unknown>;
  if (c.peft_type !== 'LORA') throw new LoraError('UNSUPPORTED_FEATURE', `peft_type ${JSON.stringify(c.peft_type)} is not supported (LORA only)`);
  const unsupported: Array<[boolean, string]> = [
    [c.use_rslora === true, 'use_rslora'],
    [c.use_dora === true, 'use_dora'],
    [c.fan_in_fan_out === true, 'fan_in_fan_out'],
    [c.bias != null && c.bias !== 'none', `bias ${JSON.stringify(c.bias)}`],
    [Array.isArray(c.modules_to_save) && c.modules_to_save.length > 0, 'modules_to_save'],
    [c.rank_pattern != null && Object.keys(c.rank_pattern as object).length > 0, 'rank_pattern'],
    [c.alpha_pattern != null && Object.keys(c.alpha_pattern as object).length > 0, 'alpha_pattern'],
    [typeof c.target_modules === 'string', 'a regular expression in target_modules'],
  ];
  for (const [present, feature] of unsupported) {
    if (present) throw new LoraError('UNSUPPORTED_FEATURE', `adapter_config.json uses ${feature}, which this runtime does not support`);
  }
  const rank = c.r;
  if (!Number.isSafeInteger(rank) || (rank as number) <= 0) throw new LoraError('BAD_CONFIG', `adapter_config.json "r" must be a positive integer, got ${JSON.stringify(rank)}`);
  const alpha = c.lora_alpha ?? 8; // PEFT's default
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) throw new LoraError('BAD_CONFIG', `adapter_config.json "lora_alpha" must be a number`);
  const targets = c.target_modules;
  if (!Array.isArray(targets) || targets.length === 0) throw new LoraError('BAD_CONFIG', 'adapter_config.json "target_modules" must be a non-empty list');
  for (const target of targets) {
    if (!LORA_MODULES.includes(target)) {
      throw new LoraError('UNSUPPORTED_FEATURE', `target module ${JSON.stringify(target)} is not supported (${LORA_MODULES.join(', ')})`);
    }
  }
  return { rank: rank as number, alpha, targetModules: [...new Set(targets as LoraModule[])] };
}

/**
 * Reads a PEFT LoRA adapter (adapter_model.safetensors bytes + adapter_config.json) for a model with `modelConfig`,
 * checking every key and shape. Matrices come back as Float32Arrays (f16/bf16 files are widened).
 */
export function importPeftAdapter(bytes: Uint8Array, configJson: string | Uint8Array | object, modelConfig: ModelConfig): LoraAdapter {
  const { rank, alpha, targetModules } = parseAdapterConfig(configJson);
  let parsed;
  try {
    parsed = parseSafetensors(bytes);
  } catch (error) {
    if (error instanceof SafetensorsError) throw new LoraError('BAD_FILE', `adapter_model.safetensors: ${error.message}`);
    throw error;
  }
  const layers: Array<Partial<Record<LoraModule, Partial<LoraPair>>>> = Array.from({ length: modelConfig.numLayers }, () => ({}));
  for (const [name, entry] of parsed.tensors) {
    const match = PEFT_KEY.exec(name);
    const layer = match ? Number(match[1]) : -1;
    const module = match?.[3] as LoraModule;
    if (!match || !targetModules.includes(module) || layer >= modelConfig.numLayers || name !== peftKey(layer, module, match[4] as 'A' | 'B')) {
      throw new LoraError('BAD_KEY', `Unexpected tensor "${name}" in a LoRA adapter for this ${modelConfig.numLayers}-layer model with targets [${targetModules}]`);
    }
    if (!['F32', 'F16', 'BF16'].includes(entry.dtype)) throw new LoraError('BAD_FILE', `Tensor "${name}" has dtype ${entry.dtype}; expected F32, F16 or BF16`);
    const [out, inFeatures] = linearShape(modelConfig, module);
    const expected = match[4] === 'A' ? [rank, inFeatures] : [out, rank];
    if (entry.shape.length !== 2 || entry.shape[0] !== expected[0] || entry.shape[1] !== expected[1]) {
      throw new LoraError('SHAPE_MISMATCH', `Tensor "${name}" has shape [${entry.shape}], expected [${expected}] (r=${rank})`);
    }
    (layers[layer][module] ??= {})[match[4] as 'A' | 'B'] = toFloat32(entry);
  }
  layers.forEach((modules, layer) => {
    for (const [module, pair] of Object.entries(modules)) {
      if (!pair.A || !pair.B) throw new LoraError('MISSING_PAIR', `Layer ${layer} ${module} has lora_${pair.A ? 'A' : 'B'} but not lora_${pair.A ? 'B' : 'A'}`);
    }
  });
  return { rank, alpha, targetModules, layers: layers as LoraAdapter['layers'] };
}
