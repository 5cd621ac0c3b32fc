// "Stored repositories": the clones this browser keeps (URL, size, which is open), the storage estimate, Delete per clone, and clearing the embedding and Evo state cache.
import { useCallback } from 'react';
import { formatBytes } from '../../git/guardedHttp.ts';
import type { PipelineClient } from '../pipelineClient.ts';
import { useCacheSection } from './useCacheSection.ts';
import type { StorageStatus, StoredRepository } from '../workers/pipelineApi.ts';

/** A clone's name as the user knows it: its URL, or its directory for a half-written one (no URL recorded). */
function repositoryName(repository: StoredRepository): string {
  return repository.url ?? `${repository.dir} (half-written clone)`;
}

export function StoredRepositories({ pipeline, disabled, refreshKey, onOpenDeleted }: {
  pipeline: Pick<PipelineClient, 'call'>;
  /** While the app is busy nothing is deleted (an operation may be reading the clone). */
  disabled: boolean;
  /** Changes when a clone may have been added or grown: the list is read again (only while the section is open). */
  refreshKey: string;
  /** The loaded repository was deleted: the app returns to its empty state. */
  onOpenDeleted: () => void;
}) {
  const read = useCallback(() => pipeline.call((api) => api.storageStatus()), [pipeline]);
  const { setExpanded, view: status, done, error, act } = useCacheSection<StorageStatus>({
    read, readError: 'Could not read the stored repositories', refreshKey,
  });

  const deleteRepository = (repository: StoredRepository) => act(async () => {
    const { wasOpen } = await pipeline.call((api) => api.deleteRepository(repository.dir));
    if (wasOpen) onOpenDeleted();
    return `Deleted ${repositoryName(repository)}${wasOpen ? ': it was open, so nothing is loaded now' : ''}.`;
  });

  const clearCaches = () => act(async () => {
    await pipeline.call((api) => api.clearCachedEmbeddings());
    return 'Cleared cached embeddings and Evo states: they are computed again when needed.';
  });

  const repositories = status?.repositories ?? [];
  return (
    <details onToggle={(e) => setExpanded(e.currentTarget.open)} data-testid="stored-repositories">
      <summary>Stored repositories</summary>
      {status?.estimate && (
        <p className="muted" data-testid="storage-estimate">
          This site uses {formatBytes(status.estimate.usage)} of the {formatBytes(status.estimate.quota)} the browser allows it.
        </p>
      )}
      {status && repositories.length === 0 && <p className="muted">No repositories are stored in this browser.</p>}
      {/* Names are rendered as text only: React escapes them, and nothing here sets HTML. */}
      <ul aria-label="Stored repositories">
        {repositories.map((repository) => (
          <li key={repository.dir} className="row" data-open={repository.open || undefined}>
            <span>{repositoryName(repository)}</span>
            <span className="muted">{formatBytes(repository.bytes)}{repository.open ? ' · open now' : ''}</span>
            <button type="button" aria-label={`Delete ${repositoryName(repository)}`} aria-disabled={disabled} onClick={() => void (!disabled && deleteRepository(repository))}>
              {repository.open ? 'Delete (closes it)' : 'Delete'}
            </button>
          </li>
        ))}
      </ul>
      <button type="button" aria-disabled={disabled} onClick={() => void (!disabled && clearCaches())}>
        Clear cached embeddings and Evo states
      </button>
      {done && <p className="notice" role="status" data-testid="storage-done">{done}</p>}
      {error && <p className="error" role="alert" data-testid="storage-error">{error}</p>}
    </details>
  );
}
