// An upper-bound probe for docs/results.md ("Where a repository's knowledge is needed"), not a method: per-repo LoRAs
// trained from the shared LoRA on passages of each repository's non-test code that mention the very names its
// repository-knowledge tasks need (it knows which names they are, so it is an oracle). Can a LoRA carry those names at
// all? Needs the marked task sets and the code-LoRA run of that section; then training/evaluate.py decodes
// OUT/oracle.requests.jsonl and bench:score scores it.
//   npx tsx scripts/hypernet/name_oracle_lora.ts        (about 3 minutes a repository on 2 cores)
// --steps, --lr, --repos and --out probe larger budgets on some of the repositories, e.g.
//   npx tsx scripts/hypernet/name_oracle_lora.ts --steps 80 --lr 5e-4 --repos networkx,click --out data/results/cr-eval-knowledge/oracle-80
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readWorkingTree } from '../../cli/readWorkingTree.ts';
import { loadBenchModel } from '../../src/bench/benchModel.ts';
import { CODE_EXAMPLE, codeLines, codePassage, trainPerRepoLora } from '../../src/bench/perRepoLora.ts';
import { PROJECT_ROOT, runPython } from '../../src/bench/torchEngine.ts';

const { values: flags } = parseArgs({ options: {
  steps: { type: 'string', default: '20' }, lr: { type: 'string', default: '1e-4' },
  repos: { type: 'string' }, out: { type: 'string', default: 'data/results/cr-eval-knowledge/oracle' },
} });
const OUT = flags.out!;
const steps = Number(flags.steps);
const learningRate = Number(flags.lr);
if (!Number.isInteger(steps) || steps < 1 || !(learningRate > 0)) throw new Error('--steps needs a positive integer and --lr a positive number');
const only = flags.repos?.split(',');
const python = 'training/.venv/bin/python';
const model = 'data/models/smollm2-135m-instruct';
const tasks = ['data/results/cr-eval-marked/tasks.jsonl', 'data/results/cr-eval-2-marked/tasks.jsonl']
  .flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)))
  .filter((t) => t.split === 'cr_test' && t.repoNames?.length && (!only || only.includes(t.repo)));
const roots = Object.fromEntries(['data/bench-repos/repos.txt', 'data/bench-repos-2/repos.txt']
  .flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')).map(([path, name]) => [name, path])));
const { tokenizer } = await loadBenchModel('public/models/smollm2-135m-instruct/model.gguf');
const adapters: Record<string, string> = {};
for (const repo of [...new Set(tasks.map((t) => t.repo))].sort()) {
  const names = [...new Set(tasks.filter((t) => t.repo === repo).flatMap((t) => t.repoNames as string[]))];
  const files = await readWorkingTree(roots[repo]);
  // The lines that mention each name; an equal share of the 160 examples for every name, spread over its mentions.
  const perName = names.map((name) => {
    const word = new RegExp(`\\b${name}\\b`);
    return codeLines(files, (text) => word.test(text));
  });
  const quota = Math.ceil(160 / names.length);
  const chosen = perName.flatMap((found) => {
    const take = Math.min(quota, found.length);
    return Array.from({ length: take }, (_, i) => found[Math.floor((i * found.length) / take)]);
  }).slice(0, 160);
  const examples = chosen.map(({ content, line }) => codePassage(content, line));
  console.log(`${repo}: ${names.length} names, ${examples.length} passages (names with none: ${names.filter((_, i) => perName[i].length === 0).join(' ') || '-'})`);
  const folder = join(OUT, repo);
  mkdirSync(folder, { recursive: true });
  const run = await trainPerRepoLora({
    repo, tasks: examples, tokenizer, modelDirectory: model, folder, steps, batchSize: 8, rank: 16, alpha: 32, learningRate,
    initLora: join(PROJECT_ROOT, 'public/models/smollm2-135m-instruct/shared-lora'), promptTokens: 256, targetTokens: CODE_EXAMPLE.targetTokens, python,
  });
  console.log(`  trained in ${run.seconds.toFixed(0)} s, final loss ${run.finalLoss}`);
  await runPython(python, ['training/export_lora.py', '--checkpoint', join(folder, 'run/checkpoint.pt'), '--base', model, '--out', join(folder, 'adapter'), '--alpha', '32'], {});
  adapters[repo] = join(folder, 'adapter');
}
const ids = new Set(tasks.map((t) => t.id));
const requests = readFileSync('data/results/cr-eval-knowledge/run/torch/per-repo-lora.requests.jsonl', 'utf8').split('\n').filter(Boolean)
  .map((l) => JSON.parse(l)).filter((r) => ids.has(r.id)).map((r) => ({ ...r, adapter: adapters[r.id.split('@')[0]] }));
writeFileSync(join(OUT, 'oracle.requests.jsonl'), requests.map((r) => JSON.stringify(r)).join('\n') + '\n');
console.log(`${requests.length} requests written`);
