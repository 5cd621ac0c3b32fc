// Shows the generated adapter (shape, files it was made from, per-module update norms) and downloads it in PEFT's layout; an adapter for another commit than the selected one is marked and cannot be downloaded.
import { useState } from 'react';
import type { AdapterInfo, HypernetworkStatus } from '../workers/pipelineApi.ts';
import { hypernetworkFigures } from './ModelStatus.tsx';

function saveFile(name: string, data: BlobPart, type: string) {
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([data], { type }));
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

/** "12 test files and 1 empty file are not encoded ..." for the files of the snapshot the adapter does not read. */
function filesLeftOut(adapter: AdapterInfo): string {
  const empty = adapter.pythonFiles - adapter.testFiles - adapter.encodedFiles;
  const parts = [
    adapter.testFiles > 0 ? `${adapter.testFiles} test ${adapter.testFiles === 1 ? 'file' : 'files'} (the adapter describes the code; tests are what it is scored on)` : '',
    empty > 0 ? `${empty} ${empty === 1 ? 'file' : 'files'} without code` : '',
    adapter.skippedFiles > 0 ? `${adapter.skippedFiles} large, vendored, generated or binary ${adapter.skippedFiles === 1 ? 'file' : 'files'}` : '',
  ].filter(Boolean);
  return parts.length ? `Not encoded: ${parts.join('; ')}.` : 'Every Python file was encoded.';
}

export function AdapterPanel({ adapter, hypernetwork, selected, adapterFiles }: {
  adapter: AdapterInfo;
  hypernetwork: HypernetworkStatus;
  /** The selected commit: when the adapter is for another one, it is outdated (being regenerated). */
  selected: string | null;
  /** The adapter's PEFT files from the worker. */
  adapterFiles: () => Promise<{ safetensors: Uint8Array; adapterConfig: string }>;
}) {
  const [error, setError] = useState<string | null>(null);
  const maxNorm = Math.max(...Object.values(adapter.deltaNorms), 1e-12);
  const stale = adapter.commit !== selected;
  return (
    <section className="panel" data-testid="adapter" aria-busy={stale} data-stale={stale || undefined}>
      <h2>
        Adapter for {adapter.commit.slice(0, 8)}
        {stale && selected && <span className="stale-mark" data-testid="adapter-outdated"> · outdated: the adapter for {selected.slice(0, 8)} is not made yet</span>}
      </h2>
      <p>
        LoRA r={adapter.rank}, alpha={adapter.alpha} on {adapter.targetModules.join(', ')} × {adapter.layers} layers ·{' '}
        {adapter.parameters.toLocaleString()} parameters · from {adapter.encodedFiles} of {adapter.pythonFiles} Python files in {adapter.seconds.toFixed(2)} s
        {' '}(<span data-testid="encode-counts">{adapter.encodedFiles - adapter.cachedFiles} files encoded, {adapter.cachedFiles} from cache</span>;
        {' '}{adapter.encodedTokens.toLocaleString()} tokens read). <span data-testid="files-left-out">{filesLeftOut(adapter)}</span>
      </p>
      {adapter.hypernetworkTrained && hypernetwork.state === 'trained' && (
        <p data-testid="trained-hypernetwork">
          Made by the trained hypernetwork{hypernetworkFigures(hypernetwork) ? ` (${hypernetworkFigures(hypernetwork)})` : ''}.
        </p>
      )}
      {!adapter.hypernetworkTrained && (
        <p className="notice" data-testid="untrained-hypernetwork">
          No trained hypernetwork is loaded for this model, so this adapter comes from an untrained one: a deterministic
          function of the repository, in PEFT's exact layout, but it carries no repository knowledge. Expect its completions
          to differ from the base model's, not to beat them.
        </p>
      )}
      <table className="norms">
        <tbody>
          {Object.entries(adapter.deltaNorms).map(([module, norm]) => (
            <tr key={module}>
              <td>{module}</td>
              <td className="bar-cell">
                <span className="bar" style={{ width: `${(100 * norm) / maxNorm}%` }} />
              </td>
              <td>{norm.toExponential(2)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <button
        type="button"
        disabled={stale}
        onClick={async () => {
          try {
            const files = await adapterFiles();
            saveFile('adapter_model.safetensors', files.safetensors as Uint8Array<ArrayBuffer>, 'application/octet-stream');
            saveFile('adapter_config.json', files.adapterConfig, 'application/json');
          } catch (err) {
            setError(String((err as Error).message ?? err));
          }
        }}
      >
        Download adapter
      </button>
      {error && <div className="error" role="alert">{error}</div>}
    </section>
  );
}
