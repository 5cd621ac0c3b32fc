// cli/score-completions.ts: two task sets pooled (completion files joined by +), the split filter, the repository-level
// interval, the targets' likelihood, the tasks that need repository knowledge, and refusals of overlapping sets, unknown splits and malformed
// completion files.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'score-completions-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function task(repo: string, index: number, split = 'cr_test') {
  return {
    id: `${repo}@abc:tests/test_x.py:${index}:static`, repo, commit: 'abc', file: 'tests/test_x.py', line: index,
    kind: 'assert_compare', prompt: 'assert f() == ', target: `${index}`, functionName: 'test_x', mode: 'static', split,
  };
}

function write(name: string, records: object[]): string {
  const path = join(root, name);
  writeFileSync(path, records.map((record) => JSON.stringify(record)).join('\n') + '\n');
  return path;
}

function score(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'cli/score-completions.ts', ...args], { encoding: 'utf8' });
}

// Set 1: repository "a", 10 tasks; set 2: repository "b", 10 tasks plus 5 ir_test ones the filter drops.
const first = Array.from({ length: 10 }, (_, i) => task('a', i));
const second = [...Array.from({ length: 10 }, (_, i) => task('b', i)), ...Array.from({ length: 5 }, (_, i) => task('b', 100 + i, 'ir_test'))];
const tasksA = write('a.tasks.jsonl', first);
const tasksB = write('b.tasks.jsonl', second);
// "good" is right on every task; "half" on the even-numbered ones.
const completions = (tasks: ReturnType<typeof task>[], right: (i: number) => boolean) =>
  tasks.map((t) => ({ id: t.id, text: right(t.line) ? t.target : 'None' }));
const goodA = write('good.a.jsonl', completions(first, () => true));
const goodB = write('good.b.jsonl', completions(second, () => true));
const halfA = write('half.a.jsonl', completions(first, (i) => i % 2 === 0));
const halfB = write('half.b.jsonl', completions(second, (i) => i % 2 === 0));

