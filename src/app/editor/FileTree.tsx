// The editor's file picker: the selected commit's files as a tree (role "tree", one tab stop; arrow keys, Home, End
// and Page keys per the WAI-ARIA tree pattern, Enter or Space opens a file or opens/closes a folder), folders that
// open and close, a filter box, and the scratch buffer above it. A closed folder's children are never rendered and the
// visible rows are rendered a window at a time, so a folder of thousands of files costs what the rows in view cost.
import { memo, useDeferredValue, useEffect, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import {
  allFolders, ancestorFolders, buildFileTree, filterPaths, initialExpansion, treeKeyAction, visibleRows, type FileTreeRow,
} from './fileTree.ts';

/** What the editor shows: the scratch buffer, or a file of a commit. */
export type OpenBuffer = { kind: 'scratch' } | { kind: 'file'; commit: string; path: string };

/** Pixels per row: fixed (styles.css, .file-tree [role=treeitem]) so the window of rows in view is arithmetic. */
export const ROW_HEIGHT = 22;
/** Rows rendered above and below the ones in view, so a quick scroll shows no blank lines. */
const OVERSCAN = 10;
/** The tree's height before it is measured (its height in styles.css). */
const VIEWPORT_FALLBACK = 264;

export const FileTree = memo(function FileTree({ files, open, onOpen }: {
  /** The selected commit's paths, sorted; null while they are read. */
  files: string[] | null;
  open: OpenBuffer;
  onOpen: (buffer: { kind: 'scratch' } | { kind: 'file'; path: string }) => void;
}) {
  const [query, setQuery] = useState('');
  // The tree follows the filter box at React's low priority: typing stays responsive in a repository of thousands of files.
  const filter = useDeferredValue(query).trim();
  const fullTree = useMemo(() => buildFileTree(files ?? []), [files]);
  const tree = useMemo(() => (filter ? buildFileTree(filterPaths(files ?? [], filter)) : fullTree), [files, filter, fullTree]);

  // Open folders: the user's (null until they open or close one: a first few levels, see initialExpansion), and while
  // filtering every folder that holds a match, which the user can close too.
  const [userExpanded, setUserExpanded] = useState<Set<string> | null>(null);
  const [filterExpanded, setFilterExpanded] = useState<{ filter: string; expanded: Set<string> } | null>(null);
  const initial = useMemo(() => initialExpansion(fullTree), [fullTree]);
  const everyFolder = useMemo(() => allFolders(tree), [tree]);
  const expanded = filter ? (filterExpanded?.filter === filter ? filterExpanded.expanded : everyFolder) : userExpanded ?? initial;
  const setExpanded = (next: Set<string>) => (filter ? setFilterExpanded({ filter, expanded: next }) : setUserExpanded(next));
  const rows = useMemo(() => visibleRows(tree, expanded), [tree, expanded]);

  // Another repository (none of the open folders is in its tree): its first levels open, as for the first one.
  useEffect(() => {
    setUserExpanded((known) => {
      if (!known?.size) return known;
      const folders = allFolders(fullTree);
      return [...known].some((path) => folders.has(path)) ? known : null;
    });
  }, [fullTree]);

  const openPath = open.kind === 'file' ? open.path : null;
  const [active, setActive] = useState<string | null>(openPath);
  // A file opened (here or by the editor following a commit) is shown: its folders open, it becomes the tab stop.
  useEffect(() => {
    if (!openPath) return;
    setActive(openPath);
    setUserExpanded((known) => {
      const base = known ?? initial;
      const missing = ancestorFolders(openPath).filter((path) => !base.has(path));
      return missing.length ? new Set([...base, ...missing]) : known;
    });
    // Only a newly opened file is revealed; `initial` is read as it is then.
  }, [openPath]);

  const found = active === null ? -1 : rows.findIndex((row) => row.node.path === active);
  const activeIndex = found >= 0 ? found : Math.max(0, rows.findIndex((row) => row.node.path === openPath));

  // The window of rows in view.
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(VIEWPORT_FALLBACK);
  useLayoutEffect(() => {
    const element = scroller.current;
    if (!element) return;
    const observer = new ResizeObserver(() => setViewport(element.clientHeight || VIEWPORT_FALLBACK));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + viewport) / ROW_HEIGHT) + OVERSCAN);
  const indices: number[] = [];
  // The tab stop is always rendered, in view or not, so the tree keeps one.
  if (activeIndex < first && rows.length) indices.push(activeIndex);
  for (let i = first; i < last; i++) indices.push(i);
  if (activeIndex >= last && rows.length) indices.push(activeIndex);

  /** Set by a key that moves focus: the newly active row takes focus once rendered. */
  const focusPending = useRef(false);
  useLayoutEffect(() => {
    if (!focusPending.current) return;
    focusPending.current = false;
    scroller.current?.querySelector<HTMLElement>('[role="treeitem"][tabindex="0"]')?.focus({ preventScroll: true });
  });

  const scrollToRow = (index: number) => {
    const element = scroller.current;
    if (!element) return;
    const top = index * ROW_HEIGHT;
    const height = element.clientHeight || viewport;
    const next = top < element.scrollTop ? top : top + ROW_HEIGHT > element.scrollTop + height ? top + ROW_HEIGHT - height : element.scrollTop;
    if (next !== element.scrollTop) {
      element.scrollTop = next;
      setScrollTop(element.scrollTop);
    }
  };

  const toggle = (path: string, open: boolean) => {
    const next = new Set(expanded);
    if (open) next.add(path);
    else next.delete(path);
    setExpanded(next);
  };

  const onKeyDown = (event: KeyboardEvent) => {
    const action = treeKeyAction(rows, activeIndex, event.key, expanded);
    if (!action) return;
    event.preventDefault();
    if (action.kind === 'focus') {
      setActive(rows[action.index].node.path);
      focusPending.current = true;
      scrollToRow(action.index);
    } else if (action.kind === 'open') onOpen({ kind: 'file', path: action.path });
    else toggle(action.path, action.kind === 'expand');
  };

  const choose = (row: FileTreeRow) => {
    setActive(row.node.path);
    if (row.node.kind === 'folder') toggle(row.node.path, !expanded.has(row.node.path));
    else onOpen({ kind: 'file', path: row.node.path });
  };

  return (
    <div className="file-picker">
      <button type="button" className="scratch" aria-pressed={open.kind === 'scratch'} onClick={() => onOpen({ kind: 'scratch' })}>
        Scratch buffer
      </button>
      <input type="search" aria-label="Filter files" placeholder="Filter files" value={query} onChange={(event) => setQuery(event.target.value)} />
      <div
        className="file-tree"
        role="tree"
        aria-label="Files"
        aria-busy={files === null}
        data-testid="files"
        ref={scroller}
        onKeyDown={onKeyDown}
        onScroll={(event) => setScrollTop(event.currentTarget.scrollTop)}
      >
        <div role="none" className="file-tree-rows" style={{ height: rows.length * ROW_HEIGHT }}>
          {indices.map((index) => {
            const row = rows[index];
            const { node } = row;
            const folder = node.kind === 'folder';
            const isOpen = folder && expanded.has(node.path);
            return (
              <div
                key={node.path}
                role="treeitem"
                aria-level={row.depth + 1}
                aria-setsize={row.setSize}
                aria-posinset={row.posInSet}
                aria-expanded={folder ? isOpen : undefined}
                aria-selected={folder ? undefined : node.path === openPath}
                tabIndex={index === activeIndex ? 0 : -1}
                title={node.path}
                data-path={node.path}
                className={folder ? 'folder' : node.name.endsWith('.py') ? undefined : 'muted'}
                style={{ top: index * ROW_HEIGHT, paddingLeft: `${0.5 + row.depth + (folder ? 0 : 1)}em` }}
                onClick={() => choose(row)}
              >
                {folder && <span className="twisty" aria-hidden="true">{isOpen ? '▾' : '▸'}</span>}
                {node.name}
                {folder && <small aria-hidden="true"> {node.fileCount}</small>}
              </div>
            );
          })}
        </div>
      </div>
      {files !== null && !rows.length && <p className="muted" data-testid="files-empty">{filter ? `No file matches "${filter}".` : 'No files.'}</p>}
    </div>
  );
});
