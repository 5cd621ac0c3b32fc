// cli/bench-likelihood.ts refuses a request file it cannot measure with a clear message before it starts Python (the
// measurement itself runs in training/tests/test_eval_engine_parity.py, where the venv is).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'bench-likelihood-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function run(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'cli/bench-likelihood.ts', ...args], { encoding: 'utf8' });
}

describe('npm run bench:likelihood', () => {
  it.each([
    ['not JSON', '{"id": "a", "prompt_ids": [1, 2]\n', /requests\.jsonl:1 is not JSON/],
    ['ids that are not token ids', '{"id": "a", "prompt_ids": [1, -2], "target_ids": [3]}\n', /:1 is not an evaluate\.py request/],
    ['a target that is not a list', '{"id": "a", "prompt_ids": [1], "target_ids": "3"}\n', /:1 is not an evaluate\.py request/],
    ['no request with a target', '{"id": "a", "prompt_ids": [1, 2]}\n\n{"id": "b", "prompt_ids": [3], "target_ids": []}\n', /has no request with target_ids/],
  ])('refuses %s', (_what, text, message) => {
    const path = join(root, 'requests.jsonl');
    writeFileSync(path, text);
    const result = run('--requests', path);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(message);
  });

  it('says what it needs', () => {
    expect(run().stderr).toMatch(/usage: npm run bench:likelihood -- --requests/);
    expect(run('--requests', join(root, 'missing.jsonl')).stderr).toMatch(/cannot read --requests .*missing\.jsonl/);
    expect(run('--requests', join(root, 'requests.jsonl'), '--n', '0').stderr).toMatch(/--n must be an integer >= 1/);
  });
});
