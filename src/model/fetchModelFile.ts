// Downloads one model file so that every failure names the file and its cause: no answer, the connection dropped
// mid-transfer, a body shorter than announced, or no data for too long. HTTP statuses are left to the caller (a 404
// can mean "optional file absent").
import { formatBytes } from '../util/formatBytes.ts';
import { ModelLoadError } from './modelLoadError.ts';

/** How long a download may wait for the server's answer or its next bytes before it is given up. */
export const DEFAULT_DOWNLOAD_STALL_MS = 30_000;

export interface FetchModelFileOptions {
  /** The file's name in messages (default: the URL's last path segment). */
  file?: string;
  init?: RequestInit;
  /** Cancels the download: the fetch and its body reject with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Gives up (ModelLoadError `STALLED`) when the answer, or the next bytes asked for, have not come for this long.
   * Only time spent waiting on the network counts, not the time the reader spends between reads.
   */
  stallMs?: number;
}

/**
 * `fetch` for a model file: resolves to the server's Response (any status) whose body, when read, fails with
 * ModelLoadError `NETWORK` if the connection drops, `TRUNCATED` if it ends before its Content-Length, and `STALLED` if
 * no data comes for `stallMs`; no answer at all is `NETWORK` or `STALLED`. Each message names the file, how much of it
 * arrived and the URL, and says to load again.
 * @example
 * const response = await fetchModelFile('https://example.org/m/model.safetensors', { stallMs: 30_000 });
 * const bytes = new Uint8Array(await response.arrayBuffer()); // throws ModelLoadError on a cut transfer
 */
export async function fetchModelFile(
  url: string | URL, { file, init, signal, stallMs = DEFAULT_DOWNLOAD_STALL_MS }: FetchModelFileOptions = {},
): Promise<Response> {
  const href = String(url);
  const name = file ?? (decodeURIComponent(new URL(href).pathname.split('/').pop() ?? '') || href);
  const seconds = `${Math.round(stallMs / 100) / 10} s`;
  const controller = new AbortController();
  const cancel = () => controller.abort(signal?.reason);
  signal?.throwIfAborted();
  signal?.addEventListener('abort', cancel, { once: true });
  let stalled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const waitForNetwork = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      controller.abort();
    }, stallMs);
  };
  const done = () => {
    clearTimeout(timer);
    signal?.removeEventListener('abort', cancel);
  };

  let response: Response;
  waitForNetwork();
  try {
    response = await fetch(href, { ...init, signal: controller.signal });
  } catch (error) {
    done();
    if (signal?.aborted) throw signal.reason ?? error;
    if (stalled) throw new ModelLoadError('STALLED', name, `Downloading ${name} stalled: the server sent no answer for ${seconds} (${href}). Load again to retry.`);
    throw new ModelLoadError('NETWORK', name, `Downloading ${name} failed: no answer from the server (${reason(error)}) at ${href}. Load again to retry.`, { cause: error });
  }
  clearTimeout(timer);
  if (!response.ok || !response.body) {
    done();
    return response;
  }

  // Content-Length counts the encoded bytes: with a Content-Encoding the decoded body has another length.
  const declared = Number(response.headers.get('content-length'));
  const encoding = response.headers.get('content-encoding');
  const expected = Number.isSafeInteger(declared) && declared > 0 && (!encoding || encoding === 'identity') ? declared : 0;
  const reader = response.body.getReader();
  let received = 0;
  const soFar = () => (expected ? `${formatBytes(received)} of ${formatBytes(expected)}` : formatBytes(received));
  const body = new ReadableStream<Uint8Array>({
    async pull(stream) {
      waitForNetwork();
      let read: ReadableStreamReadResult<Uint8Array>;
      try {
        read = await reader.read();
      } catch (error) {
        done();
        if (signal?.aborted) stream.error(signal.reason ?? error);
        else if (stalled) stream.error(new ModelLoadError('STALLED', name, `Downloading ${name} stalled: no data for ${seconds} after ${soFar()} (${href}). Load again to retry.`));
        else stream.error(new ModelLoadError('NETWORK', name, `Downloading ${name} was cut off after ${soFar()}: ${reason(error)} (${href}). Load again to retry.`, { cause: error }));
        return;
      }
      clearTimeout(timer);
      if (read.done) {
        done();
        if (expected && received < expected) {
          stream.error(new ModelLoadError('TRUNCATED', name, `${name} ended after ${soFar()} the server announced: the download was cut short (${href}). Load again to retry.`));
        } else stream.close();
        return;
      }
      received += read.value.byteLength;
      stream.enqueue(read.value);
    },
    cancel(why) {
      done();
      return reader.cancel(why);
    },
  });
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}

/** The most specific words an error carries (Node's fetch hides the socket's error in `cause`). */
function reason(error: unknown): string {
  const e = error as { message?: unknown; cause?: { message?: unknown; code?: unknown } } | null;
  const cause = e?.cause;
  const inner = cause && (typeof cause.code === 'string' ? cause.code : typeof cause.message === 'string' ? cause.message : '');
  const outer = typeof e?.message === 'string' ? e.message : String(error);
  return inner && inner !== outer ? `${outer}: ${inner}` : outer;
}
