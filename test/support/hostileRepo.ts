// Node only: writes hostile git repositories (any bytes as names and contents, symlinks, gitlinks, merges, orphan roots) with git fast-import.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { runGit } from '../../src/synth/writeGitRepo.ts';

/** One tree change: a file (mode 100644 unless said), a symlink (120000: content is the target), a gitlink (160000: content is a commit id), or a deletion. */
export interface HostileEntry {
  /** Any bytes but a newline: fast-import takes the rest of the line as the path, so `..`, `.git`, spaces and markup all pass. */
  path: string | Buffer;
  content?: string | Buffer;
  mode?: '100644' | '100755' | '120000' | '160000';
  delete?: true;
}

export interface HostileCommit {
  /** Default `main`. */
  branch?: string;
  message: string | Buffer;
  /** Author and committer name (default `Hostile Tester`). */
  author?: string;
  /**
   * Indices of earlier commits in the list, first parent first. Absent: the branch's current tip (the first commit of a
   * branch is a root). `[]`: a new root (an orphan) even on a branch that has commits.
   */
  parents?: number[];
  /** Start from an empty tree instead of the first parent's. */
  deleteAll?: true;
  entries?: HostileEntry[];
}

export const file = (path: string | Buffer, content: string | Buffer, mode: HostileEntry['mode'] = '100644'): HostileEntry => ({ path, content, mode });

function fastImportStream(commits: readonly HostileCommit[]): Buffer {
  const parts: Buffer[] = [];
  const text = (value: string | Buffer) => parts.push(typeof value === 'string' ? Buffer.from(value, 'utf8') : value);
  const data = (value: string | Buffer) => {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    text(`data ${bytes.length}\n`);
    text(bytes);
    text('\n');
  };
  commits.forEach((commit, index) => {
    const ref = `refs/heads/${commit.branch ?? 'main'}`;
    if (commit.parents?.length === 0) text(`reset ${ref}\n\n`);
    // Seconds apart, so that git.log's date order is the order written.
    const identity = `${commit.author ?? 'Hostile Tester'} <hostile@example.org> ${1_700_000_000 + index} +0000`;
    text(`commit ${ref}\nmark :${index + 1}\nauthor ${identity}\ncommitter ${identity}\n`);
    data(commit.message);
    const [first, ...merged] = commit.parents ?? [];
    if (first !== undefined) text(`from :${first + 1}\n`);
    for (const parent of merged) text(`merge :${parent + 1}\n`);
    if (commit.deleteAll) text('deleteall\n');
    for (const entry of commit.entries ?? []) {
      const path = typeof entry.path === 'string' ? Buffer.from(entry.path, 'utf8') : entry.path;
      if (path.includes(0x0a) || path[0] === 0x22) throw new Error(`fast-import cannot take the path ${JSON.stringify(path.toString())} unquoted`);
      if (entry.delete) {
        text('D ');
      } else if (entry.mode === '160000') {
        text(`M 160000 ${String(entry.content)} `);
      } else {
        text(`M ${entry.mode ?? '100644'} inline `);
      }
      text(path);
      text('\n');
      if (!entry.delete && entry.mode !== '160000') data(entry.content ?? '');
    }
    text('\n');
  });
  text('done\n');
  return Buffer.concat(parts);
}

/**
 * Writes `commits` as a bare repository at `dir` (HEAD on `head`, default main) and returns each commit's SHA in
 * list order.
 *
 * @example const [root] = await writeHostileRepo({ dir, commits: [{ message: '<b>hi</b>', entries: [file('a.py', 'A = 1\n')] }] });
 */
export async function writeHostileRepo({ dir, commits, head = 'main' }: {
  dir: string;
  commits: readonly HostileCommit[];
  head?: string;
}): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  await runGit(['init', '--quiet', '--bare', `--initial-branch=${head}`, dir]);
  if (commits.length === 0) return [];
  const marksFile = `${dir}/fast-import-marks`;
  await runGit(['fast-import', '--quiet', '--done', `--export-marks=${marksFile}`], { cwd: dir, input: fastImportStream(commits) });
  const shaByMark = new Map((await readFile(marksFile, 'utf8')).trim().split('\n').map((line) => line.split(' ') as [string, string]));
  await rm(marksFile);
  return commits.map((_, index) => shaByMark.get(`:${index + 1}`)!);
}
