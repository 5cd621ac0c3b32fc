// Resolves the user's model choice (shipped default, a URL, or an untrained tiny model) into model + tokenizer + hypernetwork.
import type { ModelConfig } from '../../model/config.ts';
import { parameterCount, type LlamaModel } from '../../model/llama.ts';
import { loadGgufModel } from '../../model/gguf.ts';
import { filesFromUrl, loadHfModel, ModelLoadError } from '../../model/loadHfModel.ts';
import { tinyRandomModel } from '../../model/tinyRandomModel.ts';
import { BpeTokenizer } from '../../tokenizer/bpeTokenizer.ts';
import { untrainedHypernetwork, type Hypernetwork } from '../../code2lora/makeAdapter.ts';
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

function modelInfo(name: string, config: ModelConfig, trained: boolean): ModelInfo {
  return { name, parameters: parameterCount(config), layers: config.numLayers, hiddenSize: config.hiddenSize, vocabSize: config.vocabSize, trained };
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
  return { model, tokenizer, hypernetwork: untrainedHypernetwork(config), info: modelInfo(name, config, true) };
}

export async function loadModelChoice(choice: ModelChoice, onProgress: (p: Omit<Progress, 'stage'>) => void): Promise<LoadedModel> {
  if (choice.kind === 'random-tiny') {
    const { model, tokenizer } = tinyRandomModel({ seed: choice.seed });
    return { model, tokenizer, hypernetwork: untrainedHypernetwork(model.config), info: modelInfo(`random-tiny-seed${choice.seed}`, model.config, false) };
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
  return { model, tokenizer, hypernetwork: untrainedHypernetwork(config), info: modelInfo(name, config, true) };
}
