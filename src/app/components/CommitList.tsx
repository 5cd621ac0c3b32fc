// The commit timeline: newest first; selecting one regenerates the adapter at that commit.
import type { CommitInfo } from '../../git/index.ts';

export function CommitList({ commits, selected, disabled, onSelect }: { commits: CommitInfo[]; selected: string | null; disabled: boolean; onSelect: (sha: string) => void }) {
  return (
    <div>
      <h2>Commits</h2>
      <ol className="commits" data-testid="commits">
        {commits.map((c) => (
          <li key={c.sha}>
            <button type="button" className={c.sha === selected ? 'selected' : ''} disabled={disabled} onClick={() => onSelect(c.sha)} title={c.sha}>
              <code>{c.sha.slice(0, 8)}</code> {c.message.split('\n')[0]}
              <small>{new Date(c.timestamp * 1000).toISOString().slice(0, 10)} · {c.author.name}</small>
            </button>
          </li>
        ))}
      </ol>
    </div>
  );
}
