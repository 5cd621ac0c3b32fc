// Browser harness for the repo encoder: exposes `window.encodeHarness` so cli/bench-encode.ts can time a cold encode.
import * as tf from '@tensorflow/tfjs';
import treeSitterWasm from 'web-tree-sitter/web-tree-sitter.wasm?url';
import pythonWasm from 'tree-sitter-python/tree-sitter-python.wasm?url';
import { encodeRepository, type EncodeTimings } from '../../src/code2lora/repoEncoder.ts';
import { encoderReplicas, replicaCount } from '../../src/app/workers/encoderReplicas.ts';
import { initBackend, type BackendName } from '../../src/model/backend.ts';
import { filesFromUrl, loadHfModel } from '../../src/model/loadHfModel.ts';
import { WASM_BINARY_URLS } from '../../src/model/wasmBinaryUrls.ts';
import { loadPythonParser } from '../../src/parse/pythonParser.ts';
import { BpeTokenizer } from '../../src/tokenizer/bpeTokenizer.ts';

export interface EncodeReport {
  backend: string;
  /** Encoder and parser loading (not part of the encode). */
  loadMs: number;
  /**
   * encodeRepository over every file, no embedding cache: what the app's encode stage runs on a first visit (with
   * workers, their start and the copy of the weights to each are part of it, as in the app).
   */
  encodeMs: number;
  /** Encoder replicas in Web Workers (0: the page's own thread only). */
  workers: number;
  /** The encoder's layers that ran (all of them unless `layers` was given). */
  layers: number;
  files: number;
  tokens: number;
  /** Where the encode's time went: parsing + chunking + tokenizing, and the encoder's forward passes (the rest: hashing, yields). */
  timings: EncodeTimings;
  /** Every file's embedding (paths in order, values concatenated), when asked for: to check that a change keeps them. */
  embeddings: { paths: string[]; values: number[] } | null;
}

const harness = {
  /** How many encoder workers the app would start in this browser (after the WASM backend is up). */
  async appWorkers(): Promise<number> {
    await initBackend({ preference: 'wasm', wasmBinaries: WASM_BINARY_URLS });
    return replicaCount();
  },

  /** `layers`: read the hidden state after this layer, as a hypernetwork whose config names it does (encodeRepository `layer`). */
  async encode({ backend, modelUrl, files, workers, layers, withEmbeddings = false }: {
    backend: BackendName; modelUrl: string; files: Array<{ path: string; content: string }>; workers: number; layers?: number;
    withEmbeddings?: boolean;
  }): Promise<EncodeReport> {
    const loadStarted = performance.now();
    const active = await initBackend({ preference: backend, wasmBinaries: WASM_BINARY_URLS });
    if (active !== backend) throw new Error(`asked for ${backend}, got ${active}`);
    const tokenizer = BpeTokenizer.fromJSON(await (await fetch(new URL('tokenizer.json', modelUrl))).text());
    const { model } = await loadHfModel(filesFromUrl(modelUrl));
    const parser = await loadPythonParser({ locateWasm: { treeSitter: treeSitterWasm, python: new URL(pythonWasm, location.href).href } });
    const loadMs = performance.now() - loadStarted;
    const replicas = workers > 0 ? encoderReplicas(model, workers) : null;
    try {
      const timings: EncodeTimings = { chunkMs: 0, forwardMs: 0 };
      const started = performance.now();
      const encoding = await encodeRepository({ files, encoder: { model, tokenizer, replicas: replicas?.embedders }, layer: layers, parser, timings });
      const encodeMs = performance.now() - started;
      return {
        backend: tf.getBackend(), loadMs, encodeMs, workers, layers: layers ?? model.config.numLayers, files: encoding.files.length, tokens: encoding.tokens, timings,
        embeddings: withEmbeddings
          ? { paths: encoding.files.map((file) => file.path), values: encoding.files.flatMap((file) => Array.from(file.embedding)) }
          : null,
      };
    } finally {
      replicas?.terminate();
      model.dispose();
    }
  },
};

declare global {
  interface Window { encodeHarness: typeof harness }
}
window.encodeHarness = harness;
document.getElementById('status')!.textContent = 'ready';
