// Wraps an isomorphic-git HTTP client with cancellation, a download-size limit and a byte counter.
import type { HttpClient, GitHttpRequest, GitHttpResponse } from 'isomorphic-git';
import { formatBytes } from '../util/formatBytes.ts';
import { GitError } from './errors.ts';

export interface HttpGuard {
  signal?: AbortSignal;
  /** Abort with TOO_LARGE once more than this many response bytes arrived. */
  maxBytes?: number;
  onBytes?: (totalBytes: number) => void;
}

export interface GuardedHttpClient extends HttpClient {
  /**
   * The first error that ended a response body early (a dropped connection, TOO_LARGE, Cancelled), or undefined.
   * isomorphic-git's pkt-line reader swallows stream errors and treats them as the end of the data, so a cut ref
   * advertisement would otherwise pass for a short (even empty) list of refs: callers must check this.
   */
  readonly streamError: unknown;
}

export function throwIfCancelled(signal?: AbortSignal): void {
  if (signal?.aborted) throw new GitError('CANCELLED', 'Cancelled');
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
      const mustEndWithFlush = response.statusCode === 200 && isSmartHttpAnswer(response.headers);
      async function* guardedBody(): AsyncIterableIterator<Uint8Array> {
        // The last four bytes of the body so far, to check the final flush-pkt.
        const tail = new Uint8Array(4);
        let bodyBytes = 0;
        try {
          for await (const chunk of body as AsyncIterable<Uint8Array>) {
            throwIfCancelled(signal);
            received += chunk.byteLength;
            if (received > maxBytes) {
              throw new GitError('TOO_LARGE', `The repository is larger than the ${formatBytes(maxBytes)} limit`, { maxBytes });
            }
            onBytes?.(received);
            keepTail(tail, chunk);
            bodyBytes += chunk.byteLength;
            yield chunk;
          }
          if (mustEndWithFlush && !(bodyBytes >= 4 && FLUSH_PKT.every((byte, i) => tail[i] === byte))) {
            throw new GitError(
              'NETWORK',
              `The server's answer ended before git's end marker after ${formatBytes(bodyBytes)}: the transfer was cut short, try again`,
              { bytes: bodyBytes },
            );
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

/** "0000", the flush-pkt: the last bytes of every complete ref advertisement and upload-pack (side-band) response. */
const FLUSH_PKT = [0x30, 0x30, 0x30, 0x30];

/**
 * Whether a response is one of git's smart-HTTP answers (a ref advertisement, an upload-pack result), which end with a
 * flush-pkt. isomorphic-git's pkt-line reader takes an early end for the end of the data: a ref advertisement cut short
 * read as an empty repository, a pack cut short as "commit ... is not available locally". Other answers (a dumb HTTP
 * server's plain text) are left to isomorphic-git's own "not a smart-HTTP server" error.
 */
function isSmartHttpAnswer(headers: Record<string, string> | undefined): boolean {
  const type = Object.entries(headers ?? {}).find(([name]) => name.toLowerCase() === 'content-type')?.[1] ?? '';
  return /^application\/x-git-upload-pack-(advertisement|result)\b/.test(type);
}

/** Keeps in `tail` the last four bytes of the body, right-aligned, after `chunk`. */
function keepTail(tail: Uint8Array, chunk: Uint8Array): void {
  if (chunk.byteLength >= 4) {
    tail.set(chunk.subarray(chunk.byteLength - 4));
    return;
  }
  tail.copyWithin(0, chunk.byteLength);
  tail.set(chunk, 4 - chunk.byteLength);
}

export { formatBytes };
