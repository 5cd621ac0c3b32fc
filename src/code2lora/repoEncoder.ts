// Repo encoder: every non-test Python file -> code-unit chunks -> masked mean of the frozen encoder's hidden states -> one vector per file.
import * as tf from '@tensorflow/tfjs';
import { isPythonPath, isTestPath } from '../git/pathFilters.ts';
import type { TextTokenizer } from '../model/generate.ts';
import type { LlamaModel } from '../model/llama.ts';
import { chunkForEncoder, extractCodeUnits, type CodeUnit } from '../parse/codeUnits.ts';
import type { PythonParser } from '../parse/pythonParser.ts';
import type { ProgressCallback } from '../util/progress.ts';
import { ENCODER_SETTINGS, type EncoderSettings } from './encoderSettings.ts';
import { RepoEncodeError } from './errors.ts';
import type { FileEmbeddingCache } from './fileEmbeddingCache.ts';
import { gitBlobId } from './gitBlobId.ts';

/**
 * The encoder's chunks of one file as token ids: code-unit-aligned chunks of at most `chunkTokens`, the first
 * `chunksPerFile`. The one chunking function: the browser encodes these, cli/hypernet-data.ts writes them for training.
 * `units`: the file's code units when the caller has parsed it already (RepoSession parses each blob once).
 */
export function fileChunkIds(
  content: string,
  parser: PythonParser,
  tokenizer: TextTokenizer,
  { chunkTokens, chunksPerFile }: Pick<EncoderSettings, 'chunkTokens' | 'chunksPerFile'>,
  units: readonly CodeUnit[] = extractCodeUnits(content, parser).units,
): number[][] {
  // Chunking counts the tokens of candidate texts, and a chunk of one piece is one of them: keep the ids of texts that
  // fit a chunk, so that such a chunk is tokenised once. (Texts over the limit are never chunks: keeping them would
  // hold every nested member of a deeply nested file at once.)
  const fitting = new Map<string, number[]>();
  const encode = (text: string) => {
    const kept = fitting.get(text);
    if (kept) return kept;
    const encoded = tokenizer.encode(text);
    if (encoded.length <= chunkTokens) fitting.set(text, encoded);
    return encoded;
  };
  return chunkForEncoder(content, units, { maxTokens: chunkTokens, countTokens: (text) => encode(text).length })
    .slice(0, chunksPerFile)
    .map((chunk) => encode(chunk.text).slice(0, chunkTokens))
    .filter((chunk) => chunk.length > 0);
}

/**
 * One file's embedding from its chunks (fileChunkIds): the mean over chunks of the mean of the encoder's hidden states
 * over each chunk's tokens (training/embed.py embed_chunks), read after `layer` (encoderAt).
 */
export type EmbedFileChunks = (chunks: number[][], layer?: number) => Promise<Float32Array>;

/** The frozen repo encoder (ENCODER_SETTINGS.model) and its tokenizer. */
export interface RepoEncoderModel {
  model: LlamaModel;
  tokenizer: TextTokenizer;
  /**
   * Copies of `model` on other threads (in the app, one Web Worker each: src/app/workers/encoderReplicas.ts), each
   * embedding one file at a time; encodeRepository spreads a snapshot's files over them, so that encoding uses every
   * core. Absent or empty: the files are embedded on this thread, one after another.
   */
  replicas?: readonly EmbedFileChunks[];
}

/** One file's embedding: the mean over its chunks of the masked mean of the encoder's hidden states. */
export interface FileEmbedding {
  path: string;
  /** git's blob id of the content: the cache key. */
  blobId: string;
  embedding: Float32Array;
}

export interface RepoEncoding {
  /** One embedding per encoded file, in the snapshot's order. */
  files: FileEmbedding[];
  /** Tokens the encoder read in this call (files found in the cache cost none). */
  tokens: number;
  /** Files taken from the cache instead of being encoded. */
  cached: number;
}

/**
 * On WebGPU, right-pads ids to a multiple of 64 (repeating the last id): WebGPU compiles shaders per shape, and this
 * bounds the number of distinct shapes. Attention is causal, so the padding cannot change the hidden states of the
 * real tokens. On WASM, which has no per-shape cost, chunks run unpadded: the padding was ~10% of the encoder's work
 * on real repositories (bench:encode).
 */
function padForBackend(ids: number[]): number[] {
  if (tf.getBackend() !== 'webgpu') return ids;
  const length = Math.ceil(ids.length / 64) * 64;
  return ids.concat(new Array<number>(length - ids.length).fill(ids[ids.length - 1]));
}

