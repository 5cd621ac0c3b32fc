// Shows the generated adapter (shape, per-module update norms) and downloads it in PEFT's layout.
import { useState } from 'react';
import type * as Comlink from 'comlink';
import type { AdapterInfo, HypernetworkStatus, PipelineApi } from '../workers/pipelineApi.ts';
import { hypernetworkFigures } from './ModelStatus.tsx';

function saveFile(name: string, data: BlobPart, type: string) {
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([data], { type }));
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

export function AdapterPanel({ adapter, hypernetwork, pipeline }: {
  adapter: AdapterInfo; hypernetwork: HypernetworkStatus; pipeline: Comlink.Remote<PipelineApi>;
}) {
  const [error, setError] = useState<string | null>(null);
  const maxNorm = Math.max(...Object.values(adapter.deltaNorms), 1e-12);
  return (
    <section className="panel" data-testid="adapter">
      <h2>Adapter for {adapter.commit.slice(0, 8)}</h2>
      <p>
        LoRA r={adapter.rank}, alpha={adapter.alpha} on {adapter.targetModules.join(', ')} × {adapter.layers} layers ·{' '}
        {adapter.parameters.toLocaleString()} parameters · from {adapter.encodedFiles} files in {adapter.seconds.toFixed(2)} s
        {' '}(<span data-testid="encode-counts">{adapter.encodedFiles - adapter.cachedFiles} files encoded, {adapter.cachedFiles} from cache</span>;
        {' '}{adapter.encodedTokens.toLocaleString()} tokens read)
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
        onClick={async () => {
          try {
            const files = await pipeline.adapterFiles();
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
