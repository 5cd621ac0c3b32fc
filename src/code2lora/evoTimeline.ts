// The Evo state along a repository's history: h_0 at the first commit of the history, h_t = step(h_{t-1}, diff_t).
// States are cached per commit (memory, and a VectorStore such as IndexedDB), so moving forward from the nearest cached
// state costs one diff encode and one GRU step per commit, and moving back costs nothing.
import type { ProgressCallback } from '../util/progress.ts';
import { stepEvoState } from './evo.ts';
import type { VectorStore } from './fileEmbeddingCache.ts';
import type { Hypernetwork } from './hypernetwork.ts';

export interface EvoTimelineOptions {
  hypernetwork: Pick<Hypernetwork, 'kind' | 'config' | 'weights'>;
  /** The history, oldest first: the state starts at commits[0]. */
  commits: readonly string[];
  /** repoState of the snapshot at commits[0] (Static's trunk output for it). */
  initialState: () => Promise<Float32Array>;
  /** The commit's diff embedding against its first parent, or null when it changes no non-test .py/.md/.rst file. */
  diffEmbedding: (commit: string) => Promise<Float32Array | null>;
  /**
   * Persistent states; keys are `${commits[0]}:${commit}` since a state depends on where the history starts. The
   * store must belong to this hypernetwork (a state of another one is meaningless).
   */
  store?: VectorStore;
}


/**
 * @example
 * const timeline = new EvoTimeline({ hypernetwork, commits, initialState, diffEmbedding, store });
 * const state = await timeline.stateAt(commits.length - 1, { onProgress }); // steps every commit once
 * const earlier = await timeline.stateAt(3); // cached: no encode, no step
 */
export class EvoTimeline {
  private readonly states = new Map<number, Float32Array>();
  private readonly index: Map<string, number>;

  constructor(private readonly options: EvoTimelineOptions) {
    if (options.commits.length === 0) throw new RangeError('An Evo timeline needs at least one commit');
    this.index = new Map(options.commits.map((commit, i) => [commit, i]));
  }

  get commits(): readonly string[] {
    return this.options.commits;
  }

  /** Position of a commit in the history, or -1. */
  indexOf(commit: string): number {
    return this.index.get(commit) ?? -1;
  }

  /** Whether the state at `index` is known without any work (memory only). */
  isCached(index: number): boolean {
    return this.states.has(index);
  }

  /** The state at `index` if it is in memory or the store, without any step; undefined otherwise. */
  async cachedStateAt(index: number): Promise<Float32Array | undefined> {
    this.checkIndex(index);
    return this.states.get(index) ?? this.loadStored(index);
  }

  /** GRU steps stateAt(index) would run now, counting states in memory (0: cached). */
  stepsTo(index: number): number {
    this.checkIndex(index);
    for (let i = index; i >= 0; i--) if (this.states.has(i)) return index - i;
    return index;
  }

  /**
   * The state at commits[index]: from the nearest state at or before it (memory, then the store), stepping forward
   * and caching every state on the way. Errors: RangeError for an index outside the history; an AbortError.
   */
  async stateAt(index: number, { onProgress, signal }: { onProgress?: ProgressCallback; signal?: AbortSignal } = {}): Promise<Float32Array> {
    this.checkIndex(index);
    let from = index;
    let state: Float32Array | undefined;
    for (; from >= 0; from--) {
      state = this.states.get(from) ?? await this.loadStored(from);
      if (state) break;
    }
    if (!state) {
      from = 0;
      state = await this.options.initialState();
      await this.remember(0, state);
    }
    const total = index - from;
    for (let i = from + 1; i <= index; i++) {
      if (signal?.aborted) throw new DOMException('Cancelled', 'AbortError');
      state = await stepEvoState(this.options.hypernetwork, state, await this.options.diffEmbedding(this.options.commits[i]));
      await this.remember(i, state);
      onProgress?.({ stage: 'evo', done: i - from, total, unit: 'commits' });
    }
    return state;
  }

  private checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.options.commits.length) {
      throw new RangeError(`Commit index ${index} is outside the history (0..${this.options.commits.length - 1})`);
    }
  }

  private key(index: number): string {
    return `${this.options.commits[0]}:${this.options.commits[index]}`;
  }

  private async loadStored(index: number): Promise<Float32Array | undefined> {
    const stored = await this.options.store?.get(this.key(index));
    if (stored && stored.length === this.options.hypernetwork.config.hiddenSize) {
      this.states.set(index, stored);
      return stored;
    }
    return undefined;
  }

  private async remember(index: number, state: Float32Array): Promise<void> {
    this.states.set(index, state);
    await this.options.store?.set(this.key(index), state);
  }
}
