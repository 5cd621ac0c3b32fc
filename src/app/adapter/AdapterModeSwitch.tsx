// The Static / Evo switch: which hypernetwork makes the adapter of the selected commit, and whether each is trained.
import type { AdapterMode, HypernetworkStatus } from '../workers/pipelineApi.ts';

function statusWord(status: HypernetworkStatus): string {
  if (status.state === 'trained') return 'trained';
  if (status.state === 'error') return `untrained: the shipped one failed to load (${status.code})`;
  return 'untrained';
}

export function AdapterModeSwitch({ mode, staticStatus, evoStatus, disabled, onChange }: {
  mode: AdapterMode;
  staticStatus: HypernetworkStatus;
  evoStatus: HypernetworkStatus;
  /** While true a change is ignored (the radios stay focusable). */
  disabled: boolean;
  onChange: (mode: AdapterMode) => void;
}) {
  const option = (value: AdapterMode, label: string, status: HypernetworkStatus, hint: string) => (
    <label title={hint}>
      {/* aria-disabled, not disabled: a disabled radio would drop keyboard focus to the page while the adapter is made. */}
      <input type="radio" name="adapter-mode" value={value} checked={mode === value} aria-disabled={disabled} onChange={() => !disabled && onChange(value)} />
      {' '}{label} <small className="muted">({statusWord(status)})</small>
    </label>
  );
  return (
    <fieldset className="row mode-switch" data-testid="adapter-mode" data-mode={mode}>
      <legend>Adapter</legend>
      {option('static', 'Static', staticStatus, 'Made from the selected commit\'s files, from scratch')}
      {option('evo', 'Evo', evoStatus, 'Follows the history: the state steps commit by commit from the oldest loaded commit; stepping back is instant')}
      {evoStatus.state === 'error' && <small className="muted" data-testid="evo-hypernetwork-error">Evo hypernetwork: {evoStatus.message}</small>}
    </fieldset>
  );
}
