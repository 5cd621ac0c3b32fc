// Node only: opens the repositories a benchmark names (local git work trees, git URLs, `synth:SEED`) for mining and evaluation.
import * as fs from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'isomorphic-git/http/node';
import type { FileDiff } from '../git/index.ts';
import type { SnapshotFile } from '../parse/mineTasks.ts';
import { nodeEnvironment } from '../session/nodeEnvironment.ts';
import { RepoSession } from '../session/repoSession.ts';
import { generateRepo } from '../synth/generateRepo.ts';
import { writeGitRepo } from '../synth/writeGitRepo.ts';
import type { MinableRepo } from './taskSet.ts';

export interface RepoSpec {
  /** A local git work tree, a git URL, or `synth:SEED` (a generated repository, the same SHAs on every machine). */
  source: string;
  /** Display name; default: `owner/repo` for a URL, the directory name for a path, the generated name for synth. */
  name?: string;
}

export class RepoSourceError extends Error {
  constructor(readonly code: 'NOT_A_GIT_REPO' | 'NO_SUCH_PATH' | 'BAD_REPO_LIST' | 'EMPTY_HISTORY', message: string) {
    super(message);
    this.name = 'RepoSourceError';
  }
}

/** Lines of `SOURCE [NAME]`; blank lines and `#` comments are skipped. */
export function parseRepoList(text: string, where = 'repository list'): RepoSpec[] {
  const specs: RepoSpec[] = [];
  text.split('\n').forEach((line, index) => {
    const content = line.replace(/(^|\s)#.*$/, '').trim();
    if (!content) return;
    const fields = content.split(/\s+/);
    if (fields.length > 2) throw new RepoSourceError('BAD_REPO_LIST', `${where}:${index + 1}: expected "SOURCE [NAME]", got ${JSON.stringify(line)}`);
    specs.push({ source: fields[0], name: fields[1] });
  });
  return specs;
}

/** `--repos` takes a file listing repositories or a comma-separated list. */
export async function readRepoArgument(argument: string): Promise<RepoSpec[]> {
  const path = resolve(argument);
  if (fs.existsSync(path) && fs.statSync(path).isFile()) return parseRepoList(await readFile(path, 'utf8'), argument);
  return argument.split(',').map((source) => source.trim()).filter(Boolean).map((source) => ({ source }));
}

export interface OpenedRepo extends MinableRepo {
  /** The git work tree read from (node:fs). */
  dir: string;
  /** The repository as the app reads it: snapshots, parses and adapters per commit, each made once. */
  session: RepoSession;
  /** Every Python file (tests included) at a commit, for the methods' per-repo state (RAG index, adapter). */
  readPythonFiles: (commit: string) => Promise<SnapshotFile[]>;
  /** A commit against its first parent: the non-test .py/.md/.rst files Evo reads (src/git diffCommit). */
  diff: (commit: string) => Promise<FileDiff[]>;
  close: () => Promise<void>;
}

/**
 * Opens a repository for reading: a local work tree in place; a URL cloned (depth = history) into a temporary
 * directory; `synth:SEED` generated and written to one. `close` removes what was made.
 *
 * @example const repo = await openRepository({ source: 'synth:1' }, { history: 20 }); ... await repo.close();
 */
export async function openRepository(spec: RepoSpec, { history, signal, onProgress }: {
  history: number;
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
}): Promise<OpenedRepo> {
  let temporary: string | null = null;
  const synth = /^synth:(\d+)$/.exec(spec.source);
  // The mainline (first parents), as Evo's training histories: each step is a diff against the previous commit.
  const reading = { depth: history, firstParent: true, ...nodeEnvironment() };
  try {
    let session: RepoSession;
    if (synth) {
      const repo = generateRepo({ seed: Number(synth[1]), commits: Math.max(2, Math.min(history, 200)) });
      temporary = await mkdtemp(join(tmpdir(), 'code2lora-bench-'));
      await writeGitRepo({ repo, dir: join(temporary, 'repo') });
      session = await RepoSession.open({ ...reading, dir: join(temporary, 'repo'), name: spec.name ?? repo.name });
    } else if (/^(https?:\/\/|git@|[\w.-]+\.[a-z]{2,}\/)/i.test(spec.source) && !fs.existsSync(spec.source)) {
      temporary = await mkdtemp(join(tmpdir(), 'code2lora-bench-'));
      onProgress?.(`cloning ${spec.source}`);
      session = await RepoSession.clone({ ...reading, http, dir: temporary, url: spec.source, name: spec.name, signal });
    } else {
      const dir = resolve(spec.source);
      if (!fs.existsSync(dir)) throw new RepoSourceError('NO_SUCH_PATH', `no such directory: ${dir}`);
      if (!fs.existsSync(join(dir, '.git'))) {
        throw new RepoSourceError('NOT_A_GIT_REPO', `${dir} is not a git work tree (evo tasks and pinned commits need its history)`);
      }
      session = await RepoSession.open({ ...reading, dir, name: spec.name ?? basename(dir) });
    }
    const commits = [...session.commits].reverse();
    if (commits.length === 0) throw new RepoSourceError('EMPTY_HISTORY', `${spec.source} has no commits`);
    const workDir = temporary;
    return {
      name: session.info.name,
      dir: session.dir,
      session,
      source: spec.source,
      head: commits[commits.length - 1].sha,
      commits: commits.map(({ sha, timestamp }) => ({ sha, timestamp })),
      readFiles: (commit, include) => session.readFiles(commit, include, signal),
      readPythonFiles: (commit) => session.readFiles(commit, undefined, signal),
      diff: async (commit) => (await session.diff(commit)).files,
      close: async () => {
        if (workDir) await rm(workDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    if (temporary) await rm(temporary, { recursive: true, force: true });
    throw error;
  }
}

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Versions of what produced a task set or a result, for its manifest. */
export function toolVersions(): Record<string, string> {
  const versionOf = (path: string) => {
    try {
      return (JSON.parse(fs.readFileSync(path, 'utf8')) as { version?: string }).version ?? 'unknown';
    } catch {
      return 'unknown';
    }
  };
  const versions: Record<string, string> = { 'code2lora-web': versionOf(join(PROJECT_ROOT, 'package.json')), node: process.versions.node };
  for (const name of ['web-tree-sitter', 'tree-sitter-python', 'isomorphic-git', '@tensorflow/tfjs']) {
    versions[name] = versionOf(join(PROJECT_ROOT, 'node_modules', name, 'package.json'));
  }
  return versions;
}
