// The adapter every completion runs with: uploaded once per adapter identity and reused, the previous one freed when it changes.
import { disposePreparedLora, prepareLora, type LoraAdapter, type PreparedLora } from './lora.ts';
import type { ModelConfig } from './config.ts';

/**
 * One prepared adapter on the device, keyed by what identifies the adapter (e.g. its digest): asking again for the
 * held key returns the held tensors without uploading anything; another key replaces them and frees the old ones.
 * @example
 * const slot = new PreparedLoraSlot();
 * const lora = slot.hold(await adapterDigest(adapter), adapter, model.config); // uploads
 * await generate(model, prompt, { tokenizer, lora }); // every completion until the adapter changes
 */
export class PreparedLoraSlot {
  private held: { key: string; prepared: PreparedLora } | null = null;
  /** How many times an adapter was uploaded (prepareLora) into this slot. */
  uploads = 0;

  /** The prepared adapter for `key`: the held one when the key matches, else `adapter` prepared (the old one freed). */
  hold(key: string, adapter: LoraAdapter, config: ModelConfig): PreparedLora {
    if (this.held?.key === key) return this.held.prepared;
    // Prepared before the old one is freed: an adapter that does not fit the model leaves the held one in place.
    const prepared = prepareLora(adapter, config);
    this.uploads++;
    this.release();
    this.held = { key, prepared };
    return prepared;
  }

  /** The held adapter's key and tensors, or null. */
  get current(): { key: string; prepared: PreparedLora } | null {
    return this.held;
  }

  /** Frees the held adapter's tensors. */
  release(): void {
    if (this.held) disposePreparedLora(this.held.prepared);
    this.held = null;
  }
}
