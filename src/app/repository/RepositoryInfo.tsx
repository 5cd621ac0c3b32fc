// One line about the loaded repository: name, branch, commits, size and how long the clone took.
import type { RepoInfo } from '../workers/pipelineApi.ts';

export function RepositoryInfo({ repo, commitCount }: { repo: RepoInfo; commitCount: number }) {
  return (
    <p data-testid="repo-info">
      {repo.name} @ {repo.branch} · {commitCount} commits · {(repo.bytes / 1024).toFixed(0)} KiB in {repo.seconds.toFixed(1)} s
      {repo.reused ? ' (updated existing clone)' : ''}
    </p>
  );
}
