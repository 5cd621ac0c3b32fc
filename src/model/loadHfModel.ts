// Loads a Hugging Face model directory (config.json + model.safetensors or shards) from URLs, File objects or a Node directory.
//
// Weights stream tensor by tensor: each tensor's bytes are widened to float32, uploaded, and dropped, so peak memory is
// the model plus one tensor, not the model plus the file.
import * as tf from '@tensorflow/tfjs';
import { parseModelConfig, type ModelConfig } from './config.ts';
import { checkHfTensor, hfTensorShapes, LlamaModel, uploadHfTensor, weightsFromHfTensors } from './llama.ts';
import { parseSafetensors, SafetensorsError, streamSafetensors, toFloat32, type SafetensorsEntry } from './safetensors.ts';
import { formatBytes } from '../util/formatBytes.ts';
import { BpeTokenizer } from '../tokenizer/bpeTokenizer.ts';
import { fetchModelFile } from './fetchModelFile.ts';
import { ModelLoadError } from './modelLoadError.ts';
import { CONFIG_FILE, INDEX_FILE, MAX_TOKENIZER_BYTES, parseShardIndex, SINGLE_FILE, TOKENIZER_FILE } from './hfModelFiles.ts';

export { ModelLoadError, type ModelLoadErrorCode } from './modelLoadError.ts';

/**
 * Fetches one file of the model directory by name (e.g. "config.json"). Resolves to null (or a 404 Response) when the
 * file does not exist; a Response with a body is streamed.
 */
export type ModelFileSource = (name: string) => Promise<Uint8Array | Response | null>;

export interface LoadProgress {
  stage: 'config' | 'weights' | 'done';
  /** The file being read. */
  file: string;
  /** Tensor bytes read so far (config stage: 0 or 1). */
  loaded: number;
  /** Tensor bytes in all weight files, once known (0 before). */
  total: number;
}

async function openFile(source: ModelFileSource, name: string, required: boolean): Promise<Uint8Array | Response | null> {
  const file = await source(name);
  if (file instanceof Response && !file.ok) {
    if (file.status === 404 && !required) return null;
    throw new ModelLoadError(file.status === 404 ? 'FILE_NOT_FOUND' : 'HTTP_ERROR', name, `Fetching ${name} failed: HTTP ${file.status} ${file.statusText}`);
  }
  if (file === null && required) throw new ModelLoadError('FILE_NOT_FOUND', name, `The model directory has no ${name}`);
  return file;
}

async function readBytes(file: Uint8Array | Response): Promise<Uint8Array> {
  return file instanceof Uint8Array ? file : new Uint8Array(await file.arrayBuffer());
}

/**
 * Loads config.json and the weights (f32/f16/bf16; one file or sharded) into a LlamaModel on the current tfjs backend.
 * Errors: ModelLoadError (missing files, HTTP, bad index), ModelConfigError, SafetensorsError, ModelWeightsError.
 * @example
 * const { model } = await loadHfModel(filesFromUrl('https://example.org/my-model/'), { onProgress: (p) => console.log(p) });
 */
