// Node only: writes a generated repository as a real git repository (git fast-import), with reproducible SHAs.
import { spawn } from 'node:child_process';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { generateRepo, type SynthRepo } from './generateRepo.ts';

export class GitCommandError extends Error {
  readonly code = 'GIT_COMMAND_FAILED';

  constructor(readonly args: string[], readonly exitCode: number | null, readonly stderr: string) {
    super(`git ${args.join(' ')} failed (exit ${exitCode}): ${stderr.trim()}`);
    this.name = 'GitCommandError';
  }
}

export class SynthRepoExistsError extends Error {
  readonly code = 'SYNTH_REPO_EXISTS';

  constructor(readonly dir: string) {
    super(`${dir} exists and is not empty (ask for replace to overwrite it)`);
    this.name = 'SynthRepoExistsError';
  }
}

export interface WrittenRepo {
  /** Absolute path: the work tree, or the git directory of a bare repository. */
  dir: string;
  bare: boolean;
  /** SHA of each commit, in the order of `repo.commits`. */
  commitShas: string[];
  head: string;
}

/**
 * The environment every git command runs in: no system or user configuration, no inherited GIT_* variables
 * (a hook's GIT_DIR would redirect us), fixed locale and time zone.
 */
export function isolatedGitEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('GIT_')) env[key] = value;
  return { ...env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C', TZ: 'UTC', ...extra };
}

/** Run git and collect its stdout; rejects with GitCommandError on a non-zero exit. */
export function runGit(args: string[], { cwd, input, env }: { cwd?: string; input?: Buffer; env?: Record<string, string> } = {}): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('git', args, { cwd, env: isolatedGitEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error) => reject(new GitCommandError(args, null, error.message)));
    child.on('close', (exitCode) => {
      if (exitCode === 0) resolvePromise(Buffer.concat(stdout).toString('utf8'));
      else reject(new GitCommandError(args, exitCode, Buffer.concat(stderr).toString('utf8')));
    });
    child.stdin.on('error', () => {}); // a failing git closes stdin early; the exit code reports it
    child.stdin.end(input);
  });
}

const SAFE_PATH = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;

/** The history as a git fast-import stream (one linear branch, refs/heads/main). */
function fastImportStream(repo: SynthRepo): Buffer {
  const parts: Buffer[] = [];
  const text = (value: string) => parts.push(Buffer.from(value, 'utf8'));
  const data = (value: string) => {
    const bytes = Buffer.from(value, 'utf8');
    text(`data ${bytes.length}\n`);
    parts.push(bytes);
    text('\n');
  };
  repo.commits.forEach((commit, index) => {
    const identity = `${commit.author.name} <${commit.author.email}> ${commit.timestamp} +0000`;
    text(`commit refs/heads/main\nmark :${index + 1}\nauthor ${identity}\ncommitter ${identity}\n`);
    data(commit.message.endsWith('\n') ? commit.message : `${commit.message}\n`);
    for (const [path, content] of Object.entries(commit.files)) {
      if (!SAFE_PATH.test(path) || path.split('/').includes('..')) throw new Error(`unsafe path in generated repo: ${path}`);
      if (content === null) text(`D ${path}\n`);
      else {
        text(`M 100644 inline ${path}\n`);
        data(content);
      }
    }
    text('\n');
  });
  text('done\n');
  return Buffer.concat(parts);
}

async function prepareDirectory(dir: string, replace: boolean): Promise<void> {
  const entries = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
  if (entries.length > 0) {
    if (!replace) throw new SynthRepoExistsError(dir);
    await rm(dir, { recursive: true, force: true });
  }
  await mkdir(dir, { recursive: true });
}

/**
 * Materialise `repo` in `dir` (created; must be empty unless `replace`). Same repo, same SHAs, on any machine.
 *
 * @example
 * const { head } = await writeGitRepo({ repo: generateRepo({ seed: 1 }), dir: '/tmp/r1' });
 */
export async function writeGitRepo({ repo, dir, bare = false, replace = false }: {
  repo: SynthRepo;
  dir: string;
  bare?: boolean;
  replace?: boolean;
}): Promise<WrittenRepo> {
  const target = resolve(dir);
  await prepareDirectory(target, replace);
  await runGit(['init', '--quiet', '--initial-branch=main', ...(bare ? ['--bare'] : []), target]);
  await runGit(['fast-import', '--quiet', '--done'], { cwd: target, input: fastImportStream(repo) });
  if (!bare) await runGit(['reset', '--quiet', '--hard', 'main'], { cwd: target });
  const commitShas = (await runGit(['rev-list', '--reverse', 'main'], { cwd: target })).trim().split('\n');
  if (commitShas.length !== repo.commits.length) throw new Error(`expected ${repo.commits.length} commits in ${target}, found ${commitShas.length}`);
  return { dir: target, bare, commitShas, head: commitShas[commitShas.length - 1] };
}

export interface SynthRepoOnDisk extends WrittenRepo {
  seed: number;
  name: string;
  packageName: string;
  repo: SynthRepo;
}

/**
 * Generate and write one repository per seed under `root`: bare ones as `<name>.git` (what the git HTTP server
 * serves), work trees as `<name>`.
 *
 * @example
 * const [repo] = await makeSynthRepos({ root: '/tmp/repos', seeds: [1] });
 * // serve /tmp/repos, clone `${server.url}/${repo.name}.git`
 */
export async function makeSynthRepos({ root, seeds, commits = 20, bare = true, replace = false }: {
  root: string;
  seeds: number[];
  commits?: number;
  bare?: boolean;
  replace?: boolean;
}): Promise<SynthRepoOnDisk[]> {
  const repos = seeds.map((seed) => generateRepo({ seed, commits }));
  const names = repos.map((repo) => repo.name);
  const duplicate = names.find((name, index) => names.indexOf(name) !== index);
  if (duplicate) throw new Error(`two seeds generate the same repository name ${duplicate}: pick other seeds`);
  const written: SynthRepoOnDisk[] = [];
  for (const repo of repos) {
    const dir = join(root, bare ? `${repo.name}.git` : repo.name);
    const result = await writeGitRepo({ repo, dir, bare, replace });
    written.push({ ...result, seed: repo.seed, name: repo.name, packageName: repo.packageName, repo });
  }
  return written;
}
