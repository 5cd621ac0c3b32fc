// The commit timeline, newest first: one tab stop (a listbox with arrow keys, Home and End); Enter, Space or a click selects a commit and regenerates the adapter for it.
import { useEffect } from 'react';
import type { CommitInfo } from '../../git/index.ts';
import { useListboxKeys } from './useListboxKeys.ts';

function commitDate(commit: CommitInfo): string {
  return new Date(commit.timestamp * 1000).toISOString().slice(0, 10);
}

/** "Fix the parser — Ada, 2026-01-02 (1a2b3c4d)": message, author, date and id as separate words for screen readers. */
export function commitName(commit: CommitInfo): string {
  return `${commit.message.split('\n')[0]} — ${commit.author.name}, ${commitDate(commit)} (${commit.sha.slice(0, 8)})`;
}

export function CommitList({ commits, selected, disabled, focusRequest, onSelect }: {
  commits: CommitInfo[];
  selected: string | null;
  /** While true a selection is ignored (the options stay focusable, so focus never drops to the page). */
  disabled: boolean;
  /** Each new value moves keyboard focus to the selected commit (e.g. after a repository loads). */
  focusRequest: number;
  onSelect: (sha: string) => void;
}) {
  const selectedIndex = Math.max(0, commits.findIndex((c) => c.sha === selected));
  const { list, activeIndex, setActive, onKeyDown } = useListboxKeys<HTMLOListElement>(commits.length, selectedIndex, (index) => {
    if (!disabled) onSelect(commits[index].sha);
  });
  useEffect(() => {
    if (focusRequest > 0) list.current?.querySelectorAll<HTMLElement>('[role="option"]')[selectedIndex]?.focus();
    // Only a new request moves focus, not a new selection.
  }, [focusRequest]);

  return (
    <div>
      <h2 id="commits-heading">Commits</h2>
      <ol className="commits" role="listbox" aria-labelledby="commits-heading" aria-busy={disabled} data-testid="commits" ref={list} onKeyDown={onKeyDown}>
        {commits.map((c, i) => (
          <li
            key={c.sha}
            role="option"
            aria-selected={c.sha === selected}
            aria-disabled={disabled}
            aria-label={commitName(c)}
            tabIndex={i === activeIndex ? 0 : -1}
            className={c.sha === selected ? 'selected' : ''}
            title={c.sha}
            onClick={() => {
              setActive(i);
              if (!disabled) onSelect(c.sha);
            }}
          >
            <code>{c.sha.slice(0, 8)}</code> {c.message.split('\n')[0]}
            <small>{commitDate(c)} · {c.author.name}</small>
          </li>
        ))}
      </ol>
    </div>
  );
}
