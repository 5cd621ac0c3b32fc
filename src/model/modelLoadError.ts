// The error of a model file that cannot be had: missing, refused, cut off, cut short or stalled in transfer, or badly indexed; it names the file.

/**
 * `FILE_NOT_FOUND` (404 or absent), `HTTP_ERROR` (another HTTP status), `NETWORK` (no answer, or the connection dropped
 * mid-transfer), `TRUNCATED` (the body ended before the length the server announced), `STALLED` (no data for the stall
 * limit), `BAD_INDEX` and `DUPLICATE_TENSOR` (a sharded checkpoint's index).
 */
export type ModelLoadErrorCode = 'FILE_NOT_FOUND' | 'HTTP_ERROR' | 'NETWORK' | 'TRUNCATED' | 'STALLED' | 'BAD_INDEX' | 'DUPLICATE_TENSOR';

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
