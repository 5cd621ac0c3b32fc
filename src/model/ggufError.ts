// The error every problem with a GGUF file surfaces as, and the check of a file's first bytes: no tfjs here, so the page's import worker can refuse a file that is not GGUF without loading the model code.

export type GgufErrorCode =
  | 'NOT_GGUF' | 'UNSUPPORTED_VERSION' | 'TRUNCATED' | 'TOO_MANY' | 'BAD_VALUE_TYPE' | 'DUPLICATE_KEY' | 'BAD_ALIGNMENT'
  | 'BAD_TENSOR_INFO' | 'UNKNOWN_TENSOR_TYPE' | 'UNSUPPORTED_TENSOR_TYPE' | 'BAD_OFFSETS' | 'MISSING_METADATA'
  | 'BAD_METADATA' | 'UNSUPPORTED_ARCHITECTURE' | 'UNKNOWN_TENSOR' | 'UNSUPPORTED_TOKENIZER' | 'BAD_TOKENIZER' | 'BAD_MODEL'
  | 'FILE_NOT_FOUND' | 'HTTP_ERROR' | 'OUT_OF_MEMORY';

/** Every problem with a GGUF file surfaces as this error; `code` is stable, `message` names the key or tensor. */
export class GgufError extends Error {
  readonly code: GgufErrorCode;
  constructor(code: GgufErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GgufError';
    this.code = code;
  }
}

/** "GGUF" read as a little-endian u32. */
const MAGIC = 0x46554747;

/**
 * Checks a GGUF file's first 8 bytes: the "GGUF" magic and a supported version (2 or 3), so a file can be refused
 * before it is read whole; returns the version. Errors: GgufError NOT_GGUF, TRUNCATED (under 8 bytes), UNSUPPORTED_VERSION.
 */
export function checkGgufPreamble(prefix: Uint8Array): 2 | 3 {
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  if (prefix.byteLength < 4 || view.getUint32(0, true) !== MAGIC) throw new GgufError('NOT_GGUF', 'Not a GGUF file (it does not start with "GGUF")');
  if (prefix.byteLength < 8) throw new GgufError('TRUNCATED', `File ends inside the version (needs 4 bytes at offset 4, ${prefix.byteLength - 4} left)`);
  const version = view.getUint32(4, true);
  if (version !== 2 && version !== 3) {
    throw new GgufError('UNSUPPORTED_VERSION', version === 1 ? 'GGUF v1 (2023) is not supported; convert it with a current llama.cpp'
      : (version & 0xffff) === 0 ? 'Big-endian GGUF files are not supported' : `Unsupported GGUF version ${version}`);
  }
  return version;
}
