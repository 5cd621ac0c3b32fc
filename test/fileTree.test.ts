// The editor's file tree as data: folders and files from a commit's paths, the rows an expansion shows, the folders
// open at first, the filter, and what each key does (the WAI-ARIA tree pattern).
import { describe, expect, it } from 'vitest';
import {
  allFolders, ancestorFolders, buildFileTree, filterPaths, initialExpansion, treeKeyAction, visibleRows,
  type FileTreeFolder, type FileTreeRow,
} from '../src/app/editor/fileTree.ts';

const PATHS = ['README.md', 'pkg/__init__.py', 'pkg/core.py', 'pkg/io/read.py', 'pkg/io/write.py', 'setup.py', 'tests/test_core.py'];

/** "name" per row, indented two spaces per level, "/" after a folder. */
function outline(rows: FileTreeRow[]): string[] {
  return rows.map((row) => `${'  '.repeat(row.depth)}${row.node.name}${row.node.kind === 'folder' ? '/' : ''}`);
}

describe('buildFileTree', () => {
  it('nests files under their folders, folders first, each sorted, with the files below each folder counted', () => {
    const root = buildFileTree([...PATHS].reverse());
    expect(outline(visibleRows(root, allFolders(root)))).toEqual([
      'pkg/', '  io/', '    read.py', '    write.py', '  __init__.py', '  core.py', 'tests/', '  test_core.py', 'README.md', 'setup.py',
    ]);
    expect(root.fileCount).toBe(PATHS.length);
    const pkg = root.children[0] as FileTreeFolder;
    expect(pkg).toMatchObject({ kind: 'folder', name: 'pkg', path: 'pkg', fileCount: 4 });
    expect(pkg.children[0]).toMatchObject({ kind: 'folder', name: 'io', path: 'pkg/io', fileCount: 2 });
    expect(pkg.children[2]).toEqual({ kind: 'file', name: 'core.py', path: 'pkg/core.py' });
  });

  it('keeps names as they are (markup, spaces, dots) and makes an empty tree of no paths', () => {
    const hostile = '<img src=x onerror=alert(1)>.py';
    const root = buildFileTree([hostile, 'a b/.hidden', 'tests/test_<svg onload=alert(6)>.py']);
    expect(allFolders(root)).toEqual(new Set(['a b', 'tests']));
    expect(visibleRows(root, allFolders(root)).map((row) => row.node.path)).toEqual(['a b', 'a b/.hidden', 'tests', 'tests/test_<svg onload=alert(6)>.py', hostile]);
    expect(buildFileTree([])).toEqual({ kind: 'folder', name: '', path: '', children: [], fileCount: 0 });
  });

  it('builds a tree of 20,000 files in one pass (a quadratic build would take seconds), showing its top levels', () => {
    const paths: string[] = [];
    for (let a = 0; a < 20; a++) for (let b = 0; b < 20; b++) for (let c = 0; c < 50; c++) paths.push(`d${a}/e${b}/f${c}.py`);
    const started = performance.now();
    const root = buildFileTree(paths);
    const rows = visibleRows(root, initialExpansion(root));
    const seconds = performance.now() - started;
    expect(root.fileCount).toBe(20_000);
    // 20 top folders and the 20 of the first one (40 rows at most open at first).
    expect(rows.length).toBe(40);
    expect(seconds).toBeLessThan(1000);
  });
});

describe('visibleRows', () => {
  const root = buildFileTree(PATHS);

  it('shows a closed folder without its children, and the level, position and parent of each row', () => {
    const rows = visibleRows(root, new Set(['pkg']));
    expect(outline(rows)).toEqual(['pkg/', '  io/', '  __init__.py', '  core.py', 'tests/', 'README.md', 'setup.py']);
    expect(rows.map((row) => [row.depth, row.posInSet, row.setSize, row.parent])).toEqual([
      [0, 1, 4, ''], [1, 1, 3, 'pkg'], [1, 2, 3, 'pkg'], [1, 3, 3, 'pkg'], [0, 2, 4, ''], [0, 3, 4, ''], [0, 4, 4, ''],
    ]);
  });

  it('shows nothing inside an open folder whose parent is closed', () => {
    expect(outline(visibleRows(root, new Set(['pkg/io'])))).toEqual(['pkg/', 'tests/', 'README.md', 'setup.py']);
  });
});

