// Hugging Face config.json for LlamaForCausalLM / Qwen2ForCausalLM: parsed, defaulted as transformers does, validated.
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../util/jsonDepth.ts';

export type ModelArchitecture = 'llama' | 'qwen2';

/** Everything the decoder needs, in our names; `toHfConfig` writes it back in transformers' names. */
export interface ModelConfig {
  architecture: ModelArchitecture;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  ropeTheta: number;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;
  /** Bias on q/k/v projections (Qwen2: always; Llama: `attention_bias`). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama's `attention_bias` covers it; Qwen2 never). */
  oBias: boolean;
  /** Bias on gate/up/down (Llama's `mlp_bias`). */
  mlpBias: boolean;
  /** The dtype the checkpoint was saved in; the runtime always computes in float32. */
  torchDtype: 'float32' | 'float16' | 'bfloat16';
  bosTokenId: number | null;
  eosTokenIds: number[];
}

export type ModelConfigErrorCode = 'NOT_JSON' | 'UNSUPPORTED_ARCHITECTURE' | 'MISSING_FIELD' | 'BAD_FIELD' | 'UNSUPPORTED_FEATURE';

export class ModelConfigError extends Error {
  readonly code: ModelConfigErrorCode;
  readonly field?: string;
  constructor(code: ModelConfigErrorCode, message: string, field?: string) {
    super(message);
    this.name = 'ModelConfigError';
    this.code = code;
    this.field = field;
  }
}

const ARCHITECTURES: Record<string, ModelArchitecture> = { LlamaForCausalLM: 'llama', Qwen2ForCausalLM: 'qwen2' };
const MODEL_TYPES: Record<string, ModelArchitecture> = { llama: 'llama', qwen2: 'qwen2' };

function positiveInteger(json: Record<string, unknown>, field: string, fallback?: number): number {
  const value = json[field] ?? fallback;
  if (value === undefined) throw new ModelConfigError('MISSING_FIELD', `config.json has no "${field}"`, field);
  if (!Number.isSafeInteger(value) || (value as number) <= 0) {
    throw new ModelConfigError('BAD_FIELD', `config.json "${field}" must be a positive integer, got ${JSON.stringify(value)}`, field);
  }
  return value as number;
}

function positiveNumber(json: Record<string, unknown>, field: string, fallback: number): number {
  const value = json[field] ?? fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ModelConfigError('BAD_FIELD', `config.json "${field}" must be a positive number, got ${JSON.stringify(value)}`, field);
  }
  return value;
}

function flag(json: Record<string, unknown>, field: string, fallback: boolean): boolean {
  const value = json[field] ?? fallback;
  if (typeof value !== 'boolean') throw new ModelConfigError('BAD_FIELD', `config.json "${field}" must be true or false`, field);
  return value;
}

function tokenIds(value: unknown, field: string): number[] {
  if (value === undefined || value === null) return [];
  const ids = Array.isArray(value) ? value : [value];
  if (!ids.every((id) => Number.isSafeInteger(id) && id >= 0)) {
    throw new ModelConfigError('BAD_FIELD', `config.json "${field}" must be a token id or a list of them`, field);
  }
  return ids as number[];
}

/**
 * Parses config.json (text, bytes or an already-parsed object) for a Llama or Qwen2 causal LM.
 * Defaults follow transformers' LlamaConfig / Qwen2Config. Features the runtime does not implement
 * (rope scaling, sliding window, non-SiLU activations) are refused rather than silently ignored.
 * @example
 * const config = parseModelConfig(await (await fetch(`${base}/config.json`)).text());
 */
