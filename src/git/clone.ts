// cloneRepository: clone (or update) a repository's recent history, with progress, cancellation and size limits.
import * as git from 'isomorphic-git';
import type { HttpClient } from 'isomorphic-git';
import { GitError, rethrowAsGitError } from './errors.ts';
import { guardHttp, throwIfCancelled } from './guardedHttp.ts';
import { flush, type GitFs, makeDirectories, pathExists, removeDirectory } from './fsUtil.ts';
import { DEFAULT_PACK_LIMITS, guardPackWrites, type PackLimits } from './packGuard.ts';
import { asStorageFull } from './storageFull.ts';
import type { Progress, ProgressCallback } from '../util/progress.ts';

export interface CloneResult {
  head: string;
  branch: string;
  /** True when an earlier complete clone in `dir` was updated instead of cloned anew. */
  reused: boolean;
  bytes: number;
}

export const DEFAULT_HISTORY_DEPTH = 200;
export const DEFAULT_MAX_CLONE_BYTES = 200 * 1024 * 1024;

/** Written last (and flushed): a clone directory without it is a half-written clone and is discarded. */
export const COMPLETE_MARKER = '.git/code2lora-complete';

/** Progress phases isomorphic-git reports itself and awaits the callback of (index.cjs: indexPack, checkout). */
const AWAITED_PHASES: ReadonlySet<string> = new Set(['Receiving objects', 'Resolving deltas', 'Analyzing workdir', 'Updating workdir']);

/**
 * Clones the last `depth` commits of one branch without a working tree (objects are read straight from the
 * object store). If `dir` already holds a complete clone of the same URL, only new commits are fetched.
 * A failed or cancelled clone leaves nothing behind.
 *
 * @example
 * await cloneRepository({ fs, http, dir: '/repos/demo', url: 'http://127.0.0.1:8080/demo.git', onProgress: console.log })
 */
