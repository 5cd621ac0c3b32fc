// `npm run mine -- <git URL | local path> [--commit SHA] [--evo] [--all] [--seed N] [--history N] --out tasks.jsonl`:
// mines assertion-completion tasks from a repository and prints counts per target kind and per split.
import * as fs from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import http from 'isomorphic-git/http/node';
import { isPythonTestPath, listCommits, readSnapshot } from '../src/git/index.ts';
import { ASSERTION_KINDS } from '../src/parse/assertionTargets.ts';
import {
  type AssertionTask, mineHistoryTasks, type MineRepoResult, mineRepoTasks,
} from '../src/parse/mineTasks.ts';
import { loadPythonParser } from '../src/parse/pythonParser.ts';
import { nodeEnvironment } from '../src/session/nodeEnvironment.ts';
import { RepoSession } from '../src/session/repoSession.ts';
import { readWorkingTree } from './readWorkingTree.ts';
import { crSplitOfRepo, evoSplitCommits, irSplitTasks, type SplitName } from '../src/parse/splits.ts';

const USAGE = 'usage: npm run mine -- <git URL | local path> [--commit SHA] [--evo] [--all] [--seed N] [--history N] '
  + '[--name owner/repo] --out tasks.jsonl';

class UsageError extends Error {
  readonly code = 'USAGE';
}

function parseCommandLine() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      commit: { type: 'string' },
      evo: { type: 'boolean', default: false },
      all: { type: 'boolean', default: false },
      seed: { type: 'string', default: '0' },
      history: { type: 'string', default: '200' },
      name: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (positionals.length !== 1) throw new UsageError(`expected one repository, got ${positionals.length}\n${USAGE}`);
  if (!values.out) throw new UsageError(`--out is required\n${USAGE}`);
  const seed = Number(values.seed);
  const history = Number(values.history);
  if (!Number.isInteger(seed)) throw new UsageError(`--seed must be an integer, got ${values.seed}`);
  if (!Number.isInteger(history) || history < 1) throw new UsageError(`--history must be a positive integer, got ${values.history}`);
  return { source: positionals[0], ...values, out: values.out, seed, history };
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

function printKinds(label: string, counts: Record<string, number>): void {
  console.log(label);
  for (const kind of ASSERTION_KINDS) console.log(`  ${kind.padEnd(16)} ${counts[kind] ?? 0}`);
}

function printSplits(label: string, counts: Record<SplitName, number>): void {
  console.log(`${label}: train ${counts.train}, val ${counts.val}, test ${counts.test}`);
}

async function main(): Promise<void> {
  const options = parseCommandLine();
  const parser = await loadPythonParser();
  const localPath = resolve(options.source);
  const isLocal = fs.existsSync(localPath);
  let temporaryDirectory: string | null = null;
  const started = performance.now();
  try {
    let repo: string;
    let gitDir: string | null = null;
    if (isLocal) {
      repo = options.name ?? basename(localPath);
      if (fs.existsSync(join(localPath, '.git'))) gitDir = localPath;
    } else if (/^(\.{0,2}\/|~)/.test(options.source)) {
      throw new UsageError(`no such directory: ${localPath}`);
    } else {
      temporaryDirectory = await mkdtemp(join(tmpdir(), 'code2lora-mine-'));
      gitDir = temporaryDirectory;
      let lastPhase = '';
      const session = await RepoSession.clone({
        ...nodeEnvironment(), http, dir: gitDir, url: options.source, name: options.name, depth: options.history,
        onProgress: ({ detail: phase = '' }) => {
          if (phase !== lastPhase) process.stderr.write(`clone: ${(lastPhase = phase)}\n`);
        },
      });
      repo = session.info.name;
      const { url, bytes } = session.info;
      const seconds = (performance.now() - started) / 1000;
      console.log(`cloned ${url}: ${(bytes / 1e6).toFixed(2)} MB in ${seconds.toFixed(1)} s (${(bytes / 1e6 / seconds).toFixed(2)} MB/s)`);
    }

    let result: MineRepoResult;
    let commit: string;
    let evoSplits: Map<string, SplitName> | null = null;
    const miningStarted = performance.now();
    if (!gitDir) {
      if (options.commit || options.evo) throw new UsageError(`${localPath} is not a git repository: --commit and --evo need one`);
      commit = 'working-tree';
      const files = await readWorkingTree(localPath);
      result = mineRepoTasks({ repo, commit, files, parser, mode: 'static', seed: options.seed, all: options.all });
    } else if (options.evo) {
      const commits = (await listCommits({ fs, dir: gitDir, ref: options.commit ?? 'HEAD', limit: options.history })).reverse();
      commit = commits[commits.length - 1]?.sha ?? '';
      evoSplits = evoSplitCommits(commits);
      result = await mineHistoryTasks({
        repo,
        commits,
        readFiles: async (sha) => (await readSnapshot({ fs, dir: gitDir!, commit: sha, include: isPythonTestPath })).files,
        parser,
        seed: options.seed,
        all: options.all,
        onCommit: (done, total) => {
          if (done % 20 === 0 || done === total) process.stderr.write(`mined ${done}/${total} commits\n`);
        },
      });
    } else {
      commit = options.commit ?? (await listCommits({ fs, dir: gitDir, limit: 1 }))[0].sha;
      const { files } = await readSnapshot({ fs, dir: gitDir, commit, include: isPythonTestPath });
      result = mineRepoTasks({ repo, commit, files, parser, mode: 'static', seed: options.seed, all: options.all });
    }
    const miningSeconds = (performance.now() - miningStarted) / 1000;

    await writeFile(options.out, result.tasks.map((task) => JSON.stringify(task)).join('\n') + (result.tasks.length ? '\n' : ''));
    console.log(`${repo} @ ${commit.slice(0, 12)}: ${result.testFiles} test files, ${result.found} targets found, `
      + `${result.tasks.length} tasks written to ${options.out} (${miningSeconds.toFixed(1)} s)`);
    if (result.filesWithSyntaxErrors.length > 0) {
      console.log(`syntax errors recovered in ${result.filesWithSyntaxErrors.length} files (their other statements were mined)`);
    }
    if (result.dropped) console.log(`dropped: ${result.dropped.message}`);
    printKinds('targets found, by kind:', result.foundByKind);
    printKinds('tasks written, by kind:', countBy(result.tasks, (task) => task.kind));
    printSplitCounts(repo, result.tasks, options.seed, evoSplits);
  } finally {
    if (temporaryDirectory) await rm(temporaryDirectory, { recursive: true, force: true });
  }
}

function printSplitCounts(repo: string, tasks: readonly AssertionTask[], seed: number, evoSplits: Map<string, SplitName> | null): void {
  const crSplit = crSplitOfRepo(repo, seed);
  printSplits(`CR (repo held out by hash, seed ${seed}: ${crSplit})`,
    { train: 0, val: 0, test: 0, [crSplit]: tasks.length });
  const ir = irSplitTasks(tasks, seed, repo);
  printSplits('IR (8:1:1 of this repo\'s tasks)', { train: ir.train.length, val: ir.val.length, test: ir.test.length });
  if (evoSplits) {
    const counts = { train: 0, val: 0, test: 0 };
    for (const task of tasks) counts[evoSplits.get(task.commit)!]++;
    printSplits('Evo (task commits, 80/10/10 in time)', counts);
  }
}

main().catch((error: unknown) => {
  const code = (error as { code?: string }).code;
  console.error(code ? `${code}: ${(error as Error).message}` : error);
  process.exit(1);
});
