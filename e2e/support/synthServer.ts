// A spec's own git server over generated repositories (created before its tests, closed after), and the steps every app spec takes with it.
import { expect, test, type Page } from '@playwright/test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSynthRepos, type SynthRepoOnDisk } from '../../src/synth/writeGitRepo.ts';
import { startGitHttpServer, type GitHttpServer } from '../../test/support/gitHttpServer.ts';

export interface SynthServer {
  server: GitHttpServer;
  repos: SynthRepoOnDisk[];
  /** The clone URL of repository `index`. */
  url(index?: number): string;
}

/** Registers beforeAll/afterAll hooks that write `seeds`' repositories and serve them; read the result inside tests. */
export function useSynthServer({ seeds, commits }: { seeds: number[]; commits: number }): SynthServer {
  let root = '';
  const served = { url: (index = 0) => `${served.server.url}/${served.repos[index].name}.git` } as SynthServer;
  test.beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'e2e-synth-'));
    served.repos = await makeSynthRepos({ root, seeds, commits });
    served.server = await startGitHttpServer({ root });
  });
  test.afterAll(async () => {
    await served.server?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });
  return served;
}

/** The commit list's entry for `sha` (a listbox option, or a button before the list became one). */
export function commitEntry(page: Page, sha: string) {
  return page.locator(`[data-testid="commits"] [title="${sha}"]`);
}

/** Types `url`, starts the load and waits until the adapter for HEAD is there. */
export async function loadRepository(page: Page, url: string, head: string, timeout = 180_000): Promise<void> {
  await page.getByLabel('Repository URL').fill(url);
  await page.getByRole('button', { name: /Clone/ }).click();
  await expect(page.getByTestId('adapter')).toContainText(`Adapter for ${head.slice(0, 8)}`, { timeout });
}
