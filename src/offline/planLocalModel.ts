// Checks a pick of files before it is copied: a Hugging Face model folder (config.json, tokenizer.json, safetensors weights) or one .gguf file, each read only as far as needed (config, headers), with a LocalModelError naming the file at fault.
// It runs in the import worker; what it uses of src/model is tfjs-free (config, safetensors header, GGUF preamble, HF file names), so that worker stays small.
import { ModelConfigError, parseModelConfig } from '../model/config.ts';
import { checkGgufPreamble, GgufError } from '../model/ggufError.ts';
import {
  CONFIG_FILE, INDEX_FILE, MAX_TOKENIZER_BYTES, parseShardIndex, SINGLE_FILE, TOKENIZER_FILE,
} from '../model/hfModelFiles.ts';
import { ModelLoadError } from '../model/modelLoadError.ts';
import { readSafetensorsHeader, safetensorsHeaderLength, SafetensorsError } from '../model/safetensors.ts';
import { formatBytes } from '../util/formatBytes.ts';
import { LocalModelError, pickedPath, type LocalModelPlan } from './localModelStore.ts';

const MAX_CONFIG_BYTES = 1024 * 1024;
const GGUF_FILE = 'model.gguf';

async function readSlice(file: Blob, start: number, end: number): Promise<Uint8Array> {
  return new Uint8Array(await file.slice(start, end).arrayBuffer());
}

/** Throws TRUNCATED or BAD_WEIGHTS unless `file` is a safetensors file whose length is the one its header describes. */
async function checkSafetensors(name: string, file: File): Promise<void> {
  try {
    const dataStart = safetensorsHeaderLength(await readSlice(file, 0, 8));
    const header = readSafetensorsHeader(await readSlice(file, 0, dataStart));
    if (file.size < header.fileByteLength) {
      throw new LocalModelError('TRUNCATED', `${name} is ${formatBytes(file.size)}, less than the ${formatBytes(header.fileByteLength)} its header describes: `
        + 'the file was cut short (an interrupted download or copy). Pick a complete copy.', name);
    }
    if (file.size > header.fileByteLength) {
      throw new LocalModelError('BAD_WEIGHTS', `${name} is ${formatBytes(file.size)}, more than the ${formatBytes(header.fileByteLength)} its header describes`, name);
    }
  } catch (error) {
    if (error instanceof SafetensorsError) throw new LocalModelError('BAD_WEIGHTS', `${name} is not a valid safetensors file: ${error.message}`, name, { cause: error });
    throw error;
  }
}

/**
 * The files of a pick worth copying and the format they make. Errors: LocalModelError NO_FILES, MISSING_FILE,
 * AMBIGUOUS_FILES, TOO_LARGE, BAD_CONFIG, BAD_WEIGHTS, TRUNCATED, NOT_GGUF.
 */
export async function planLocalModel(files: readonly File[]): Promise<LocalModelPlan> {
  if (files.length === 0) throw new LocalModelError('NO_FILES', 'No files were chosen: pick a model folder, or its files, or one .gguf file');
  // A folder pick lists its subfolders' files too (e.g. code2lora-static/model.safetensors): only its top level is the model.
  const topLevel = new Map<string, File>();
  for (const file of files) if (pickedPath(file).split('/').length <= 2) topLevel.set(file.name, file);
  const ggufs = [...topLevel.keys()].filter((name) => /\.gguf$/i.test(name));
  if (!topLevel.has(CONFIG_FILE) && ggufs.length > 0) {
    if (ggufs.length > 1) throw new LocalModelError('AMBIGUOUS_FILES', `Pick one .gguf file, not ${ggufs.length} (${ggufs.join(', ')})`, ggufs[0]);
    const name = ggufs[0];
    const file = topLevel.get(name)!;
    try {
      checkGgufPreamble(await readSlice(file, 0, 8));
    } catch (error) {
      if (error instanceof GgufError) throw new LocalModelError('NOT_GGUF', `${name}: ${error.message}`, name, { cause: error });
      throw error;
    }
    // Kept as model.gguf whatever it was called (any name a file system allows): the model's name is the folder's.
    return { format: 'gguf', files: new Map([[GGUF_FILE, file]]) };
  }

  const need = (name: string, why: string): File => {
    const file = topLevel.get(name);
    if (!file) {
      throw new LocalModelError('MISSING_FILE', `The chosen files have no ${name} (${why}). A Hugging Face model folder holds `
        + `${CONFIG_FILE}, ${TOKENIZER_FILE} and ${SINGLE_FILE} (or shards with ${INDEX_FILE}); a GGUF model is one .gguf file.`, name);
    }
    return file;
  };
  const config = need(CONFIG_FILE, 'the model\'s shape');
  if (config.size > MAX_CONFIG_BYTES) throw new LocalModelError('TOO_LARGE', `${CONFIG_FILE} is ${formatBytes(config.size)}, over the ${formatBytes(MAX_CONFIG_BYTES)} a model config can be`, CONFIG_FILE);
  try {
    parseModelConfig(await readSlice(config, 0, config.size));
  } catch (error) {
    if (error instanceof ModelConfigError) throw new LocalModelError('BAD_CONFIG', `${CONFIG_FILE}: ${error.message}`, CONFIG_FILE, { cause: error });
    throw error;
  }
  const tokenizer = need(TOKENIZER_FILE, 'the tokenizer');
  if (tokenizer.size > MAX_TOKENIZER_BYTES) throw new LocalModelError('TOO_LARGE', `${TOKENIZER_FILE} is ${formatBytes(tokenizer.size)}, over the ${formatBytes(MAX_TOKENIZER_BYTES)} limit`, TOKENIZER_FILE);
  const kept = new Map<string, Blob>([[CONFIG_FILE, config], [TOKENIZER_FILE, tokenizer]]);

  let shards = [SINGLE_FILE];
  if (!topLevel.has(SINGLE_FILE) && topLevel.has(INDEX_FILE)) {
    const index = topLevel.get(INDEX_FILE)!;
    if (index.size > MAX_CONFIG_BYTES * 16) throw new LocalModelError('TOO_LARGE', `${INDEX_FILE} is ${formatBytes(index.size)}, far more than a shard index`, INDEX_FILE);
    try {
      ({ shards } = parseShardIndex(await readSlice(index, 0, index.size)));
    } catch (error) {
      if (error instanceof ModelLoadError) throw new LocalModelError('BAD_WEIGHTS', error.message, INDEX_FILE, { cause: error });
      throw error;
    }
    kept.set(INDEX_FILE, index);
  }
  for (const shard of shards) {
    const file = need(shard, shard === SINGLE_FILE ? 'the weights' : `a shard ${INDEX_FILE} names`);
    await checkSafetensors(shard, file);
    kept.set(shard, file);
  }
  return { format: 'hf', files: kept };
}
