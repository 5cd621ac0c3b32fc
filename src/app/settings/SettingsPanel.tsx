// The Settings section: the base model, the compute backend and the CORS proxy.
import { ModelPicker } from './ModelPicker.tsx';
import type { Settings } from './settings.ts';

export function SettingsPanel({ settings, disabled, smollm2Installed, onChooseModel, onChooseBackend, onCorsProxyChange }: {
  settings: Settings;
  disabled: boolean;
  smollm2Installed: boolean | null;
  onChooseModel: (choice: Settings['model']) => void;
  onChooseBackend: (choice: Settings['backend']) => void;
  onCorsProxyChange: (corsProxy: string) => void;
}) {
  return (
    <details>
      <summary>Settings</summary>
      <ModelPicker choice={settings.model} disabled={disabled} smollm2Installed={smollm2Installed} onChoose={onChooseModel} />
      <label className="row">
        Compute
        <select aria-label="Backend" value={settings.backend} disabled={disabled} onChange={(e) => onChooseBackend(e.target.value as Settings['backend'])}>
          <option value="auto">auto (WebGPU on a hardware GPU, else WASM)</option>
          <option value="webgpu">WebGPU</option>
          <option value="wasm">WASM</option>
        </select>
        <small className="muted">changing it reloads the model</small>
      </label>
      <label className="row">
        CORS proxy for remote hosts
        <input aria-label="CORS proxy" value={settings.corsProxy} onChange={(e) => onCorsProxyChange(e.target.value.trim())} />
      </label>
    </details>
  );
}
