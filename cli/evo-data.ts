// `npm run data:evo`: Code2LoRA-Evo's training and evaluation data, computed by the same TypeScript the app runs. For
// every repository of training/data/evo_repos.tsv (bare git mirrors made by the `fetch` tool, see training/README.md)
// it takes the last --history commits of the first-parent history of the listed head, oldest first, and writes
//   tasks.jsonl    evo assertion tasks (each at the first commit where it appears; the first commit's are the starting
//                  suite, not changes, and give none), the authors' per-commit caps, time split 80/10/10, token ids;
//   commits.jsonl  one line per history commit with its diff cut into encoder chunks (src/code2lora/diffEncoder.ts);
//   files.jsonl    the encoder chunks of the non-test Python files at the first commit (the GRU's starting state).
// PyTorch reads these; it never parses, diffs or tokenizes on its own.
import * as fs from 'node:fs';
import { mkdtemp, readFile, rename, rm, symlink, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { diffCommit, isPythonTestPath, isTestPath, listCommits, readSnapshot, type CommitInfo } from '../src/git/index.ts';
import { diffChunkIds } from '../src/code2lora/diffEncoder.ts';
import { ENCODER_SETTINGS } from '../src/code2lora/encoderSettings.ts';
import { gitBlobId } from '../src/code2lora/gitBlobId.ts';
import { fileChunkIds } from '../src/code2lora/repoEncoder.ts';
import { parseGguf, tokenizerFromGguf } from '../src/model/gguf.ts';
import { EVO_LIMITS, mineHistoryTasks } from '../src/parse/mineTasks.ts';
import { loadPythonParser } from '../src/parse/pythonParser.ts';
import { evoSplitCommits, type SplitName } from '../src/parse/splits.ts';
import { BpeTokenizer } from '../src/tokenizer/bpeTokenizer.ts';
import { lastTokenIds } from '../src/tokenizer/lastTokenIds.ts';

type EvoDataErrorCode = 'MISSING_LIST' | 'BAD_LIST' | 'MISSING_MIRROR' | 'MISSING_MODEL' | 'HEAD_NOT_IN_MIRROR' | 'BAD_ARGUMENT';

class EvoDataError extends Error {
  constructor(readonly code: EvoDataErrorCode, message: string) {
    super(message);
    this.name = 'EvoDataError';
  }
}

const { values: args } = parseArgs({
  options: {
    list: { type: 'string', default: 'training/data/evo_repos.tsv' },
    mirrors: { type: 'string', default: '/work/.mirror' },
    'base-gguf': { type: 'string', default: 'public/models/smollm2-135m-instruct/model.gguf' },
    encoder: { type: 'string', default: 'public/models/c2l-base' },
    out: { type: 'string', default: 'data/evo' },
    history: { type: 'string', default: '160' },
    seed: { type: 'string', default: '0' },
    'max-prompt-tokens': { type: 'string', default: '1024' },
    /** Repositories with fewer tasks (after the caps, the first commit's left out) are dropped, as the paper's rule. */
    'min-tasks': { type: 'string', default: String(EVO_LIMITS.minPerRepo) },
    /** Comma-separated names: only these repositories of the list (a quick partial run). */
    only: { type: 'string' },
  },
});

interface RepoRow {
  name: string;
  url: string;
  head: string;
  commits: number;
  license: string;
  split: SplitName;
}

/** training/data/evo_repos.tsv: name, url, head, commits, license, split; `#` lines are comments. */
function parseRepoRows(text: string, where: string): RepoRow[] {
  return text.split('\n').flatMap((line, index) => {
    if (!line.trim() || line.startsWith('#')) return [];
    const fields = line.split('\t');
    const [name, url, head, commits, license, split] = fields;
    if (fields.length !== 6 || !/^[0-9a-f]{40}$/.test(head) || !(Number(commits) > 0) || !['train', 'val', 'test'].includes(split)) {
      throw new EvoDataError('BAD_LIST', `${where}:${index + 1}: expected name, url, 40-hex head, commits, license, train|val|test; got ${JSON.stringify(line)}`);
    }
    return [{ name, url, head, commits: Number(commits), license, split: split as SplitName }];
  });
}

function positiveInteger(name: string, value: string | undefined): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new EvoDataError('BAD_ARGUMENT', `--${name} must be a positive integer, got ${value}`);
  return number;
}

