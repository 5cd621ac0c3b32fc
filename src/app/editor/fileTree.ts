// The file tree of a commit as plain data: folders and files built once from the sorted path list, the rows an
// expansion state makes visible (what the tree view renders, a window of them at a time), the folders to open first,
// and what each key does (the WAI-ARIA tree pattern). No DOM here: test/fileTree.test.ts runs it in Node.

export interface FileTreeFile {
  kind: 'file';
  name: string;
  /** The path in the commit's tree, e.g. "pkg/core.py". */
  path: string;
}

export interface FileTreeFolder {
  kind: 'folder';
  /** "" for the root. */
  name: string;
  path: string;
  /** Folders first, then files, each in code-point order of their names. */
  children: FileTreeNode[];
  /** Files anywhere below. */
  fileCount: number;
}

export type FileTreeNode = FileTreeFile | FileTreeFolder;

/** One visible line of the tree: a node, its depth (0 at the top) and its place among its siblings (1-based). */
export interface FileTreeRow {
  node: FileTreeNode;
  depth: number;
  posInSet: number;
  setSize: number;
  /** The folder holding it; "" at the top. */
  parent: string;
}

const byName = (a: FileTreeNode, b: FileTreeNode) => (a.kind !== b.kind ? (a.kind === 'folder' ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * The tree of `paths` (a commit's files, "/"-separated): one pass over the paths and one sort per folder.
 * @example buildFileTree(['README.md', 'pkg/core.py']).children.map((n) => n.name) // ['pkg', 'README.md']
 */
export function buildFileTree(paths: readonly string[]): FileTreeFolder {
  const root: FileTreeFolder = { kind: 'folder', name: '', path: '', children: [], fileCount: 0 };
  const folders = new Map<string, FileTreeFolder>([['', root]]);
  const folderAt = (path: string): FileTreeFolder => {
    let folder = folders.get(path);
    if (folder) return folder;
    const slash = path.lastIndexOf('/');
    const parent = folderAt(slash < 0 ? '' : path.slice(0, slash));
    folder = { kind: 'folder', name: path.slice(slash + 1), path, children: [], fileCount: 0 };
    parent.children.push(folder);
    folders.set(path, folder);
    return folder;
  };
  for (const path of paths) {
    const slash = path.lastIndexOf('/');
    folderAt(slash < 0 ? '' : path.slice(0, slash)).children.push({ kind: 'file', name: path.slice(slash + 1), path });
  }
  const finish = (folder: FileTreeFolder): number => {
    folder.children.sort(byName);
    folder.fileCount = folder.children.reduce((n, child) => n + (child.kind === 'file' ? 1 : finish(child)), 0);
    return folder.fileCount;
  };
  finish(root);
  return root;
}

/** The folders that hold `path`, outermost first: "a/b/c.py" -> ["a", "a/b"]. */
export function ancestorFolders(path: string): string[] {
  const parts = path.split('/');
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

/** Every folder path below `root` (for a filtered tree, which shows all it holds). */
export function allFolders(root: FileTreeFolder): Set<string> {
  const found = new Set<string>();
  const stack: FileTreeFolder[] = [root];
  while (stack.length) {
    for (const child of stack.pop()!.children) {
      if (child.kind === 'folder') {
        found.add(child.path);
        stack.push(child);
      }
    }
  }
  return found;
}

/** The rows shown when the folders in `expanded` are open (a folder inside a closed one shows nothing). */
export function visibleRows(root: FileTreeFolder, expanded: ReadonlySet<string>): FileTreeRow[] {
  const rows: FileTreeRow[] = [];
  const walk = (folder: FileTreeFolder, depth: number) => {
    folder.children.forEach((node, i) => {
      rows.push({ node, depth, posInSet: i + 1, setSize: folder.children.length, parent: folder.path });
      if (node.kind === 'folder' && expanded.has(node.path)) walk(node, depth + 1);
    });
  };
  walk(root, 0);
  return rows;
}

/**
 * The folders open at first: breadth first, each folder whose children still fit in `maxRows` visible rows, so a
 * small repository shows all its files and a large one its top levels (children are rendered only when opened).
 */
export function initialExpansion(root: FileTreeFolder, maxRows = 40): Set<string> {
  const expanded = new Set<string>();
  let rows = root.children.length;
  let level = root.children.filter((n): n is FileTreeFolder => n.kind === 'folder');
  while (level.length) {
    const next: FileTreeFolder[] = [];
    for (const folder of level) {
      if (rows + folder.children.length > maxRows) continue;
      rows += folder.children.length;
      expanded.add(folder.path);
      for (const child of folder.children) if (child.kind === 'folder') next.push(child);
    }
    level = next;
  }
  return expanded;
}

/** Paths containing `query` (case-insensitive); all of them for a blank query. */
export function filterPaths(paths: readonly string[], query: string): readonly string[] {
  const needle = query.trim().toLowerCase();
  return needle ? paths.filter((path) => path.toLowerCase().includes(needle)) : paths;
}

/** What a key does on row `index`: move focus to a row, open or close a folder, or open a file. */
export type TreeKeyAction =
  | { kind: 'focus'; index: number }
  | { kind: 'expand'; path: string }
  | { kind: 'collapse'; path: string }
  | { kind: 'open'; path: string };

/**
 * The WAI-ARIA tree pattern's keys: Down/Up the next/previous row, Home/End the first/last, PageDown/PageUp ten rows;
 * Right opens a closed folder or moves into an open one, Left closes an open folder or moves to the parent; Enter or
 * Space opens a file or opens/closes a folder. null for any other key.
 */
export function treeKeyAction(rows: readonly FileTreeRow[], index: number, key: string, expanded: ReadonlySet<string>): TreeKeyAction | null {
  if (!rows.length) return null;
  const clamp = (i: number): TreeKeyAction => ({ kind: 'focus', index: Math.max(0, Math.min(rows.length - 1, i)) });
  const row = rows[Math.max(0, Math.min(rows.length - 1, index))];
  const open = row.node.kind === 'folder' && expanded.has(row.node.path);
  switch (key) {
    case 'ArrowDown': return clamp(index + 1);
    case 'ArrowUp': return clamp(index - 1);
    case 'Home': return clamp(0);
    case 'End': return clamp(rows.length - 1);
    case 'PageDown': return clamp(index + 10);
    case 'PageUp': return clamp(index - 10);
    case 'ArrowRight':
      if (row.node.kind !== 'folder') return null;
      if (!open) return { kind: 'expand', path: row.node.path };
      return row.node.children.length ? clamp(index + 1) : null;
    case 'ArrowLeft': {
      if (open) return { kind: 'collapse', path: row.node.path };
      if (!row.parent) return null;
      for (let i = index - 1; i >= 0; i--) if (rows[i].node.path === row.parent) return clamp(i);
      return null;
    }
    case 'Enter':
    case ' ':
      if (row.node.kind === 'file') return { kind: 'open', path: row.node.path };
      return { kind: open ? 'collapse' : 'expand', path: row.node.path };
    default:
      return null;
  }
}
