// What the code of a commit holds (Python files, functions, classes, tests, assertions), marked outdated while another commit is read.
import type { RepoSummary } from '../workers/pipelineApi.ts';

export function SummaryPanel({ summary, selected }: { summary: RepoSummary; selected: string | null }) {
  const outdated = summary.commit !== selected;
  return (
    <section className="panel" aria-busy={outdated} data-stale={outdated || undefined} data-testid="summary-panel">
      <h2>
        Code at {summary.commit.slice(0, 8)}
        {outdated && selected && <span className="stale-mark"> · outdated: reading {selected.slice(0, 8)}…</span>}
      </h2>
      <ul className="stats" data-testid="summary">
        <li><b data-testid="count-files">{summary.pythonFiles}</b> Python files</li>
        <li><b data-testid="count-functions">{summary.functions}</b> functions</li>
        <li><b data-testid="count-classes">{summary.classes}</b> classes</li>
        <li><b data-testid="count-tests">{summary.testFunctions}</b> test functions</li>
        <li><b data-testid="count-assertions">{summary.assertions}</b> test assertions</li>
        {summary.parseErrors > 0 && <li>{summary.parseErrors} files with syntax errors</li>}
      </ul>
    </section>
  );
}
