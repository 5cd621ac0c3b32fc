// Loads a PEFT adapter back (adapter_model.safetensors and adapter_config.json, chosen together) as the current adapter; what is wrong with the files is said in an alert and the current adapter stays.
import { useState } from 'react';

/** Larger than any LoRA of a model this app runs (SmolLM2, rank 16, f32: about 20 MB): refused before reading. */
const MAX_WEIGHTS_BYTES = 256 * 1024 * 1024;
const MAX_CONFIG_BYTES = 1024 * 1024;

export interface AdapterFiles {
  name: string;
  safetensors: Uint8Array;
  adapterConfig: string;
}

/** The two files of a PEFT adapter among those chosen, read; an Error saying what is missing or too large otherwise. */
export async function readAdapterFiles(files: readonly File[]): Promise<AdapterFiles> {
  const weights = files.filter((file) => file.name.endsWith('.safetensors'));
  const configs = files.filter((file) => file.name.endsWith('.json'));
  if (weights.length !== 1 || configs.length !== 1) {
    throw new Error(`Choose two files together: one .safetensors (the weights) and one .json (adapter_config.json); got ${files.map((f) => f.name).join(', ') || 'none'}`);
  }
  const [weightsFile, configFile] = [weights[0], configs[0]];
  if (weightsFile.size > MAX_WEIGHTS_BYTES) throw new Error(`${weightsFile.name} is ${(weightsFile.size / 2 ** 20).toFixed(0)} MiB: larger than any adapter for this model`);
  if (configFile.size > MAX_CONFIG_BYTES) throw new Error(`${configFile.name} is over 1 MiB: not an adapter_config.json`);
  return { name: weightsFile.name, safetensors: new Uint8Array(await weightsFile.arrayBuffer()), adapterConfig: await configFile.text() };
}

export function AdapterFileInput({ disabled, onLoad }: { disabled: boolean; onLoad: (files: AdapterFiles) => Promise<void> }) {
  const [error, setError] = useState<string | null>(null);
  return (
    <div className="adapter-file">
      <label>
        Load adapter files (PEFT: adapter_model.safetensors and adapter_config.json){' '}
        <input
          type="file"
          multiple
          accept=".safetensors,.json"
          aria-label="Load adapter files"
          disabled={disabled}
          onChange={async (event) => {
            const input = event.currentTarget;
            setError(null);
            try {
              await onLoad(await readAdapterFiles([...(input.files ?? [])]));
            } catch (err) {
              const { code, message } = err as { code?: string; message?: string };
              setError(`${code ? `${code}: ` : ''}${message ?? String(err)}`);
            } finally {
              input.value = '';
            }
          }}
        />
      </label>
      {error && <div className="error" role="alert" data-testid="adapter-file-error">The adapter files were not loaded: {error}</div>}
    </div>
  );
}
