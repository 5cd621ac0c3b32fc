// src/git/packGuard.ts on packs git itself writes (full histories with deltas) and on hand-made ones: objects that
// inflate past the limit with honest and lying headers, deltas that declare a huge result, a pack whose objects add up
// past the total, damaged packs, and a cancel.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pako from 'pako';
import { afterAll, describe, expect, it } from 'vitest';
import { GitError } from '../src/git/errors.ts';
import { checkPackfile, DEFAULT_PACK_LIMITS } from '../src/git/packGuard.ts';

const MiB = 1024 * 1024;
const root = mkdtempSync(join(tmpdir(), 'pack-guard-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A git pack entry: its type, the size its header declares, and the bytes deflated after it. */
interface Entry {
  type: number;
  size: number;
  /** Bytes between the header and the zlib stream: an ofs-delta's offset, a ref-delta's base id. */
  base?: number[];
  content: Uint8Array;
}

function varint(value: number): number[] {
  const bytes: number[] = [];
  do {
    let next = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) next |= 0x80;
    bytes.push(next);
  } while (value > 0);
  return bytes;
}

function packOf(entries: readonly Entry[], { cut = 0 } = {}): Uint8Array {
  const parts: number[][] = [[...Buffer.from('PACK'), 0, 0, 0, 2, ...[24, 16, 8, 0].map((shift) => (entries.length >>> shift) & 255)]];
  for (const { type, size, base = [], content } of entries) {
    const header = [(type << 4) | (size & 15)];
    for (let rest = Math.floor(size / 16); rest > 0; rest = Math.floor(rest / 128)) {
      header[header.length - 1] |= 0x80;
      header.push(rest % 128);
    }
    parts.push(header, base, [...pako.deflate(content)]);
  }
  const body = parts.flat();
  return Uint8Array.from([...body.slice(0, body.length - cut), ...new Array(20).fill(0)]);
}

const blob = (content: Uint8Array, size = content.length): Entry => ({ type: 3, size, content });
const small = { maxObjectBytes: MiB, maxInflatedBytes: 4 * MiB };

async function refusal(promise: Promise<unknown>, code: GitError['code']): Promise<GitError> {
  const error = await promise.then(() => null, (err: unknown) => err);
  expect(error).toBeInstanceOf(GitError);
  expect((error as GitError).code).toBe(code);
  return error as GitError;
}

describe('checkPackfile', () => {
  it('walks a pack git wrote (a history with deltas) to its end, counting its objects as git does', async () => {
    const repo = join(root, 'history');
    const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], {
      encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@e' },
    });
    execFileSync('git', ['init', '--quiet', repo]);
    for (let commit = 0; commit < 12; commit++) {
      const lines = Array.from({ length: 400 }, (_, line) => `value_${line} = ${line === commit * 7 ? commit : line}\n`);
      writeFileSync(join(repo, 'module.py'), lines.join(''));
      git('add', '.');
      git('commit', '--quiet', '-m', `change ${commit}`);
    }
    git('repack', '-adfq', '--depth=50');
    const packs = readdirSync(join(repo, '.git/objects/pack')).filter((name) => name.endsWith('.pack'));
    expect(packs).toHaveLength(1);
    const pack = readFileSync(join(repo, '.git/objects/pack', packs[0]));
    expect(git('verify-pack', '-v', join('.git/objects/pack', packs[0]))).toMatch(/chain length = [1-9]/); // it holds deltas
    const { objects, inflatedBytes } = await checkPackfile(pack);
    expect(objects).toBe(Number(/in-pack: (\d+)/.exec(git('count-objects', '-v'))![1]));
    expect(inflatedBytes).toBeGreaterThan(12 * 5000); // every version of the module, the deltas' results included
    expect(inflatedBytes).toBeLessThan(DEFAULT_PACK_LIMITS.maxInflatedBytes);
  });

  it('refuses an object over the limit from its header, and one whose header lies while it inflates', async () => {
    const zeros = new Uint8Array(3 * MiB);
    expect((await refusal(checkPackfile(packOf([blob(zeros)]), small), 'TOO_LARGE')).data).toEqual({ bytes: 3 * MiB, limit: MiB });
    // The header says 10 bytes: counted as it inflates, it stops at the first piece past the limit.
    const lying = await refusal(checkPackfile(packOf([blob(zeros, 10)]), small), 'TOO_LARGE');
    expect(lying.data.bytes).toBeGreaterThan(MiB);
    expect(lying.data.bytes).toBeLessThanOrEqual(MiB + 64 * 1024);
  });

  it('refuses a delta that declares a result over the limit, from a few bytes', async () => {
    // Base size 10, result size 1 GiB, then one copy instruction: what git would build in memory whole.
    const delta = Uint8Array.from([...varint(10), ...varint(1024 * MiB), 0x91, 0, 10]);
    const pack = packOf([blob(new Uint8Array(10)), { type: 6, size: delta.length, base: [0x0c], content: delta }]);
    expect(pack.length).toBeLessThan(100);
    expect((await refusal(checkPackfile(pack, small), 'TOO_LARGE')).data).toEqual({ bytes: 1024 * MiB, limit: MiB });
    const refDelta = packOf([{ type: 7, size: delta.length, base: new Array(20).fill(7), content: delta }]);
    await refusal(checkPackfile(refDelta, small), 'TOO_LARGE');
  });

  it('refuses objects each under the limit that add up past the total', async () => {
    const pack = packOf(Array.from({ length: 6 }, (_, i) => blob(new Uint8Array(900 * 1024).fill(i))));
    expect((await checkPackfile(pack, { ...small, maxInflatedBytes: 6 * MiB })).objects).toBe(6);
    const error = await refusal(checkPackfile(pack, small), 'TOO_LARGE');
    expect(error.message).toMatch(/objects that inflate of more than 4\.0 MiB/);
  });

  it('says a pack is damaged (NETWORK) where it cannot walk it', async () => {
    const good = packOf([blob(new TextEncoder().encode('x = 1\n'))]);
    const damaged = async (pack: Uint8Array, message: RegExp) => expect((await refusal(checkPackfile(pack), 'NETWORK')).message).toMatch(message);
    await damaged(Uint8Array.from([...Buffer.from('JUNK'), ...good.subarray(4)]), /no PACK header/);
    await damaged(Uint8Array.from([...good.subarray(0, 7), 3, ...good.subarray(8)]), /version 3/);
    await damaged(packOf([blob(new TextEncoder().encode('x = 1\n'.repeat(50)))], { cut: 8 }), /not a complete zlib stream/);
    await damaged(packOf([blob(new TextEncoder().encode('x = 1\n'), 5)]), /inflates to 6 bytes, its header says 5/);
    await damaged(packOf([{ type: 5, size: 1, content: new Uint8Array(1) }]), /object 1 has type 5/);
    await damaged(Uint8Array.from([...good.subarray(0, 11), 2, ...good.subarray(12)]), /runs past the end/); // says 2 objects
  });

  it('stops when its signal aborts, between pieces of inflating', async () => {
    const controller = new AbortController();
    controller.abort(new Error('cancelled here'));
    const pack = packOf([blob(new Uint8Array(70 * MiB))]); // past the first look at the signal (every 64 MiB)
    await expect(checkPackfile(pack, DEFAULT_PACK_LIMITS, controller.signal)).rejects.toThrow('cancelled here');
  });
});