/**
 * The encoder whose hidden states a hypernetwork reads (its config's encoder.layer): `model` cut after `layer`
 * (LlamaModel.firstLayers, which shares the weights); undefined or the last layer: `model`, final norm included.
 */
export function encoderAt(model: LlamaModel, layer: number | undefined): LlamaModel {
  return layer === undefined || layer === model.config.numLayers ? model : model.firstLayers(layer);
}

/**
 * The namespace of the embeddings a hypernetwork reads: the encoder's (`encoderId`: model and weights), and the layer
 * when it is not the last, so that a cut encoder's vectors and the full one's never mix.
 */
export function encoderCacheId(encoderId: string, layer: number | undefined): string {
  return layer === undefined ? encoderId : `${encoderId}|layer ${layer}`;
}

/** The encoder's name with the layer read when it is not the last: "c2l-base (layer 2 of 4)". */
export function encoderLayerLabel(name: string, model: LlamaModel, layer: number | undefined): string {
  return layer === undefined || layer === model.config.numLayers ? name : `${name} (layer ${layer} of ${model.config.numLayers})`;
}

/**
 * The encoder as a model's two hypernetworks read it: encoderLayerLabel when Static and Evo read the same layer, else
 * both: "c2l-base (Static: layer 2 of 4; Evo: layer 4 of 4)" (the app's default mode may be either).
 */
export function encoderModesLabel(name: string, model: LlamaModel, staticLayer: number | undefined, evoLayer: number | undefined): string {
  const last = model.config.numLayers;
  const [staticRead, evoRead] = [staticLayer ?? last, evoLayer ?? last];
  if (staticRead === evoRead) return encoderLayerLabel(name, model, staticLayer);
  return `${name} (Static: layer ${staticRead} of ${last}; Evo: layer ${evoRead} of ${last})`;
}

/** EmbedFileChunks on this thread, with `model` (a replica runs the same function on its own copy). */
export async function embedFileChunks(chunks: readonly number[][], model: LlamaModel, layer?: number): Promise<Float32Array> {
  const encoder = encoderAt(model, layer);
  const vector = tf.tidy(() => tf.mean(chunkEmbeddings(chunks, encoder), 0));
  const embedding = (await vector.data()) as Float32Array;
  vector.dispose();
  return embedding;
}

/** [N, E]: per chunk, the mean of the encoder's hidden states over its tokens (training/embed.py embed_chunks). */
function chunkEmbeddings(chunks: readonly number[][], model: LlamaModel): tf.Tensor2D {
  return tf.stack(chunks.map((ids) => {
    const padded = padForBackend(ids);
    const hidden = model.hidden(padded);
    return tf.mean(padded.length === ids.length ? hidden : hidden.slice([0, 0], [ids.length, -1]), 0);
  })) as tf.Tensor2D;
}

function countTokens(chunks: readonly number[][]): number {
  return chunks.reduce((sum, ids) => sum + ids.length, 0);
}

/**
 * Evo's diff embedding of a commit from its diffChunkIds chunks, as training/embed.py computes it: [mean over chunks ;
 * max over chunks] of the chunk embeddings ([2E]), read after `layer` (encoderAt). Null for a commit without chunks (no
 * non-test .py/.md/.rst change): the Evo state does not move there.
 * @example const diff = await embedDiff(diffChunkIds(await diffCommit({ fs, dir, commit }), encoder.tokenizer, ENCODER_SETTINGS), encoder, evo.encoderLayer);
 */
export async function embedDiff(
  chunks: readonly number[][],
  encoder: RepoEncoderModel,
  layer?: number,
): Promise<{ embedding: Float32Array; tokens: number } | null> {
  if (chunks.length === 0) return null;
  const model = encoderAt(encoder.model, layer);
  const vector = tf.tidy(() => {
    const embedded = chunkEmbeddings(chunks, model);
    return tf.concat([tf.mean(embedded, 0), tf.max(embedded, 0)]);
  });
  const embedding = (await vector.data()) as Float32Array;
  vector.dispose();
  return { embedding, tokens: countTokens(chunks) };
}

/**
 * Where an encode's time went, summed over files (milliseconds): parsing + chunking + tokenizing, and the encoder's
 * forward passes (with replicas, the time files spent in them, summed: more than the wall time when they overlap).
 */
