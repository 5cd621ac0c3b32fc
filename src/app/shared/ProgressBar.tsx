// A progress bar named after its stage, with counts, what is happening within the stage, a rate-based ETA, and an optional cancel button.
import { useRef } from 'react';
import type { Progress, Stage } from '../../util/progress.ts';

/** Each stage's name: the bar's accessible name and its heading. */
export const STAGE_TITLES: Record<Stage, string> = {
  model: 'Loading the model',
  clone: 'Cloning',
  parse: 'Parsing Python files',
  encode: 'Encoding files',
  evo: 'Stepping the Evo state commit by commit',
  generate: 'Generating',
  evaluate: 'Scoring base and adapted models',
};

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.ceil(seconds % 60)} s`;
}

export function ProgressBar({ progress, onCancel, testId }: { progress: Progress; onCancel?: () => void; testId?: string }) {
  // The rate (and so the ETA) restarts with each step of a stage: git's phases, the files of a model.
  const step = `${progress.stage}|${progress.unit}|${progress.detail ?? ''}`;
  const startedAt = useRef<{ step: string; time: number } | null>(null);
  if (!startedAt.current || startedAt.current.step !== step) startedAt.current = { step, time: performance.now() };
  const elapsed = (performance.now() - startedAt.current.time) / 1000;
  const fraction = progress.total ? Math.min(1, progress.done / progress.total) : undefined;
  const eta = fraction && fraction > 0.02 && fraction < 1 ? formatSeconds((elapsed / fraction) * (1 - fraction)) : '';
  const counts = progress.total ? `${progress.done.toLocaleString()} / ${progress.total.toLocaleString()}` : progress.done.toLocaleString();
  const title = STAGE_TITLES[progress.stage];
  const bytes = progress.bytes !== undefined ? `${(progress.bytes / 1024).toFixed(0)} KiB` : '';
  return (
    <div className="progress" data-testid={testId}>
      <div className="progress-label">
        <span>{title}{progress.detail ? `: ${progress.detail}` : ''}</span>
        <span className="progress-counts">
          {counts} {progress.unit} {bytes ? `· ${bytes}` : ''} {eta ? `· ETA ${eta}` : ''}
        </span>
        {onCancel && (
          <button type="button" className="cancel" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
      <progress max={1} value={fraction} aria-label={title} aria-valuetext={`${counts} ${progress.unit}`} />
    </div>
  );
}