export function parseModelConfig(source: string | Uint8Array | object): ModelConfig {
  let json: unknown = source;
  if (typeof source === 'string' || source instanceof Uint8Array) {
    try {
      json = JSON.parse(typeof source === 'string' ? source : new TextDecoder().decode(source));
    } catch (error) {
      throw new ModelConfigError('NOT_JSON', `config.json is not valid JSON: ${(error as Error).message}`);
    }
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new ModelConfigError('NOT_JSON', 'config.json is not a JSON object');
  if (nestsDeeperThan(json)) throw new ModelConfigError('NOT_JSON', `config.json nests deeper than ${MAX_JSON_DEPTH} levels`);
  const c = json as Record<string, unknown>;

  const declared = Array.isArray(c.architectures) ? c.architectures : [];
  // Own keys only: "constructor" or "__proto__" must not name an architecture through Object.prototype.
  const known = (table: Record<string, ModelArchitecture>, name: unknown) => (typeof name === 'string' && Object.hasOwn(table, name) ? table[name] : undefined);
  const architecture = declared.map((name) => known(ARCHITECTURES, name)).find(Boolean)
    ?? (declared.length === 0 ? known(MODEL_TYPES, c.model_type) : undefined);
  if (!architecture) {
    throw new ModelConfigError('UNSUPPORTED_ARCHITECTURE',
      `Unsupported model: architectures ${JSON.stringify(c.architectures)}, model_type ${JSON.stringify(c.model_type)}; supported are LlamaForCausalLM and Qwen2ForCausalLM`);
  }

  const hiddenAct = c.hidden_act ?? 'silu';
  if (hiddenAct !== 'silu') throw new ModelConfigError('UNSUPPORTED_FEATURE', `hidden_act ${JSON.stringify(hiddenAct)} is not supported (only silu)`, 'hidden_act');
  const ropeScaling = c.rope_scaling as Record<string, unknown> | null | undefined;
  const ropeType = ropeScaling?.rope_type ?? ropeScaling?.type;
  if (ropeScaling != null && ropeType !== 'default') {
    throw new ModelConfigError('UNSUPPORTED_FEATURE', `rope_scaling ${JSON.stringify(ropeScaling)} is not supported`, 'rope_scaling');
  }
  if (architecture === 'qwen2' && c.use_sliding_window === true) {
    throw new ModelConfigError('UNSUPPORTED_FEATURE', 'Qwen2 use_sliding_window=true is not supported', 'use_sliding_window');
  }

  const hiddenSize = positiveInteger(c, 'hidden_size');
  const numHeads = positiveInteger(c, 'num_attention_heads');
  const numKvHeads = positiveInteger(c, 'num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw new ModelConfigError('BAD_FIELD', `num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`, 'num_key_value_heads');
  }
  if (c.head_dim == null && hiddenSize % numHeads !== 0) {
    throw new ModelConfigError('BAD_FIELD', `hidden_size (${hiddenSize}) is not divisible by num_attention_heads (${numHeads})`, 'hidden_size');
  }
  const headDim = positiveInteger(c, 'head_dim', c.head_dim == null ? hiddenSize / numHeads : undefined);
  if (headDim % 2 !== 0) throw new ModelConfigError('BAD_FIELD', `head_dim (${headDim}) must be even for rotary embeddings`, 'head_dim');

  // rope_theta moved into rope_parameters in transformers 5; accept both.
  const ropeParameters = c.rope_parameters as Record<string, unknown> | null | undefined;
  if (ropeParameters != null && (ropeParameters.rope_type ?? 'default') !== 'default') {
    throw new ModelConfigError('UNSUPPORTED_FEATURE', `rope_parameters ${JSON.stringify(ropeParameters)} are not supported`, 'rope_parameters');
  }
  const ropeTheta = positiveNumber(ropeParameters ?? c, 'rope_theta', architecture === 'qwen2' ? 1_000_000 : 10_000);

  const torchDtype = (c.torch_dtype ?? c.dtype ?? 'float32') as string;
  if (!['float32', 'float16', 'bfloat16'].includes(torchDtype)) {
    throw new ModelConfigError('UNSUPPORTED_FEATURE', `torch_dtype ${JSON.stringify(torchDtype)} is not supported (float32, float16, bfloat16)`, 'torch_dtype');
  }
  const attentionBias = flag(c, 'attention_bias', false);
  return {
    architecture,
    vocabSize: positiveInteger(c, 'vocab_size'),
    hiddenSize,
    intermediateSize: positiveInteger(c, 'intermediate_size'),
    numLayers: positiveInteger(c, 'num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    ropeTheta,
    rmsNormEps: positiveNumber(c, 'rms_norm_eps', 1e-6),
    tieWordEmbeddings: flag(c, 'tie_word_embeddings', false),
    maxPositionEmbeddings: positiveInteger(c, 'max_position_embeddings', architecture === 'qwen2' ? 32768 : 2048),
    qkvBias: architecture === 'qwen2' ? true : attentionBias,
    oBias: architecture === 'qwen2' ? false : attentionBias,
    mlpBias: architecture === 'qwen2' ? false : flag(c, 'mlp_bias', false),
    torchDtype: torchDtype as ModelConfig['torchDtype'],
    bosTokenId: tokenIds(c.bos_token_id, 'bos_token_id')[0] ?? null,
    eosTokenIds: tokenIds(c.eos_token_id, 'eos_token_id'),
  };
}

/** A config written in transformers' field names, loadable with AutoConfig / from_pretrained. */
export function toHfConfig(config: ModelConfig): Record<string, unknown> {
  const common = {
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numLayers,
    num_attention_heads: config.numHeads,
    num_key_value_heads: config.numKvHeads,
    head_dim: config.headDim,
    hidden_act: 'silu',
    max_position_embeddings: config.maxPositionEmbeddings,
    rms_norm_eps: config.rmsNormEps,
    rope_theta: config.ropeTheta,
    rope_scaling: null,
    tie_word_embeddings: config.tieWordEmbeddings,
    torch_dtype: config.torchDtype,
    bos_token_id: config.bosTokenId,
    eos_token_id: config.eosTokenIds.length === 1 ? config.eosTokenIds[0] : config.eosTokenIds.length ? config.eosTokenIds : null,
    attention_dropout: 0,
    initializer_range: 0.02,
    use_cache: true,
  };
  if (config.architecture === 'qwen2') {
    if (!config.qkvBias || config.oBias || config.mlpBias) {
      throw new ModelConfigError('UNSUPPORTED_FEATURE', 'Qwen2 checkpoints have q/k/v bias and no o/mlp bias; this config cannot be written as Qwen2');
    }
    return { architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', ...common, use_sliding_window: false, sliding_window: null, max_window_layers: config.numLayers };
  }
  if (config.qkvBias !== config.oBias) {
    throw new ModelConfigError('UNSUPPORTED_FEATURE', 'Llama attention_bias covers q/k/v and o together; this config cannot be written as Llama');
  }
  return { architectures: ['LlamaForCausalLM'], model_type: 'llama', ...common, attention_bias: config.qkvBias, mlp_bias: config.mlpBias };
}
