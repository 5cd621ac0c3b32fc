// A progress bar named after its stage, with counts, a rate-based ETA, and an optional cancel button.
import { useRef } from 'react';

export interface StageProgress {
  label: string;
  loaded: number;
  total?: number;
  unit?: string;
  detail?: string;
}

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.ceil(seconds % 60)} s`;
}

export function ProgressBar({ stage, onCancel, testId }: { stage: StageProgress; onCancel?: () => void; testId?: string }) {
  const startedAt = useRef<{ label: string; time: number } | null>(null);
  if (!startedAt.current || startedAt.current.label !== stage.label) startedAt.current = { label: stage.label, time: performance.now() };
  const elapsed = (performance.now() - startedAt.current.time) / 1000;
  const fraction = stage.total ? Math.min(1, stage.loaded / stage.total) : undefined;
  const eta = fraction && fraction > 0.02 && fraction < 1 ? formatSeconds((elapsed / fraction) * (1 - fraction)) : '';
  const counts = stage.total ? `${stage.loaded.toLocaleString()} / ${stage.total.toLocaleString()}` : stage.loaded.toLocaleString();
  return (
    <div className="progress" data-testid={testId}>
      <div className="progress-label">
        <span>{stage.label}</span>
        <span className="progress-counts">
          {counts} {stage.unit ?? ''} {stage.detail ? `· ${stage.detail}` : ''} {eta ? `· ETA ${eta}` : ''}
        </span>
        {onCancel && (
          <button type="button" className="cancel" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
      <progress max={1} value={fraction} aria-label={stage.label} aria-valuetext={`${counts} ${stage.unit ?? ''}`.trim()} />
    </div>
  );
}
