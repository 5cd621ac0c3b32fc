// Chooses a local model: one already kept in this browser, or a Hugging Face model folder / its files / a .gguf file picked now, checked and copied into the browser's private storage (in a worker, with progress and Cancel) before it is chosen.
import * as Comlink from 'comlink';
import { useCallback, useEffect, useRef, useState } from 'react';
import { formatBytes } from '../../util/formatBytes.ts';
import type { Progress } from '../../util/progress.ts';
import { listLocalModels, localModelRoot, suggestLocalModelName, type StoredLocalModel } from '../../offline/localModelStore.ts';
import { ProgressBar } from '../shared/ProgressBar.tsx';
import type { LocalModelImportApi } from '../workers/localModelImport.worker.ts';
import type { ModelChoice } from '../workers/pipelineApi.ts';

/** "CODE: message" for an error from the store or the import worker. */
function describeError(error: unknown): { code: string | null; message: string } {
  const e = error as { code?: unknown; message?: unknown } | null;
  return { code: typeof e?.code === 'string' ? e.code : null, message: String(e?.message ?? error) };
}

export function LocalModelPicker({ chosen, disabled, onChoose }: {
  /** The local model in the settings now, if one is. */
  chosen: string | null;
  disabled: boolean;
  onChoose: (choice: ModelChoice) => void;
}) {
  const [stored, setStored] = useState<StoredLocalModel[]>([]);
  const [selected, setSelected] = useState(chosen ?? '');
  const [picked, setPicked] = useState<File[]>([]);
  const [name, setName] = useState('');
  const [progress, setProgress] = useState<Progress | null>(null);
  const [error, setError] = useState<{ code: string | null; message: string } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const importer = useRef<Comlink.Remote<LocalModelImportApi> | null>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  const filesInput = useRef<HTMLInputElement>(null);

  const refresh = useCallback(async () => {
    try {
      const models = (await listLocalModels(await localModelRoot())).filter((model) => model.complete);
      setStored(models);
      setSelected((current) => (models.some((model) => model.name === current) ? current : models[0]?.name ?? ''));
    } catch (err) {
      setError(describeError(err));
    }
  }, []);
  useEffect(() => void refresh(), [refresh]);
  // Choosing another kind of model mid-copy hides this picker: the copy stops (keeping nothing) rather than choose later.
  useEffect(() => () => void importer.current?.cancel(), []);

  /** The latest pick replaces any earlier one, from either input (the other is emptied so it shows no stale pick). */
  const pick = (input: HTMLInputElement) => {
    const list = [...(input.files ?? [])];
    for (const other of [folderInput.current, filesInput.current]) if (other && other !== input) other.value = '';
    setPicked(list);
    setName(list.length > 0 ? suggestLocalModelName(list) : '');
    setError(null);
    setNotice(null);
  };

  /** Copies the picked files in a worker of their own (ended after), then chooses them; nothing is chosen on failure. */
  const importAndChoose = async () => {
    const worker = new Worker(new URL('../workers/localModelImport.worker.ts', import.meta.url), { type: 'module', name: 'local-model-import' });
    const api = Comlink.wrap<LocalModelImportApi>(worker);
    importer.current = api;
    setError(null);
    setNotice(null);
    setProgress({ stage: 'model', done: 0, unit: 'bytes', detail: 'checking the picked files' });
    try {
      const manifest = await api.importFiles({ files: picked, name }, Comlink.proxy((p) => setProgress({
        stage: 'model', done: p.done, total: p.total, unit: 'bytes', detail: `copying ${p.file} into this browser`,
      })));
      for (const input of [folderInput.current, filesInput.current]) if (input) input.value = '';
      setPicked([]);
      setSelected(manifest.name);
      await refresh();
      onChoose({ kind: 'local', name: manifest.name });
    } catch (err) {
      const described = describeError(err);
      if (described.code === 'CANCELLED') setNotice(described.message);
      else setError(described);
    } finally {
      importer.current = null;
      worker.terminate();
      setProgress(null);
    }
  };

  const busy = disabled || progress !== null;
  const canLoad = picked.length > 0 ? name.trim() !== '' : selected !== '';
  return (
    <div className="local-model-picker" data-testid="local-model-picker">
      {stored.length > 0 && (
        <label className="row">
          Kept in this browser
          <select
            aria-label="Local model" value={selected} disabled={busy || picked.length > 0}
            // Read again on focus: a model may have been deleted under Cached model files since.
            onFocus={() => void refresh()} onChange={(e) => setSelected(e.target.value)}
          >
            {stored.map((model) => (
              <option key={model.name} value={model.name}>{model.name} ({model.format === 'gguf' ? 'GGUF' : 'HF folder'}, {formatBytes(model.bytes)})</option>
            ))}
          </select>
        </label>
      )}
      <div className="row">
        {stored.length > 0 ? 'or pick' : 'Pick'} a Hugging Face model folder
        {/* webkitdirectory is not in React's types: set as an attribute. */}
        <input ref={(el) => { folderInput.current = el; el?.setAttribute('webkitdirectory', ''); }} type="file" aria-label="Model folder" disabled={busy} onChange={(e) => pick(e.currentTarget)} />
        or its files (config.json, tokenizer.json, model.safetensors) or one .gguf file
        <input ref={filesInput} type="file" multiple accept=".json,.safetensors,.gguf" aria-label="Model files" disabled={busy} onChange={(e) => pick(e.currentTarget)} />
      </div>
      {picked.length > 0 && (
        <label className="row">
          Keep as
          <input aria-label="Local model name" value={name} disabled={busy} onChange={(e) => setName(e.target.value)} />
          <small className="muted">{picked.length} files picked; only the model&apos;s own files are copied into this browser</small>
        </label>
      )}
      <button type="button" disabled={busy || !canLoad} onClick={() => void (picked.length > 0 ? importAndChoose() : onChoose({ kind: 'local', name: selected }))}>
        {picked.length > 0 ? 'Copy into this browser and load' : 'Load'}
      </button>
      {progress && <ProgressBar testId="progress-local-model" progress={progress} onCancel={() => void importer.current?.cancel()} />}
      {notice && <p className="notice" role="status" data-testid="local-model-notice">{notice}</p>}
      {error && (
        <div className="error" role="alert" data-testid="local-model-error">
          <strong>local model refused{error.code ? ` (${error.code})` : ''}:</strong> {/* Messages end with a full stop or not: one sentence end either way. */}
          {error.message.replace(/\.?$/, '.')} The loaded model is unchanged.
        </div>
      )}
    </div>
  );
}
