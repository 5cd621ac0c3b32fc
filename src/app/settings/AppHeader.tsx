// The app's title with the backend and model it runs, the backend's note, and the model's own status.
import type { BackendStatus, ModelInfo } from '../workers/pipelineApi.ts';
import { ModelStatus } from './ModelStatus.tsx';

export function AppHeader({ backend, model }: { backend: BackendStatus | null; model: ModelInfo | null }) {
  return (
    <>
      <header>
        <h1>Code2LoRA-Web</h1>
        <span className="badge" data-testid="backend">
          {backend ? `tfjs backend: ${backend.backend}` : 'starting…'}
        </span>
        {model && (
          <span className="badge" data-testid="model-info" title={model.trained ? 'trained checkpoint' : 'randomly initialised: for testing the pipeline only'}>
            {model.name} · {(model.parameters / 1e6).toFixed(2)}M params · {(model.tensorBytes / 2 ** 20).toFixed(0)} MiB in memory{model.trained ? '' : ' · untrained'}
          </span>
        )}
      </header>
      {backend?.note && (
        <p className="muted" data-testid="backend-note">
          {backend.note}
        </p>
      )}
      {model && <ModelStatus model={model} />}
    </>
  );
}
