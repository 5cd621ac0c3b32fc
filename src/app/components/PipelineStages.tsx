// The pipeline at a glance: each stage (clone, parse, encode + adapter) as pending, running or done, with its figures.
import type { AdapterInfo, Progress, RepoInfo, RepoSummary } from '../workers/pipelineApi.ts';

type Status = 'pending' | 'running' | 'done';

const MARK: Record<Status, string> = { pending: '○', running: '◐', done: '●' };

export function PipelineStages({ progress, repo, summary, adapter }: { progress: Progress | null; repo: RepoInfo | null; summary: RepoSummary | null; adapter: AdapterInfo | null }) {
  const status = (stages: Progress['stage'][], done: boolean): Status => (progress && stages.includes(progress.stage) ? 'running' : done ? 'done' : 'pending');
  const stages: Array<{ name: string; status: Status; detail: string }> = [
    { name: 'Clone', status: status(['clone'], !!repo), detail: repo ? `${(repo.bytes / 1024).toFixed(0)} KiB, ${repo.seconds.toFixed(1)} s` : '' },
    { name: 'Parse', status: status(['parse'], !!summary), detail: summary ? `${summary.pythonFiles} files, ${summary.seconds.toFixed(1)} s` : '' },
    { name: 'Encode + adapter', status: status(['encode', 'adapter'], !!adapter), detail: adapter ? `${adapter.encodedTokens.toLocaleString()} tokens, ${adapter.seconds.toFixed(1)} s` : '' },
  ];
  return (
    <ol className="stages" data-testid="stages">
      {stages.map((stage) => (
        <li key={stage.name} className={stage.status} data-status={stage.status}>
          <span aria-hidden="true">{MARK[stage.status]}</span> {stage.name} {stage.detail && <small>{stage.detail}</small>}
        </li>
      ))}
    </ol>
  );
}