export interface EncodeTimings {
  chunkMs: number;
  forwardMs: number;
}

export interface EncodeRepositoryOptions {
  /** The snapshot's files; test files, non-Python files and files without code are skipped. */
  files: ReadonlyArray<{ path: string; content: string }>;
  encoder: RepoEncoderModel;
  /** The hidden state read: after this layer (Hypernetwork.encoderLayer); undefined: the last, final norm included. */
  layer?: number;
  parser: PythonParser;
  /** Embeddings by git blob id from earlier snapshots (same encoder and layer: encoderCacheId): not encoded again. */
  cache?: FileEmbeddingCache;
  /** The code units of a file parsed before (RepoSession keeps them by blob id); parsed here when absent. */
  unitsOf?: (file: { path: string; content: string }, blobId: string) => readonly CodeUnit[] | undefined;
  /** Stage `encode`: files done of files to do. */
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  /** Accumulates where the time goes (cli/bench-encode.ts). */
  timings?: EncodeTimings;
}

/**
 * Embeds every non-test Python file of a snapshot (ENCODER_SETTINGS: test files are never encoded), the same files
 * and values as the hypernetwork's training data. Pooling over files is the hypernetwork's job (learned file scores).
 * Errors: RepoEncodeError NO_ENCODABLE_FILES; an AbortError DOMException when `signal` aborts.
 * @example const { files } = await encodeRepository({ files: snapshot.files, encoder, parser, cache });
 */
export async function encodeRepository({ files, encoder, layer, parser, cache, unitsOf, onProgress, signal, timings }: EncodeRepositoryOptions): Promise<RepoEncoding> {
  const candidates = files.filter((file) => isPythonPath(file.path) && !isTestPath(file.path) && file.content.trim().length > 0);
  const found: Array<FileEmbedding | null> = candidates.map(() => null);
  let tokens = 0;
  let cached = 0;
  let done = 0;
  const fileDone = () => onProgress?.({ stage: 'encode', done: ++done, total: candidates.length, unit: 'files' });
  // Each embedder takes one file at a time; the files are chunked here, in order, while the embedders run.
  const idle: EmbedFileChunks[] = encoder.replicas?.length ? [...encoder.replicas] : [(chunks) => embedFileChunks(chunks, encoder.model, layer)];
  const running = new Set<Promise<void>>();
  /** The first error of a file in flight, thrown by the loop (a closure sets it, so it is a list for the type checker). */
  const failures: unknown[] = [];
  const embed = (index: number, blobId: string, chunks: number[][]) => {
    const embedder = idle.pop()!;
    const started = performance.now();
    const job: Promise<void> = embedder(chunks, layer)
      .then(async (embedding) => {
        if (timings) timings.forwardMs += performance.now() - started;
        found[index] = { path: candidates[index].path, blobId, embedding };
        tokens += countTokens(chunks);
        await cache?.set(blobId, embedding);
        fileDone();
      })
      .catch((error: unknown) => {
        failures.push(error);
      })
      .finally(() => {
        idle.push(embedder);
        running.delete(job);
      });
    running.add(job);
  };
  try {
    for (const [index, file] of candidates.entries()) {
      if (signal?.aborted) throw new DOMException('Cancelled', 'AbortError');
      if (failures.length > 0) throw failures[0];
      const blobId = gitBlobId(file.content);
      const hit = await cache?.get(blobId);
      if (hit) {
        found[index] = { path: file.path, blobId, embedding: hit };
        cached++;
        fileDone();
        continue;
      }
      const chunkStarted = performance.now();
      const chunks = fileChunkIds(file.content, parser, encoder.tokenizer, ENCODER_SETTINGS, unitsOf?.(file, blobId));
      if (timings) timings.chunkMs += performance.now() - chunkStarted;
      if (chunks.length === 0) {
        fileDone();
        continue;
      }
      while (idle.length === 0) await Promise.race(running);
      embed(index, blobId, chunks);
      await new Promise((resolve) => setTimeout(resolve, 0)); // let a cancel message reach the worker
    }
  } finally {
    // Nothing runs on after this call: a cancel or an error waits for the files in flight (one per embedder).
    await Promise.all(running);
  }
  if (failures.length > 0) throw failures[0];
  const encoded = found.filter((file): file is FileEmbedding => file !== null);
  if (encoded.length === 0) throw new RepoEncodeError('NO_ENCODABLE_FILES', 'No non-test Python file with code to encode');
  return { files: encoded, tokens, cached };
}
