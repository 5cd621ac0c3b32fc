// Typed error for tokenizer.json files we cannot load, with a stable code the CLI and UI can branch on.

export type TokenizerLoadErrorCode =
  | 'invalid_json'
  | 'unsupported_model'
  | 'invalid_vocab'
  | 'invalid_merges'
  | 'unknown_merge_token'
  | 'incomplete_byte_alphabet'
  | 'invalid_added_tokens'
  | 'unsupported_normalizer'
  | 'unsupported_pre_tokenizer'
  | 'unsupported_post_processor'
  | 'unsupported_decoder'
  | 'bad_regex';

export class TokenizerLoadError extends Error {
  readonly code: TokenizerLoadErrorCode;

  constructor(code: TokenizerLoadErrorCode, message: string) {
    super(`tokenizer.json: ${message}`);
    this.name = 'TokenizerLoadError';
    this.code = code;
  }
}
