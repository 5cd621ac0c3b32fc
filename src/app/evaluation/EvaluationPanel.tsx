// "How much does it help here?": scores the base model against the adapted one on this repository's own test assertions, in the worker, with progress and Cancel, and shows the result as a small table.
import { useRef, useState } from 'react';
import { MAX_EVALUATION_TASKS } from '../../bench/evaluationLimits.ts';
import { ProgressBar } from '../shared/ProgressBar.tsx';
import { CancelledError } from '../pipelineClient.ts';
import type { AppRepoEvaluation, EvaluationRequest } from '../workers/evaluateRepo.ts';
import type { AdapterInfo, AdapterMode, Progress } from '../workers/pipelineApi.ts';
import { EvaluationTable } from './EvaluationTable.tsx';

/** The panel's state, plain data: the last finished evaluation stays shown while another runs or after a cancel. */
export interface EvaluationView {
  status: 'idle' | 'running' | 'done' | 'cancelled' | 'failed';
  /** The last evaluation that finished, and what the adapter it scored was made by. */
  result: { evaluation: AppRepoEvaluation; mode: AdapterMode; hypernetworkTrained: boolean } | null;
  /** Why the last run ended without a result: a cancel (with how far it got) or an error (with its code). */
  message: string | null;
  code: string | null;
}

const IDLE: EvaluationView = { status: 'idle', result: null, message: null, code: null };

const MODE_LABEL: Record<AdapterMode, string> = { static: 'Static', evo: 'Evo' };

export function EvaluationPanel({ commit, adapter, disabled, progress, taskLimit, maxNewTokens, onTaskLimitChange, evaluate, onRunningChange }: {
  /** The selected commit; null before a repository is loaded. */
  commit: string | null;
  /** The current adapter (it must be the selected commit's to be scored). */
  adapter: AdapterInfo | null;
  /** Another stage is running: nothing can start. */
  disabled: boolean;
  /** The worker's progress while the evaluation runs (stage `evaluate`), else null. */
  progress: Progress | null;
  taskLimit: number;
  maxNewTokens: number;
  onTaskLimitChange: (limit: number) => void;
  /** Runs the evaluation in the worker; `signal` cancels it. */
  evaluate: (request: EvaluationRequest, signal: AbortSignal) => Promise<AppRepoEvaluation>;
  /** Told when a run starts and ends, so the rest of the app waits for it (one worker operation at a time). */
  onRunningChange: (running: boolean) => void;
}) {
  const [view, setView] = useState<EvaluationView>(IDLE);
  const controller = useRef<AbortController | null>(null);
  /** The last progress seen, to say how far a cancelled run got. */
  const lastProgress = useRef<Progress | null>(null);
  if (progress) lastProgress.current = progress;
  const running = view.status === 'running';
  const ready = !!commit && adapter?.commit === commit;

  /** " after 3 of 20 tasks" once scoring had started (a function: read when called, not narrowed by run's reset). */
  function howFarItGot(): string {
    const seen = lastProgress.current;
    return seen?.total ? ` after ${seen.done} of ${seen.total} tasks` : '';
  }

  async function run() {
    if (!commit || !adapter || !ready || running || disabled) return;
    const { mode, hypernetworkTrained } = adapter;
    controller.current = new AbortController();
    lastProgress.current = null;
    setView((v) => ({ ...v, status: 'running', message: null, code: null }));
    onRunningChange(true);
    try {
      const evaluation = await evaluate({ commit, taskLimit, maxNewTokens }, controller.current.signal);
      setView({ status: 'done', result: { evaluation, mode, hypernetworkTrained }, message: null, code: null });
    } catch (err) {
      if (err instanceof CancelledError) {
        const message = err.reason === 'cancel' ? `Cancelled${howFarItGot()}: nothing was scored.` : 'Stopped: the worker was restarted.';
        setView((v) => ({ ...v, status: 'cancelled', message, code: null }));
      } else {
        const e = err as { code?: string; message?: string };
        setView((v) => ({ ...v, status: 'failed', message: e?.message ?? String(err), code: e?.code ?? null }));
      }
    } finally {
      controller.current = null;
      onRunningChange(false);
    }
  }

  const shown = view.result;
  const outdated = !!shown && (shown.evaluation.commit !== commit || shown.evaluation.adapterDigest !== adapter?.digest);
  return (
    <section className="panel" aria-labelledby="evaluation-title" data-testid="evaluation">
      <h2 id="evaluation-title">How much does it help here?</h2>
      <p className="muted">
        Mines this repository&apos;s test assertions at the selected commit and has the base model and the adapted model complete each one,
        scored as the benchmark scores them (lenient exact match, edit similarity, and how likely each model makes the target). Held out: the adapter is made from the repository&apos;s
        non-test files, and the tasks come from its test files.
      </p>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          void run();
        }}
      >
        <label>
          Tasks{' '}
          <input
            aria-label="Tasks to score"
            type="number"
            min={1}
            max={MAX_EVALUATION_TASKS}
            value={taskLimit}
            readOnly={running}
            onChange={(e) => onTaskLimitChange(Math.max(1, Math.min(MAX_EVALUATION_TASKS, Math.round(Number(e.target.value)) || 1)))}
          />
        </label>
        {/* aria-disabled, not disabled, as elsewhere: keyboard focus stays on the button while it works. */}
        <button type="submit" aria-disabled={!ready || running || disabled}>
          Evaluate base vs adapted
        </button>
        <small className="muted">sampled with seed 0 as the miner samples; two completions per task, slow on a CPU</small>
      </form>
      {!ready && commit && <p className="muted" data-testid="evaluation-needs-adapter">The adapted model is scored with the selected commit&apos;s adapter: make it first.</p>}
      {running && progress && <ProgressBar testId="progress-evaluate" progress={progress} onCancel={() => controller.current?.abort()} />}
      {view.status === 'cancelled' && (
        <div className="notice" role="status" data-testid="evaluation-notice">
          {view.message}
        </div>
      )}
      {view.status === 'failed' && (
        <div className="error" role="alert" data-testid="evaluation-error">
          <strong>evaluation failed{view.code ? ` (${view.code})` : ''}:</strong> {view.message}
        </div>
      )}
      {shown && <EvaluationTable evaluation={shown.evaluation} modeLabel={MODE_LABEL[shown.mode]} outdated={outdated} hypernetworkTrained={shown.hypernetworkTrained} />}
    </section>
  );
}
