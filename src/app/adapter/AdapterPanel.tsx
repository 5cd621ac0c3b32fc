// Shows the generated adapter (Static or Evo; shape, what it was made from, per-module update norms, Evo's drift plot) and downloads it in PEFT's layout; an adapter for another commit than the selected one is marked and cannot be downloaded.
import { useState } from 'react';
import type { AdapterInfo, HypernetworkStatus } from '../workers/pipelineApi.ts';
import { DriftPlot } from './DriftPlot.tsx';
import { hypernetworkFigures } from '../settings/ModelStatus.tsx';

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

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** What the Evo step cost: steps, where it started, diffs encoded or cached, files of the oldest commit. */
function EvoReport({ evo, seconds }: { evo: NonNullable<AdapterInfo['evo']>; seconds: number }) {
  const start = evo.steps === 0 ? 'the state was cached: no step, nothing encoded'
    : `${plural(evo.steps, 'GRU step')} from ${evo.startedFrom === 0 && evo.filesEncoded + evo.filesFromCache > 0 ? 'the oldest commit' : `the state cached at commit ${evo.startedFrom + 1}`}`;
  return (
    <p data-testid="evo-report">
      Evo state at commit {evo.index + 1} of {evo.historyLength} (oldest first) in {seconds.toFixed(2)} s:{' '}
      <span data-testid="evo-steps" data-steps={evo.steps} data-diffs-encoded={evo.diffsEncoded} data-files-encoded={evo.filesEncoded}>
        {start}
      </span>
      {evo.steps > 0 && <>; {plural(evo.diffsEncoded, 'diff')} encoded ({evo.diffTokens.toLocaleString()} tokens), {evo.diffsFromCache} from cache</>}
      {evo.filesEncoded + evo.filesFromCache > 0 && <>; the oldest commit's {plural(evo.filesEncoded, 'file')} encoded, {evo.filesFromCache} from cache</>}
      {evo.statesFromStore > 0 && <>; {plural(evo.statesFromStore, 'state')} read from IndexedDB</>}.
      {evo.drift && <> Drift from the previous commit: {Object.values(evo.drift).reduce((a, b) => a + b, 0).toExponential(2)}.</>}
    </p>
  );
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
    <section
      className="panel"
      data-testid="adapter"
      aria-busy={stale}
      data-stale={stale || undefined}
      data-mode={adapter.mode}
      data-commit={adapter.commit}
      data-digest={adapter.digest}
    >
      <h2>
        Adapter for {adapter.commit.slice(0, 8)} <span className="muted" data-testid="adapter-mode-label">· {adapter.loadedFrom ? 'from a file' : adapter.mode === 'evo' ? 'Evo' : 'Static'}</span>
        {stale && selected && <span className="stale-mark" data-testid="adapter-outdated"> · outdated: the adapter for {selected.slice(0, 8)} is not made yet</span>}
      </h2>
      {adapter.loadedFrom ? (
        <p data-testid="adapter-loaded-from">
          Loaded from <code>{adapter.loadedFrom}</code>: LoRA r={adapter.rank}, alpha={adapter.alpha} on {adapter.targetModules.join(', ')} × {adapter.layers} layers ·{' '}
          {adapter.parameters.toLocaleString()} parameters · digest <code data-testid="adapter-digest">{adapter.digest}</code>. Adapted completions use it until an adapter is made again.
        </p>
      ) : adapter.evo ? (
        <>
          <p>
            LoRA r={adapter.rank}, alpha={adapter.alpha} on {adapter.targetModules.join(', ')} × {adapter.layers} layers ·{' '}
            {adapter.parameters.toLocaleString()} parameters · digest <code data-testid="adapter-digest">{adapter.digest}</code>
          </p>
          <EvoReport evo={adapter.evo} seconds={adapter.seconds} />
          <DriftPlot points={adapter.evo.driftSeries} historyLength={adapter.evo.historyLength} selectedIndex={adapter.evo.index} />
        </>
      ) : (
      <p>
        LoRA r={adapter.rank}, alpha={adapter.alpha} on {adapter.targetModules.join(', ')} × {adapter.layers} layers ·{' '}
        {adapter.parameters.toLocaleString()} parameters · from {adapter.encodedFiles} of {adapter.pythonFiles} Python files in {adapter.seconds.toFixed(2)} s
        {' '}(<span data-testid="encode-counts">{adapter.encodedFiles - adapter.cachedFiles} files encoded, {adapter.cachedFiles} from cache</span>;
        {' '}{adapter.encodedTokens.toLocaleString()} tokens read). <span data-testid="files-left-out">{filesLeftOut(adapter)}</span>
        {' '}Digest <code data-testid="adapter-digest">{adapter.digest}</code>.
      </p>
      )}
      {adapter.storageWarning && (
        <p className="notice" role="status" data-testid="storage-warning">
          Made, but not cached: {adapter.storageWarning}
        </p>
      )}
      {!adapter.loadedFrom && adapter.hypernetworkTrained && hypernetwork.state === 'trained' && (
        <p data-testid="trained-hypernetwork">
          Made by the trained hypernetwork{hypernetworkFigures(hypernetwork) ? ` (${hypernetworkFigures(hypernetwork)})` : ''}.
        </p>
      )}
      {!adapter.hypernetworkTrained && (
        <p className="notice" data-testid="untrained-hypernetwork">
          No trained {adapter.mode === 'evo' ? 'Evo ' : ''}hypernetwork is loaded for this model, so this adapter comes from an
          untrained one{adapter.mode === 'evo' ? ' (its GRU seeded, its heads the Static hypernetwork\'s)' : ''}: a deterministic
          function of the repository{adapter.mode === 'evo' ? ' and its history' : ''}, in PEFT's exact layout, but it carries no
          repository knowledge. Expect its completions to differ from the base model's, not to beat them.
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
