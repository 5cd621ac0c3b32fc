// Chooses the base model: the default (SmolLM2 when installed, else c2l-base), either of them explicitly, any Hugging Face model directory or GGUF by URL or from local files (kept in this browser), or a tiny untrained one.
import { useState } from 'react';
import type { ModelChoice } from '../workers/pipelineApi.ts';
import { LocalModelPicker } from './LocalModelPicker.tsx';

type Kind = ModelChoice['kind'];

/** The SmolLM2 option as it stands on this server: installed, or how to install it (unknown until the server answered). */
function smollm2Label(installed: boolean | null): string {
  if (installed === true) return 'SmolLM2-135M-Instruct (installed)';
  if (installed === false) return 'SmolLM2-135M-Instruct (not installed: run npm run models:smollm2, then restart npm start)';
  return 'SmolLM2-135M-Instruct';
}

export function ModelPicker({ choice, disabled, smollm2Installed, onChoose }: {
  choice: ModelChoice; disabled: boolean; smollm2Installed: boolean | null; onChoose: (choice: ModelChoice) => void;
}) {
  const [kind, setKind] = useState<Kind>(choice.kind);
  const [url, setUrl] = useState(choice.kind === 'url' ? choice.url : '');
  const urlValid = /^https?:\/\/\S+$/.test(url.trim());
  const apply = () => {
    if (kind === 'url') onChoose({ kind: 'url', url: url.trim() });
    else if (kind === 'random-tiny') onChoose({ kind: 'random-tiny', seed: 1 });
    else if (kind !== 'local') onChoose({ kind }); // a local model is chosen by its own picker
  };
  return (
    <div className="row" data-testid="model-picker">
      Base model
      <select aria-label="Base model" value={kind} disabled={disabled} onChange={(e) => setKind(e.target.value as Kind)}>
        <option value="default">Default: SmolLM2-135M-Instruct if installed, else c2l-base</option>
        <option value="smollm2">{smollm2Label(smollm2Installed)}</option>
        <option value="c2l-base">c2l-base (ours, 9.4M parameters, committed)</option>
        <option value="url">From a URL (HF model directory or .gguf file)</option>
        <option value="local">From files on this computer (HF model folder or .gguf file, kept in this browser)</option>
        <option value="random-tiny">Tiny untrained model (pipeline test)</option>
      </select>
      {kind === 'url' && (
        <input aria-label="Model URL" placeholder="https://host/path/to/model/ (config.json, model.safetensors, tokenizer.json)" value={url} onChange={(e) => setUrl(e.target.value)} />
      )}
      {kind === 'local' ? (
        <LocalModelPicker chosen={choice.kind === 'local' ? choice.name : null} disabled={disabled} onChoose={onChoose} />
      ) : (
        <button type="button" disabled={disabled || (kind === 'url' && !urlValid)} onClick={apply}>
          Load
        </button>
      )}
    </div>
  );
}
