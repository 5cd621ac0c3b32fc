// The commit timeline, newest first: one tab stop (a listbox with arrow keys, Home and End); Enter, Space or a click selects a commit and regenerates the adapter for it.
import { memo, useCallback, useEffect, useRef } from 'react';
import type { CommitInfo } from '../../git/index.ts';
import { useListboxKeys } from '../shared/useListboxKeys.ts';

function commitDate(commit: CommitInfo): string {
  return new Date(commit.timestamp * 1000).toISOString().slice(0, 10);
}

/** "Fix the parser — Ada, 2026-01-02 (1a2b3c4d)": message, author, date and id as separate words for screen readers. */
export function commitName(commit: CommitInfo): string {
  return `${commit.message.split('\n')[0]} — ${commit.author.name}, ${commitDate(commit)} (${commit.sha.slice(0, 8)})`;
}

/** One commit. Memoised: a selection renders the two rows it changes, not the whole history. */
const CommitRow = memo(function CommitRow({ commit, index, selected, tabbable, onChoose }: {
  commit: CommitInfo; index: number; selected: boolean; tabbable: boolean; onChoose: (index: number) => void;
}) {
  return (
    <li
      role="option"
      aria-selected={selected}
      aria-label={commitName(commit)}
      tabIndex={tabbable ? 0 : -1}
      className={selected ? 'selected' : ''}
      title={commit.sha}
      onClick={() => onChoose(index)}
    >
      <code>{commit.sha.slice(0, 8)}</code> {commit.message.split('\n')[0]}
      <small>{commitDate(commit)} · {commit.author.name}</small>
    </li>
  );
});

/** Memoised: the app renders on every progress report, which changes none of its props. */
export const CommitList = memo(function CommitList({ commits, selected, disabled, focusRequest, onSelect }: {
  commits: CommitInfo[];
  selected: string | null;
  /**
   * While true a selection is ignored (the options stay focusable, so focus never drops to the page). Said once, on
   * the listbox (aria-disabled applies to its options), so that a busy app does not render every commit twice.
   */
  disabled: boolean;
  /** Each new value moves keyboard focus to the selected commit (e.g. after a repository loads). */
  focusRequest: number;
  onSelect: (sha: string) => void;
}) {
  const selectedIndex = Math.max(0, commits.findIndex((c) => c.sha === selected));
  const latest = useRef({ commits, disabled, onSelect });
  latest.current = { commits, disabled, onSelect };
  const select = useCallback((index: number) => {
    const { commits: list, disabled: busy, onSelect: choose } = latest.current;
    if (!busy) choose(list[index].sha);
  }, []);
  const { list, activeIndex, setActive, onKeyDown } = useListboxKeys<HTMLOListElement>(commits.length, selectedIndex, select);
  const onChoose = useCallback((index: number) => {
    setActive(index);
    select(index);
  }, [setActive, select]);
  useEffect(() => {
    if (focusRequest > 0) list.current?.querySelectorAll<HTMLElement>('[role="option"]')[selectedIndex]?.focus();
    // Only a new request moves focus, not a new selection.
  }, [focusRequest]);

  return (
    <div>
      <h2 id="commits-heading">Commits</h2>
      <ol className="commits" role="listbox" aria-labelledby="commits-heading" aria-busy={disabled} aria-disabled={disabled} data-testid="commits" ref={list} onKeyDown={onKeyDown}>
        {commits.map((c, i) => (
          <CommitRow key={c.sha} commit={c} index={i} selected={c.sha === selected} tabbable={i === activeIndex} onChoose={onChoose} />
        ))}
      </ol>
    </div>
  );
});
