// Benchmark methods: each turns a repository into per-repo state, then completes tasks with greedy decoding.
import { makeRepoAdapter, type Hypernetwork } from '../code2lora/makeAdapter.ts';
import { generate, type TextTokenizer } from '../model/generate.ts';
import type { LlamaModel } from '../model/llama.ts';
import { disposePreparedLora, prepareLora, type LoraAdapter, type PreparedLora } from '../model/lora.ts';
import { isTestPath } from '../git/pathFilters.ts';
import type { SnapshotFile } from '../parse/mineTasks.ts';
import type { PythonParser } from '../parse/pythonParser.ts';
import { isFirstLineFinal } from './metrics.ts';
import { Bm25Index, chunkRepository } from './retrieval.ts';
import type { BenchTask } from './taskSet.ts';

export const METHOD_NAMES = [
  'base', 'rag', 'code2lora-static', 'shuffled-adapter', 'shared-lora', 'per-repo-lora', 'code2lora-evo',
] as const;
export type MethodName = (typeof METHOD_NAMES)[number];

/** The frozen base model and how every method decodes with it. */
export interface BenchRuntime {
  model: LlamaModel;
  tokenizer: TextTokenizer;
  parser: PythonParser;
  /** The paper's 64. */
  maxNewTokens: number;
  /** Prompt plus generation never exceed this (the model's context); longer prompts lose their start. */
  contextTokens: number;
}

/** One repository at one commit: what a method may look at to prepare itself. */
export interface RepoContext {
  repo: string;
  commit: string;
  /** Every Python file at `commit`, tests included (methods decide what they read). */
  files: SnapshotFile[];
  /** Another repository's head, for the shuffled-adapter control; null when the benchmark has one repository. */
  donor: RepoContext | null;
}

export interface MethodPrediction {
  /** The raw greedy continuation; post-processing belongs to scoring. */
  prediction: string;
  promptTokens: number;
  /** Tokens the method added to the task's prompt (RAG's retrieved code), after truncation to the context. */
  extraPromptTokens: number;
}

export interface PreparedMethod {
  predict: (task: BenchTask, signal?: AbortSignal) => Promise<MethodPrediction>;
  dispose: () => void;
}

export interface BenchMethod {
  name: MethodName;
  /** Builds the per-repo state (index, adapter); its cost is reported apart from per-task time. */
  prepare: (context: RepoContext, signal?: AbortSignal) => Promise<PreparedMethod>;
}

export class MethodUnavailableError extends Error {
  constructor(readonly code: 'NO_WEIGHTS' | 'NOT_IMPLEMENTED' | 'NO_ADAPTER_FOR_REPO' | 'NEEDS_TWO_REPOS' | 'UNKNOWN_METHOD', message: string) {
    super(message);
    this.name = 'MethodUnavailableError';
  }
}

/** The abort reason that ends generation once a one-line target's first line is complete (not an error). */
class FirstLineComplete extends Error {}

/**
 * Greedy decoding of at most `maxNewTokens` tokens (stopping at the end-of-text token), as the paper decodes. For a
 * one-line target it also stops as soon as the continuation's first non-blank line is complete: scoring keeps only
 * that line, so the score is the same as for the full 64 tokens, at a fraction of the cost.
 */
export async function completePrompt(
  runtime: BenchRuntime,
  promptIds: number[],
  { target, lora, signal }: { target: string; lora?: PreparedLora | null; signal?: AbortSignal },
): Promise<string> {
  const stopEarly = !target.includes('\n');
  const local = new AbortController();
  const combined = signal ? AbortSignal.any([signal, local.signal]) : local.signal;
  let text = '';
  try {
    const result = await generate(runtime.model, promptIds, {
      tokenizer: runtime.tokenizer,
      maxNewTokens: runtime.maxNewTokens,
      lora,
      signal: combined,
      onToken: (token) => {
        text = token.text;
        if (stopEarly && isFirstLineFinal(text)) local.abort(new FirstLineComplete());
      },
    });
    return result.text;
  } catch (error) {
    if (error instanceof FirstLineComplete) return text;
    throw error;
  }
}

/** The last `limit` ids: a prompt too long for the context loses its start, as the authors truncate. */
function keepLast(ids: number[], limit: number): number[] {
  return ids.length > limit ? ids.slice(ids.length - limit) : ids;
}

function promptBudget(runtime: BenchRuntime): number {
  return runtime.contextTokens - runtime.maxNewTokens;
}

/** A method that completes the task's own prompt, optionally with a LoRA adapter. */
function plainPredictor(runtime: BenchRuntime, lora: PreparedLora | null): PreparedMethod['predict'] {
  return async (task, signal) => {
    const ids = keepLast(runtime.tokenizer.encode(task.prompt), promptBudget(runtime));
    const prediction = await completePrompt(runtime, ids, { target: task.target, lora, signal });
    return { prediction, promptTokens: ids.length, extraPromptTokens: 0 };
  };
}

