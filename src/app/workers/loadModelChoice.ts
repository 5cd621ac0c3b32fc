// Resolves the user's model choice (shipped default, a URL, or an untrained tiny model) into model + tokenizer + hypernetwork.
import { parseModelConfig, type ModelConfig } from '../../model/config.ts';
import { LlamaModel } from '../../model/llama.ts';
import { loadGgufModel } from '../../model/gguf.ts';
import { filesFromUrl, loadHfModel, ModelLoadError } from '../../model/loadHfModel.ts';
import { LORA_MODULES } from '../../model/lora.ts';
import { BpeTokenizer } from '../../tokenizer/bpeTokenizer.ts';
import { trainBpeTokenizer } from '../../tokenizer/trainBpe.ts';
import { initHypernetworkWeights, type HypernetworkConfig } from '../../code2lora/hypernetwork.ts';
import type { Hypernetwork } from '../../code2lora/makeAdapter.ts';
import type { ModelChoice, ModelInfo, Progress } from './pipelineApi.ts';

export interface LoadedModel {
  model: LlamaModel;
  tokenizer: BpeTokenizer;
  hypernetwork: Hypernetwork;
  info: ModelInfo;
}

/** The shipped default: trained by training/ and committed in public/models/ (see its model card). */
export const DEFAULT_MODEL_PATH = 'models/c2l-base/';
/** Put there by `npm run models:smollm2` (not committed). */
export const SMOLLM2_GGUF_PATH = 'models/smollm2-135m-instruct/model.gguf';
const MAX_TOKENIZER_BYTES = 64 * 1024 * 1024;

/** Untrained: for exercising the whole pipeline fast (tests, slow devices). Byte-level tokenizer, no merges. */
function randomTinyModel(seed: number): { model: LlamaModel; tokenizer: BpeTokenizer } {
  const tokenizer = trainBpeTokenizer({ texts: [], vocabSize: 257, specialTokens: ['<|endoftext|>'] });
  const config = parseModelConfig({
    architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: tokenizer.vocabSize, hidden_size: 64, intermediate_size: 176,
    num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 2048, rms_norm_eps: 1e-5,
    rope_theta: 10000, tie_word_embeddings: true, eos_token_id: tokenizer.eosTokenId ?? 0, torch_dtype: 'float32',
  });
  return { model: LlamaModel.random(config, { seed }), tokenizer };
}

function parameterCount(config: ModelConfig): number {
  const { vocabSize: v, hiddenSize: d, intermediateSize: ff, numLayers, numHeads, numKvHeads, headDim } = config;
  const attention = d * numHeads * headDim * 2 + d * numKvHeads * headDim * 2;
  const perLayer = attention + 3 * d * ff + 2 * d;
  return v * d * (config.tieWordEmbeddings ? 1 : 2) + numLayers * perLayer + d;
}

/** Until a trained hypernetwork ships, a seeded random one: the pipeline runs end to end, and the UI says it is untrained. */
function untrainedHypernetwork(config: ModelConfig): Hypernetwork {
  const hyperConfig: HypernetworkConfig = { embeddingSize: 2 * config.hiddenSize, hiddenSize: 64, rank: 8, alpha: 16, targetModules: [...LORA_MODULES] };
  return { config: hyperConfig, weights: initHypernetworkWeights(hyperConfig, config, 1234), trained: false };
}

async function fetchTokenizer(baseUrl: string): Promise<BpeTokenizer> {
  const url = new URL('tokenizer.json', baseUrl);
  const response = await fetch(url);
  if (!response.ok) throw new ModelLoadError(response.status === 404 ? 'file-not-found' : 'http-error', 'tokenizer.json', `tokenizer.json: HTTP ${response.status} at ${url}`);
  const length = Number(response.headers.get('content-length'));
  if (length > MAX_TOKENIZER_BYTES) throw new ModelLoadError('http-error', 'tokenizer.json', `tokenizer.json is larger than ${MAX_TOKENIZER_BYTES} bytes`);
  return BpeTokenizer.fromJSON(await response.text());
}

async function loadGguf(url: string, name: string, onProgress: (p: Omit<Progress, 'stage'>) => void): Promise<LoadedModel> {
  const file = url.split('/').pop()!;
  const directory = url.slice(0, url.length - file.length);
  const { model, config, tokenizer } = await loadGgufModel(filesFromUrl(directory), {
    file,
    onProgress: (p) => onProgress({ label: `Loading ${file}`, loaded: p.loaded, total: p.total || undefined, unit: 'bytes' }),
  });
  const info = { name, parameters: parameterCount(config), layers: config.numLayers, hiddenSize: config.hiddenSize, vocabSize: config.vocabSize, trained: true };
  return { model, tokenizer, hypernetwork: untrainedHypernetwork(config), info };
}

export async function loadModelChoice(choice: ModelChoice, onProgress: (p: Omit<Progress, 'stage'>) => void): Promise<LoadedModel> {
  if (choice.kind === 'random-tiny') {
    const { model, tokenizer } = randomTinyModel(choice.seed);
    const info = { name: `random-tiny-seed${choice.seed}`, parameters: parameterCount(model.config), layers: model.config.numLayers, hiddenSize: model.config.hiddenSize, vocabSize: model.config.vocabSize, trained: false };
    return { model, tokenizer, hypernetwork: untrainedHypernetwork(model.config), info };
  }
  const appBase = new URL(import.meta.env.BASE_URL, self.location.href);
  if (choice.kind === 'smollm2') return loadGguf(new URL(SMOLLM2_GGUF_PATH, appBase).href, 'SmolLM2-135M-Instruct', onProgress);
  if (choice.kind === 'url' && /\.gguf$/i.test(choice.url)) return loadGguf(choice.url, choice.url.split('/').pop()!, onProgress);
  const baseUrl = choice.kind === 'default' ? new URL(DEFAULT_MODEL_PATH, appBase).href : choice.url.endsWith('/') ? choice.url : `${choice.url}/`;
  const tokenizer = await fetchTokenizer(baseUrl);
  const { model, config } = await loadHfModel(filesFromUrl(baseUrl), {
    onProgress: (p) => onProgress({ label: `Loading ${p.file || 'model'}`, loaded: p.loaded, total: p.total || undefined, unit: 'bytes' }),
  });
  const name = choice.kind === 'default' ? 'c2l-base' : baseUrl.replace(/\/+$/, '').split('/').slice(-2).join('/');
  const info = { name, parameters: parameterCount(config), layers: config.numLayers, hiddenSize: config.hiddenSize, vocabSize: config.vocabSize, trained: true };
  return { model, tokenizer, hypernetwork: untrainedHypernetwork(config), info };
}
