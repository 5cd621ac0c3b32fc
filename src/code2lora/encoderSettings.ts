// The frozen repo encoder's identity and settings: one definition for the app, the CLI, the benchmark and the training
// data, and the values a shipped hypernetwork's config must repeat (a hypernetwork trained on other embeddings refuses).
// Which layer's hidden state is read is the hypernetwork's own (config encoder.layer, Hypernetwork.encoderLayer): the
// shipped Static and Evo ones both read c2l-base's second layer (docs/results.md, "Choosing the repo encoder").

export interface EncoderSettings {
  /** The model whose hidden states embed the code (a folder name under public/models/). */
  model: string;
  /** Tokens per chunk; chunks follow code units (src/parse/codeUnits.ts chunkForEncoder). */
  chunkTokens: number;
  /** Chunks read per file at most: the first ones; a file's embedding is the mean of its chunks'. */
  chunksPerFile: number;
  /**
   * Evo: encoder chunks read per commit diff at most (the first ones); a commit's diff embedding pools them
   * (src/code2lora/diffEncoder.ts diffChunkIds).
   */
  diffChunksPerCommit: number;
  /** Test files are never encoded: the adapter describes the code, the benchmark scores the tests. */
  includeTests: false;
}

export const ENCODER_SETTINGS: Readonly<EncoderSettings> = {
  model: 'c2l-base',
  chunkTokens: 128,
  chunksPerFile: 2,
  diffChunksPerCommit: 16,
  includeTests: false,
};
