// Typed error for tokenizer.json files we cannot load, with a stable code the CLI and UI can branch on.

export type TokenizerLoadErrorCode =
  | 'INVALID_JSON'
  | 'UNSUPPORTED_MODEL'
  | 'INVALID_VOCAB'
  | 'INVALID_MERGES'
  | 'UNKNOWN_MERGE_TOKEN'
  | 'INCOMPLETE_BYTE_ALPHABET'
  | 'INVALID_ADDED_TOKENS'
  | 'UNSUPPORTED_NORMALIZER'
  | 'UNSUPPORTED_PRE_TOKENIZER'
  | 'UNSUPPORTED_POST_PROCESSOR'
  | 'UNSUPPORTED_DECODER'
  | 'BAD_REGEX';

export class TokenizerLoadError extends Error {
  readonly code: TokenizerLoadErrorCode;

  constructor(code: TokenizerLoadErrorCode, message: string) {
    super(`tokenizer.json: ${message}`);
    this.name = 'TokenizerLoadError';
    this.code = code;
  }
}
