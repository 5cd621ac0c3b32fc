// Loads a trained hypernetwork (hypernetwork_config.json + hypernetwork.safetensors, written by training/export_hypernet.py) from URLs or files, refusing one made for another base model or encoder.
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../model/config.ts';
import { linearShape } from '../model/llama.ts';
import type { ModelFileSource } from '../model/loadHfModel.ts';
import { LORA_MODULES, type LoraModule } from '../model/lora.ts';
import { parseSafetensors, toFloat32, type ParsedSafetensors } from '../model/safetensors.ts';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../util/jsonDepth.ts';
import { ENCODER_SETTINGS } from './encoderSettings.ts';
import { HypernetworkLoadError } from './errors.ts';
import {
  fromStateDict, hypernetworkWeightShapes, type Hypernetwork, type HypernetworkConfig, type HypernetworkKind, type HypernetworkWeights,
} from './hypernetwork.ts';

const HYPERNETWORK_CONFIG_FILE = 'hypernetwork_config.json';
const HYPERNETWORK_WEIGHTS_FILE = 'hypernetwork.safetensors';
/** training/hypernet.py FORMAT and FORMAT_VERSION. */
const FORMAT = 'code2lora-hypernetwork';
const FORMAT_VERSION = 2;

/** The base model a hypernetwork was trained for (config.base_model, transformers' field names). */
interface HypernetworkBaseModel {
  name: string | null;
  sha256: string | null;
  num_hidden_layers: number;
  hidden_size: number;
  intermediate_size: number;
  num_key_value_heads: number;
  head_dim: number;
  vocab_size: number;
}

/** The encoder whose file embeddings a hypernetwork was trained on (config.encoder). */
interface HypernetworkEncoder {
  model: string;
  chunk_tokens: number;
  chunks_per_file: number;
  include_tests: boolean;
  hidden_size: number;
  /** The hidden state read: after this layer of the encoder; absent in the file: the last, final norm included. */
  layer?: number;
}

interface HypernetworkFileConfig {
  kind: HypernetworkKind;
  baseModel: HypernetworkBaseModel;
  encoder: HypernetworkEncoder;
  config: HypernetworkConfig;
}

async function readFile(source: ModelFileSource, name: string): Promise<Uint8Array> {
  const file = await source(name);
  if (file === null || (file instanceof Response && file.status === 404)) {
    throw new HypernetworkLoadError('FILE_NOT_FOUND', name, `The hypernetwork directory has no ${name}`);
  }
  if (file instanceof Response && !file.ok) {
    throw new HypernetworkLoadError('HTTP_ERROR', name, `Fetching ${name} failed: HTTP ${file.status} ${file.statusText}`);
  }
  return file instanceof Uint8Array ? file : new Uint8Array(await file.arrayBuffer());
}

/**
 * Parses and validates hypernetwork_config.json (training/hypernet.py config_json): format, version, every field's
 * type, embedding_size equal to the encoder's hidden size. Errors: HypernetworkLoadError BAD_CONFIG.
 * @example const { config, baseModel, encoder } = parseHypernetworkConfig(text);
 */
