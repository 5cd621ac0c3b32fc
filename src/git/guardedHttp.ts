// Wraps an isomorphic-git HTTP client with cancellation, a download-size limit and a byte counter.
import type { HttpClient, GitHttpRequest, GitHttpResponse } from 'isomorphic-git';
import { GitError } from './errors.ts';

export interface HttpGuard {
  signal?: AbortSignal;
  /** Abort with TooLarge once more than this many response bytes arrived. */
  maxBytes?: number;
  onBytes?: (totalBytes: number) => void;
}

export interface GuardedHttpClient extends HttpClient {
  /**
   * The first error that ended a response body early (a dropped connection, TooLarge, Cancelled), or undefined.
   * isomorphic-git's pkt-line reader swallows stream errors and treats them as the end of the data, so a cut ref
   * advertisement would otherwise pass for a short (even empty) list of refs: callers must check this.
   */
  readonly streamError: unknown;
}

export function throwIfCancelled(signal?: AbortSignal): void {
  if (signal?.aborted) throw new GitError('Cancelled', 'Cancelled');
}

/** isomorphic-git's commands do not take an AbortSignal; enforcing it in the body stream stops them mid-transfer. */
export function guardHttp(base: HttpClient, { signal, maxBytes = Infinity, onBytes }: HttpGuard): GuardedHttpClient {
  let received = 0;
  let streamError: unknown;
  return {
    get streamError() {
      return streamError;
    },
    async request(request: GitHttpRequest): Promise<GitHttpResponse> {
      throwIfCancelled(signal);
      let response: GitHttpResponse;
      try {
        response = await base.request({ ...request, signal } as GitHttpRequest);
      } catch (err) {
        throwIfCancelled(signal);
        throw err;
      }
      const body = response.body;
      if (!body) return response;
      async function* guardedBody(): AsyncIterableIterator<Uint8Array> {
        try {
          for await (const chunk of body as AsyncIterable<Uint8Array>) {
            throwIfCancelled(signal);
            received += chunk.byteLength;
            if (received > maxBytes) {
              throw new GitError('TooLarge', `The repository is larger than the ${formatBytes(maxBytes)} limit`, { maxBytes });
            }
            onBytes?.(received);
            yield chunk;
          }
        } catch (err) {
          streamError ??= err;
          throw err;
        }
      }
      return { ...response, body: guardedBody() };
    },
  };
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}
