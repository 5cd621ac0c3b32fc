// The one progress shape: every long operation (model load, clone, parse, encode, Evo, generation, evaluation) reports
// it, in the app, the CLI and the benchmark alike, so that one progress bar shows any of them.

/** The stages the app shows a progress bar for. */
export type Stage = 'model' | 'clone' | 'parse' | 'encode' | 'evo' | 'generate' | 'evaluate';

export interface Progress {
  stage: Stage;
  /** Units done so far. */
  done: number;
  /** Units in all, when known. */
  total?: number;
  /** What `done` counts: 'files', 'objects', 'bytes', 'tokens', 'commits', 'tasks'. */
  unit: string;
  /** What is happening within the stage, in words (git's phase, the file being loaded, the model generating). */
  detail?: string;
  /** Bytes transferred so far, for a stage that moves data while it counts something else (a clone counts objects). */
  bytes?: number;
}

export type ProgressCallback = (progress: Progress) => void;
