// A spec's own git server over generated repositories (created before its tests, closed after), and the steps every app spec takes with it.
import { expect, test, type Locator, type Page } from '@playwright/test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateRepo } from '../../src/synth/generateRepo.ts';
import { makeSynthRepos, writeGitRepo, type SynthRepoOnDisk } from '../../src/synth/writeGitRepo.ts';
import { startGitHttpServer, type GitHttpServer } from '../../test/support/gitHttpServer.ts';

export interface SynthServer {
  server: GitHttpServer;
  repos: SynthRepoOnDisk[];
  /** The clone URL of repository `index`. */
  url(index?: number): string;
}

/**
 * Registers beforeAll/afterAll hooks that write `seeds`' repositories and serve them; read the result inside tests.
 * `extraFiles` (path -> content) are added by each repository's first commit, e.g. thousands of data files that make a
 * large tree.
 */
export function useSynthServer({ seeds, commits, extraFiles }: { seeds: number[]; commits: number; extraFiles?: Record<string, string> }): SynthServer {
  let root = '';
  const served = { url: (index = 0) => `${served.server.url}/${served.repos[index].name}.git` } as SynthServer;
  test.beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'e2e-synth-'));
    served.repos = extraFiles ? await Promise.all(seeds.map(async (seed) => {
      const repo = generateRepo({ seed, commits });
      Object.assign(repo.commits[0].files, extraFiles);
      const written = await writeGitRepo({ repo, dir: join(root, `${repo.name}.git`), bare: true });
      return { ...written, seed, name: repo.name, packageName: repo.packageName, repo };
    })) : await makeSynthRepos({ root, seeds, commits });
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

/**
 * The editor's file tree row for `path` (a file or a folder), with its folders opened (a click on a closed folder opens
 * it) and scrolled into the rendered window (the tree renders the rows in view only).
 */
export async function fileInTree(page: Page, path: string): Promise<Locator> {
  const tree = page.getByRole('tree', { name: 'Files' });
  await expect(tree).toHaveAttribute('aria-busy', 'false');
  const row = (p: string) => tree.getByRole('treeitem').and(tree.getByTitle(p, { exact: true }));
  /** Scrolls the tree to the top, or a screenful down; false if it could not move, else once the new rows are rendered. */
  const scroll = (toTop: boolean) => tree.evaluate((element, top) => {
    const before = element.scrollTop;
    if (top) element.scrollTo({ top: 0 });
    else element.scrollBy({ top: element.clientHeight });
    if (element.scrollTop === before) return false;
    return new Promise<boolean>((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(true))));
  }, toTop);
  const reach = async (p: string) => {
    await scroll(true);
    while (!(await row(p).count())) if (!(await scroll(false))) throw new Error(`no row for ${p} in the file tree`);
    await row(p).scrollIntoViewIfNeeded();
    return row(p);
  };
  const parts = path.split('/');
  for (let i = 1; i < parts.length; i++) {
    const folder = await reach(parts.slice(0, i).join('/'));
    if ((await folder.getAttribute('aria-expanded')) === 'false') await folder.click();
    await expect(folder).toHaveAttribute('aria-expanded', 'true');
  }
  return reach(path);
}
