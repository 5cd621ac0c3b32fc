// What the loaded model comes with: a notice about it (e.g. the default fell back to c2l-base), and its hypernetwork: trained (with its figures), untrained, or failed to load (with the code).
import type { HypernetworkStatus, ModelInfo } from '../workers/pipelineApi.ts';

/** A trained hypernetwork's recorded figures, e.g. "step 1,500 · best CR val loss 2.31" (empty when it records none). */
export function hypernetworkFigures(status: HypernetworkStatus): string {
  return status.state === 'trained' ? status.figures.map((f) => `${f.label} ${f.value}`).join(' · ') : '';
}

/** "trained (step 1,500 · best CR val loss 2.31)", "untrained", or "failed to load (CODE), untrained stand-in". */
export function describeHypernetwork(status: HypernetworkStatus): string {
  if (status.state === 'trained') return hypernetworkFigures(status) ? `trained (${hypernetworkFigures(status)})` : 'trained';
  if (status.state === 'error') return `failed to load (${status.code}), untrained stand-in`;
  return 'untrained (none shipped for this model)';
}

export function ModelStatus({ model }: { model: ModelInfo }) {
  const { hypernetwork } = model;
  return (
    <div className="model-status">
      {model.notice && (
        <div className="notice" role="status" data-testid="model-notice">
          {model.notice}
        </div>
      )}
      <p className="muted" data-testid="hypernetwork-info" data-state={hypernetwork.state}>
        Hypernetwork for {model.name}: {describeHypernetwork(hypernetwork)} · files encoded by {model.encoder}
      </p>
      {hypernetwork.state === 'error' && (
        <div className="error" role="alert" data-testid="hypernetwork-error">
          <strong>hypernetwork failed ({hypernetwork.code}):</strong> {hypernetwork.message.replace(/\.$/, '')}
          {hypernetwork.file && !hypernetwork.message.includes(hypernetwork.file) ? ` (${hypernetwork.file})` : ''}. Adapters come from an untrained hypernetwork until this is fixed; everything else works.
        </div>
      )}
    </div>
  );
}
