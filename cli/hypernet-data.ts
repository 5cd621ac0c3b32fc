// `npm run data:hypernet`: the hypernetwork's training data, computed by the same TypeScript the app runs. For every
// repository of training/data/hypernet_repos.tsv (folders under data/hypernet/repos/, made by
// scripts/hypernet/build_repos.py) it mines assertion tasks (paper rules and caps), tokenizes prompts and targets with
// the base model's tokenizer, and cuts every non-test Python file into the repo encoder's chunks (token ids of the
// encoder model's tokenizer). PyTorch reads the two JSONL files; it never parses or tokenizes on its own.
import { createWriteStream, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isTestPath } from '../src/git/pathFilters.ts';
import { fileChunkIds } from '../src/code2lora/repoEncoder.ts';
import { gitBlobId } from '../src/code2lora/gitBlobId.ts';
import { ENCODER_SETTINGS } from '../src/code2lora/encoderSettings.ts';
import { parseGguf, tokenizerFromGguf } from '../src/model/gguf.ts';
import { mineRepoTasks } from '../src/parse/mineTasks.ts';
import { loadPythonParser } from '../src/parse/pythonParser.ts';
import { irSplitTasks } from '../src/parse/splits.ts';
import { BpeTokenizer } from '../src/tokenizer/bpeTokenizer.ts';
import { readWorkingTree } from './readWorkingTree.ts';

const { values: args } = parseArgs({
  options: {
    list: { type: 'string', default: 'training/data/hypernet_repos.tsv' },
    repos: { type: 'string', default: 'data/hypernet/repos' },
    'base-gguf': { type: 'string', default: 'public/models/smollm2-135m-instruct/model.gguf' },
    encoder: { type: 'string', default: 'public/models/c2l-base' },
    out: { type: 'string', default: 'data/hypernet' },
    seed: { type: 'string', default: '0' },
    'max-prompt-tokens': { type: 'string', default: '1024' },
  },
});

async function main(): Promise<void> {
  const seed = Number(args.seed);
  const maxPromptTokens = Number(args['max-prompt-tokens']);
  for (const path of [args.list, args['base-gguf'], join(args.encoder, 'tokenizer.json')]) {
    if (!existsSync(path)) throw Object.assign(new Error(`${path} is missing (see training/README.md)`), { code: 'MISSING_INPUT' });
  }
  const rows = (await readFile(args.list, 'utf8')).split('\n').filter((line) => line && !line.startsWith('#')).map((line) => line.split('\t'));
  const parser = await loadPythonParser();
  // The base model's tokenizer exactly as the app builds it from the GGUF it loads.
  const baseTokenizer = tokenizerFromGguf(parseGguf(await readFile(args['base-gguf'])).metadata);
  const encoderTokenizer = BpeTokenizer.fromJSON(await readFile(join(args.encoder, 'tokenizer.json'), 'utf8'));
  const tasksOut = createWriteStream(join(args.out, 'tasks.jsonl'));
  const filesOut = createWriteStream(join(args.out, 'files.jsonl'));
  const started = performance.now();
  let taskCount = 0;
  let fileCount = 0;
  let kept = 0;
  for (const [index, [name, , , , split]] of rows.entries()) {
    const files = await readWorkingTree(resolve(args.repos, name));
    const mined = mineRepoTasks({ repo: name, commit: 'debian', files, parser, mode: 'static', seed });
    if (mined.dropped) continue;
    kept++;
    const ir = irSplitTasks(mined.tasks, seed, name);
    for (const irSplit of ['train', 'val', 'test'] as const) {
      for (const task of ir[irSplit]) {
        const promptIds = baseTokenizer.encode(task.prompt);
        tasksOut.write(JSON.stringify({
          repo: name, split, ir_split: irSplit, file: task.file, line: task.line, kind: task.kind, target: task.target,
          prompt_ids: promptIds.slice(Math.max(0, promptIds.length - maxPromptTokens)),
          target_ids: baseTokenizer.encode(`${task.target}\n`),
        }) + '\n');
        taskCount++;
      }
    }
    for (const file of files) {
      if (isTestPath(file.path) || !file.content.trim()) continue;
      const chunks = fileChunkIds(file.content, parser, encoderTokenizer, ENCODER_SETTINGS);
      if (chunks.length === 0) continue;
      filesOut.write(JSON.stringify({ repo: name, path: file.path, blob: gitBlobId(file.content), chunks }) + '\n');
      fileCount++;
    }
    const seconds = (performance.now() - started) / 1000;
    process.stderr.write(`[${index + 1}/${rows.length}] ${name}: ${mined.tasks.length} tasks; ${kept} repos kept, `
      + `${taskCount} tasks, ${fileCount} files, ${seconds.toFixed(0)} s, ETA ${(seconds / (index + 1) * (rows.length - index - 1)).toFixed(0)} s\n`);
  }
  await Promise.all([tasksOut, filesOut].map((stream) => new Promise((done) => stream.end(done))));
  console.log(`${kept} of ${rows.length} repositories have >= 30 tasks: ${taskCount} tasks, ${fileCount} encoder files -> ${args.out}`);
}

main().catch((error: unknown) => {
  const code = (error as { code?: string }).code;
  console.error(code ? `${code}: ${(error as Error).message}` : error);
  process.exit(1);
});
