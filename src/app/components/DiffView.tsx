// What the selected commit changed in the files the Evo state reads (non-test .py/.md/.rst), as unified hunks.
import type { FileDiff } from '../../git/index.ts';

export function DiffView({ diff }: { diff: FileDiff[] | null }) {
  if (!diff) return <div className="diff muted">Select a commit to see what it changed.</div>;
  if (diff.length === 0) return <div className="diff muted" data-testid="diff">This commit changed no non-test .py/.md/.rst files.</div>;
  return (
    <div className="diff" data-testid="diff">
      <h2>Diff</h2>
      {diff.map((file) => (
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
    </div>
  );
}
