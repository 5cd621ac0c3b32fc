// What the selected commit changed in the files the Evo state reads (non-test .py/.md/.rst), as unified hunks, and which changed files it leaves out.
import { memo } from 'react';
import type { CommitDiff } from '../workers/pipelineApi.ts';

const SHOWN_LEFT_OUT = 5;

function LeftOut({ paths }: { paths: string[] }) {
  if (paths.length === 0) return null;
  const names = paths.slice(0, SHOWN_LEFT_OUT).join(', ') + (paths.length > SHOWN_LEFT_OUT ? `, and ${paths.length - SHOWN_LEFT_OUT} more` : '');
  return (
    <p className="muted" data-testid="diff-left-out">
      {paths.length} changed {paths.length === 1 ? 'file is' : 'files are'} not shown: test files and files other than .py, .md and .rst
      (the Evo state reads only these): {names}.
    </p>
  );
}

/** Memoised: the app renders on every progress report, which changes none of its props. */
export const DiffView = memo(function DiffView({ diff, stale }: { diff: CommitDiff | null; stale: boolean }) {
  if (!diff) return <div className="diff muted">Select a commit to see what it changed.</div>;
  const marks = { 'aria-busy': stale, 'data-stale': stale || undefined } as const;
  if (diff.files.length === 0) {
    return (
      <div className="diff muted" data-testid="diff" {...marks}>
        This commit changed no non-test .py/.md/.rst files.
        <LeftOut paths={diff.leftOut} />
      </div>
    );
  }
  return (
    <div className="diff" data-testid="diff" {...marks}>
      <h2>Diff of {diff.commit.slice(0, 8)}{stale ? ' (loading the selected commit…)' : ''}</h2>
      {diff.files.map((file) => (
        <details key={file.path} open>
          <summary>
            {file.status} <code>{file.path}</code>
          </summary>
          <pre>
            {file.patch.split('\n').map((line, i) => (
              <span key={i} className={line.startsWith('+') ? 'add' : line.startsWith('-') ? 'del' : line.startsWith('@@') ? 'hunk' : ''}>
                {line}
                {'\n'}
              </span>
            ))}
          </pre>
        </details>
      ))}
      <LeftOut paths={diff.leftOut} />
    </div>
  );
});
