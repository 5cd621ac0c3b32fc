// Public git API (browser Worker and Node alike): clone, history, snapshots and diffs over an isomorphic-git fs.
export { cloneRepository, isCompleteCloneOf, openClone, DEFAULT_HISTORY_DEPTH, DEFAULT_MAX_CLONE_BYTES } from './clone.ts';
export type { CloneProgress, CloneResult } from './clone.ts';
export { listCommits } from './log.ts';
export type { CommitInfo } from './log.ts';
export { readSnapshot, requirePythonFiles, DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_FILES } from './snapshot.ts';
export type { Snapshot, SnapshotFile, SnapshotSkips } from './snapshot.ts';
export { diffCommit } from './diff.ts';
export { listTreeFiles, readTextFile } from './files.ts';
export type { DiffHunk, FileDiff } from './diff.ts';
export { normalizeRepoUrl } from './normalizeUrl.ts';
export type { NormalizedRepoUrl } from './normalizeUrl.ts';
export { GitError } from './errors.ts';
export type { GitErrorCode } from './errors.ts';
export { isTestPath, isPythonPath, isPythonTestPath, isEvoDiffPath, isVendoredPath, isGeneratedPath } from './pathFilters.ts';
export { formatBytes } from './guardedHttp.ts';
export type { GitFs } from './fsUtil.ts';
