// The result of "How much does it help here?": tasks, exact match, edit similarity and target likelihood of the base and the adapted model, their difference with a bootstrap interval, and each task's predictions.
import type { PairedDifference } from '../../bench/metrics.ts';
import type { AppRepoEvaluation } from '../workers/evaluateRepo.ts';

const percent = (fraction: number) => `${(100 * fraction).toFixed(1)}%`;
const signed = (value: number, digits: number) => `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(digits)}`;

/** "+5.0 pp (95% CI −5.0 to +15.0)": exact match in percentage points, edit similarity as a ratio. */
function difference(diff: PairedDifference, scale: number, digits: number, unit: string) {
  return (
    <>
      {signed(diff.mean * scale, digits)}{unit}{' '}
      <small className="muted">(95% CI {signed(diff.ci[0] * scale, digits)} to {signed(diff.ci[1] * scale, digits)})</small>
    </>
  );
}

function ColumnHeaders({ names }: { names: string[] }) {
  return (
    <thead>
      <tr>
        {names.map((name) => <th scope="col" key={name}>{name}</th>)}
      </tr>
    </thead>
  );
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function EvaluationTable({ evaluation, modeLabel, outdated, hypernetworkTrained }: {
  evaluation: AppRepoEvaluation;
  modeLabel: string;
  /** The selected commit or the current adapter is no longer the one scored. */
  outdated: boolean;
  hypernetworkTrained: boolean;
}) {
  const { tasks, base, adapted } = evaluation;
  return (
    <div data-testid="evaluation-result" data-stale={outdated || undefined}>
      <table className="evaluation" data-testid="evaluation-table">
        <caption>
          {modeLabel} adapter {evaluation.adapterDigest} at {evaluation.commit.slice(0, 8)}
          {outdated && <span className="stale-mark"> · outdated: another commit or adapter is selected now</span>}
        </caption>
        <ColumnHeaders names={['', 'Base', 'Adapted', 'Difference']} />
        <tbody>
          <tr data-testid="evaluation-tasks">
            <th scope="row">Tasks</th>
            <td colSpan={3} data-value={tasks.length}>
              {tasks.length} of {plural(evaluation.targetsFound, 'assertion')} in {plural(evaluation.testFiles, 'test file')}
            </td>
          </tr>
          <tr data-testid="evaluation-exact-match">
            <th scope="row">Exact match</th>
            <td data-value={base.exactMatch}>{percent(base.exactMatch)}</td>
            <td data-value={adapted.exactMatch}>{percent(adapted.exactMatch)}</td>
            <td data-value={evaluation.exactMatchDifference.mean}>{difference(evaluation.exactMatchDifference, 100, 1, ' pp')}</td>
          </tr>
          <tr data-testid="evaluation-edit-similarity">
            <th scope="row">Edit similarity</th>
            <td data-value={base.editSimilarity}>{base.editSimilarity.toFixed(3)}</td>
            <td data-value={adapted.editSimilarity}>{adapted.editSimilarity.toFixed(3)}</td>
            <td data-value={evaluation.editSimilarityDifference.mean}>{difference(evaluation.editSimilarityDifference, 1, 3, '')}</td>
          </tr>
          {evaluation.targetNllDifference && (
            <tr data-testid="evaluation-likelihood">
              <th scope="row" title="Mean negative log-likelihood of each target's tokens after its prompt, in nats a token: lower is better. It shows how much likelier the adapter makes the right answer, even where the greedy completion does not change.">
                Target NLL <small className="muted">(lower is better)</small>
              </th>
              <td data-value={base.targetNll!}>{base.targetNll!.toFixed(3)}</td>
              <td data-value={adapted.targetNll!}>{adapted.targetNll!.toFixed(3)}</td>
              <td data-value={evaluation.targetNllDifference.mean}>{difference(evaluation.targetNllDifference, 1, 3, '')}</td>
            </tr>
          )}
          <tr data-testid="evaluation-seconds">
            <th scope="row">Seconds per task</th>
            <td>{(base.seconds / tasks.length).toFixed(2)}</td>
            <td>{(adapted.seconds / tasks.length).toFixed(2)}</td>
            <td />
          </tr>
        </tbody>
      </table>
      <p className="muted">
        Greedy decoding, at most {evaluation.maxNewTokens} new tokens, prompts cut to {evaluation.contextTokens.toLocaleString()} tokens;
        tasks sampled from the test files with seed {evaluation.seed} (at most {evaluation.taskLimit}); {evaluation.seconds.toFixed(1)} s in all.
        {' '}With this few tasks the interval is wide: a difference inside it may be chance. The target NLL is the finer
        measure: it moves with every task, where exact match moves only when the greedy answer flips.
        {!hypernetworkTrained && <strong> The hypernetwork is untrained: this adapter carries no knowledge of the repository.</strong>}
      </p>
      <details>
        <summary>Each task</summary>
        <table className="evaluation-tasks" data-testid="evaluation-task-list">
          <ColumnHeaders names={['Where', 'Target', 'Base', 'Adapted']} />
          <tbody>
            {tasks.map((task, index) => (
              <tr key={`${task.file}:${task.line}:${index}`}>
                <td title={task.functionName}>{task.file}:{task.line}</td>
                <td><code>{task.target}</code></td>
                <td><code>{task.base.prediction}</code> {task.base.em ? '✓' : ''}</td>
                <td><code>{task.adapted.prediction}</code> {task.adapted.em ? '✓' : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </div>
  );
}