describe('initialExpansion', () => {
  it('opens every folder of a small repository', () => {
    const root = buildFileTree(PATHS);
    expect(initialExpansion(root)).toEqual(new Set(['pkg', 'tests', 'pkg/io']));
  });

  it('opens folders breadth first while their children fit, so a large repository shows its top levels only', () => {
    const paths = ['README.md', 'src/app.py', 'src/util.py'];
    for (let i = 0; i < 1500; i++) paths.push(`data/records/r${i}.txt`);
    for (let i = 0; i < 40; i++) paths.push(`docs/page${i}.md`);
    const root = buildFileTree(paths);
    // 4 top rows; data (+1) and src (+2) fit in 40, docs (+40) does not; data/records (+1,500) never does.
    expect(initialExpansion(root)).toEqual(new Set(['data', 'src']));
    expect(visibleRows(root, initialExpansion(root)).length).toBe(7);
    expect(initialExpansion(root, 100)).toEqual(new Set(['data', 'docs', 'src']));
  });
});

describe('ancestorFolders and filterPaths', () => {
  it('lists the folders that hold a path, outermost first', () => {
    expect(ancestorFolders('a/b/c.py')).toEqual(['a', 'a/b']);
    expect(ancestorFolders('setup.py')).toEqual([]);
  });

  it('keeps the paths that contain the query, case-insensitive; a blank query keeps all', () => {
    expect(filterPaths(PATHS, 'IO/')).toEqual(['pkg/io/read.py', 'pkg/io/write.py']);
    expect(filterPaths(PATHS, '  core ')).toEqual(['pkg/core.py', 'tests/test_core.py']);
    expect(filterPaths(PATHS, ' ')).toBe(PATHS);
    expect(filterPaths(PATHS, 'nothing')).toEqual([]);
  });
});

describe('treeKeyAction', () => {
  const root = buildFileTree(PATHS);
  const expanded = new Set(['pkg', 'pkg/io']);
  const rows = visibleRows(root, expanded);
  const at = (path: string) => rows.findIndex((row) => row.node.path === path);
  const key = (path: string, name: string) => treeKeyAction(rows, at(path), name, expanded);

  it('moves focus with Up, Down, Home, End and the Page keys, within the rows', () => {
    expect(outline(rows)).toEqual(['pkg/', '  io/', '    read.py', '    write.py', '  __init__.py', '  core.py', 'tests/', 'README.md', 'setup.py']);
    expect(key('pkg/io', 'ArrowDown')).toEqual({ kind: 'focus', index: 2 });
    expect(key('pkg/io', 'ArrowUp')).toEqual({ kind: 'focus', index: 0 });
    expect(key('pkg', 'ArrowUp')).toEqual({ kind: 'focus', index: 0 });
    expect(key('setup.py', 'ArrowDown')).toEqual({ kind: 'focus', index: 8 });
    expect(key('pkg/core.py', 'Home')).toEqual({ kind: 'focus', index: 0 });
    expect(key('pkg', 'End')).toEqual({ kind: 'focus', index: 8 });
    expect(key('pkg', 'PageDown')).toEqual({ kind: 'focus', index: 8 });
    expect(key('setup.py', 'PageUp')).toEqual({ kind: 'focus', index: 0 });
  });

  it('Right opens a closed folder and enters an open one; Left closes an open folder and goes to the parent', () => {
    expect(key('tests', 'ArrowRight')).toEqual({ kind: 'expand', path: 'tests' });
    expect(key('pkg', 'ArrowRight')).toEqual({ kind: 'focus', index: 1 });
    expect(key('pkg/core.py', 'ArrowRight')).toBeNull();
    expect(key('pkg/io', 'ArrowLeft')).toEqual({ kind: 'collapse', path: 'pkg/io' });
    expect(key('pkg/io/write.py', 'ArrowLeft')).toEqual({ kind: 'focus', index: at('pkg/io') });
    expect(key('pkg/core.py', 'ArrowLeft')).toEqual({ kind: 'focus', index: at('pkg') });
    expect(key('tests', 'ArrowLeft')).toBeNull();
    expect(key('README.md', 'ArrowLeft')).toBeNull();
  });

  it('Enter and Space open a file and open or close a folder; other keys do nothing', () => {
    expect(key('pkg/core.py', 'Enter')).toEqual({ kind: 'open', path: 'pkg/core.py' });
    expect(key('setup.py', ' ')).toEqual({ kind: 'open', path: 'setup.py' });
    expect(key('pkg', 'Enter')).toEqual({ kind: 'collapse', path: 'pkg' });
    expect(key('tests', ' ')).toEqual({ kind: 'expand', path: 'tests' });
    expect(key('pkg', 'a')).toBeNull();
    expect(treeKeyAction([], 0, 'ArrowDown', expanded)).toBeNull();
  });

  it('an empty open folder has nowhere to go on Right', () => {
    const lone = buildFileTree(['x/y/z.py']);
    const open = new Set(['x']);
    expect(treeKeyAction(visibleRows(lone, open), 0, 'ArrowRight', open)).toEqual({ kind: 'focus', index: 1 });
  });
});
