// The error of a model file that cannot be had: missing, refused, cut off, cut short or stalled in transfer, or badly indexed; it names the file.

/**
 * `file-not-found` (404 or absent), `http-error` (another HTTP status), `network` (no answer, or the connection dropped
 * mid-transfer), `truncated` (the body ended before the length the server announced), `stalled` (no data for the stall
 * limit), `bad-index` and `duplicate-tensor` (a sharded checkpoint's index).
 */
export type ModelLoadErrorCode = 'file-not-found' | 'http-error' | 'network' | 'truncated' | 'stalled' | 'bad-index' | 'duplicate-tensor';

export class ModelLoadError extends Error {
  readonly code: ModelLoadErrorCode;
  /** The file's name in its model directory, e.g. "model.safetensors". */
  readonly file: string;
  constructor(code: ModelLoadErrorCode, file: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ModelLoadError';
    this.code = code;
    this.file = file;
  }
}
