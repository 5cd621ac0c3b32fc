// The pipeline at a glance: each stage (clone, parse, encode + adapter or Evo step + adapter) as pending, running or done for the selected commit, with its figures.
import type { AdapterInfo, Progress, RepoInfo, RepoSummary } from '../workers/pipelineApi.ts';

type Status = 'pending' | 'running' | 'done';

const MARK: Record<Status, string> = { pending: '○', running: '◐', done: '●' };

export function PipelineStages({ progress, repo, selected, summary, adapter }: {
  progress: Progress | null; repo: RepoInfo | null; selected: string | null; summary: RepoSummary | null; adapter: AdapterInfo | null;
}) {
  const status = (stages: Progress['stage'][], done: boolean): Status => (progress && stages.includes(progress.stage) ? 'running' : done ? 'done' : 'pending');
  // A result for another commit than the selected one is not done: it is being (or has to be) recomputed.
  const currentSummary = summary?.commit === selected ? summary : null;
  const currentAdapter = adapter?.commit === selected ? adapter : null;
  const stages: Array<{ name: string; status: Status; detail: string }> = [
    { name: 'Clone', status: status(['clone'], !!repo), detail: repo ? `${(repo.bytes / 1024).toFixed(0)} KiB, ${repo.seconds.toFixed(1)} s` : '' },
    { name: 'Parse', status: status(['parse'], !!currentSummary), detail: currentSummary ? `${currentSummary.pythonFiles} files, ${currentSummary.seconds.toFixed(1)} s` : '' },
    currentAdapter?.evo || progress?.stage === 'evo'
      ? {
        name: 'Evo step + adapter', status: status(['encode', 'evo'], !!currentAdapter),
        detail: currentAdapter?.evo ? `${currentAdapter.evo.steps} steps, ${currentAdapter.encodedTokens.toLocaleString()} diff tokens, ${currentAdapter.seconds.toFixed(1)} s` : '',
      }
      : { name: 'Encode + adapter', status: status(['encode'], !!currentAdapter), detail: currentAdapter ? `${currentAdapter.encodedTokens.toLocaleString()} tokens, ${currentAdapter.seconds.toFixed(1)} s` : '' },
  ];
  return (
    <ol className="stages" data-testid="stages">
      {stages.map((stage) => (
        <li key={stage.name} className={stage.status} data-status={stage.status}>
          <span aria-hidden="true">{MARK[stage.status]}</span> {stage.name} <span className="sr-only">({stage.status})</span> {stage.detail && <small>{stage.detail}</small>}
        </li>
      ))}
    </ol>
  );
}
