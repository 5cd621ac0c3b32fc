// The files of the selected commit and the scratch buffer, as one tab stop (a listbox with arrow keys, Home and End); Enter, Space or a click opens one in the editor.
import { useListboxKeys } from '../components/useListboxKeys.ts';

/** What the editor shows: the scratch buffer, or a file of a commit. */
export type OpenBuffer = { kind: 'scratch' } | { kind: 'file'; commit: string; path: string };

const SCRATCH = 'Scratch buffer';

export function FileList({ files, open, onOpen }: {
  /** The selected commit's paths, sorted; null while they are read. */
  files: string[] | null;
  open: OpenBuffer;
  onOpen: (buffer: { kind: 'scratch' } | { kind: 'file'; path: string }) => void;
}) {
  const entries = [SCRATCH, ...(files ?? [])];
  const openIndex = open.kind === 'scratch' ? 0 : Math.max(0, entries.indexOf(open.path));
  const choose = (index: number) => onOpen(index === 0 ? { kind: 'scratch' } : { kind: 'file', path: entries[index] });
  const { list, activeIndex, setActive, onKeyDown } = useListboxKeys<HTMLUListElement>(entries.length, openIndex, choose);

  return (
    <ul className="files" role="listbox" aria-label="Files" aria-busy={files === null} data-testid="files" ref={list} onKeyDown={onKeyDown}>
      {entries.map((entry, i) => {
        const depth = i === 0 ? 0 : entry.split('/').length - 1;
        return (
          <li
            key={entry}
            role="option"
            aria-selected={i === openIndex}
            tabIndex={i === activeIndex ? 0 : -1}
            title={i === 0 ? undefined : entry}
            className={i > 0 && !entry.endsWith('.py') ? 'muted' : undefined}
            style={{ paddingLeft: `${0.5 + depth}em` }}
            onClick={() => {
              setActive(i);
              choose(i);
            }}
          >
            {i === 0 ? <em>{SCRATCH}</em> : entry}
          </li>
        );
      })}
    </ul>
  );
}
