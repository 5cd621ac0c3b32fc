// Text generation: prefill the prompt into a KV cache in chunks, then decode one token at a time (greedy or seeded top-p sampling).
import * as tf from '@tensorflow/tfjs';
import { KVCache, type LlamaModel } from './llama.ts';
import { disposePreparedLora, prepareLora, type LoraAdapter, type PreparedLora } from './lora.ts';
import type { PromptCache } from './promptCache.ts';
import { seededUniform } from '../util/random.ts';

/** What generation needs from a tokenizer (src/tokenizer's tokenizer satisfies it). */
export interface TextTokenizer {
  /** With special tokens (the model's prefix and suffix, if it has any) unless told otherwise. */
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  decode(ids: number[]): string;
}

export interface GeneratedToken {
  id: number;
  /** 0-based position among the generated tokens. */
  index: number;
  /** Text that became final with this token (held back while it could still be part of a stop sequence or a split UTF-8 character). */
  delta: string;
  /** All final text so far. */
  text: string;
}

export interface GenerateOptions {
  tokenizer: TextTokenizer;
  /** Default 64. */
  maxNewTokens?: number;
  /** 0 (default) decodes greedily; otherwise logits are divided by it before sampling. */
  temperature?: number;
  /** Nucleus sampling: keep the most likely tokens whose probabilities sum to at least topP. Default 1. */
  topP?: number;
  /** Seeds the sampler; the same seed, model and prompt give the same text. */
  seed?: number;
  /** Generation stops when the decoded text contains one; the text is cut before it. */
  stopSequences?: string[];
  /** Generation stops at these tokens (excluded from the result). Default: the config's eos_token_id. */
  stopTokenIds?: number[];
  signal?: AbortSignal;
  onToken?: (token: GeneratedToken) => void;
  /** Prompt tokens run so far (those served by `promptCache` count as run), after each prefill chunk. */
  onPrefill?: (done: number, total: number) => void;
  /**
   * Keeps this request's KV cache for the next one: a prompt that shares a prefix with the previous request's prompt
   * and completion (under the same prepared adapter) runs only the tokens after it.
   */
  promptCache?: PromptCache;
  /**
   * Applied unmerged for this request only. A PreparedLora is used as is (prepare once, reuse across requests); a plain
   * LoraAdapter is prepared for this request and freed after it.
   */
  lora?: LoraAdapter | PreparedLora | null;
}

export type StopReason = 'max-tokens' | 'stop-token' | 'stop-sequence';

export interface GenerateResult {
  /** Generated ids (stop token excluded; the tokens that spelled a stop sequence included). */
  ids: number[];
  /** Decoded generated text, cut before a stop sequence. */
  text: string;
  stopReason: StopReason;
  /** Prompt tokens the model saw (after dropping the start of a prompt longer than the context allows). */
  promptTokens: number;
  /** Of those, the ones whose keys and values came from `promptCache`. */
  reusedPromptTokens: number;
  /** Tokens dropped from the start of the prompt to fit the context. */
  droppedPromptTokens: number;
}

/**
 * A prompt longer than the context (less the tokens to generate) loses its start in steps of this many tokens (or a
 * quarter of that room, if less), so that the kept prompt, and with it the prompt cache, stays the same while the
 * user types on.
 */
const PROMPT_DROP_STEP = 1024;

/** How many tokens to drop from the start of a prompt of `length` tokens so that it fits `room`. */
function tokensToDrop(length: number, room: number): number {
  if (length <= room) return 0;
  const step = Math.max(1, Math.min(PROMPT_DROP_STEP, Math.floor(room / 4)));
  return Math.min(length - 1, Math.ceil((length - room) / step) * step);
}

/** Lets the worker's message queue run between prefill chunks, so a cancel arrives during a long prompt. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Picks the next token from logits [1, vocab]: argmax, or a temperature/top-p sample. */
async function pickToken(logits: tf.Tensor2D, temperature: number, topP: number, uniform: () => number): Promise<number> {
  if (temperature <= 0) {
    const best = tf.argMax(logits, 1);
    const [id] = await best.data();
    best.dispose();
    return id;
  }
  const values = (await logits.data()) as Float32Array;
  let max = -Infinity;
  for (const value of values) if (value > max) max = value;
  const probabilities = new Float64Array(values.length);
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += probabilities[i] = Math.exp((values[i] - max) / temperature);
  let candidates: number[];
  if (topP < 1) {
    const order = Array.from(probabilities.keys()).sort((a, b) => probabilities[b] - probabilities[a]);
    let cumulative = 0;
    let keep = 0;
    while (keep < order.length && cumulative < topP * sum) cumulative += probabilities[order[keep++]];
    candidates = order.slice(0, Math.max(1, keep));
  } else {
    candidates = Array.from(probabilities.keys());
  }
  let total = 0;
  for (const id of candidates) total += probabilities[id];
  let threshold = uniform() * total;
  for (const id of candidates) {
    threshold -= probabilities[id];
    if (threshold < 0) return id;
  }
  return candidates[candidates.length - 1];
}

