// The worker's Evo mode: one EvoSession per repository history and hypernetwork, its states and diff embeddings kept in IndexedDB.
import { diffCommit, readSnapshot, type GitFs } from '../../git/index.ts';
import type { ModelConfig } from '../../model/config.ts';
import type { PythonParser } from '../../parse/pythonParser.ts';
import { diffEmbeddingIdentity, EvoSession, evoStateIdentity, type EvoSessionProgress } from '../../code2lora/evoSession.ts';
import type { FileEmbeddingCache } from '../../code2lora/fileEmbeddingCache.ts';
import type { Hypernetwork } from '../../code2lora/hypernetwork.ts';
import type { RepoEncoderModel } from '../../code2lora/repoEncoder.ts';
import { PersistentFileEmbeddingCache, type KeyValueStore } from './embeddingStore.ts';

export interface EvoSessionRequest {
  fs: GitFs;
  dir: string;
  /** The history the app shows, oldest first: the state starts at the oldest. */
  commits: readonly string[];
  hypernetwork: Hypernetwork;
  baseModel: ModelConfig;
  encoder: RepoEncoderModel;
  encoderId: string;
  parser: PythonParser;
  fileEmbeddings: FileEmbeddingCache;
  /** The IndexedDB store shared with file embeddings: keys are prefixed so that no other kind of entry is ever read. */
  store: KeyValueStore;
}

const stateIds = new WeakMap<Hypernetwork, Promise<string>>();
let current: { key: string; session: EvoSession } | null = null;

/**
 * The EvoSession for this repository, history and hypernetwork (the same one while they stay, so states stay in
 * memory); states under evo-state|<hypernetwork's state identity>|<encoder>, diff embeddings under
 * diff|<encoder>|<settings>, each followed by commit ids.
 */
export async function evoSessionFor(request: EvoSessionRequest): Promise<EvoSession> {
  const { fs, dir, commits, hypernetwork, encoderId, store } = request;
  if (!stateIds.has(hypernetwork)) stateIds.set(hypernetwork, evoStateIdentity(hypernetwork));
  const stateId = await stateIds.get(hypernetwork)!;
  const key = [dir, stateId, encoderId, commits.length, commits[0], commits[commits.length - 1]].join('\n');
  if (current?.key === key) return current.session;
  const gitCache = {};
  const session = new EvoSession({
    hypernetwork: request.hypernetwork, baseModel: request.baseModel, encoder: request.encoder, parser: request.parser,
    history: {
      commits,
      readFiles: async (commit, signal) => (await readSnapshot({ fs, dir, commit, signal, cache: gitCache })).files,
      diff: (commit) => diffCommit({ fs, dir, commit, cache: gitCache }),
    },
    fileEmbeddings: request.fileEmbeddings,
    states: new PersistentFileEmbeddingCache(store, `evo-state|${stateId}|${encoderId}`),
    diffEmbeddings: new PersistentFileEmbeddingCache(store, diffEmbeddingIdentity(encoderId)),
  });
  current = { key, session };
  return session;
}

/** Forgets the session (another repository or model): its states stay in IndexedDB. */
export function dropEvoSession(): void {
  current = null;
}

/** Evo's progress in the app's shape. */
export function evoProgressLabel(progress: EvoSessionProgress, encoderName: string): { stage: 'evo' | 'encode'; label: string } {
  return progress.stage === 'evo'
    ? { stage: 'evo', label: 'Stepping the Evo state commit by commit' }
    : { stage: 'encode', label: `Encoding the first commit's files with ${encoderName} (the Evo state starts there)` };
}
