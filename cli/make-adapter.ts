// `npm run make-adapter -- <git URL | local path> [--commit SHA] [--model GGUF|DIR] [--hypernetwork DIR] [--history N] --out DIR`:
// a repository's adapter from the shipped hypernetwork (c2l-base file embeddings -> LoRA), in PEFT's layout, with the wall time of each stage.
import * as fs from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as git from 'isomorphic-git';
import http from 'isomorphic-git/http/node';
import {
  DEFAULT_MAX_FILE_BYTES, isGeneratedPath, isTestPath, isVendoredPath, listCommits, requirePythonFiles, type SnapshotFile,
} from '../src/git/index.ts';
import { initBackend } from '../src/model/backend.ts';
import { loadGgufModel } from '../src/model/gguf.ts';
import type { LlamaModel } from '../src/model/llama.ts';
import { filesFromDirectory, loadHfModel } from '../src/model/loadHfModel.ts';
import { exportPeftAdapter, type LoraAdapter } from '../src/model/lora.ts';
import { C2L_BASE, SMOLLM2, STATIC_HYPERNETWORK_FOLDER } from '../src/model/shippedModels.ts';
import { loadPythonParser } from '../src/parse/pythonParser.ts';
import { nodeEnvironment } from '../src/session/nodeEnvironment.ts';
import { RepoSession } from '../src/session/repoSession.ts';
import { BpeTokenizer } from '../src/tokenizer/bpeTokenizer.ts';
import { generateAdapter, type Hypernetwork } from '../src/code2lora/hypernetwork.ts';
import { loadHypernetwork } from '../src/code2lora/loadHypernetwork.ts';
import { adapterParameterCount } from '../src/code2lora/makeAdapter.ts';
import { encodeRepository, encoderAt, encoderLayerLabel, type RepoEncoderModel } from '../src/code2lora/repoEncoder.ts';
import { trainingFigures } from '../src/util/trainingFigures.ts';
import { readWorkingTree } from './readWorkingTree.ts';

const USAGE = 'usage: npm run make-adapter -- <git URL | local path> [--commit SHA] [--model GGUF|DIR] [--hypernetwork DIR] '
  + '[--history N] --out DIR';
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The repo encoder, committed. */
export const ENCODER_DIRECTORY = join(ROOT, 'public/models', C2L_BASE.folder);
/** The default base model, installed by `npm start` or `npm run models:smollm2` (scripts/fetch-smollm2.mjs). */
export const DEFAULT_MODEL = join(ROOT, 'public/models', SMOLLM2.folder, SMOLLM2.file);

export type MakeAdapterErrorCode = 'USAGE' | 'NO_MODEL' | 'NO_HYPERNETWORK';

/** A command line or a setup that cannot make an adapter; `code` says which. */
export class MakeAdapterError extends Error {
  constructor(readonly code: MakeAdapterErrorCode, message: string) {
    super(message);
    this.name = 'MakeAdapterError';
  }
}

export interface MakeAdapterOptions {
  /** A git URL (cloned to a temporary folder), a local git work tree, or a plain folder of files. */
  source: string;
  /** A commit, branch or tag of a git source (default: HEAD). A URL is then cloned with `history` commits. */
  commit?: string;
  /** A llama GGUF file or an HF directory (config.json, model.safetensors, tokenizer.json). Default: SmolLM2. */
  model?: string;
  /** A folder written by training/export_hypernet.py. Default: code2lora-static/ beside the model. */
  hypernetwork?: string;
  /** Commits to clone when `commit` is given for a URL (default 200); without `commit` only the newest is fetched. */
  history?: number;
  out: string;
  /** Receives the report, one line at a time (default: stdout). */
  log?: (line: string) => void;
}

export type StageName = 'load' | 'clone' | 'read' | 'parse+chunk' | 'encode' | 'hypernetwork' | 'export';

export interface MakeAdapterReport {
  commit: string;
  /** Wall time of each stage that ran, in order (no clone for a local source). */
  stages: Array<{ stage: StageName; seconds: number; detail: string }>;
  pythonFiles: number;
  testFiles: number;
  encodedFiles: number;
  tokens: number;
  parameters: number;
  baseModelNameOrPath: string;
  files: { weights: string; config: string };
}

