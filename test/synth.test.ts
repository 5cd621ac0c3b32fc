// The synthetic repository generator: deterministic, distinct per seed, valid Python whose tests pass, exact planted targets.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateRepo, snapshotAt, SynthOptionsError, type PlantedAssertion, type SynthRepo } from '../src/synth/generateRepo.ts';
import { flattenWhitespace } from '../src/synth/python.ts';
import { makeSynthRepos, runGit, writeGitRepo } from '../src/synth/writeGitRepo.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ORACLE = join(HERE, 'support', 'assertion_targets.py');

function findPython(requirePytest: boolean): string | null {
  const candidates = [join(HERE, '..', 'training', '.venv', 'bin', 'python'), 'python3'];
  for (const python of candidates) {
    if (python.includes('/') && !existsSync(python)) continue;
    try {
      execFileSync(python, ['-c', requirePytest ? 'import pytest' : 'import ast'], { stdio: 'ignore' });
      return python;
    } catch {
      // try the next interpreter
    }
  }
  return null;
}

const python = findPython(false);
const pythonWithPytest = findPython(true);

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'synth-test-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
}

/** Names the project defines (functions, classes, constants): its own vocabulary. */
function definedNames(files: Record<string, string>, packageName: string): Set<string> {
  const names = new Set<string>();
  for (const [path, content] of Object.entries(files)) {
    if (!path.startsWith(`${packageName}/`)) continue;
    for (const match of content.matchAll(/^(?:async def|def|class) ([A-Za-z_]\w*)|^([A-Z][A-Z0-9_]+) = /gm)) names.add(match[1] ?? match[2]);
  }
  return names;
}

/** Does the flattened target start somewhere on its recorded line? */
function targetStartsOnLine(content: string, assertion: PlantedAssertion): boolean {
  const lines = content.split('\n');
  const line = lines[assertion.line - 1];
  if (line === undefined) return false;
  const following = lines.slice(assertion.line, assertion.line + 40).join('\n');
  for (let column = 0; column < line.length; column++) {
    if (!assertion.target.startsWith(line[column])) continue;
    if (flattenWhitespace(`${line.slice(column)}\n${following}`).startsWith(assertion.target)) return true;
  }
  return false;
}

