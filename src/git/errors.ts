// Typed git errors with stable codes, so the UI and CLI can say exactly what went wrong without parsing messages.

export type GitErrorCode =
  | 'INVALID_URL'
  | 'NOT_FOUND'
  | 'UNAUTHORIZED'
  | 'NETWORK'
  | 'OFFLINE'
  | 'TOO_LARGE'
  | 'TOO_MANY_FILES'
  | 'EMPTY_REPOSITORY'
  | 'NO_PYTHON'
  | 'CANCELLED'
  | 'NOT_CLONED'
  | 'BAD_COMMIT'
  | 'NOT_TEXT'
  | 'UNSAFE_PATH'
  | 'STORAGE_FULL';

export class GitError extends Error {
  readonly code: GitErrorCode;
  readonly data: Record<string, unknown>;
  caller = '';

  constructor(code: GitErrorCode, message: string, data: Record<string, unknown> = {}) {
    super(message);
    this.name = 'GitError';
    this.code = code;
    this.data = data;
  }
}

/** Re-throws `err` tagged with the public function that failed, turning foreign errors into GitErrors. */
export function rethrowAsGitError(err: unknown, caller: string): never {
  const gitError = err instanceof GitError ? err : fromIsomorphicGitError(err);
  gitError.caller = caller;
  throw gitError;
}

/** The server's or proxy's own words from an error response body (plain text, first line, at most 300 characters). */
function serverReason(body: unknown): string {
  if (typeof body !== 'string' || /^\s*</.test(body)) return '';
  const line = body.trim().split('\n')[0].trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

/** True when the browser knows it has no network (navigator.onLine is false); Node never says so. */
function isOffline(): boolean {
  return (globalThis as { navigator?: { onLine?: boolean } }).navigator?.onLine === false;
}

function fromIsomorphicGitError(err: unknown): GitError {
  const e = err as { code?: string; message?: string; data?: { statusCode?: number; response?: unknown } };
  const message = e?.message ?? String(err);
  if (isOffline() && e?.code !== 'NotFoundError') {
    return new GitError('OFFLINE', 'This computer is offline: connect to a network and try again');
  }
  if (e?.code === 'HttpError') {
    const status = e.data?.statusCode ?? 0;
    const reason = serverReason(e.data?.response);
    if (status === 401 || status === 403) {
      const said = reason && !/^(unauthori[sz]ed|forbidden)$/i.test(reason) ? ` (the server says: ${reason})` : '';
      return new GitError('UNAUTHORIZED', `The server refused access (HTTP ${status}): the repository is private or needs credentials${said}`, { status, reason });
    }
    if (status === 404) return new GitError('NOT_FOUND', 'Repository not found (HTTP 404)', { status });
    return new GitError('NETWORK', `The git server answered HTTP ${status}${reason ? `: ${reason}` : ''}`, { status, reason });
  }
  if (e?.code === 'NotFoundError') return new GitError('BAD_COMMIT', message);
  if (e?.code === 'UnsafeFilepathError') {
    // isomorphic-git refuses a whole tree that names an entry `.`, `..`, `.git` (any case) or holds a slash or backslash.
    return new GitError('UNSAFE_PATH', `The repository holds a file name that git refuses as unsafe: ${message}`, { reason: message });
  }
  if (e?.code === 'SmartHttpError' || e?.code === 'UnknownTransportError' || e?.code === 'UrlParseError') {
    return new GitError('NETWORK', `Not a git smart-HTTP server: ${message}`);
  }
  if (e?.code === 'ECONNRESET' || /fetch failed|Failed to fetch|NetworkError|ECONNREFUSED|ECONNRESET|ENOTFOUND|socket hang up|terminated|aborted/i.test(message)) {
    return new GitError('NETWORK', `Network failure: ${message}`);
  }
  return new GitError('NETWORK', message);
}
