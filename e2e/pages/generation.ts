// Benchmark harness for generation: exposes `window.generationHarness` so cli/bench-browser.ts can time our runtime and
// wllama (llama.cpp compiled to WebAssembly) on the same GGUF file and the same prompts, in the same Chromium.
//
// Ours runs exactly what the app's worker runs (loadGgufModel, generate with a PromptCache); it runs on this page's
// thread, which costs the same renderer memory as the app's worker.
import { Wllama } from '@wllama/wllama';
import wllamaWasm from '@wllama/wllama/esm/wasm/wllama.wasm?url';
import { initBackend, type BackendName } from '../../src/model/backend.ts';
import { WASM_BINARY_URLS } from '../../src/model/wasmBinaryUrls.ts';
import { generate, type GenerateOptions } from '../../src/model/generate.ts';
import { loadGgufModel } from '../../src/model/gguf.ts';
import type { LlamaModel } from '../../src/model/llama.ts';
import { disposePreparedLora, prepareLora, randomLoraAdapter } from '../../src/model/lora.ts';
import { PromptCache } from '../../src/model/promptCache.ts';

export interface PromptTiming {
  label: string;
  promptTokens: number;
  /** From the request to the first generated token. */
  firstTokenMs: number;
  prefillTokensPerS: number;
  generatedTokens: number;
  decodeTokensPerS: number;
}

export interface OursReport {
  backend: string;
  loadMs: number;
  prompts: PromptTiming[];
  /** Decode tokens/s of the first prompt's continuation with a rank-16 adapter on all modules, unmerged, and without. */
  adapterDecode: { rank: number; baseTokensPerS: number; adaptedTokensPerS: number } | null;
  /** Request-to-first-token after each one-character edit at the end of the file, with the prompt cache. */
  ghostText: { fileTokens: number; latenciesMs: number[]; reusedTokens: number[] } | null;
}

export interface WllamaReport {
  threads: number;
  multithread: boolean;
  loadMs: number;
  prompts: PromptTiming[];
}

const now = () => performance.now();
const idle = () => new Promise((resolve) => setTimeout(resolve, 50));

/** Times one generation of `newTokens` tokens (no stop token or sequence) with our runtime. */
async function timeOurs(
  model: LlamaModel, label: string, prompt: string, newTokens: number, options: Omit<GenerateOptions, 'maxNewTokens'>,
): Promise<PromptTiming> {
  const started = now();
  let prefilled = started;
  let first = 0;
  let last = 0;
  const result = await generate(model, prompt, {
    ...options, maxNewTokens: newTokens, stopTokenIds: [], stopSequences: [],
    onPrefill: () => { prefilled = now(); },
    onToken: ({ index }) => {
      last = now();
      if (index === 0) first = last;
    },
  });
  const generated = result.ids.length;
  return {
    label, promptTokens: result.promptTokens, firstTokenMs: first - started,
    prefillTokensPerS: (result.promptTokens - result.reusedPromptTokens) / ((prefilled - started) / 1000),
    generatedTokens: generated, decodeTokensPerS: generated > 1 ? (generated - 1) / ((last - first) / 1000) : 0,
  };
}

