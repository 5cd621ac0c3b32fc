// How many tasks the in-browser evaluation scores: plain numbers, no imports, so the UI thread can read them without loading the model runtime.

/** Tasks scored when the caller does not say: completions take seconds each on a CPU, and each task needs two. */
export const DEFAULT_EVALUATION_TASKS = 20;
/** The most a caller may ask for: the paper's per-repository cap. */
export const MAX_EVALUATION_TASKS = 200;
