// Runs every test suite (tsc, Vitest, pytest for training/, Playwright) and ends with one line: `N passed, N failed`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { findChromium } from './chromium.mjs';

const RESULTS = 'test-results/summary';
rmSync(RESULTS, { recursive: true, force: true });
mkdirSync(RESULTS, { recursive: true });
const totals = { passed: 0, failed: 0, skipped: 0 };
const problems = [];

function run(title, command, args, env = {}) {
  console.log(`\n=== ${title}: ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  return result.status ?? 1;
}

function count(name, { passed, failed, skipped }, status) {
  totals.passed += passed;
  totals.failed += failed;
  totals.skipped += skipped;
  console.log(`=== ${name}: ${passed} passed, ${failed} failed, ${skipped} skipped (exit ${status})`);
  if (status !== 0 && failed === 0) problems.push(`${name} exited ${status} without a failing test: counted as one failure`);
  if (status !== 0 && failed === 0) totals.failed += 1;
}

// 0. Type check of the whole tree (src, cli, server, tests): one check, counted as one test.
{
  const status = run('typecheck (tsc)', 'npx', ['tsc', '--noEmit', '-p', '.']);
  count('typecheck', { passed: status === 0 ? 1 : 0, failed: status === 0 ? 0 : 1, skipped: 0 }, 0);
}

// 1. Unit tests (Node, tfjs wasm backend).
{
  const out = `${RESULTS}/vitest.json`;
  const status = run('unit (vitest)', 'npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile=${out}`]);
  const report = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')) : null;
  count('unit', {
    passed: report?.numPassedTests ?? 0,
    failed: report?.numFailedTests ?? 0,
    skipped: (report?.numPendingTests ?? 0) + (report?.numTodoTests ?? 0),
  }, status);
}

// 2. training/ (PyTorch, in its own venv made from the pinned requirements).
if (existsSync('training/tests') && readdirSync('training/tests').some((f) => f.startsWith('test_'))) {
  const python = 'training/.venv/bin/python';
  if (!existsSync(python)) {
    run('training venv', 'python3', ['-m', 'venv', 'training/.venv']);
    run('training requirements', python, ['-m', 'pip', 'install', '-q', '-r', 'training/requirements.txt']);
  }
  const out = `${RESULTS}/pytest.xml`;
  const status = run('training (pytest)', python, ['-m', 'pytest', 'training/tests', '-q', `--junitxml=${out}`], { HF_HUB_OFFLINE: '1' });
  const xml = existsSync(out) ? readFileSync(out, 'utf8') : '';
  const attr = (name) => Number((xml.match(new RegExp(`<testsuite [^>]*\\b${name}="(\\d+)"`)) ?? [])[1] ?? 0);
  const failed = attr('failures') + attr('errors');
  count('training', { passed: attr('tests') - failed - attr('skipped'), failed, skipped: attr('skipped') }, status === 5 ? 0 : status);
}

// 3. End-to-end (Playwright driving Debian's Chromium: WebGPU on SwiftShader, then with WebGPU disabled).
{
  let chromium = null;
  try {
    chromium = findChromium({ install: true });
  } catch (err) {
    console.error(String(err.message ?? err));
    count('e2e', { passed: 0, failed: 1, skipped: 0 }, 1);
  }
  if (chromium) {
    const out = `${RESULTS}/playwright.json`;
    const status = run('e2e (playwright)', 'npx', ['playwright', 'test', '--reporter=list,json'], {
      CHROMIUM_PATH: chromium,
      PLAYWRIGHT_JSON_OUTPUT_NAME: out,
    });
    const stats = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')).stats : null;
    count('e2e', { passed: (stats?.expected ?? 0) + (stats?.flaky ?? 0), failed: stats?.unexpected ?? 0, skipped: stats?.skipped ?? 0 }, status);
  }
}

for (const problem of problems) console.log(`!!! ${problem}`);
console.log(`\n${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(totals.failed > 0 ? 1 : 0);