const harness = {
  /**
   * Our runtime: loads the GGUF, warms up, then times each prompt, the decode with an adapter applied, and the ghost
   * text after one-character edits at the end of `ghostFile`.
   */
  async ours({ ggufUrl, backend, prompts, newTokens, ghostFile, ghostEdits, adapterRank }: {
    ggufUrl: string; backend: BackendName; prompts: Array<{ label: string; text: string }>; newTokens: number;
    ghostFile: string | null; ghostEdits: number; adapterRank: number;
  }): Promise<OursReport> {
    const active = await initBackend({ preference: backend, wasmBinaries: WASM_BINARY_URLS });
    const loadStarted = now();
    const response = await fetch(ggufUrl);
    if (!response.ok) throw new Error(`${ggufUrl}: HTTP ${response.status}`);
    const { model, tokenizer } = await loadGgufModel(new Uint8Array(await response.arrayBuffer()));
    const loadMs = now() - loadStarted;
    try {
      await timeOurs(model, 'warm-up', 'def warm_up(x):\n    return', 8, { tokenizer });
      const timings: PromptTiming[] = [];
      for (const { label, text } of prompts) {
        await idle();
        timings.push(await timeOurs(model, label, text, newTokens, { tokenizer }));
      }

      let adapterDecode: OursReport['adapterDecode'] = null;
      if (adapterRank > 0 && prompts.length > 0) {
        const lora = prepareLora(randomLoraAdapter(model.config, { rank: adapterRank, alpha: 2 * adapterRank, seed: 1, std: 0.01 }), model.config);
        const short = tokenizer.decode(tokenizer.encode(prompts[0].text).slice(0, 64));
        let baseTokensPerS = 0;
        let adaptedTokensPerS = 0;
        for (let round = 0; round < 2; round++) { // interleaved, best of two: the machine is shared and noisy
          baseTokensPerS = Math.max(baseTokensPerS, (await timeOurs(model, 'base', short, newTokens, { tokenizer })).decodeTokensPerS);
          adaptedTokensPerS = Math.max(adaptedTokensPerS, (await timeOurs(model, 'adapted', short, newTokens, { tokenizer, lora })).decodeTokensPerS);
        }
        disposePreparedLora(lora);
        adapterDecode = { rank: adapterRank, baseTokensPerS, adaptedTokensPerS };
      }

      let ghostText: OursReport['ghostText'] = null;
      if (ghostFile !== null) {
        const promptCache = new PromptCache(model.config.numLayers, model.config.maxPositionEmbeddings);
        let text = ghostFile;
        await timeOurs(model, 'ghost: open the file', text, 8, { tokenizer, promptCache });
        const latenciesMs: number[] = [];
        const reusedTokens: number[] = [];
        // Typing a line of code at the end of the file, one character per request, each request's ghost text 8 tokens.
        const typed = '    result = compute(values, key=None)\n';
        for (let i = 0; i < ghostEdits; i++) {
          text += typed[i % typed.length];
          const timing = await timeOurs(model, 'ghost', text, 8, { tokenizer, promptCache });
          latenciesMs.push(timing.firstTokenMs);
          reusedTokens.push(promptCache.lastReused);
        }
        promptCache.clear();
        ghostText = { fileTokens: tokenizer.encode(ghostFile).length, latenciesMs, reusedTokens };
      }
      return { backend: active, loadMs, prompts: timings, adapterDecode, ghostText };
    } finally {
      model.dispose();
    }
  },

  /** wllama on `threads` threads (more than one needs a cross-origin isolated page): load, warm up, time each prompt. */
  async wllama({ ggufUrl, prompts, newTokens, threads, contextTokens }: {
    ggufUrl: string; prompts: Array<{ label: string; text: string }>; newTokens: number; threads: number; contextTokens: number;
  }): Promise<WllamaReport> {
    const wllama = new Wllama({ default: wllamaWasm }, { suppressNativeLog: true });
    const loadStarted = now();
    await wllama.loadModelFromUrl(ggufUrl, { n_ctx: contextTokens, n_batch: 512, n_threads: threads, useCache: false, n_gpu_layers: 0 });
    const loadMs = now() - loadStarted;
    const complete = async (label: string, prompt: string, maxTokens: number): Promise<PromptTiming> => {
      const started = now();
      let first = 0;
      let last = 0;
      let chunks = 0;
      let timings: { prompt_n: number; prompt_per_second: number; predicted_n: number; predicted_per_second: number } | undefined;
      await wllama.createCompletion({
        prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true, stream: true,
        onData: (chunk) => {
          last = now();
          if (chunks++ === 0) first = last;
          timings = chunk.timings ?? timings;
        },
      });
      if (!timings) throw new Error('wllama reported no timings');
      return {
        label, promptTokens: timings.prompt_n, firstTokenMs: first - started, prefillTokensPerS: timings.prompt_per_second,
        generatedTokens: timings.predicted_n, decodeTokensPerS: timings.predicted_per_second,
      };
    };
    try {
      await complete('warm-up', 'def warm_up(x):\n    return', 8);
      const timings: PromptTiming[] = [];
      for (const { label, text } of prompts) {
        await idle();
        timings.push(await complete(label, text, newTokens));
      }
      return { threads: wllama.getNumThreads(), multithread: wllama.isMultithread(), loadMs, prompts: timings };
    } finally {
      await wllama.exit();
    }
  },
};

declare global {
  interface Window { generationHarness: typeof harness }
}
window.generationHarness = harness;
document.getElementById('status')!.textContent = 'ready';