function parseHypernetworkConfig(source: string | Uint8Array): HypernetworkFileConfig {
  const bad = (message: string) => new HypernetworkLoadError('BAD_CONFIG', HYPERNETWORK_CONFIG_FILE, `${HYPERNETWORK_CONFIG_FILE}: ${message}`);
  let raw: unknown;
  try {
    raw = JSON.parse(typeof source === 'string' ? source : new TextDecoder().decode(source));
  } catch (error) {
    throw bad(`not valid JSON: ${(error as Error).message}`);
  }
  const object = (value: unknown, where: string): Record<string, unknown> => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad(`"${where}" must be an object`);
    return value as Record<string, unknown>;
  };
  const positive = (from: Record<string, unknown>, key: string, where = key): number => {
    const value = from[key];
    if (!Number.isSafeInteger(value) || (value as number) <= 0) throw bad(`"${where}" must be a positive integer, got ${JSON.stringify(value)}`);
    return value as number;
  };
  const finite = (from: Record<string, unknown>, key: string): number => {
    const value = from[key];
    if (typeof value !== 'number' || !Number.isFinite(value)) throw bad(`"${key}" must be a number, got ${JSON.stringify(value)}`);
    return value;
  };
  const optionalString = (from: Record<string, unknown>, key: string, where: string): string | null => {
    const value = from[key] ?? null;
    if (value !== null && typeof value !== 'string') throw bad(`"${where}" must be a string or null`);
    return value as string | null;
  };
  const json = object(raw, '(top level)');
  if (nestsDeeperThan(json)) throw bad(`nests deeper than ${MAX_JSON_DEPTH} levels`);
  if (json.format !== FORMAT) throw bad(`"format" is ${JSON.stringify(json.format)}, expected "${FORMAT}"`);
  // Version 1 files (no standardize_repo / layer_base) still load: the options are off in them.
  const version = json.format_version;
  if (version !== 1 && version !== FORMAT_VERSION) {
    throw bad(`"format_version" ${JSON.stringify(version)} is not supported (1 or ${FORMAT_VERSION})`);
  }

  // Files written before Evo existed have no "kind": they are Static hypernetworks.
  const kind = json.kind ?? 'code2lora-static';
  if (kind !== 'code2lora-static' && kind !== 'code2lora-evo') throw bad(`"kind" is ${JSON.stringify(kind)}, expected "code2lora-static" or "code2lora-evo"`);
  const base = object(json.base_model, 'base_model');
  const baseModel: HypernetworkBaseModel = {
    name: optionalString(base, 'name', 'base_model.name'),
    sha256: optionalString(base, 'sha256', 'base_model.sha256'),
    num_hidden_layers: positive(base, 'num_hidden_layers', 'base_model.num_hidden_layers'),
    hidden_size: positive(base, 'hidden_size', 'base_model.hidden_size'),
    intermediate_size: positive(base, 'intermediate_size', 'base_model.intermediate_size'),
    num_key_value_heads: positive(base, 'num_key_value_heads', 'base_model.num_key_value_heads'),
    head_dim: positive(base, 'head_dim', 'base_model.head_dim'),
    vocab_size: positive(base, 'vocab_size', 'base_model.vocab_size'),
  };
  const enc = object(json.encoder, 'encoder');
  if (typeof enc.model !== 'string') throw bad('"encoder.model" must be a string');
  if (typeof enc.include_tests !== 'boolean') throw bad('"encoder.include_tests" must be true or false');
  const encoder: HypernetworkEncoder = {
    model: enc.model,
    chunk_tokens: positive(enc, 'chunk_tokens', 'encoder.chunk_tokens'),
    chunks_per_file: positive(enc, 'chunks_per_file', 'encoder.chunks_per_file'),
    include_tests: enc.include_tests,
    hidden_size: positive(enc, 'hidden_size', 'encoder.hidden_size'),
    ...(enc.layer === undefined ? {} : { layer: positive(enc, 'layer', 'encoder.layer') }),
  };

  const rawShapes = object(json.shapes, 'shapes');
  const shapes: Partial<Record<LoraModule, [number, number]>> = {};
  for (const [module, shape] of Object.entries(rawShapes)) {
    if (!LORA_MODULES.includes(module as LoraModule)) throw bad(`"shapes" names an unknown module ${JSON.stringify(module)} (known: ${LORA_MODULES.join(', ')})`);
    if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((d) => Number.isSafeInteger(d) && d > 0)) {
      throw bad(`"shapes.${module}" must be [out, in], got ${JSON.stringify(shape)}`);
    }
    shapes[module as LoraModule] = [shape[0], shape[1]];
  }
  if (Object.keys(shapes).length === 0) throw bad('"shapes" names no module');
  const config: HypernetworkConfig = {
    embeddingSize: positive(json, 'embedding_size'),
    shapes,
    hiddenSize: positive(json, 'hidden_size'),
    rank: positive(json, 'rank'),
    alpha: finite(json, 'alpha'),
    meanWeight: finite(json, 'mean_weight'),
    maxWeight: finite(json, 'max_weight'),
    initLogScale: finite(json, 'init_log_scale'),
  };
  if (version === FORMAT_VERSION) {
    const flag = (key: string): boolean => {
      if (typeof json[key] !== 'boolean') throw bad(`"${key}" must be true or false`);
      return json[key] as boolean;
    };
    config.standardizeRepo = flag('standardize_repo');
    config.layerBase = flag('layer_base');
    if (config.layerBase) {
      config.numLayers = positive(json, 'num_layers');
      if (config.numLayers !== baseModel.num_hidden_layers) {
        throw bad(`"num_layers" ${config.numLayers} differs from base_model.num_hidden_layers ${baseModel.num_hidden_layers}`);
      }
    }
  }
  if (!(config.alpha > 0)) throw bad(`"alpha" must be positive, got ${config.alpha}`);
  if (config.embeddingSize !== encoder.hidden_size) {
    throw bad(`"embedding_size" ${config.embeddingSize} differs from the encoder's hidden size ${encoder.hidden_size}`);
  }
  return { kind, baseModel, encoder, config };
}