interface LoadedLm {
  model: LlamaModel;
  tokenizer: BpeTokenizer;
}

async function loadLm(path: string): Promise<LoadedLm> {
  if (path.toLowerCase().endsWith('.gguf')) {
    const { model, tokenizer } = await loadGgufModel(new Uint8Array(await readFile(path)));
    return { model, tokenizer };
  }
  const tokenizer = BpeTokenizer.fromJSON(await readFile(join(path, 'tokenizer.json'), 'utf8'));
  const { model } = await loadHfModel(filesFromDirectory(path));
  return { model, tokenizer };
}

/** The model's folder name in our layout (public/models/<name>/model.gguf or <name>/config.json): what a hypernetwork names its base. */
function layoutName(path: string): string | undefined {
  if (!path.toLowerCase().endsWith('.gguf')) return basename(path);
  return basename(path) === SMOLLM2.file ? basename(dirname(path)) : undefined;
}

async function loadModels(options: MakeAdapterOptions): Promise<{
  base: LoadedLm; encoder: RepoEncoderModel; hypernetwork: Hypernetwork; figures: string; baseModelNameOrPath: string; modelPath: string;
}> {
  const modelPath = resolve(options.model ?? DEFAULT_MODEL);
  if (!fs.existsSync(modelPath)) {
    throw new MakeAdapterError('NO_MODEL', options.model
      ? `no model at ${modelPath}`
      : `${SMOLLM2.displayName} is not installed (${DEFAULT_MODEL}): run \`npm run models:smollm2\`, or pass --model GGUF|DIR`);
  }
  const hypernetworkPath = resolve(options.hypernetwork
    ?? join(modelPath.toLowerCase().endsWith('.gguf') ? dirname(modelPath) : modelPath, STATIC_HYPERNETWORK_FOLDER));
  const configPath = join(hypernetworkPath, 'hypernetwork_config.json');
  if (!fs.existsSync(configPath)) {
    throw new MakeAdapterError('NO_HYPERNETWORK', `no trained hypernetwork at ${hypernetworkPath} (no hypernetwork_config.json): pass --hypernetwork DIR`);
  }
  const encoder = await loadLm(ENCODER_DIRECTORY);
  const base = modelPath === ENCODER_DIRECTORY ? encoder : await loadLm(modelPath);
  const hypernetwork = await loadHypernetwork(filesFromDirectory(hypernetworkPath), {
    baseModel: base.model.config, baseModelName: layoutName(modelPath),
    encoderHiddenSize: encoder.model.config.hiddenSize, encoderLayers: encoder.model.config.numLayers,
  });
  const training = (JSON.parse(await readFile(configPath, 'utf8')) as { training?: unknown }).training;
  const figures = trainingFigures(training).map((f) => `${f.label} ${f.value}`).join(', ');
  return {
    base, encoder, hypernetwork, figures, modelPath,
    baseModelNameOrPath: modelPath === resolve(DEFAULT_MODEL) && SMOLLM2.hfName ? SMOLLM2.hfName : modelPath,
  };
}

/** A plain folder's Python files, with the size, vendored and generated filters a git snapshot applies. */
async function readFolder(path: string): Promise<SnapshotFile[]> {
  return (await readWorkingTree(path)).filter((file) => !isVendoredPath(file.path) && !isGeneratedPath(file.path)
    && Buffer.byteLength(file.content) <= DEFAULT_MAX_FILE_BYTES);
}

/** A full commit id from a SHA prefix, a branch or a tag. */
async function resolveCommit(dir: string, ref: string | undefined): Promise<string> {
  if (!ref) return (await listCommits({ fs, dir, limit: 1 }))[0].sha;
  try {
    return await git.resolveRef({ fs, dir, ref });
  } catch {
    if (/^[0-9a-f]{4,40}$/i.test(ref)) return git.expandOid({ fs, dir, oid: ref.toLowerCase() });
    throw new MakeAdapterError('USAGE', `no commit, branch or tag ${ref} in ${dir}`);
  }
}

const seconds = (since: number) => (performance.now() - since) / 1000;

