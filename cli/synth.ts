// CLI: write a generated synthetic Python repository as a git repository.
//   npm run synth -- --seed 1 [--commits 20] --out DIR [--bare] [--replace] [--manifest FILE]
// --manifest writes JSON with each commit's SHA, message and planted assertion targets (for miner checks).
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { generateRepo } from '../src/synth/generateRepo.ts';
import { writeGitRepo } from '../src/synth/writeGitRepo.ts';

const USAGE = 'usage: npm run synth -- --seed N [--commits N] --out DIR [--bare] [--replace] [--manifest FILE]';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      commits: { type: 'string', default: '20' },
      out: { type: 'string' },
      bare: { type: 'boolean', default: false },
      replace: { type: 'boolean', default: false },
      manifest: { type: 'string' },
      name: { type: 'string' },
    },
    strict: true,
  });
  if (values.seed === undefined || values.out === undefined) throw new Error(USAGE);
  const seed = Number(values.seed);
  const commits = Number(values.commits);
  const repo = generateRepo({ seed, commits, name: values.name });
  const written = await writeGitRepo({ repo, dir: values.out, bare: values.bare, replace: values.replace });
  if (values.manifest) {
    const manifest = {
      seed: repo.seed,
      name: repo.name,
      packageName: repo.packageName,
      commits: repo.commits.map((commit, index) => ({
        sha: written.commitShas[index],
        message: commit.message,
        plantedAssertions: commit.plantedAssertions,
      })),
    };
    await writeFile(values.manifest, JSON.stringify(manifest, null, 2) + '\n');
  }
  const planted = repo.commits[repo.commits.length - 1].plantedAssertions.length;
  console.log(`${repo.name} (package ${repo.packageName}, seed ${seed}): ${commits} commits, head ${written.head}, ${planted} assertion targets at head -> ${written.dir}`);
}

main().catch((error: Error & { code?: string }) => {
  console.error(error.code ? `${error.code}: ${error.message}` : error.message);
  process.exit(1);
});