/** Refuses a hypernetwork trained for another base model (architecture numbers, and the name when both sides know it). */
function checkBaseModel({ baseModel: trainedFor, config }: HypernetworkFileConfig, model: ModelConfig, name: string | undefined): void {
  const pairs: Array<[string, number | string, number | string]> = [
    ['num_hidden_layers', trainedFor.num_hidden_layers, model.numLayers],
    ['hidden_size', trainedFor.hidden_size, model.hiddenSize],
    ['intermediate_size', trainedFor.intermediate_size, model.intermediateSize],
    ['num_key_value_heads x head_dim', trainedFor.num_key_value_heads * trainedFor.head_dim, model.numKvHeads * model.headDim],
    ['vocab_size', trainedFor.vocab_size, model.vocabSize],
  ];
  if (trainedFor.name !== null && name !== undefined) pairs.push(['name', trainedFor.name.toLowerCase(), name.toLowerCase()]);
  const differing = pairs.filter(([, trained, loaded]) => trained !== loaded);
  if (differing.length > 0) {
    throw new HypernetworkLoadError('BASE_MODEL_MISMATCH', HYPERNETWORK_CONFIG_FILE,
      `This hypernetwork was trained for another base model (${trainedFor.name ?? 'unnamed'}): `
      + differing.map(([field, trained, loaded]) => `${field} ${trained} vs the loaded model's ${loaded}`).join('; '));
  }
  for (const [module, shape] of Object.entries(config.shapes)) {
    const expected = linearShape(model, module as LoraModule);
    if (shape.join(',') !== expected.join(',')) {
      throw new HypernetworkLoadError('BAD_CONFIG', HYPERNETWORK_CONFIG_FILE,
        `${HYPERNETWORK_CONFIG_FILE}: "shapes.${module}" [${shape}] disagrees with base_model's [${expected}]`);
    }
  }
}

/**
 * Refuses a hypernetwork trained on embeddings of another encoder, other encoder settings than ENCODER_SETTINGS, or a
 * layer the encoder lacks. Returns the layer it reads: undefined for the last (the encoder as it is).
 */
function checkEncoder({ encoder }: HypernetworkFileConfig, encoderHiddenSize: number | undefined, encoderLayers: number | undefined): number | undefined {
  const pairs: Array<[string, unknown, unknown]> = [
    ['model', encoder.model, ENCODER_SETTINGS.model],
    ['chunk_tokens', encoder.chunk_tokens, ENCODER_SETTINGS.chunkTokens],
    ['chunks_per_file', encoder.chunks_per_file, ENCODER_SETTINGS.chunksPerFile],
    ['include_tests', encoder.include_tests, ENCODER_SETTINGS.includeTests],
  ];
  if (encoderHiddenSize !== undefined) pairs.push(['hidden_size', encoder.hidden_size, encoderHiddenSize]);
  const differing = pairs.filter(([, trained, ours]) => trained !== ours);
  if (encoderLayers !== undefined && encoder.layer !== undefined && encoder.layer > encoderLayers) {
    differing.push(['layer', encoder.layer, `at most ${encoderLayers}`]);
  }
  if (differing.length > 0) {
    throw new HypernetworkLoadError('ENCODER_MISMATCH', HYPERNETWORK_CONFIG_FILE,
      'This hypernetwork was trained on another encoder: '
      + differing.map(([field, trained, ours]) => `${field} ${JSON.stringify(trained)} vs ours ${JSON.stringify(ours)}`).join('; '));
  }
  return encoder.layer === encoderLayers ? undefined : encoder.layer;
}

