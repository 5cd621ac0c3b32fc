// Checks a pick of model files and copies it into this browser's private storage, off the page's thread (reading headers, streaming files); cancel() stops the copy, which then keeps nothing.
import * as Comlink from 'comlink';
import './errorTransfer.ts';
import { importLocalModel, localModelRoot, type ImportProgress, type LocalModelManifest } from '../../offline/localModelStore.ts';
import { planLocalModel } from '../../offline/planLocalModel.ts';

export interface LocalModelImportApi {
  /** Errors: LocalModelError (with its code), from the checks or the copy. */
  importFiles(request: { files: File[]; name: string }, onProgress: (progress: ImportProgress) => void): Promise<LocalModelManifest>;
  cancel(): void;
}

// One import per worker: the page starts a worker for each and ends it after.
const cancelled = new AbortController();

const api: LocalModelImportApi = {
  async importFiles({ files, name }, onProgress) {
    const plan = await planLocalModel(files);
    return importLocalModel({
      root: await localModelRoot(), plan, name, signal: cancelled.signal, onProgress, estimate: () => navigator.storage.estimate(),
    });
  },
  cancel() {
    cancelled.abort();
  },
};

Comlink.expose(api);
