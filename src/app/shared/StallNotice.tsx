// Says when a stage has stopped advancing, and offers the way out: the other compute backend for model work (Cancel stays on the progress bar).
import { useEffect, useState } from 'react';
import type { BackendName } from '../../model/backend.ts';
import type { Progress } from '../../util/progress.ts';
import { BACKEND_LABEL } from '../appState.ts';
import { STAGE_TITLES } from './ProgressBar.tsx';

/** True once `progress` has not changed for `seconds` (a new event, or no progress, resets it). */
export function useStalled(progress: Progress | null, seconds: number): boolean {
  const [stalled, setStalled] = useState(false);
  const key = progress ? `${progress.stage}|${progress.detail}|${progress.done}|${progress.total}|${progress.bytes}` : null;
  useEffect(() => {
    setStalled(false);
    if (key === null) return;
    const timer = setTimeout(() => setStalled(true), seconds * 1000);
    return () => clearTimeout(timer);
  }, [key, seconds]);
  return stalled;
}

export function StallNotice({ progress, seconds, backend, available, onSwitchBackend }: {
  progress: Progress;
  seconds: number;
  backend: BackendName | null;
  /** The backends this browser can run: the other one, if any, is offered. */
  available: BackendName[];
  onSwitchBackend: (backend: BackendName) => void;
}) {
  // The clone and a model file's download wait on the network; every other stage computes on the backend, which the
  // other one may get past.
  const waiting = progress.stage === 'clone' ? 'the git server is not answering' : progress.detail?.startsWith('downloading ') ? 'the server is not sending the file' : null;
  const other = waiting ? null : available.find((name) => name !== backend) ?? null;
  return (
    <div className="error" role="alert" data-testid="stall">
      <strong>{STAGE_TITLES[progress.stage]} has not advanced for {seconds} s</strong>
      {waiting ? `: ${waiting}.` : ` on ${backend ? BACKEND_LABEL[backend] : 'this backend'}.`}{' '}
      {other && (
        <button type="button" onClick={() => onSwitchBackend(other)}>
          Switch to {BACKEND_LABEL[other]}
        </button>
      )}
      {other ? ' or Cancel.' : ' Cancel, or keep waiting.'}
    </div>
  );
}
