// The KV cache of one request kept for the next: typing at the end of a file re-runs only the tokens that changed.
import { KVCache } from './llama.ts';
import type { PreparedLora } from './lora.ts';

/**
 * Holds the keys and values of the last sequence one model ran under one adapter (the prompt and the tokens generated
 * after it). A request whose prompt starts with the same token ids under the same prepared adapter (the same object:
 * PreparedLoraSlot hands out one per adapter) continues from the longest shared prefix; any other request truncates
 * the cache to what is shared, which is nothing when the adapter changed. Bounded by `maxTokens` positions.
 * @example
 * const promptCache = new PromptCache(model.config.numLayers, model.config.maxPositionEmbeddings);
 * await generate(model, text, { tokenizer, promptCache });           // prefills the whole text
 * await generate(model, text + 'x', { tokenizer, promptCache });     // prefills the last token or two
 */
export class PromptCache {
  private readonly cache: KVCache;
  /** Token ids whose keys and values `cache` holds, in order. */
  private ids: number[] = [];
  private lora: PreparedLora | null = null;
  private inUse = false;
  /** Statistics of the last begin(): prompt tokens served from the cache. */
  lastReused = 0;

  constructor(numLayers: number, readonly maxTokens: number) {
    if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new RangeError(`maxTokens must be a positive integer, got ${maxTokens}`);
    this.cache = new KVCache(numLayers);
  }

  /**
   * The cache ready for `promptIds` under `lora`, holding its longest cached prefix (at most all tokens but the last,
   * whose logits the request needs), and how many tokens that is. While a request holds it (until end()), another
   * request gets a fresh cache that is freed with it, so two concurrent requests never share positions.
   */
  begin(promptIds: readonly number[], lora: PreparedLora | null): { cache: KVCache; reused: number; shared: boolean } {
    if (this.inUse) return { cache: new KVCache(this.cache.keys.length), reused: 0, shared: false };
    this.inUse = true;
    let reused = 0;
    if (lora === this.lora) {
      const limit = Math.min(this.ids.length, promptIds.length - 1);
      while (reused < limit && this.ids[reused] === promptIds[reused]) reused++;
    }
    this.cache.truncate(reused);
    this.ids.length = reused;
    this.lora = lora;
    this.lastReused = reused;
    return { cache: this.cache, reused, shared: true };
  }

  /**
   * Ends the request that begin() returned `cache` to: `fed` are the ids its forward passes added after the reused
   * prefix. A cache that does not hold exactly those positions (a failed step), or holds more than maxTokens, is
   * emptied rather than trusted.
   */
  end(cache: KVCache, fed: readonly number[]): void {
    if (cache !== this.cache) {
      cache.dispose();
      return;
    }
    this.inUse = false;
    this.ids.push(...fed);
    if (this.cache.length !== this.ids.length || this.ids.length > this.maxTokens) this.clear();
  }

  /** Positions currently held. */
  get length(): number {
    return this.ids.length;
  }

  /** Frees every position (e.g. when the adapter's tensors are about to be freed). */
  clear(): void {
    this.cache.dispose();
    this.ids = [];
    this.lora = null;
  }
}
