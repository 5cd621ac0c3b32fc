// The repo encoder's replicas for the pipeline worker: Web Workers (encoder.worker.ts) that each hold a copy of the
// encoder and embed one file at a time, so that encodeRepository spreads a snapshot's files over the cores.
import * as Comlink from 'comlink';
import * as tf from '@tensorflow/tfjs';
import { embedFileChunks, type EmbedFileChunks } from '../../code2lora/repoEncoder.ts';
import type { LlamaModel, PlainModel } from '../../model/llama.ts';
import type { EncoderReplicaApi } from './encoder.worker.ts';

/** At most this many replicas: each holds the encoder (c2l-base: ~40 MB of float32 weights, ~110 MB with XNNPACK's packed copies). */
const MOST_REPLICAS = 4;

/**
 * How many replicas to run: one per core the browser reports, up to MOST_REPLICAS, and none where one core runs
 * everything anyway or where the encoder computes on WebGPU (the replicas run on WASM, slower than a real GPU).
 */
export function replicaCount(cores: number | undefined = globalThis.navigator?.hardwareConcurrency): number {
  if (tf.getBackend() !== 'wasm' || !cores || cores < 2) return 0;
  return Math.min(cores, MOST_REPLICAS);
}

export interface EncoderReplicas {
  /** The encoder they copy. */
  model: LlamaModel;
  /** One EmbedFileChunks per replica (RepoEncoderModel.replicas). */
  embedders: EmbedFileChunks[];
  /** Stops the replicas' workers (a new encoder, or the model unloaded). */
  terminate(): void;
}

/**
 * `count` replicas of `model`, each started on its first file (a worker, the WASM backend, a copy of the weights).
 * A replica that cannot start or dies embeds on this thread from then on, with the same model and the same function,
 * so an encode never fails for want of a worker; the first such fault is logged.
 */
export function encoderReplicas(model: LlamaModel, count: number): EncoderReplicas {
  let plain: PlainModel | null = null;
  /** Each started worker, with the way to fail its calls in flight: Comlink's would wait forever on a dead worker. */
  const started: Array<{ worker: Worker; stop: (reason: Error) => void }> = [];
  let faultLogged = false;
  const embedders = Array.from({ length: count }, (_, index): EmbedFileChunks => {
    let replica: Promise<{ remote: Comlink.Remote<EncoderReplicaApi>; fault: Promise<never> }> | null = null;
    let broken = false;
    const start = async () => {
      const worker = new Worker(new URL('./encoder.worker.ts', import.meta.url), { type: 'module', name: `encoder-${index + 1}` });
      let stop!: (reason: Error) => void;
      const fault = new Promise<never>((_, reject) => (stop = reject));
      fault.catch(() => undefined); // observed by the calls that race it
      worker.addEventListener('error', (event) => stop(new Error(event.message || 'the worker could not start or stopped')));
      worker.addEventListener('messageerror', () => stop(new Error('a message from the worker could not be read')));
      started.push({ worker, stop });
      const remote = Comlink.wrap<EncoderReplicaApi>(worker);
      // Read once, on the first replica's first file; structured clone copies it to each worker.
      plain ??= model.toPlain();
      await Promise.race([remote.load(plain), fault]);
      return { remote, fault };
    };
    return async (chunks, layer) => {
      if (!broken) {
        try {
          replica ??= start();
          const { remote, fault } = await replica;
          return await Promise.race([remote.embed(chunks, layer), fault]);
        } catch (error) {
          broken = true;
          if (!faultLogged) console.warn(`An encoder worker failed (${(error as Error).message}); its files are embedded in the pipeline worker.`);
          faultLogged = true;
        }
      }
      return embedFileChunks(chunks, model, layer);
    };
  });
  return {
    model,
    embedders,
    terminate() {
      for (const { worker, stop } of started.splice(0)) {
        worker.terminate();
        stop(new Error('the encoder workers were stopped'));
      }
    },
  };
}
