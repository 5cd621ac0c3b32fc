// Repo encoder: files -> unit-aligned chunks -> masked-mean hidden states of the frozen LM -> [0.6·mean ; 1.4·max] over files.
import * as tf from '@tensorflow/tfjs';
import type { TextTokenizer } from '../model/generate.ts';
import type { LlamaModel } from '../model/llama.ts';
import { chunkForEncoder, extractCodeUnits } from '../parse/codeUnits.ts';
import type { PythonParser } from '../parse/pythonParser.ts';

export interface EncodeBudget {
  /** Tokens per chunk (the paper uses 4096 with a 0.6B encoder; our small LM sees far shorter windows). */
  chunkTokens: number;
  /** Chunks read per file at most (files are mean-pooled over their chunks). */
  chunksPerFile: number;
  /** Total tokens read for the whole repository: the encoder's cost bound in the browser. */
  totalTokens: number;
}

export const DEFAULT_ENCODE_BUDGET: EncodeBudget = { chunkTokens: 256, chunksPerFile: 4, totalTokens: 16_384 };

/** The encoder's chunks of one file as token ids: code-unit-aligned chunks of at most `chunkTokens`, the first `chunksPerFile`. */
export function fileChunkIds(
  content: string,
  parser: PythonParser,
  tokenizer: TextTokenizer,
  { chunkTokens, chunksPerFile }: Pick<EncodeBudget, 'chunkTokens' | 'chunksPerFile'>,
): number[][] {
  const { units } = extractCodeUnits(content, parser);
  return chunkForEncoder(content, units, { maxTokens: chunkTokens, countTokens: (text) => tokenizer.encode(text).length })
    .slice(0, chunksPerFile)
    .map((chunk) => tokenizer.encode(chunk.text).slice(0, chunkTokens))
    .filter((ids) => ids.length > 0);
}

export interface RepoEmbedding {
  /** [0.6 · mean over files ; 1.4 · max over files], length 2·hiddenSize (the paper's weighting). */
  vector: Float32Array;
  files: number;
  tokens: number;
}

/**
 * Right-pads ids to a multiple of 64 (repeating the last id). Attention is causal, so the padding cannot change the
 * hidden states of the real tokens; it bounds the number of distinct shapes, and WebGPU compiles shaders per shape.
 */
function padToBucket(ids: number[]): number[] {
  const length = Math.ceil(ids.length / 64) * 64;
  return ids.concat(new Array<number>(length - ids.length).fill(ids[ids.length - 1]));
}

export class RepoEncodeError extends Error {
  readonly code = 'NoEncodableFiles';
  constructor(message: string) {
    super(message);
    this.name = 'RepoEncodeError';
  }
}

export interface EncodeRepositoryOptions {
  files: ReadonlyArray<{ path: string; content: string }>;
  model: LlamaModel;
  tokenizer: TextTokenizer;
  parser: PythonParser;
  budget?: EncodeBudget;
  /** Files done of files to do. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/**
 * Embeds a repository snapshot with the base LM. The paper learns per-file weights; until a trained file scorer
 * ships, files are weighted uniformly. Files are taken in path order until the token budget is spent, so the
 * embedding is deterministic for a snapshot.
 */
export async function encodeRepository({
  files,
  model,
  tokenizer,
  parser,
  budget = DEFAULT_ENCODE_BUDGET,
  onProgress,
  signal,
}: EncodeRepositoryOptions): Promise<RepoEmbedding> {
  const fileVectors: tf.Tensor1D[] = [];
  let tokens = 0;
  const candidates = files.filter((f) => f.content.trim().length > 0);
  try {
    for (const [index, file] of candidates.entries()) {
      if (signal?.aborted) throw new DOMException('Cancelled', 'AbortError');
      if (tokens >= budget.totalTokens) break;
      const { units } = extractCodeUnits(file.content, parser);
      const chunks = chunkForEncoder(file.content, units, {
        maxTokens: budget.chunkTokens,
        countTokens: (text) => tokenizer.encode(text).length,
      }).slice(0, budget.chunksPerFile);
      const chunkVectors: tf.Tensor1D[] = [];
      for (const chunk of chunks) {
        const remaining = budget.totalTokens - tokens;
        const ids = tokenizer.encode(chunk.text).slice(0, Math.min(budget.chunkTokens, remaining));
        if (ids.length === 0) continue;
        tokens += ids.length;
        chunkVectors.push(tf.tidy(() => tf.mean(model.hidden(padToBucket(ids)).slice([0, 0], [ids.length, -1]), 0) as tf.Tensor1D));
      }
      if (chunkVectors.length > 0) {
        fileVectors.push(tf.tidy(() => tf.mean(tf.stack(chunkVectors), 0) as tf.Tensor1D));
        chunkVectors.forEach((t) => t.dispose());
      }
      onProgress?.(index + 1, candidates.length);
      await new Promise((resolve) => setTimeout(resolve, 0)); // let a cancel message reach the worker
    }
    if (fileVectors.length === 0) throw new RepoEncodeError('No Python file with content to encode');
    const vector = tf.tidy(() => {
      const stacked = tf.stack(fileVectors);
      return tf.concat([tf.mul(tf.mean(stacked, 0), 0.6), tf.mul(tf.max(stacked, 0), 1.4)]);
    });
    const data = (await vector.data()) as Float32Array;
    vector.dispose();
    return { vector: data, files: fileVectors.length, tokens };
  } finally {
    fileVectors.forEach((t) => t.dispose());
  }
}
