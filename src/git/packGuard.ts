// Decompression bombs: a packfile of a few megabytes can hold an object that inflates to gigabytes (1.46 MB of pack
// made a 1.5 GB blob: isomorphic-git's indexing took 4.6 GB of memory, then reading the snapshot 6.1 GB). The clone's
// byte limit counts what arrives, so every packfile is checked here before isomorphic-git indexes it: each object is
// inflated in 64 KiB pieces that are counted and dropped, and each delta's declared result size is read from its header.
import pako from 'pako';
import { GitError } from './errors.ts';
import type { GitFs } from './fsUtil.ts';
import { formatBytes } from '../util/formatBytes.ts';

export interface PackLimits {
  /** The most one object may inflate to, or a delta may declare it builds. */
  maxObjectBytes: number;
  /** The most all objects together may inflate to, delta results included: bounds the time indexing takes. */
  maxInflatedBytes: number;
}

/**
 * GitHub refuses files over 100 MB, so no object of a repository it hosts is larger. In all: 8 GiB, about 25 s of
 * inflating here, where real histories inflate to 7-35x their pack (anyio: 6.1 MB of pack, 216 MB), so a pack at the
 * clone's 200 MiB limit fits.
 */
export const DEFAULT_PACK_LIMITS: PackLimits = { maxObjectBytes: 100 * 1024 * 1024, maxInflatedBytes: 8 * 1024 * 1024 * 1024 };
/** Inflated bytes between two looks at the signal (a pause on the event loop, where a cancel can arrive). */
const YIELD_EVERY_BYTES = 64 * 1024 * 1024;

const OBJECT_TYPES = new Set([1, 2, 3, 4]); // commit, tree, blob, tag
const OFS_DELTA = 6;
const REF_DELTA = 7;
const PACK_TRAILER = 20; // the SHA-1 of everything before it

/** The part of pako 1.x's Inflate this reads that its type definitions leave out. */
interface InflateStream {
  ended: boolean;
  strm: { avail_in: number };
}

function damaged(message: string): never {
  throw new GitError('NETWORK', `The packfile the server sent is damaged: ${message}`);
}

/**
 * Checks a packfile (git's pack format, version 2) against `limits` without keeping what it inflates. Throws GitError
 * TOO_LARGE for an object or a delta result over `maxObjectBytes`, or over `maxInflatedBytes` in all, and NETWORK for
 * a pack it cannot walk (a bad header, a broken zlib stream, data cut short); rejects with `signal`'s reason when it
 * aborts. Returns what it counted.
 *
 * @example await checkPackfile(pack) // pallets/itsdangerous, full history: { objects: 3186, inflatedBytes: 7448890 }
 */
export async function checkPackfile(
  pack: Uint8Array, limits: PackLimits = DEFAULT_PACK_LIMITS, signal?: AbortSignal,
): Promise<{ objects: number; inflatedBytes: number }> {
  const view = new DataView(pack.buffer, pack.byteOffset, pack.byteLength);
  if (pack.length < 12 + PACK_TRAILER || String.fromCharCode(...pack.subarray(0, 4)) !== 'PACK') damaged('no PACK header');
  if (view.getUint32(4) !== 2) damaged(`version ${view.getUint32(4)}, not 2`);
  const count = view.getUint32(8);
  const end = pack.length - PACK_TRAILER;
  const tooLarge = (what: string, bytes: number, limit: number): never => {
    throw new GitError('TOO_LARGE', `The repository holds ${what} of more than ${formatBytes(limit)} (${formatBytes(bytes)} or more)`, { bytes, limit });
  };
  let position = 12;
  let inflatedBytes = 0;
  let nextYield = YIELD_EVERY_BYTES;
  const byte = (): number => (position < end ? pack[position++] : damaged('an object header runs past the end'));
  for (let index = 0; index < count; index++) {
    // Type in bits 4-6 of the first byte, size (of the object, or of a delta's data) in 4 + 7n bits, little end first.
    let current = byte();
    const type = (current >> 4) & 7;
    let size = current & 15;
    for (let scale = 16; current & 0x80; scale *= 128) {
      current = byte();
      size += (current & 0x7f) * scale;
    }
    if (type === OFS_DELTA) {
      do current = byte(); while (current & 0x80);
    } else if (type === REF_DELTA) {
      position += 20;
    } else if (!OBJECT_TYPES.has(type)) {
      damaged(`object ${index + 1} has type ${type}`);
    }
    if (size > limits.maxObjectBytes) tooLarge('an object', size, limits.maxObjectBytes);

    let inflated = 0;
    let head: Uint8Array | null = null;
    let status = -1;
    const inflator = new pako.Inflate({ chunkSize: 64 * 1024 });
    inflator.onData = (chunk) => {
      const bytes = chunk as Uint8Array;
      head ??= bytes.slice(0, 20);
      inflated += bytes.length;
      // Counted as it comes, so a lying header cannot make this inflate more than the limit.
      if (inflated > limits.maxObjectBytes) tooLarge('an object', inflated, limits.maxObjectBytes);
    };
    inflator.onEnd = (endStatus) => { status = endStatus; };
    if (position > end) damaged(`object ${index + 1} runs past the end`);
    inflator.push(pack.subarray(position, end), false);
    const stream = inflator as unknown as InflateStream;
    if (!stream.ended || status !== 0) damaged(`object ${index + 1} is not a complete zlib stream`);
    if (inflated !== size) damaged(`object ${index + 1} inflates to ${inflated} bytes, its header says ${size}`);
    position = end - stream.strm.avail_in;
    inflatedBytes += inflated;

    if (type === OFS_DELTA || type === REF_DELTA) {
      // A delta starts with its base's size and its result's size: the result is built whole in memory.
      let at = 0;
      const varint = () => {
        let value = 0;
        for (let scale = 1; ; scale *= 128) {
          if (!head || at >= head.length) damaged(`delta ${index + 1} has no size header`);
          const next = head[at++];
          value += (next & 0x7f) * scale;
          if (!(next & 0x80)) return value;
        }
      };
      varint();
      const result = varint();
      if (result > limits.maxObjectBytes) tooLarge('an object', result, limits.maxObjectBytes);
      inflatedBytes += result;
    }
    if (inflatedBytes > limits.maxInflatedBytes) tooLarge('objects that inflate', inflatedBytes, limits.maxInflatedBytes);
    if (inflatedBytes >= nextYield) {
      nextYield = inflatedBytes + YIELD_EVERY_BYTES;
      await new Promise((resolve) => setTimeout(resolve, 0));
      signal?.throwIfAborted();
    }
  }
  return { objects: count, inflatedBytes };
}

const PACK_PATH = /\/objects\/pack\/pack-[0-9a-f]+\.pack$/;

/**
 * `fs` for isomorphic-git's clone and fetch: the packfile they write (before indexing it) is checked by checkPackfile
 * first, so a pack over `limits` fails the write with TOO_LARGE and is never indexed. Everything else passes through.
 */
export function guardPackWrites(fs: GitFs, limits: PackLimits = DEFAULT_PACK_LIMITS, signal?: AbortSignal): GitFs {
  const promises = new Proxy(fs.promises, {
    get(target, name) {
      const value = Reflect.get(target, name, target) as unknown;
      if (name === 'writeFile') {
        const writeFile = value as (path: string, data: unknown, options?: unknown) => Promise<void>;
        return async (path: string, data: unknown, options?: unknown) => {
          if (PACK_PATH.test(path) && data instanceof Uint8Array) await checkPackfile(data, limits, signal);
          return writeFile.call(target, path, data, options);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { promises };
}