export async function cloneRepository({
  fs,
  http,
  dir,
  url,
  branch,
  corsProxy,
  depth = DEFAULT_HISTORY_DEPTH,
  maxBytes = DEFAULT_MAX_CLONE_BYTES,
  packLimits = DEFAULT_PACK_LIMITS,
  onProgress,
  signal,
}: {
  fs: GitFs;
  http: HttpClient;
  dir: string;
  url: string;
  branch?: string;
  corsProxy?: string;
  depth?: number;
  maxBytes?: number;
  /** What the received objects may inflate to (packGuard.ts): `maxBytes` counts only what arrives compressed. */
  packLimits?: PackLimits;
  /** Stage `clone`: objects counted in isomorphic-git's phase (`detail`: "Receiving objects", ...), `bytes` received. */
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}): Promise<CloneResult> {
  // The latest event, re-sent with the new byte count whenever bytes arrive between isomorphic-git's own events.
  let latest: Progress = { stage: 'clone', done: 0, unit: 'objects', detail: 'Connecting', bytes: 0 };
  const report = (progress: Progress) => {
    latest = progress;
    onProgress?.(progress);
  };
  const guarded = guardHttp(http, {
    signal,
    maxBytes,
    onBytes: (bytes) => report({ ...latest, bytes }),
  });
  const reportProgress = (event: git.GitProgressEvent) => {
    if (signal?.aborted) {
      // Throwing stops isomorphic-git only in its own phases, whose callbacks it awaits; the server's progress lines
      // (Counting objects, ...) it reports without awaiting, where a throw would be an unhandled rejection. The
      // transfer itself is stopped by the guarded HTTP client.
      if (AWAITED_PHASES.has(event.phase)) throwIfCancelled(signal);
      return;
    }
    report({ stage: 'clone', done: event.loaded, total: event.total || undefined, unit: 'objects', detail: event.phase, bytes: latest.bytes });
  };
  const checkedFs = guardPackWrites(fs, packLimits, signal);
  try {
    report(latest);
    if (await isCompleteCloneOf(fs, dir, url)) {
      const fetched = await git.fetch({
        fs: checkedFs, http: guarded, dir, url, corsProxy, depth, singleBranch: true, ref: branch, tags: false, onProgress: reportProgress,
      });
      if (guarded.streamError) throw guarded.streamError;
      if (!fetched.fetchHead) throw new GitError('EMPTY_REPOSITORY', 'The repository has no commits');
      const current = await git.currentBranch({ fs, dir }) ?? branch ?? 'main';
      // The new objects are saved before the branch names them: a reload in between finds the clone as it was.
      await flush(fs);
      await git.writeRef({ fs, dir, ref: `refs/heads/${current}`, value: fetched.fetchHead, force: true });
      await flush(fs);
      return { head: fetched.fetchHead, branch: current, reused: true, bytes: latest.bytes ?? 0 };
    }
    await removeDirectory(fs, dir);
    await makeDirectories(fs, dir);
    await git.clone({
      fs: checkedFs, http: guarded, dir, url, corsProxy, depth, ref: branch, singleBranch: true, noCheckout: true, noTags: true,
      onProgress: reportProgress,
    });
    if (guarded.streamError) throw guarded.streamError;
    const current = await git.currentBranch({ fs, dir });
    let head: string;
    try {
      head = await git.resolveRef({ fs, dir, ref: 'HEAD' });
    } catch {
      throw new GitError('EMPTY_REPOSITORY', 'The repository is empty: it has no commits');
    }
    await flush(fs);
    await fs.promises.writeFile(`${dir}/${COMPLETE_MARKER}`, url);
    await flush(fs);
    return { head, branch: current ?? branch ?? 'main', reused: false, bytes: latest.bytes ?? 0 };
  } catch (err) {
    if (!(await isCompleteCloneOf(fs, dir, url))) await removeDirectory(fs, dir);
    if (signal?.aborted) rethrowAsGitError(new GitError('CANCELLED', 'Clone cancelled'), 'git.cloneRepository');
    // The browser refused a write for quota: the half-written clone is gone (above), and the message says what to delete.
    const storageFull = await asStorageFull(err, 'the clone');
    if (storageFull !== err) rethrowAsGitError(storageFull, 'git.cloneRepository');
    const failure = err as { code?: string; data?: { what?: string } };
    if (!guarded.streamError && failure.code === 'NotFoundError' && failure.data?.what === 'HEAD') {
      // The server's HEAD names a branch that does not exist, and isomorphic-git resolves HEAD on every fetch, even of
      // another branch (a cut ref advertisement is a streamError instead, reported below).
      rethrowAsGitError(new GitError('EMPTY_REPOSITORY', 'The repository\'s default branch (its HEAD) has no commits'), 'git.cloneRepository');
    }
    // A transfer cut short surfaces in isomorphic-git as whatever the truncated data looked like: report the cause.
    rethrowAsGitError(guarded.streamError ?? err, 'git.cloneRepository');
  }
}

/**
 * Opens a complete clone of `url` that an earlier `cloneRepository` left in `dir`, without the network.
 * Errors: GitError NOT_CLONED when there is none (or only a half-written one).
 * @example const { head, branch } = await openClone({ fs, dir: '/repos/demo', url });
 */
export async function openClone({ fs, dir, url }: { fs: GitFs; dir: string; url: string }): Promise<{ head: string; branch: string }> {
  if (!(await isCompleteCloneOf(fs, dir, url))) rethrowAsGitError(new GitError('NOT_CLONED', `No clone of ${url} is stored in this browser`), 'git.openClone');
  try {
    const head = await git.resolveRef({ fs, dir, ref: 'HEAD' });
    return { head, branch: (await git.currentBranch({ fs, dir })) ?? 'main' };
  } catch (err) {
    rethrowAsGitError(err, 'git.openClone');
  }
}

export async function isCompleteCloneOf(fs: GitFs, dir: string, url: string): Promise<boolean> {
  return (await completeCloneUrl(fs, dir)) === url;
}

/**
 * The URL a complete clone in `dir` was cloned from (its marker's content), or null when there is none. A marker whose
 * content is gone (a reload while it was being deleted: LightningFS drops the content at once, the tree entry later)
 * counts as none.
 */
export async function completeCloneUrl(fs: GitFs, dir: string): Promise<string | null> {
  if (!(await pathExists(fs, `${dir}/${COMPLETE_MARKER}`))) return null;
  try {
    const recorded: unknown = await fs.promises.readFile(`${dir}/${COMPLETE_MARKER}`, 'utf8');
    return typeof recorded === 'string' && recorded !== '' ? recorded : null;
  } catch {
    return null;
  }
}