describe('bench:score', () => {
  it('pools two task sets, keeps only the splits asked for, and gives a repository-level interval', () => {
    const out = join(root, 'scores.json');
    const result = score('--tasks', `${tasksA},${tasksB}`, '--completions', `good=${goodA}+${goodB},half=${halfA}+${halfB}`,
      '--splits', 'cr_test', '--json', out);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain('20 of 20 tasks (splits cr_test) completed by every method; repositories: a, b');
    const scores = JSON.parse(readFileSync(out, 'utf8'));
    expect(scores.counts).toEqual({ a: 10, b: 10 });
    expect(scores.methods.good.em.mean).toBe(1);
    expect(scores.methods.half.em.mean).toBe(0.5);
    const difference = scores.differences['good - half'];
    expect(difference.mean).toBe(0.5);
    expect(difference.byRepository.ci[0]).toBeGreaterThan(0);
    expect(difference.byRepository.ci[1]).toBeLessThanOrEqual(1);
  });

  it('scores every split without --splits, and only tasks every method completed', () => {
    const result = score('--tasks', `${tasksA},${tasksB}`, '--completions', `good=${goodA}+${goodB},half=${halfA}`);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain('10 of 25 tasks completed by every method; repositories: a');
  });

  it('reports the targets\' likelihood where every method\'s completions scored them, paired', () => {
    // "likely" makes every target 0.5 nats a token likelier than "unlikely"; "unscored" came from before the measure.
    const withNll = (path: string, nll: (i: number) => number) => readFileSync(path, 'utf8').trim().split('\n')
      .map((line, i) => ({ ...JSON.parse(line), target_nll: nll(i), target_tokens: 2 }));
    const likely = write('likely.jsonl', withNll(goodA, (i) => 1 + (i % 3) * 0.2));
    const unlikely = write('unlikely.jsonl', withNll(halfA, (i) => 1.5 + (i % 3) * 0.2));
    const out = join(root, 'likelihood.json');
    const result = score('--tasks', tasksA, '--completions', `likely=${likely},unlikely=${unlikely}`, '--json', out);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain('likelihood of the target on the 10 tasks every method\'s completion scored');
    const { likelihood } = JSON.parse(readFileSync(out, 'utf8'));
    expect(likelihood.methods.likely.mean).toBeCloseTo(1 + (3 * 0.2 + 3 * 0.4) / 10, 6);
    expect(likelihood.differences['likely - unlikely'].mean).toBeCloseTo(-0.5, 6);
    expect(likelihood.differences['likely - unlikely'].ci[1]).toBeLessThan(0);
    const without = score('--tasks', tasksA, '--completions', `likely=${likely},unscored=${halfA}`, '--json', out);
    expect(without.stdout).not.toContain('likelihood of the target');
    expect(JSON.parse(readFileSync(out, 'utf8')).likelihood).toBeUndefined();
  });

  it('scores the tasks that need repository knowledge apart: EM and name recall, paired', () => {
    // Six tasks need the name Helper (the target uses it, the prompt does not): "knows" writes it on all six and gets
    // half exactly right; "guesses" never writes it.
    const needing = Array.from({ length: 6 }, (_, i) => ({ ...task('k', i), target: `Helper.make(${i})`, repoNames: ['Helper'] }));
    const tasks = write('k.tasks.jsonl', [...needing, task('k', 10)]);
    // Their targets' likelihood too: "knows" makes the six 0.4 nats a token likelier; the seventh task alike for both.
    const knows = write('knows.jsonl', [
      ...needing.map((t, i) => ({ id: t.id, text: i % 2 ? 'Helper.make(99)' : t.target, target_nll: 1 + i / 10 })),
      { id: task('k', 10).id, text: '10', target_nll: 0.5 },
    ]);
    const guesses = write('guesses.jsonl', [
      ...needing.map((t, i) => ({ id: t.id, text: 'make(0)', target_nll: 1.4 + i / 10 })), { id: task('k', 10).id, text: '10', target_nll: 0.5 },
    ]);
    const out = join(root, 'knowledge.json');
    const result = score('--tasks', tasks, '--completions', `knows=${knows},guesses=${guesses}`, '--json', out);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain('6 tasks need repository knowledge');
    const { repoKnowledge } = JSON.parse(readFileSync(out, 'utf8'));
    expect(repoKnowledge.tasks).toBe(6);
    expect(repoKnowledge.methods.knows.em.mean).toBe(0.5);
    expect(repoKnowledge.methods.knows.nameRecall.mean).toBe(1);
    expect(repoKnowledge.methods.guesses.nameRecall.mean).toBe(0);
    expect(repoKnowledge.differences['knows - guesses'].nameRecall.mean).toBe(1);
    expect(repoKnowledge.differences['knows - guesses'].em.mean).toBe(0.5);
    expect(repoKnowledge.likelihood.tasks).toBe(6);
    expect(repoKnowledge.likelihood.differences['knows - guesses'].mean).toBeCloseTo(-0.4, 9);
    expect(result.stdout).toContain('likelihood of the target on the 6 tasks that need repository knowledge');
    // Without marked tasks there is no such section.
    expect(score('--tasks', tasksA, '--completions', `good=${goodA}`).stdout).not.toContain('need repository knowledge');
  });

  it('refuses overlapping task sets, unknown splits and malformed completion files, with the place', () => {
    const overlap = score('--tasks', `${tasksA},${tasksA}`, '--completions', `good=${goodA}`);
    expect(overlap.status).toBe(1);
    expect(overlap.stderr).toMatch(/a@abc:tests\/test_x.py:0:static is in more than one/);
    const split = score('--tasks', tasksA, '--completions', `good=${goodA}`, '--splits', 'cr_tset');
    expect(split.status).toBe(1);
    expect(split.stderr).toMatch(/unknown split cr_tset/);
    const broken = write('broken.jsonl', [{ id: first[0].id, text: 'x' }]);
    writeFileSync(broken, readFileSync(broken, 'utf8') + '{"id": 3}\nnot json\n');
    const malformed = score('--tasks', tasksA, '--completions', `good=${broken}`);
    expect(malformed.status).toBe(1);
    expect(malformed.stderr).toMatch(/broken\.jsonl:2: not a completion record/);
  });
});
