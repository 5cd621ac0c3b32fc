// Node only: loads the optional weights benchmark methods plug in (a hypernetwork, PEFT LoRA adapters), validated.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadHypernetwork } from '../code2lora/loadHypernetwork.ts';
import type { Hypernetwork } from '../code2lora/makeAdapter.ts';
import type { ModelConfig } from '../model/config.ts';
import { filesFromDirectory } from '../model/loadHfModel.ts';
import { importPeftAdapter, type LoraAdapter } from '../model/lora.ts';

export class WeightFileError extends Error {
  constructor(readonly code: 'MISSING_FILE' | 'BAD_CONFIG' | 'BAD_TENSOR', message: string) {
    super(message);
    this.name = 'WeightFileError';
  }
}

/**
 * A trained hypernetwork from a directory written by training/export_hypernet.py (hypernetwork_config.json +
 * hypernetwork.safetensors), refused unless it was trained for this base model and, when `encoder` (its config) is
 * given, for that encoder (src/code2lora/loadHypernetwork.ts).
 */
export async function loadHypernetworkDirectory(directory: string, model: ModelConfig, encoder?: ModelConfig): Promise<Hypernetwork> {
  return loadHypernetwork(filesFromDirectory(directory), { baseModel: model, encoderHiddenSize: encoder?.hiddenSize, encoderLayers: encoder?.numLayers });
}

/** A PEFT adapter directory (adapter_model.safetensors + adapter_config.json) for the base model. */
export async function loadPeftDirectory(directory: string, model: ModelConfig): Promise<LoraAdapter> {
  const weightsPath = join(directory, 'adapter_model.safetensors');
  const configPath = join(directory, 'adapter_config.json');
  for (const path of [configPath, weightsPath]) if (!existsSync(path)) throw new WeightFileError('MISSING_FILE', `missing ${path}`);
  return importPeftAdapter(new Uint8Array(await readFile(weightsPath)), await readFile(configPath, 'utf8'), model);
}

/** A repository's folder under a per-repo directory: `owner/repo` -> `owner__repo` (anything but [\w.@-] -> `__`). */
export const perRepoFolder = (root: string, repo: string): string => join(root, repo.replace(/[^\w.@-]+/g, '__'));

/**
 * A repository's PEFT directory under a `--per-repo-lora` root: ROOT/<repo>, or ROOT/<repo>/adapter, where the
 * benchmark's own trainer puts it (OUT/per-repo-lora), so a trained run's folder can be given back as is.
 */
export function perRepoAdapterDirectory(root: string, repo: string): string {
  const folder = perRepoFolder(root, repo);
  const trained = join(folder, 'adapter');
  return existsSync(join(trained, 'adapter_config.json')) ? trained : folder;
}
