// Playwright global setup: writes generated repositories and serves them over smart HTTP for the whole run.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { makeSynthRepos } from '../../src/synth/writeGitRepo.ts';
import { startGitHttpServer } from '../../test/support/gitHttpServer.ts';
import { E2E_STATE_FILE, type E2eState } from './state.ts';

export const E2E_SEEDS = [1, 2];

export default async function globalSetup(): Promise<() => Promise<void>> {
  const root = resolve('test-results/e2e-repos');
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const repos = await makeSynthRepos({ root, seeds: E2E_SEEDS, commits: 12 });
  const server = await startGitHttpServer({ root });
  const state: E2eState = {
    gitServerUrl: server.url,
    repos: repos.map((r) => ({
      url: `${server.url}/${r.name}.git`,
      seed: r.seed,
      commits: r.commitShas.length,
      assertionsAtHead: r.repo.commits[r.repo.commits.length - 1].plantedAssertions.length,
    })),
  };
  writeFileSync(E2E_STATE_FILE, JSON.stringify(state, null, 2));
  return () => server.close();
}
