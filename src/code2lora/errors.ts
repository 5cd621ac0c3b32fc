// Errors of the code2lora layer: one class per failing step, each with a stable `code` the UI and the CLI switch on.

export type RepoEncodeErrorCode = 'NO_ENCODABLE_FILES';

/** The snapshot gave the repo encoder nothing to read (no non-test Python file with code). */
export class RepoEncodeError extends Error {
  constructor(readonly code: RepoEncodeErrorCode, message: string) {
    super(message);
    this.name = 'RepoEncodeError';
  }
}

export type HypernetworkErrorCode = 'NO_FILES' | 'EMBEDDING_SIZE_MISMATCH' | 'BASE_MODEL_MISMATCH' | 'NOT_EVO' | 'STATE_SIZE_MISMATCH';

/**
 * A hypernetwork was asked for an adapter or an Evo step it cannot make: no files, embeddings or a state of another
 * size, another base model, an Evo step of a Static hypernetwork.
 */
export class HypernetworkError extends Error {
  constructor(readonly code: HypernetworkErrorCode, message: string) {
    super(message);
    this.name = 'HypernetworkError';
  }
}

export type HypernetworkLoadErrorCode =
  | 'FILE_NOT_FOUND' | 'HTTP_ERROR' | 'BAD_CONFIG' | 'BAD_WEIGHTS' | 'BASE_MODEL_MISMATCH' | 'ENCODER_MISMATCH';

/** A shipped or user-given hypernetwork that cannot be used: `file` names the file at fault. */
export class HypernetworkLoadError extends Error {
  constructor(readonly code: HypernetworkLoadErrorCode, readonly file: string, message: string) {
    super(message);
    this.name = 'HypernetworkLoadError';
  }
}