/**
 * Clones or opens the repository, reads its Python files at the commit, embeds the non-test ones with c2l-base,
 * generates the adapter with the hypernetwork and writes adapter_model.safetensors + adapter_config.json to `out`.
 * Errors: MakeAdapterError (USAGE, NO_MODEL, NO_HYPERNETWORK), GitError (NOT_FOUND, NO_PYTHON, ...), HypernetworkLoadError,
 * RepoEncodeError, HypernetworkError; each has a `code`.
 * @example await makeAdapterFromRepository({ source: 'https://github.com/owner/repo', out: 'adapter/' })
 */
export async function makeAdapterFromRepository(options: MakeAdapterOptions): Promise<MakeAdapterReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const stages: MakeAdapterReport['stages'] = [];
  const stage = (name: StageName, started: number, detail: string) => {
    stages.push({ stage: name, seconds: seconds(started), detail });
    log(`  ${name.padEnd(13)} ${seconds(started).toFixed(2).padStart(7)} s  ${detail}`);
  };
  const localPath = resolve(options.source);
  const isLocal = fs.existsSync(localPath);
  if (!isLocal && /^(\.{0,2}\/|~)/.test(options.source)) throw new MakeAdapterError('USAGE', `no such directory: ${localPath}`);
  if (isLocal && !fs.existsSync(join(localPath, '.git')) && fs.existsSync(join(localPath, 'HEAD')) && fs.existsSync(join(localPath, 'objects'))) {
    throw new MakeAdapterError('USAGE', `${localPath} is a bare repository: pass a work tree, or serve it and pass its URL`);
  }
  if (isLocal && !fs.existsSync(join(localPath, '.git')) && options.commit) {
    throw new MakeAdapterError('USAGE', `${localPath} is not a git repository: --commit needs one`);
  }
  const parser = await loadPythonParser();
  await initBackend();

  log(`make-adapter: ${options.source}`);
  let started = performance.now();
  const { base, encoder, hypernetwork, figures, baseModelNameOrPath, modelPath } = await loadModels(options);
  const shownPath = relative(process.cwd(), modelPath).startsWith('..') ? modelPath : relative(process.cwd(), modelPath);
  stage('load', started, `base ${shownPath}, encoder ${C2L_BASE.displayName}, hypernetwork trained${figures ? ` (${figures})` : ''}`);

  let temporary: string | null = null;
  try {
    // A git source is read as the app reads it: through a RepoSession (clone, history, snapshot).
    const environment = { ...nodeEnvironment(), parser: async () => parser };
    let session: RepoSession | null = null;
    if (!isLocal) {
      started = performance.now();
      temporary = await mkdtemp(join(tmpdir(), 'code2lora-make-adapter-'));
      session = await RepoSession.clone({ ...environment, http, dir: temporary, url: options.source, depth: options.commit ? (options.history ?? 200) : 1 });
      stage('clone', started, `${session.info.url}: ${(session.info.bytes / 1e6).toFixed(2)} MB`);
    } else if (fs.existsSync(join(localPath, '.git'))) {
      session = await RepoSession.open({ ...environment, dir: localPath, depth: 1 });
    }

    started = performance.now();
    let commit = 'working-tree';
    let files: SnapshotFile[];
    if (session) {
      commit = await resolveCommit(session.dir, options.commit);
      files = requirePythonFiles(await session.snapshot(commit)).files;
    } else {
      files = requirePythonFiles({ commit, files: await readFolder(localPath), skipped: { binary: 0, tooLarge: 0, vendored: 0, generated: 0, notIncluded: 0, symlinks: 0, submodules: 0 } }).files;
    }
    const testFiles = files.filter((file) => isTestPath(file.path)).length;
    stage('read', started, `${files.length} Python files at ${commit.slice(0, 12)} (${testFiles} test files, never encoded)`);

    // The encoder's forward passes (at the layer the hypernetwork reads) are timed apart from the rest of
    // encodeRepository (parsing, code units, chunking, tokenizing): the two stages interleave file by file.
    let forwardSeconds = 0;
    const encoderModel = encoderAt(encoder.model, hypernetwork.encoderLayer);
    const timedModel = Object.create(encoderModel, {
      hidden: {
        value: (...args: Parameters<LlamaModel['hidden']>) => {
          const at = performance.now();
          try {
            return encoderModel.hidden(...args);
          } finally {
            forwardSeconds += seconds(at);
          }
        },
      },
    }) as LlamaModel;
    started = performance.now();
    const encoding = await encodeRepository({ files, encoder: { model: timedModel, tokenizer: encoder.tokenizer }, parser });
    const encodeSeconds = seconds(started);
    const parseSeconds = encodeSeconds - forwardSeconds;
    stages.push({ stage: 'parse+chunk', seconds: parseSeconds, detail: `${encoding.files.length} files, ${encoding.tokens.toLocaleString('en-US')} tokens in chunks` });
    log(`  ${'parse+chunk'.padEnd(13)} ${parseSeconds.toFixed(2).padStart(7)} s  ${stages.at(-1)!.detail}`);
    const encoderName = encoderLayerLabel(C2L_BASE.displayName, encoder.model, hypernetwork.encoderLayer);
    stages.push({ stage: 'encode', seconds: forwardSeconds, detail: `${encoding.files.length} files embedded by ${encoderName}` });
    log(`  ${'encode'.padEnd(13)} ${forwardSeconds.toFixed(2).padStart(7)} s  ${stages.at(-1)!.detail}`);

    started = performance.now();
    const adapter: LoraAdapter = await generateAdapter(hypernetwork, base.model.config, encoding.files.map((file) => file.embedding));
    const parameters = adapterParameterCount(adapter);
    stage('hypernetwork', started, `r=${adapter.rank}, alpha=${adapter.alpha} on ${adapter.targetModules.length} modules x ${adapter.layers.length} layers, `
      + `${parameters.toLocaleString('en-US')} parameters`);

    started = performance.now();
    const out = resolve(options.out);
    const { safetensors, adapterConfig } = await exportPeftAdapter(adapter, { baseModelNameOrPath });
    await mkdir(out, { recursive: true });
    const weights = join(out, 'adapter_model.safetensors');
    const config = join(out, 'adapter_config.json');
    await writeFile(weights, safetensors);
    await writeFile(config, `${JSON.stringify(adapterConfig, null, 2)}\n`);
    stage('export', started, `${weights} (${(safetensors.length / 1e6).toFixed(1)} MB), ${config}`);

    return {
      commit, stages, pythonFiles: files.length, testFiles, encodedFiles: encoding.files.length, tokens: encoding.tokens, parameters,
      baseModelNameOrPath, files: { weights, config },
    };
  } finally {
    if (temporary) await rm(temporary, { recursive: true, force: true });
    if (base.model !== encoder.model) base.model.dispose();
    encoder.model.dispose();
    for (const tensor of hypernetwork.weights.values()) tensor.dispose();
  }
}