describe('generateRepo', () => {
  it('is deterministic for a seed', () => {
    expect(JSON.stringify(generateRepo({ seed: 7, commits: 25 }))).toBe(JSON.stringify(generateRepo({ seed: 7, commits: 25 })));
  });

  it('gives each seed its own name and vocabulary', () => {
    const repos = [1, 2, 3, 4, 5].map((seed) => generateRepo({ seed, commits: 20 }));
    expect(new Set(repos.map((repo) => repo.name)).size).toBe(5);
    const vocabularies = repos.map((repo) => definedNames(snapshotAt(repo, repo.commits.length - 1), repo.packageName));
    for (const names of vocabularies) expect(names.size).toBeGreaterThan(15);
    for (let a = 0; a < vocabularies.length; a++) {
      for (let b = a + 1; b < vocabularies.length; b++) {
        const shared = [...vocabularies[a]].filter((name) => vocabularies[b].has(name));
        expect(shared.length / Math.min(vocabularies[a].size, vocabularies[b].size)).toBeLessThan(0.1);
      }
    }
  });

  it('writes a history: initial tree, then changes with increasing timestamps, renames and deletions', () => {
    const repos = [1, 2, 3, 4, 5, 6].map((seed) => generateRepo({ seed, commits: 40 }));
    for (const repo of repos) {
      expect(repo.commits).toHaveLength(40);
      const [first, ...rest] = repo.commits;
      expect(Object.keys(first.files)).toEqual(expect.arrayContaining(['README.md', 'pyproject.toml', `${repo.packageName}/__init__.py`]));
      expect(Object.values(first.files).every((content) => content !== null)).toBe(true);
      for (const [index, commit] of rest.entries()) {
        expect(commit.timestamp).toBeGreaterThan(repo.commits[index].timestamp);
        expect(Object.keys(commit.files).length).toBeGreaterThan(0);
        expect(commit.message.length).toBeGreaterThan(0);
      }
      expect(rest.some((commit) => /rename/i.test(commit.message))).toBe(true);
      expect(rest.some((commit) => /add/i.test(commit.message))).toBe(true);
    }
    const deletions = repos.flatMap((repo) => repo.commits.flatMap((commit) => Object.values(commit.files).filter((content) => content === null)));
    expect(deletions.length).toBeGreaterThan(0);
  });

  it('plants every target kind, and each target starts on its recorded line', () => {
    for (const seed of [1, 2, 3, 11]) {
      const repo = generateRepo({ seed, commits: 20 });
      repo.commits.forEach((commit, index) => {
        const files = snapshotAt(repo, index);
        for (const assertion of commit.plantedAssertions) {
          expect(files[assertion.file], `${assertion.file} missing`).toBeDefined();
          expect(targetStartsOnLine(files[assertion.file], assertion), `${assertion.file}:${assertion.line} ${assertion.target}`).toBe(true);
        }
      });
      const kinds = new Set(repo.commits[0].plantedAssertions.map((assertion) => assertion.kind));
      expect([...kinds].sort()).toEqual(['assert_compare', 'assert_expr', 'assert_helper', 'pytest_approx', 'pytest_raises', 'unittest_method']);
      expect(repo.commits[0].plantedAssertions.length).toBeGreaterThanOrEqual(30);
    }
  });

  it('writes the tricky Python the miner must handle', () => {
    const repo = generateRepo({ seed: 2, commits: 20 });
    const tests = Object.entries(snapshotAt(repo, 19)).filter(([path]) => path.startsWith('tests/')).map(([, content]) => content).join('\n');
    expect(tests).toMatch(/@pytest\.mark\.parametrize\(/);
    expect(tests).toMatch(/@pytest\.fixture|def setUp\(self\)/);
    expect(tests).toMatch(/async def /);
    expect(tests).toMatch(/[^\x00-\x7f]/);
    expect(tests).toMatch(/(==|,) [[{]\n/);
    const planted = repo.commits[19].plantedAssertions;
    expect(planted.some((assertion) => /"[^"]*[,[\]][^"]*"/.test(assertion.target))).toBe(true);
    expect(planted.some((assertion) => assertion.target.startsWith('not '))).toBe(true);
  });

  it('rejects bad options with a typed error', () => {
    expect(() => generateRepo({ seed: 1.5 })).toThrow(SynthOptionsError);
    expect(() => generateRepo({ seed: 1, commits: 0 })).toThrow(SynthOptionsError);
    expect(() => generateRepo({ seed: 1, name: '../escape' })).toThrow(SynthOptionsError);
    let error: unknown;
    try {
      generateRepo({ seed: 1, commits: 1000 });
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'SYNTH_BAD_OPTIONS' });
    expect(generateRepo({ seed: 1, commits: 1, name: 'fixed-name' }).name).toBe('fixed-name');
  });
});

describe.skipIf(!python)('generated Python (checked with python3)', () => {
  it('parses, and Python\'s ast finds exactly the planted targets at every commit', async () => {
    const key = (assertion: PlantedAssertion) => `${assertion.file}:${assertion.line}:${assertion.kind}:${assertion.target}`;
    for (const seed of [1, 2, 3]) {
      const repo = generateRepo({ seed, commits: 20 });
      // Every commit's snapshot in its own folder, checked by one python3 process (every .py file parses; the targets of tests/).
      const dirs: string[] = [];
      for (let index = 0; index < repo.commits.length; index++) {
        const dir = join(scratch, `oracle-${seed}-${index}`);
        await writeTree(dir, snapshotAt(repo, index));
        dirs.push(dir);
      }
      const found = JSON.parse(execFileSync(python!, [ORACLE, '--snapshots', ...dirs], { encoding: 'utf8' })) as Record<string, PlantedAssertion[]>;
      for (const [index, dir] of dirs.entries()) {
        expect(repo.commits[index].plantedAssertions.map(key).sort(), `seed ${seed} commit ${index}`).toEqual(found[dir].map(key).sort());
      }
    }
  });
});

describe.skipIf(!pythonWithPytest)('generated tests (run with pytest)', () => {
  it('pass at the first, a middle and the last commit', async () => {
    for (const seed of [1, 2, 3]) {
      const repo: SynthRepo = generateRepo({ seed, commits: 24 });
      for (const index of [0, 12, 23]) {
        const dir = join(scratch, `pytest-${seed}-${index}`);
        await writeTree(dir, snapshotAt(repo, index));
        const output = execFileSync(pythonWithPytest!, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider'], { cwd: dir, encoding: 'utf8' });
        expect(output).toMatch(/\d+ passed/);
        expect(output).not.toMatch(/failed|error/);
      }
    }
  });
});

describe('writeGitRepo', () => {
  it('gives the same SHAs for a seed, bare or not, and the tree of the generated commit', async () => {
    const repo = generateRepo({ seed: 5, commits: 15 });
    const work = await writeGitRepo({ repo, dir: join(scratch, 'git-work') });
    const bare = await writeGitRepo({ repo, dir: join(scratch, 'git-bare.git'), bare: true });
    expect(work.commitShas).toHaveLength(15);
    expect(bare.commitShas).toEqual(work.commitShas);
    expect(work.head).toMatch(/^[0-9a-f]{40}$/);
    const again = await writeGitRepo({ repo: generateRepo({ seed: 5, commits: 15 }), dir: join(scratch, 'git-work'), replace: true });
    expect(again.head).toBe(work.head);

    const log = await runGit(['log', '--reverse', '--format=%an <%ae> %at %s'], { cwd: work.dir });
    expect(log.trim().split('\n')).toEqual(repo.commits.map((commit) => `${commit.author.name} <${commit.author.email}> ${commit.timestamp} ${commit.message}`));
    expect((await runGit(['symbolic-ref', 'HEAD'], { cwd: work.dir })).trim()).toBe('refs/heads/main');
    expect(await runGit(['status', '--porcelain'], { cwd: work.dir })).toBe('');
    const files = snapshotAt(repo, 14);
    const listed = (await runGit(['ls-tree', '-r', '--name-only', 'HEAD'], { cwd: work.dir })).trim().split('\n');
    expect(listed.sort()).toEqual(Object.keys(files).sort());
    expect(await runGit(['show', `HEAD:${repo.packageName}/__init__.py`], { cwd: bare.dir })).toBe(files[`${repo.packageName}/__init__.py`]);

    const other = await writeGitRepo({ repo: generateRepo({ seed: 6, commits: 15 }), dir: join(scratch, 'git-other') });
    expect(other.head).not.toBe(work.head);
  });

  it('refuses to write into a non-empty directory unless asked to replace it', async () => {
    const repo = generateRepo({ seed: 8, commits: 2 });
    await writeGitRepo({ repo, dir: join(scratch, 'git-exists') });
    await expect(writeGitRepo({ repo, dir: join(scratch, 'git-exists') })).rejects.toMatchObject({ code: 'SYNTH_REPO_EXISTS' });
  });

  it('makeSynthRepos writes one bare repository per seed', async () => {
    const root = join(scratch, 'many');
    const repos = await makeSynthRepos({ root, seeds: [1, 2, 3], commits: 5 });
    expect(repos.map((repo) => repo.dir)).toEqual(repos.map((repo) => join(root, `${repo.name}.git`)));
    expect(new Set(repos.map((repo) => repo.head)).size).toBe(3);
    for (const repo of repos) expect((await runGit(['rev-parse', 'main'], { cwd: repo.dir })).trim()).toBe(repo.head);
  });
});