/** Where text stops being final: before a trailing partial UTF-8 character or a possible start of a stop sequence. */
function finalTextEnd(text: string, stopSequences: string[]): number {
  let end = text.length;
  while (end > 0 && text[end - 1] === '\uFFFD') end--;
  let held = 0;
  for (const stop of stopSequences) {
    for (let length = Math.min(stop.length - 1, end); length > held; length--) {
      if (text.endsWith(stop.slice(0, length), end)) {
        held = length;
        break;
      }
    }
  }
  return end - held;
}

/**
 * Generates a continuation of `prompt` (text, or token ids) with a KV cache: one prefill pass, then one forward
 * per new token. Rejects with the signal's reason (an AbortError) when `signal` aborts. Frees every tensor it makes.
 * @example
 * const { text } = await generate(model, 'def add(a, b):\n', { tokenizer, maxNewTokens: 32, stopSequences: ['\ndef '] });
 */
export async function generate(model: LlamaModel, prompt: string | number[], options: GenerateOptions): Promise<GenerateResult> {
  const {
    tokenizer, maxNewTokens = 64, temperature = 0, topP = 1, seed = 0, stopSequences = [], signal, onToken,
  } = options;
  const stopTokenIds = new Set(options.stopTokenIds ?? model.config.eosTokenIds);
  const allPromptIds = typeof prompt === 'string' ? tokenizer.encode(prompt) : prompt;
  if (allPromptIds.length === 0) throw new RangeError('generate needs a non-empty prompt');
  const room = model.config.maxPositionEmbeddings - maxNewTokens;
  if (room < 1) throw new RangeError(`maxNewTokens ${maxNewTokens} leaves no room for a prompt in a ${model.config.maxPositionEmbeddings}-token context`);
  const dropped = tokensToDrop(allPromptIds.length, room);
  const promptIds = dropped > 0 ? allPromptIds.slice(dropped) : allPromptIds;
  const stops = stopSequences.filter((stop) => stop.length > 0);
  const uniform = seededUniform(seed);
  const ids: number[] = [];
  let text = '';
  let emitted = 0;
  let stopReason: StopReason = 'max-tokens';

  signal?.throwIfAborted();
  const preparedHere = options.lora && 'targetModules' in options.lora ? prepareLora(options.lora, model.config) : null;
  const lora = preparedHere ?? (options.lora as PreparedLora | null | undefined) ?? null;
  const held = options.promptCache?.begin(promptIds, lora);
  const cache = held?.cache ?? new KVCache(model.config.numLayers);
  const reused = held?.reused ?? 0;
  /** Ids run through the model into `cache` by this request, in order. */
  const fed: number[] = [];
  let logits: tf.Tensor2D | null = null;
  try {
    if (maxNewTokens > 0) {
      const chunk = model.prefillChunkTokens;
      for (let start = reused; start < promptIds.length; start += chunk) {
        if (start > reused) {
          await yieldToEventLoop();
          signal?.throwIfAborted();
        }
        const part = promptIds.slice(start, start + chunk);
        logits?.dispose();
        logits = model.forward(part, { cache, lora, logits: 'last' });
        fed.push(...part);
        options.onPrefill?.(start + part.length, promptIds.length);
      }
    }
    for (let index = 0; index < maxNewTokens && logits; index++) {
      const id = await pickToken(logits, temperature, topP, uniform);
      logits.dispose();
      logits = null;
      signal?.throwIfAborted();

      const isStopToken = stopTokenIds.has(id);
      let finalEnd: number;
      if (isStopToken) {
        stopReason = 'stop-token';
        finalEnd = text.length;
      } else {
        ids.push(id);
        text = tokenizer.decode(ids);
        const stopAt = Math.min(...stops.map((stop) => text.indexOf(stop)).filter((at) => at >= 0));
        if (Number.isFinite(stopAt)) {
          stopReason = 'stop-sequence';
          text = text.slice(0, stopAt);
        }
        const last = stopReason !== 'max-tokens' || index === maxNewTokens - 1;
        finalEnd = last ? text.length : finalTextEnd(text, stops);
      }
      // Every generated token gets an event; a stop token only when it releases held-back text.
      if (!isStopToken || finalEnd > emitted) {
        onToken?.({ id, index, delta: text.slice(emitted, finalEnd), text: text.slice(0, finalEnd) });
        emitted = Math.max(emitted, finalEnd);
      }
      if (stopReason !== 'max-tokens' || index === maxNewTokens - 1) break;
      logits = model.forward([id], { cache, lora, logits: 'last' });
      fed.push(id);
    }
  } finally {
    logits?.dispose();
    if (held) options.promptCache!.end(cache, fed);
    else cache.dispose();
    if (preparedHere) disposePreparedLora(preparedHere);
  }
  return { ids, text, stopReason, promptTokens: promptIds.length, reusedPromptTokens: reused, droppedPromptTokens: dropped };
}
