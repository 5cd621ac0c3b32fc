// "Cached model files": the model files this browser keeps for offline use (Cache Storage), with their sizes; Delete per file and Delete all; whether the app itself is kept offline; and the local models copied from the user's files (private file storage), with Delete.
import { useCallback } from 'react';
import { formatBytes } from '../../git/guardedHttp.ts';
import { APP_CACHE_PREFIX } from '../../offline/cachePolicy.ts';
import {
  appShellSize, deleteAllCachedModelFiles, deleteCachedModelFile, listCachedModelFiles, type CachedModelFile,
} from '../../offline/modelFileCache.ts';
import { deleteLocalModel, listLocalModels, localModelRoot, LocalModelError, type StoredLocalModel } from '../../offline/localModelStore.ts';
import { useCacheSection } from './useCacheSection.ts';

interface CacheView {
  files: CachedModelFile[];
  app: { files: number; bytes: number } | null;
  localModels: StoredLocalModel[];
}

/** The local models, or none where the browser has no private file storage. */
async function readLocalModels(): Promise<StoredLocalModel[]> {
  try {
    return await listLocalModels(await localModelRoot());
  } catch (error) {
    if (error instanceof LocalModelError && error.code === 'UNAVAILABLE') return [];
    throw error;
  }
}

/** The app's base URL in the page. */
function appBase(): URL {
  return new URL(import.meta.env.BASE_URL, location.href);
}

export function CachedModelFiles({ disabled, refreshKey }: {
  /** While the app is busy nothing is deleted (a model may be loading from the cache). */
  disabled: boolean;
  /** Changes when model files may have been kept (a model was loaded): the list is read again (only while open). */
  refreshKey: string;
}) {
  const available = typeof caches !== 'undefined';
  const read = useCallback(async (): Promise<CacheView> => {
    const [files, app, localModels] = await Promise.all([
      available ? listCachedModelFiles(caches, appBase()) : [], available ? appShellSize(caches, APP_CACHE_PREFIX) : null, readLocalModels(),
    ]);
    return { files, app, localModels };
  }, [available]);
  const { setExpanded, view, done, error, act } = useCacheSection<CacheView>({
    read, readError: 'Could not read the cached model files', refreshKey,
  });

  const deleteOne = (file: CachedModelFile) => act(async () => {
    await deleteCachedModelFile(caches, file.url);
    return `Deleted ${file.path} (${formatBytes(file.bytes)}): it is downloaded again when a model needs it.`;
  });

  const deleteAll = () => act(async () => {
    await deleteAllCachedModelFiles(caches);
    return 'Deleted every cached model file: models are downloaded again when loaded.';
  });

  const deleteLocal = (model: StoredLocalModel) => act(async () => {
    await deleteLocalModel(await localModelRoot(), model.name);
    return `Deleted the local model ${model.name} (${formatBytes(model.bytes)}): to use it again, pick its files again. A model loaded now stays loaded until the page is reloaded.`;
  });

  const files = view?.files ?? [];
  const localModels = view?.localModels ?? [];
  const total = files.reduce((sum, file) => sum + file.bytes, 0);
  return (
    <details onToggle={(e) => setExpanded(e.currentTarget.open)} data-testid="cached-model-files">
      <summary>Cached model files</summary>
      {!available && <p className="muted">This browser keeps no files for offline use here (Cache Storage needs https or localhost).</p>}
      {view && (
        <p className="muted" data-testid="offline-status">
          {view.app
            ? `For offline use this browser keeps the app (${view.app.files} files, ${formatBytes(view.app.bytes)}) and the model files below; a reload without network opens them.`
            : 'The app is not kept for offline use yet (it is once its service worker has installed, on a served build).'}
        </p>
      )}
      {view && files.length === 0 && <p className="muted">No model files are cached in this browser.</p>}
      {files.length > 0 && <p className="muted" data-testid="cached-model-total">{files.length} files, {formatBytes(total)} in all.</p>}
      <ul aria-label="Cached model files">
        {files.map((file) => (
          <li key={file.url} className="row">
            <span>{file.path}</span>
            <span className="muted">{formatBytes(file.bytes)}</span>
            <button type="button" aria-label={`Delete ${file.path}`} aria-disabled={disabled} onClick={() => void (!disabled && deleteOne(file))}>
              Delete
            </button>
          </li>
        ))}
      </ul>
      {files.length > 0 && (
        <button type="button" aria-disabled={disabled} onClick={() => void (!disabled && deleteAll())}>
          Delete all cached model files
        </button>
      )}
      {localModels.length > 0 && <p className="muted">Local models, copied from your files into this browser&apos;s private storage:</p>}
      <ul aria-label="Local models">
        {localModels.map((model) => (
          <li key={model.name} className="row">
            <span>{model.name}</span>
            <span className="muted">
              {formatBytes(model.bytes)} · {model.complete ? (model.format === 'gguf' ? 'GGUF file' : 'Hugging Face folder') : 'incomplete copy (never loaded)'}
            </span>
            <button type="button" aria-label={`Delete local model ${model.name}`} aria-disabled={disabled} onClick={() => void (!disabled && deleteLocal(model))}>
              Delete
            </button>
          </li>
        ))}
      </ul>
      {done && <p className="notice" role="status" data-testid="cached-model-files-done">{done}</p>}
      {error && <p className="error" role="alert" data-testid="cached-model-files-error">{error}</p>}
    </details>
  );
}