function readWeights(bytes: Uint8Array, config: HypernetworkConfig, kind: HypernetworkKind): HypernetworkWeights {
  const bad = (message: string) => new HypernetworkLoadError('BAD_WEIGHTS', HYPERNETWORK_WEIGHTS_FILE, `${HYPERNETWORK_WEIGHTS_FILE}: ${message}`);
  let parsed: ParsedSafetensors;
  try {
    parsed = parseSafetensors(bytes);
  } catch (error) {
    throw bad((error as Error).message);
  }
  const expected = hypernetworkWeightShapes(config, kind);
  const unexpected = [...parsed.tensors.keys()].filter((name) => !expected.has(name));
  if (unexpected.length > 0) throw bad(`tensors the config does not describe: ${unexpected.slice(0, 5).join(', ')}`);
  const values = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const [name, shape] of expected) {
    const entry = parsed.tensors.get(name);
    if (!entry) throw bad(`missing tensor ${name}`);
    if (entry.shape.join(',') !== shape.join(',')) throw bad(`${name} has shape [${entry.shape}], expected [${shape}]`);
    if (!['F32', 'F16', 'BF16'].includes(entry.dtype)) throw bad(`${name} is ${entry.dtype}; float32, float16 or bfloat16 expected`);
    const data = toFloat32(entry);
    if (!data.every(Number.isFinite)) throw bad(`${name} holds NaN or infinite values`);
    values.set(name, { data, shape });
  }
  return fromStateDict(new Map([...values].map(([name, { data, shape }]) => [name, tf.tensor(data, shape, 'float32')])));
}

export interface LoadHypernetworkOptions {
  /** The loaded base model: the hypernetwork must have been trained for it. */
  baseModel: ModelConfig;
  /** The base model's name (its folder under public/models/, e.g. "smollm2-135m-instruct"), when known. */
  baseModelName?: string;
  /** The encoder model's hidden size, when the encoder is loaded. */
  encoderHiddenSize?: number;
  /** The encoder model's number of layers, when the encoder is loaded (a config may read an earlier one). */
  encoderLayers?: number;
}

/**
 * Loads hypernetwork_config.json and hypernetwork.safetensors (float32/float16) from any file source (URLs, picked
 * files, a Node directory) and validates them against each other, the base model and ENCODER_SETTINGS.
 * Errors: HypernetworkLoadError FILE_NOT_FOUND, HTTP_ERROR, BAD_CONFIG, BAD_WEIGHTS, BASE_MODEL_MISMATCH, ENCODER_MISMATCH.
 * @example
 * const hypernetwork = await loadHypernetwork(filesFromUrl('models/smollm2-135m-instruct/code2lora-static/'), { baseModel: model.config });
 */
export async function loadHypernetwork(
  source: ModelFileSource,
  { baseModel, baseModelName, encoderHiddenSize, encoderLayers }: LoadHypernetworkOptions,
): Promise<Hypernetwork> {
  const file = parseHypernetworkConfig(await readFile(source, HYPERNETWORK_CONFIG_FILE));
  checkBaseModel(file, baseModel, baseModelName);
  const encoderLayer = checkEncoder(file, encoderHiddenSize, encoderLayers);
  const weights = readWeights(await readFile(source, HYPERNETWORK_WEIGHTS_FILE), file.config, file.kind);
  return { kind: file.kind, config: file.config, weights, trained: true, ...(encoderLayer === undefined ? {} : { encoderLayer }) };
}
