// The files of a Hugging Face model directory: their names, and the shard index's parser. No tfjs here: the page's import worker checks a picked folder with them without loading the model code.
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../util/jsonDepth.ts';
import { ModelLoadError } from './modelLoadError.ts';

/** The file names a Hugging Face model directory holds (the weights: one file, or shards named by the index). */
export const CONFIG_FILE = 'config.json';
export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';
export const TOKENIZER_FILE = 'tokenizer.json';
/** The largest tokenizer.json read (real ones are a few MiB). */
export const MAX_TOKENIZER_BYTES = 64 * 1024 * 1024;

/** The shard files named by model.safetensors.index.json, in first-use order, and its declared tensor byte total. */
export function parseShardIndex(bytes: Uint8Array): { shards: string[]; totalSize: number } {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new ModelLoadError('BAD_INDEX', INDEX_FILE, `${INDEX_FILE} is not valid JSON: ${(error as Error).message}`);
  }
  if (nestsDeeperThan(json)) throw new ModelLoadError('BAD_INDEX', INDEX_FILE, `${INDEX_FILE} nests deeper than ${MAX_JSON_DEPTH} levels`);
  const weightMap = (json as { weight_map?: unknown } | null)?.weight_map;
  if (weightMap === null || typeof weightMap !== 'object' || Array.isArray(weightMap)) {
    throw new ModelLoadError('BAD_INDEX', INDEX_FILE, `${INDEX_FILE} has no "weight_map" object`);
  }
  const shards: string[] = [];
  for (const [tensor, file] of Object.entries(weightMap as Record<string, unknown>)) {
    // Shard names are plain file names in the same directory; anything else could reach outside it.
    if (typeof file !== 'string' || !/^[\w.-]+\.safetensors$/.test(file) || file.startsWith('.')) {
      throw new ModelLoadError('BAD_INDEX', INDEX_FILE, `${INDEX_FILE} maps "${tensor}" to an invalid shard name ${JSON.stringify(file)}`);
    }
    if (!shards.includes(file)) shards.push(file);
  }
  if (shards.length === 0) throw new ModelLoadError('BAD_INDEX', INDEX_FILE, `${INDEX_FILE} lists no shards`);
  const totalSize = Number((json as { metadata?: { total_size?: unknown } }).metadata?.total_size);
  return { shards, totalSize: Number.isSafeInteger(totalSize) && totalSize > 0 ? totalSize : 0 };
}
