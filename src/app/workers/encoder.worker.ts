// An encoder replica: a copy of the repo encoder in its own Web Worker, on the WASM backend, embedding one file's
// chunks per call. The pipeline worker runs several (encoderReplicas.ts) so that a first encode uses every core:
// tfjs-wasm computes on one thread, and its threaded build gave nothing here (DESIGN.md, section 3).
import * as Comlink from 'comlink';
import './errorTransfer.ts';
import { embedFileChunks } from '../../code2lora/repoEncoder.ts';
import { initBackend } from '../../model/backend.ts';
import { LlamaModel, type PlainModel } from '../../model/llama.ts';
import { WASM_BINARY_URLS } from '../../model/wasmBinaryUrls.ts';

let model: LlamaModel | null = null;

const api = {
  /** Takes the encoder's weights (LlamaModel.toPlain in the pipeline worker). */
  async load(plain: PlainModel): Promise<void> {
    await initBackend({ preference: 'wasm', wasmBinaries: WASM_BINARY_URLS });
    model?.dispose();
    model = null;
    model = LlamaModel.fromPlain(plain);
  },

  /** One file's embedding (EmbedFileChunks); its buffer is handed over, not copied. */
  async embed(chunks: number[][], layer?: number): Promise<Float32Array> {
    if (!model) throw new Error('The encoder replica was given no weights');
    const embedding = await embedFileChunks(chunks, model, layer);
    return Comlink.transfer(embedding, [embedding.buffer]);
  },
};

export type EncoderReplicaApi = typeof api;

Comlink.expose(api);