function nonTestFiles(files: readonly SnapshotFile[]): SnapshotFile[] {
  return files.filter((file) => !isTestPath(file.path));
}

function withAdapter(runtime: BenchRuntime, adapter: LoraAdapter): PreparedMethod {
  const lora = prepareLora(adapter, runtime.model.config);
  return { predict: plainPredictor(runtime, lora), dispose: () => disposePreparedLora(lora) };
}

/** Retrieved chunks as they are prepended to the prompt. */
function formatRetrieved(chunks: readonly { path: string; startLine: number; text: string }[]): string {
  return chunks.map((chunk) => `# Retrieved from ${chunk.path}, line ${chunk.startLine}:\n${chunk.text.trimEnd()}\n\n`).join('');
}

export interface MethodResources {
  /** Code2LoRA's hypernetwork (randomly initialised until a trained one is passed). */
  hypernetwork: Hypernetwork;
  /** One adapter for every repository (PEFT directory), when its weights exist. */
  sharedLora?: LoraAdapter | null;
  /** Per-repository adapters (PEFT directories), when their weights exist: null for a repository without one. */
  perRepoLora?: ((repo: string) => Promise<LoraAdapter | null>) | null;
  /** RAG: chunks retrieved per task (paper: 3). */
  ragTopK?: number;
  /** RAG: the query is the end of the prompt, this many characters. */
  ragQueryChars?: number;
}

/**
 * Builds a named method. Methods whose weights are missing throw MethodUnavailableError with a code saying why, so
 * a benchmark asks only for what it can run.
 *
 * @example const method = createMethod('rag', runtime, { hypernetwork }); const state = await method.prepare(context);
 */
export function createMethod(name: string, runtime: BenchRuntime, resources: MethodResources): BenchMethod {
  const { hypernetwork, ragTopK = 3, ragQueryChars = 2000 } = resources;
  const adapterOf = async (files: readonly SnapshotFile[], signal?: AbortSignal) => (await makeRepoAdapter({
    files: nonTestFiles(files), encoder: { model: runtime.model, tokenizer: runtime.tokenizer }, baseModel: runtime.model.config,
    parser: runtime.parser, hypernetwork, signal,
  })).adapter;
  switch (name) {
    case 'base':
      return { name, prepare: async () => ({ predict: plainPredictor(runtime, null), dispose: () => {} }) };
    case 'rag':
      return {
        name,
        prepare: async (context) => {
          const index = new Bm25Index(chunkRepository(context.files, runtime.parser));
          const budget = promptBudget(runtime);
          return {
            predict: async (task, signal) => {
              const plainIds = keepLast(runtime.tokenizer.encode(task.prompt), budget);
              const retrieved = formatRetrieved(index.search(task.prompt.slice(-ragQueryChars), ragTopK));
              const ids = keepLast(runtime.tokenizer.encode(retrieved + task.prompt), budget);
              const prediction = await completePrompt(runtime, ids, { target: task.target, signal });
              return { prediction, promptTokens: ids.length, extraPromptTokens: ids.length - plainIds.length };
            },
            dispose: () => {},
          };
        },
      };
    case 'code2lora-static':
      return { name, prepare: async (context, signal) => withAdapter(runtime, await adapterOf(context.files, signal)) };
    case 'shuffled-adapter':
      return {
        name,
        prepare: async (context, signal) => {
          if (!context.donor) throw new MethodUnavailableError('NEEDS_TWO_REPOS', 'shuffled-adapter needs at least two repositories');
          return withAdapter(runtime, await adapterOf(context.donor.files, signal));
        },
      };
    case 'shared-lora': {
      const adapter = resources.sharedLora;
      if (!adapter) throw new MethodUnavailableError('NO_WEIGHTS', 'shared-lora needs a PEFT adapter directory (--shared-lora DIR)');
      return { name, prepare: async () => withAdapter(runtime, adapter) };
    }
    case 'per-repo-lora': {
      const load = resources.perRepoLora;
      if (!load) throw new MethodUnavailableError('NO_WEIGHTS', 'per-repo-lora needs a directory of per-repository PEFT adapters (--per-repo-lora DIR)');
      return {
        name,
        prepare: async (context) => {
          const adapter = await load(context.repo);
          if (!adapter) throw new MethodUnavailableError('NO_ADAPTER_FOR_REPO', `per-repo-lora: no adapter for ${context.repo}`);
          return withAdapter(runtime, adapter);
        },
      };
    }
    case 'code2lora-evo':
      throw new MethodUnavailableError('NOT_IMPLEMENTED', 'code2lora-evo needs Evo GRU inference in src/code2lora, which does not exist yet');
    default:
      throw new MethodUnavailableError('UNKNOWN_METHOD', `unknown method ${JSON.stringify(name)} (known: ${METHOD_NAMES.join(', ')})`);
  }
}
