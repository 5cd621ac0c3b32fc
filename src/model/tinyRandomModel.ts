// An untrained 2-layer model over a byte-level tokenizer: exercises the whole pipeline fast (tests, CI, slow devices).
import { BpeTokenizer } from '../tokenizer/bpeTokenizer.ts';
import { trainBpeTokenizer } from '../tokenizer/trainBpe.ts';
import { parseModelConfig } from './config.ts';
import { LlamaModel } from './llama.ts';

/** Seeded random weights; says nothing about quality. The byte-level tokenizer (no merges) needs no files. */
export function tinyRandomModel({ seed = 0, contextLength = 2048 }: { seed?: number; contextLength?: number } = {}): { model: LlamaModel; tokenizer: BpeTokenizer } {
  const tokenizer = trainBpeTokenizer({ texts: [], vocabSize: 257, specialTokens: ['<|endoftext|>'] });
  const config = parseModelConfig({
    architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: tokenizer.vocabSize, hidden_size: 64, intermediate_size: 176,
    num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: contextLength, rms_norm_eps: 1e-5,
    rope_theta: 10000, tie_word_embeddings: true, eos_token_id: tokenizer.eosTokenId ?? 0, torch_dtype: 'float32',
  });
  return { model: LlamaModel.random(config, { seed }), tokenizer };
}