export async function loadHfModel(
  source: ModelFileSource,
  { onProgress, signal, maxHeaderBytes }: { onProgress?: (progress: LoadProgress) => void; signal?: AbortSignal; maxHeaderBytes?: number } = {},
): Promise<{ model: LlamaModel; config: ModelConfig }> {
  signal?.throwIfAborted();
  onProgress?.({ stage: 'config', file: CONFIG_FILE, loaded: 0, total: 1 });
  const config = parseModelConfig(await readBytes((await openFile(source, CONFIG_FILE, true))!));
  onProgress?.({ stage: 'config', file: CONFIG_FILE, loaded: 1, total: 1 });

  // The single file first: most small models have one, and asking for an index they lack costs a 404 on every load.
  const single = await openFile(source, SINGLE_FILE, false);
  let shards = [SINGLE_FILE];
  let total = 0;
  if (!single) {
    const index = await openFile(source, INDEX_FILE, false);
    if (!index) throw new ModelLoadError('FILE_NOT_FOUND', SINGLE_FILE, `The model directory has neither ${SINGLE_FILE} nor ${INDEX_FILE}`);
    ({ shards, totalSize: total } = parseShardIndex(await readBytes(index)));
  }

  const expected = hfTensorShapes(config);
  const tensors = new Map<string, tf.Tensor>();
  let loaded = 0;
  try {
    for (const shard of shards) {
      signal?.throwIfAborted();
      const file = single && shard === SINGLE_FILE ? single : (await openFile(source, shard, true))!;
      const addTensor = (name: string, entry: SafetensorsEntry) => {
        signal?.throwIfAborted();
        if (tensors.has(name)) throw new ModelLoadError('DUPLICATE_TENSOR', shard, `Tensor "${name}" appears in more than one shard`);
        if (checkHfTensor(expected, name, entry.shape)) tensors.set(name, uploadHfTensor(config, name, toFloat32(entry), entry.shape));
        loaded += entry.data.byteLength;
        onProgress?.({ stage: 'weights', file: shard, loaded, total });
      };
      /** Bytes of the streamed file read so far, and the length its header describes (once read). */
      const streamed = { bytes: 0, described: 0 };
      try {
        if (file instanceof Response && file.body) {
          const length = Number(file.headers.get('content-length'));
          const compressed = file.headers.has('content-encoding') && file.headers.get('content-encoding') !== 'identity';
          const known = length > 0 && !compressed ? length : 0;
          await streamSafetensors(file.body, addTensor, {
            maxHeaderBytes,
            onBytes: (bytes) => {
              streamed.bytes = bytes;
            },
            onHeader: (header) => {
              streamed.described = header.fileByteLength;
              // A Content-Length short of the header's length: cut short, said before the rest downloads.
              if (known && known < header.fileByteLength) throw cutShort(shard, known, header.fileByteLength);
              if (known > header.fileByteLength) {
                throw new SafetensorsError('INCOMPLETE_BUFFER', `${shard} is ${known} bytes, more than the ${header.fileByteLength} its header describes`);
              }
              if (shards.length === 1 && !total) total = header.fileByteLength - header.dataStart;
            },
          });
        } else {
          const parsed = parseSafetensors(await readBytes(file), { maxHeaderBytes });
          if (shards.length === 1 && !total) for (const entry of parsed.tensors.values()) total += entry.data.byteLength;
          for (const [name, entry] of parsed.tensors) addTensor(name, entry);
        }
      } catch (error) {
        if (!(error instanceof SafetensorsError) || error.message.startsWith(shard)) throw error;
        // A stream that ends before the length its own header describes was cut short (a compressed answer has no
        // Content-Length to tell it sooner); any other fault is the file's, and named with it.
        if (error.code === 'INCOMPLETE_BUFFER' && streamed.described && streamed.bytes < streamed.described) throw cutShort(shard, streamed.bytes, streamed.described);
        throw new SafetensorsError(error.code, `${shard}: ${error.message}`);
      }
    }
    const model = new LlamaModel(config, weightsFromHfTensors(config, tensors));
    onProgress?.({ stage: 'done', file: '', loaded, total: Math.max(total, loaded) });
    return { model, config };
  } catch (error) {
    for (const tensor of tensors.values()) tensor.dispose();
    throw error;
  }
}

/** A safetensors file that holds fewer bytes than its header describes. */
function cutShort(file: string, bytes: number, described: number): ModelLoadError {
  return new ModelLoadError('TRUNCATED', file, `${file} ended after ${formatBytes(bytes)} of the ${formatBytes(described)} its header describes: `
    + 'the file was cut short, on the server or on its way. Load again to retry.');
}

/**
 * Files under a base URL (trailing slash optional), fetched with `init` (e.g. headers) by fetchModelFile: a transfer cut
 * off, cut short or silent for `stallMs` fails with ModelLoadError naming the file.
 */
export function filesFromUrl(baseUrl: string, { init, signal, stallMs }: { init?: RequestInit; signal?: AbortSignal; stallMs?: number } = {}): ModelFileSource {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  return (name) => fetchModelFile(new URL(name, base), { file: name, init, signal, stallMs });
}

/**
 * The directory's tokenizer.json. Errors: ModelLoadError (absent, HTTP, cut off, larger than 64 MiB), TokenizerLoadError
 * ("tokenizer.json: ...") for a file that is not a tokenizer, e.g. one cut short.
 * @example const tokenizer = await loadTokenizer(filesFromUrl('https://example.org/my-model/'));
 */
export async function loadTokenizer(source: ModelFileSource): Promise<BpeTokenizer> {
  const file = (await openFile(source, TOKENIZER_FILE, true))!;
  const length = file instanceof Response ? Number(file.headers.get('content-length')) : file.byteLength;
  if (length > MAX_TOKENIZER_BYTES) throw new ModelLoadError('HTTP_ERROR', TOKENIZER_FILE, `${TOKENIZER_FILE} is larger than ${MAX_TOKENIZER_BYTES} bytes`);
  return BpeTokenizer.fromJSON(new TextDecoder().decode(await readBytes(file)));
}

/** Files a user picked (e.g. <input type="file" multiple> or a dropped folder), matched by file name. */
export function filesFromFileList(files: Iterable<File>): ModelFileSource {
  const byName = new Map(Array.from(files, (file) => [file.name, file] as const));
  return async (name) => {
    const file = byName.get(name);
    return file ? new Response(file.stream(), { headers: { 'content-length': String(file.size) } }) : null;
  };
}

/** Files in a local directory (Node only), streamed from disk. */
export function filesFromDirectory(directory: string): ModelFileSource {
  return async (name) => {
    const [{ createReadStream }, { stat }, { join }, { Readable }] = await Promise.all([
      import('node:fs'), import('node:fs/promises'), import('node:path'), import('node:stream'),
    ]);
    const path = join(directory, name);
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch {
      return null;
    }
    const body = Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>;
    return new Response(body, { headers: { 'content-length': String(size) } });
  };
}