function parseCommandLine(argv: string[]): MakeAdapterOptions {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      commit: { type: 'string' },
      model: { type: 'string' },
      hypernetwork: { type: 'string' },
      history: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (positionals.length !== 1) throw new MakeAdapterError('USAGE', `expected one repository, got ${positionals.length}\n${USAGE}`);
  if (!values.out) throw new MakeAdapterError('USAGE', `--out is required\n${USAGE}`);
  const history = values.history === undefined ? undefined : Number(values.history);
  if (history !== undefined && !(Number.isInteger(history) && history >= 1)) throw new MakeAdapterError('USAGE', `--history must be a positive integer, got ${values.history}`);
  return { source: positionals[0], commit: values.commit, model: values.model, hypernetwork: values.hypernetwork, history, out: values.out };
}

async function main(): Promise<void> {
  const started = performance.now();
  let options: MakeAdapterOptions;
  try {
    options = parseCommandLine(process.argv.slice(2));
  } catch (error) {
    // parseArgs's own errors (unknown option, missing value) are usage errors too.
    throw Object.assign(error as Error, { code: (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? 'USAGE' : (error as { code?: string }).code });
  }
  const report = await makeAdapterFromRepository(options);
  console.log(`  ${'total'.padEnd(13)} ${seconds(started).toFixed(2).padStart(7)} s  adapter for ${report.commit.slice(0, 12)} `
    + `from ${report.encodedFiles} of ${report.pythonFiles} Python files; base_model_name_or_path ${report.baseModelNameOrPath}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    const code = (error as { code?: unknown }).code;
    console.error(typeof code === 'string' ? `${code}: ${(error as Error).message}` : error);
    process.exit(1);
  });
}