function firstLine(message: string): string {
  return message.split('\n', 1)[0].trim();
}

function formatSeconds(seconds: number): string {
  return seconds >= 120 ? `${(seconds / 60).toFixed(1)} min` : `${seconds.toFixed(0)} s`;
}

async function main(): Promise<void> {
  const history = positiveInteger('history', args.history);
  const maxPromptTokens = positiveInteger('max-prompt-tokens', args['max-prompt-tokens']);
  const seed = Number(args.seed);
  const minTasks = Number(args['min-tasks']);
  if (!Number.isInteger(minTasks) || minTasks < 0) throw new EvoDataError('BAD_ARGUMENT', `--min-tasks must be an integer >= 0, got ${args['min-tasks']}`);
  if (!fs.existsSync(args.list)) throw new EvoDataError('MISSING_LIST', `${args.list} is missing (see training/README.md, "Evo data")`);
  for (const path of [args['base-gguf'], join(args.encoder, 'tokenizer.json')]) {
    if (!fs.existsSync(path)) {
      throw new EvoDataError('MISSING_MODEL', `${path} is missing (${path.endsWith('.gguf') ? 'npm run models:smollm2' : 'public/models/c2l-base is committed'})`);
    }
  }
  let rows = parseRepoRows(await readFile(args.list, 'utf8'), args.list);
  if (args.only) {
    const wanted = new Set(args.only.split(',').map((name) => name.trim()));
    rows = rows.filter((row) => wanted.has(row.name));
  }
  const missing = rows.filter((row) => !fs.existsSync(join(args.mirrors, row.name, 'repo', 'HEAD')));
  if (missing.length > 0) {
    throw new EvoDataError('MISSING_MIRROR', `${missing.length} mirrors are missing under ${args.mirrors} (name/repo, a bare git directory made by `
      + `the fetch tool; --mirrors to look elsewhere): ${missing.map((row) => row.name).join(', ')}`);
  }

  const parser = await loadPythonParser();
  const baseTokenizer = tokenizerFromGguf(parseGguf(await readFile(args['base-gguf'])).metadata);
  const encoderTokenizer = BpeTokenizer.fromJSON(await readFile(join(args.encoder, 'tokenizer.json'), 'utf8'));
  await mkdir(args.out, { recursive: true });
  const outputs = { tasks: join(args.out, 'tasks.jsonl'), commits: join(args.out, 'commits.jsonl'), files: join(args.out, 'files.jsonl') };
  const streams = Object.fromEntries(Object.entries(outputs).map(([key, path]) => [key, fs.createWriteStream(`${path}.tmp`)])) as
    Record<keyof typeof outputs, fs.WriteStream>;
  // isomorphic-git reads `<dir>/.git`; a link to each bare mirror gives it one without copying anything.
  const links = await mkdtemp(join(tmpdir(), 'code2lora-evo-'));

  const started = performance.now();
  const taskCounts: Record<string, number> = {};
  const dropped: string[] = [];
  let commitCount = 0;
  let chunkCount = 0;
  let commitsWithDiff = 0;
  let fileCount = 0;
  let repoCount = 0;
  try {
    for (const [rowIndex, row] of rows.entries()) {
      const repoStarted = performance.now();
      const dir = join(links, row.name);
      await mkdir(dir);
      await symlink(join(fs.realpathSync(args.mirrors), row.name, 'repo'), join(dir, '.git'));
      const cache = {};
      let commits: CommitInfo[];
      try {
        commits = (await listCommits({ fs, dir, ref: row.head, limit: Math.min(history, row.commits), firstParent: true, withFiles: true, cache })).reverse();
      } catch (error) {
        throw new EvoDataError('HEAD_NOT_IN_MIRROR', `${row.name}: cannot read the history of ${row.head} (${(error as Error).message})`);
      }

      const mined = await mineHistoryTasks({
        repo: row.name, commits, parser, seed, limits: { ...EVO_LIMITS, minPerRepo: minTasks }, skipFirstCommit: true,
        readFiles: async (sha) => (await readSnapshot({ fs, dir, commit: sha, include: isPythonTestPath, cache })).files,
        onCommit: (done, total) => {
          if (done % 40 === 0 && done < total) process.stderr.write(`  ${row.name}: mined ${done}/${total} commits\n`);
        },
      });
      if (mined.dropped) {
        dropped.push(`${row.name} (${mined.dropped.tasksAfterCaps} tasks)`);
        process.stderr.write(`[${rowIndex + 1}/${rows.length}] ${row.name}: dropped, ${mined.dropped.message}\n`);
        continue;
      }
      repoCount++;
      const timeSplit = evoSplitCommits(commits);
      const indexOf = new Map(commits.map((commit, index) => [commit.sha, index]));
      for (const task of mined.tasks) {
        const key = `${row.split}/${timeSplit.get(task.commit)}`;
        taskCounts[key] = (taskCounts[key] ?? 0) + 1;
        streams.tasks.write(JSON.stringify({
          repo: row.name, split: row.split, time_split: timeSplit.get(task.commit), commit: task.commit,
          commit_index: indexOf.get(task.commit), file: task.file, line: task.line, kind: task.kind, target: task.target,
          prompt_ids: lastTokenIds(baseTokenizer, task.prompt, maxPromptTokens),
          target_ids: baseTokenizer.encode(`${task.target}\n`),
        }) + '\n');
      }

      for (const [index, commit] of commits.entries()) {
        const chunks = diffChunkIds(await diffCommit({ fs, dir, commit: commit.sha, cache }), encoderTokenizer, ENCODER_SETTINGS);
        chunkCount += chunks.length;
        if (chunks.length > 0) commitsWithDiff++;
        streams.commits.write(JSON.stringify({
          repo: row.name, index, commit: commit.sha, time: commit.timestamp, message_first_line: firstLine(commit.message),
          files_changed: commit.files?.length ?? 0, diff_chunks: chunks,
        }) + '\n');
      }
      commitCount += commits.length;

      const first = commits[0].sha;
      for (const file of (await readSnapshot({ fs, dir, commit: first, cache })).files) {
        if (isTestPath(file.path) || !file.content.trim()) continue;
        const chunks = fileChunkIds(file.content, parser, encoderTokenizer, ENCODER_SETTINGS);
        if (chunks.length === 0) continue;
        streams.files.write(JSON.stringify({ repo: row.name, path: file.path, blob: gitBlobId(file.content), chunks, commit: first }) + '\n');
        fileCount++;
      }

      const seconds = (performance.now() - started) / 1000;
      const taskTotal = Object.values(taskCounts).reduce((sum, count) => sum + count, 0);
      process.stderr.write(`[${rowIndex + 1}/${rows.length}] ${row.name} (${row.split}): ${commits.length} commits, ${mined.tasks.length} tasks `
        + `(${mined.found} found), ${formatSeconds((performance.now() - repoStarted) / 1000)}; total ${taskTotal} tasks, ${commitCount} commits, `
        + `${chunkCount} diff chunks, ${fileCount} files, ${formatSeconds(seconds)}, ETA ${formatSeconds(seconds / (rowIndex + 1) * (rows.length - rowIndex - 1))}\n`);
    }
  } finally {
    await Promise.all(Object.values(streams).map((stream) => new Promise((done) => stream.end(done))));
    await rm(links, { recursive: true, force: true });
  }
  for (const path of Object.values(outputs)) await rename(`${path}.tmp`, path);

  const bySplit = (split: string) => ['train', 'val', 'test'].map((time) => `${time} ${taskCounts[`${split}/${time}`] ?? 0}`).join(', ');
  console.log(`${repoCount} repositories (${rows.length} listed${dropped.length ? `; dropped: ${dropped.join(', ')}` : ''}), `
    + `${commitCount} commits (${commitsWithDiff} with a diff, ${chunkCount} diff chunks), ${fileCount} files at the first commits -> ${args.out} `
    + `in ${formatSeconds((performance.now() - started) / 1000)}`);
  for (const split of ['train', 'val', 'test']) console.log(`  ${split} repositories: tasks by time split: ${bySplit(split)}`);
  console.log(`  evo_cr_test (test repositories, time split test): ${taskCounts['test/test'] ?? 0} tasks`);
}

main().catch((error: unknown) => {
  const code = (error as { code?: string }).code;
  console.error(code ? `${code}: ${(error as Error).message}` : error);
  process.exit(1);
});
