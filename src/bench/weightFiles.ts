// Node only: loads the optional weights benchmark methods plug in (a hypernetwork, PEFT LoRA adapters), validated.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { HypernetworkConfig } from '../code2lora/hypernetwork.ts';
import type { Hypernetwork } from '../code2lora/makeAdapter.ts';
import type { ModelConfig } from '../model/config.ts';
import { linearShape } from '../model/llama.ts';
import { importPeftAdapter, LORA_MODULES, type LoraAdapter, type LoraModule } from '../model/lora.ts';
import { parseSafetensors, toFloat32 } from '../model/safetensors.ts';

export class WeightFileError extends Error {
  constructor(readonly code: 'MISSING_FILE' | 'BAD_CONFIG' | 'BAD_TENSOR', message: string) {
    super(message);
    this.name = 'WeightFileError';
  }
}

export const HYPERNETWORK_CONFIG_FILE = 'hypernetwork_config.json';
export const HYPERNETWORK_WEIGHTS_FILE = 'hypernetwork.safetensors';

function expectedHypernetworkShapes(config: HypernetworkConfig, model: ModelConfig): Map<string, number[]> {
  const { embeddingSize: e, hiddenSize: h, rank } = config;
  const shapes = new Map<string, number[]>([
    ['trunk.0.weight', [h, e]], ['trunk.0.bias', [h]], ['trunk.2.weight', [h, h]], ['trunk.2.bias', [h]],
  ]);
  for (const module of config.targetModules) {
    const [out, inSize] = linearShape(model, module);
    for (const part of ['A', 'B'] as const) {
      const size = part === 'A' ? rank * inSize : out * rank;
      shapes.set(`heads.${module}.${part}.weight`, [size, h]);
      shapes.set(`heads.${module}.${part}.bias`, [size]);
      shapes.set(`log_scale.${module}.${part}`, []);
    }
  }
  return shapes;
}

function parseHypernetworkConfig(text: string, where: string): HypernetworkConfig {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new WeightFileError('BAD_CONFIG', `${where}: not JSON`);
  }
  const positive = (key: string) => {
    const value = raw[key];
    if (typeof value !== 'number' || !(value > 0)) throw new WeightFileError('BAD_CONFIG', `${where}: "${key}" must be a positive number`);
    return value;
  };
  const modules = raw.target_modules;
  if (!Array.isArray(modules) || modules.length === 0 || modules.some((m) => !LORA_MODULES.includes(m as LoraModule))) {
    throw new WeightFileError('BAD_CONFIG', `${where}: "target_modules" must list modules among ${LORA_MODULES.join(', ')}`);
  }
  return {
    embeddingSize: positive('embedding_size'), hiddenSize: positive('hidden_size'), rank: positive('rank'), alpha: positive('alpha'),
    targetModules: modules as LoraModule[],
  };
}

/**
 * A trained hypernetwork from a directory holding hypernetwork_config.json ({embedding_size, hidden_size, rank, alpha,
 * target_modules}) and hypernetwork.safetensors (names as the PyTorch side writes them: trunk.0, trunk.2,
 * heads.<module>.<A|B>, log_scale.<module>.<A|B>); every tensor is checked against the base model's shapes.
 */
export async function loadHypernetworkDirectory(directory: string, model: ModelConfig): Promise<Hypernetwork> {
  const configPath = join(directory, HYPERNETWORK_CONFIG_FILE);
  const weightsPath = join(directory, HYPERNETWORK_WEIGHTS_FILE);
  for (const path of [configPath, weightsPath]) if (!existsSync(path)) throw new WeightFileError('MISSING_FILE', `missing ${path}`);
  const config = parseHypernetworkConfig(await readFile(configPath, 'utf8'), configPath);
  if (config.embeddingSize !== 2 * model.hiddenSize) {
    throw new WeightFileError('BAD_CONFIG', `${configPath}: embedding_size ${config.embeddingSize} != 2 x the base model's hidden size ${model.hiddenSize}`);
  }
  const parsed = parseSafetensors(new Uint8Array(await readFile(weightsPath)));
  const expected = expectedHypernetworkShapes(config, model);
  const weights = new Map<string, tf.Tensor>();
  for (const [name, shape] of expected) {
    const entry = parsed.tensors.get(name);
    if (!entry) throw new WeightFileError('BAD_TENSOR', `${weightsPath}: missing tensor ${name}`);
    if (entry.shape.join(',') !== shape.join(',')) {
      throw new WeightFileError('BAD_TENSOR', `${weightsPath}: ${name} has shape [${entry.shape}], expected [${shape}]`);
    }
    weights.set(name, tf.tensor(toFloat32(entry), shape));
  }
  return { config, weights, trained: true };
}

/** A PEFT adapter directory (adapter_model.safetensors + adapter_config.json) for the base model. */
export async function loadPeftDirectory(directory: string, model: ModelConfig): Promise<LoraAdapter> {
  const weightsPath = join(directory, 'adapter_model.safetensors');
  const configPath = join(directory, 'adapter_config.json');
  for (const path of [configPath, weightsPath]) if (!existsSync(path)) throw new WeightFileError('MISSING_FILE', `missing ${path}`);
  return importPeftAdapter(new Uint8Array(await readFile(weightsPath)), await readFile(configPath, 'utf8'), model);
}

/** Directory name of a repository's adapter under a per-repo directory: `owner/repo` -> `owner__repo`. */
export function perRepoAdapterDirectory(root: string, repo: string): string {
  return join(root, repo.replaceAll('/', '__'));
}
