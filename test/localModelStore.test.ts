// Local models: a pick is checked (planLocalModel) and copied into private storage all or nothing (localModelStore), against an in-memory directory with OPFS's semantics (writes commit on close, NotFoundError, QuotaExceededError).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  deleteLocalModel, importLocalModel, isLocalModelName, listLocalModels, LocalModelError, openLocalModel, suggestLocalModelName,
  type StoreDirectory, type StoreFileHandle, type StoreWritable,
} from '../src/offline/localModelStore.ts';
import { planLocalModel } from '../src/offline/planLocalModel.ts';

const domError = (name: string) => new DOMException(name, name);

/** Bytes the whole store may still take; a write past it fails as OPFS does, with QuotaExceededError. */
interface Budget { left: number }

class MemoryFile implements StoreFileHandle {
  bytes = new Uint8Array(0);
  constructor(readonly name: string, private readonly budget: Budget) {}
  async getFile(): Promise<File> {
    return new File([this.bytes], this.name);
  }
  async createWritable(): Promise<StoreWritable> {
    // Like OPFS: writes go to a swap buffer, committed by close() and dropped by abort().
    const chunks: Uint8Array[] = [];
    let written = 0;
    return {
      write: async (chunk) => {
        if (chunk.byteLength > this.budget.left) throw domError('QuotaExceededError');
        this.budget.left -= chunk.byteLength;
        chunks.push(chunk.slice());
        written += chunk.byteLength;
      },
      close: async () => {
        const joined = new Uint8Array(written);
        let at = 0;
        for (const chunk of chunks) joined.set(chunk, (at += chunk.byteLength) - chunk.byteLength);
        this.bytes = joined;
      },
      abort: async () => {
        this.budget.left += written;
      },
    };
  }
}

class MemoryDirectory implements StoreDirectory {
  readonly entries = new Map<string, MemoryDirectory | MemoryFile>();
  constructor(readonly budget: Budget = { left: Infinity }) {}
  async getDirectoryHandle(name: string, { create = false } = {}): Promise<MemoryDirectory> {
    const entry = this.entries.get(name);
    if (entry instanceof MemoryDirectory) return entry;
    if (entry) throw domError('TypeMismatchError');
    if (!create) throw domError('NotFoundError');
    const made = new MemoryDirectory(this.budget);
    this.entries.set(name, made);
    return made;
  }
  async getFileHandle(name: string, { create = false } = {}): Promise<MemoryFile> {
    const entry = this.entries.get(name);
    if (entry instanceof MemoryFile) return entry;
    if (entry) throw domError('TypeMismatchError');
    if (!create) throw domError('NotFoundError');
    const made = new MemoryFile(name, this.budget);
    this.entries.set(name, made);
    return made;
  }
  async removeEntry(name: string, { recursive = false } = {}): Promise<void> {
    const entry = this.entries.get(name);
    if (!entry) throw domError('NotFoundError');
    if (entry instanceof MemoryDirectory && entry.entries.size > 0 && !recursive) throw domError('InvalidModificationError');
    this.entries.delete(name);
  }
  async *keys(): AsyncIterable<string> {
    yield* [...this.entries.keys()];
  }
}

const C2L_BASE = 'public/models/c2l-base';

/** A file as a folder pick gives it (webkitRelativePath "folder/name"), or as a file pick (no path). */
function picked(name: string, bytes: BlobPart, folder?: string): File {
  const file = new File([bytes], name);
  Object.defineProperty(file, 'webkitRelativePath', { value: folder ? `${folder}/${name}` : '' });
  return file;
}

function c2lBaseFiles(folder?: string, except: string[] = []): File[] {
  return ['config.json', 'tokenizer.json', 'model.safetensors', 'README.md', 'tokenizer_config.json']
    .filter((name) => !except.includes(name))
    .map((name) => picked(name, readFileSync(`${C2L_BASE}/${name}`), folder));
}

/** The first 8 bytes of a GGUF v3 file, then padding. */
function ggufStart(version = 3): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(64);
  bytes.set(new TextEncoder().encode('GGUF'));
  new DataView(bytes.buffer).setUint32(4, version, true);
  return bytes;
}

async function rejection(promise: Promise<unknown>): Promise<LocalModelError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(LocalModelError);
  return error as LocalModelError;
}

describe('local model names', () => {
  it('takes plain folder names only', () => {
    for (const name of ['c2l-base', 'SmolLM2-135M.Q8_0', 'a', 'x'.repeat(100)]) expect(isLocalModelName(name)).toBe(true);
    for (const name of ['', '.hidden', '../up', 'a/b', 'a\\b', '-dash-first', 'with space', 'x'.repeat(101), 42, null, undefined]) {
      expect(isLocalModelName(name)).toBe(false);
    }
  });

  it('suggests the folder name, else the .gguf name, made valid', () => {
    expect(suggestLocalModelName(c2lBaseFiles('c2l-base'))).toBe('c2l-base');
    expect(suggestLocalModelName([picked('My Model.Q4_0.gguf', ggufStart())])).toBe('My-Model.Q4_0');
    expect(suggestLocalModelName([picked('config.json', '{}')])).toBe('local-model');
    expect(suggestLocalModelName(c2lBaseFiles('.my model'))).toBe('my-model');
  });
});

describe('planLocalModel', () => {
  it('keeps the HF folder\'s model files only, from its top level', async () => {
    const nested = picked('model.safetensors', 'not the model', 'c2l-base/code2lora-static');
    Object.defineProperty(nested, 'webkitRelativePath', { value: 'c2l-base/code2lora-static/model.safetensors' });
    const plan = await planLocalModel([...c2lBaseFiles('c2l-base'), nested]);
    expect(plan.format).toBe('hf');
    expect([...plan.files.keys()].sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
    expect(plan.files.get('model.safetensors')!.size).toBe(readFileSync(`${C2L_BASE}/model.safetensors`).byteLength);
  });

  it.each(['config.json', 'tokenizer.json', 'model.safetensors'])('refuses a folder without %s, naming it', async (missing) => {
    const error = await rejection(planLocalModel(c2lBaseFiles('broken', [missing])));
    expect([error.code, error.file]).toEqual(['MISSING_FILE', missing]);
    expect(error.message).toContain(`no ${missing}`);
  });

  it('refuses a truncated safetensors file, saying how much is there', async () => {
    const whole = readFileSync(`${C2L_BASE}/model.safetensors`);
    const files = [...c2lBaseFiles(undefined, ['model.safetensors']), picked('model.safetensors', new Uint8Array(whole.subarray(0, 1_000_000)))];
    const error = await rejection(planLocalModel(files));
    expect([error.code, error.file]).toEqual(['TRUNCATED', 'model.safetensors']);
    expect(error.message).toMatch(/^model\.safetensors is 976\.6 KiB, less than the 18\.0 MiB its header describes/);
  });

  it('refuses weights that are not safetensors, and a config that is not a model\'s', async () => {
    const notWeights = await rejection(planLocalModel([...c2lBaseFiles(undefined, ['model.safetensors']), picked('model.safetensors', 'hello')]));
    expect([notWeights.code, notWeights.file]).toEqual(['BAD_WEIGHTS', 'model.safetensors']);
    const badConfig = await rejection(planLocalModel([...c2lBaseFiles(undefined, ['config.json']), picked('config.json', '{"model_type": "bert"}')]));
    expect([badConfig.code, badConfig.file]).toEqual(['BAD_CONFIG', 'config.json']);
  });

  it('takes one .gguf file by its first bytes, and refuses a file named .gguf that is not one', async () => {
    const plan = await planLocalModel([picked('tiny model (Q8).gguf', ggufStart())]);
    expect([plan.format, [...plan.files.keys()]]).toEqual(['gguf', ['model.gguf']]);
    const notGguf = await rejection(planLocalModel([picked('fake.gguf', '<html>Not found</html>')]));
    expect([notGguf.code, notGguf.file]).toEqual(['NOT_GGUF', 'fake.gguf']);
    expect(notGguf.message).toContain('fake.gguf: Not a GGUF file');
    expect((await rejection(planLocalModel([picked('old.gguf', ggufStart(1))]))).code).toBe('NOT_GGUF');
    expect((await rejection(planLocalModel([picked('a.gguf', ggufStart()), picked('b.gguf', ggufStart())]))).code).toBe('AMBIGUOUS_FILES');
    expect((await rejection(planLocalModel([]))).code).toBe('NO_FILES');
  });
});

describe('importLocalModel', () => {
  it('copies the files, lists the model with its size, and opens the same bytes', async () => {
    const root = new MemoryDirectory();
    const seen: number[] = [];
    const manifest = await importLocalModel({ root, plan: await planLocalModel(c2lBaseFiles('c2l-base')), name: 'c2l-base', onProgress: (p) => seen.push(p.done) });
    const expectedBytes = ['config.json', 'tokenizer.json', 'model.safetensors'].reduce((sum, f) => sum + readFileSync(`${C2L_BASE}/${f}`).byteLength, 0);
    expect(manifest.files.reduce((sum, f) => sum + f.bytes, 0)).toBe(expectedBytes);
    expect(seen.at(-1)).toBe(expectedBytes);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    const [listed] = await listLocalModels(root);
    expect(listed).toMatchObject({ name: 'c2l-base', format: 'hf', complete: true });
    expect(listed.bytes).toBeGreaterThan(expectedBytes); // and the manifest
    const opened = await openLocalModel(root, 'c2l-base');
    const weights = opened.files.find((f) => f.name === 'model.safetensors')!;
    expect(Buffer.from(await weights.arrayBuffer()).equals(readFileSync(`${C2L_BASE}/model.safetensors`))).toBe(true);
  });

  it('stores a .gguf of any file name, and opens it again', async () => {
    const root = new MemoryDirectory();
    await importLocalModel({ root, plan: await planLocalModel([picked('tiny model (Q8).gguf', ggufStart())]), name: 'tiny' });
    const { manifest, files } = await openLocalModel(root, 'tiny');
    expect([manifest.format, files.map((f) => [f.name, f.size])]).toEqual(['gguf', [['model.gguf', 64]]]);
  });

  it('refuses a name taken by a stored model, and a name that is not a plain folder name', async () => {
    const root = new MemoryDirectory();
    const plan = await planLocalModel([picked('tiny.gguf', ggufStart())]);
    await importLocalModel({ root, plan, name: 'tiny' });
    expect((await rejection(importLocalModel({ root, plan, name: 'tiny' }))).code).toBe('NAME_TAKEN');
    expect((await rejection(importLocalModel({ root, plan, name: '../tiny' }))).code).toBe('BAD_NAME');
    const badFile = await rejection(importLocalModel({ root, plan: { format: 'gguf', files: new Map([['../x.gguf', new Blob(['GGUF'])]]) }, name: 'other' }));
    expect([badFile.code, badFile.file]).toEqual(['BAD_NAME', '../x.gguf']);
    expect((await listLocalModels(root)).map((m) => m.name)).toEqual(['tiny']);
  });

  it('refuses a copy the storage estimate cannot fit before writing anything, saying what to delete', async () => {
    const root = new MemoryDirectory();
    const plan = await planLocalModel(c2lBaseFiles('c2l-base'));
    const error = await rejection(importLocalModel({ root, plan, name: 'c2l-base', estimate: async () => ({ usage: 9_000_000, quota: 10_000_000 }) }));
    expect(error.code).toBe('QUOTA_EXCEEDED');
    expect(error.message).toMatch(/^c2l-base needs 18\.5 MiB, more than this browser lets the site store \(976\.6 KiB free\)\. .*delete local models or cached model files/);
    expect(await listLocalModels(root)).toEqual([]);
  });

  it('keeps nothing when the quota runs out mid-copy', async () => {
    const root = new MemoryDirectory({ left: 5_000_000 });
    const error = await rejection(importLocalModel({ root, plan: await planLocalModel(c2lBaseFiles('c2l-base')), name: 'c2l-base' }));
    expect([error.code, error.file]).toEqual(['QUOTA_EXCEEDED', 'model.safetensors']);
    expect(await listLocalModels(root)).toEqual([]);
    expect(root.budget.left).toBeGreaterThan(0);
  });

  it('keeps nothing when cancelled mid-copy', async () => {
    const root = new MemoryDirectory();
    const cancel = new AbortController();
    const error = await rejection(importLocalModel({
      root, plan: await planLocalModel(c2lBaseFiles('c2l-base')), name: 'c2l-base', signal: cancel.signal,
      onProgress: (p) => p.file === 'model.safetensors' && p.done > 1_000_000 && cancel.abort(),
    }));
    expect(error.code).toBe('CANCELLED');
    expect(error.message).toBe('Cancelled: nothing of c2l-base was kept.');
    expect(await listLocalModels(root)).toEqual([]);
  });

  it('keeps nothing when the storage fails mid-copy', async () => {
    const root = new MemoryDirectory();
    const plan = await planLocalModel(c2lBaseFiles('c2l-base'));
    const failing = new File([new Uint8Array(10)], 'tokenizer.json');
    Object.defineProperty(failing, 'stream', { value: () => new ReadableStream({ pull: (c) => c.error(new Error('disk read failed')) }) });
    plan.files.set('tokenizer.json', failing);
    const error = await rejection(importLocalModel({ root, plan, name: 'c2l-base' }));
    expect([error.code, error.file]).toEqual(['INCOMPLETE', 'tokenizer.json']);
    expect(error.message).toContain('disk read failed');
    expect(await listLocalModels(root)).toEqual([]);
  });
});

describe('stored local models', () => {
  /** A store holding tiny.gguf as imported, and the folder's own handle for tampering with it. */
  async function storeWithTiny() {
    const root = new MemoryDirectory();
    await importLocalModel({ root, plan: await planLocalModel([picked('tiny.gguf', ggufStart())]), name: 'tiny' });
    const folder = await (await root.getDirectoryHandle('local-models')).getDirectoryHandle('tiny');
    return { root, folder };
  }

  it('treats a folder an interrupted copy left (no manifest) as incomplete: listed, never opened, replaced by an import', async () => {
    const { root, folder } = await storeWithTiny();
    await folder.removeEntry('local-model.json');
    expect(await listLocalModels(root)).toEqual([{ name: 'tiny', bytes: 64, format: null, complete: false }]);
    expect((await rejection(openLocalModel(root, 'tiny'))).code).toBe('INCOMPLETE');
    await importLocalModel({ root, plan: await planLocalModel([picked('tiny.gguf', ggufStart())]), name: 'tiny' });
    expect((await openLocalModel(root, 'tiny')).manifest.format).toBe('gguf');
  });

  it.each([
    ['not JSON', '{'],
    ['another name', JSON.stringify({ version: 1, name: 'other', format: 'gguf', files: [{ name: 'model.gguf', bytes: 64 }], importedAt: 'x' })],
    ['a path for a file', JSON.stringify({ version: 1, name: 'tiny', format: 'gguf', files: [{ name: '../../x.gguf', bytes: 64 }], importedAt: 'x' })],
    ['another size', JSON.stringify({ version: 1, name: 'tiny', format: 'gguf', files: [{ name: 'model.gguf', bytes: 65 }], importedAt: 'x' })],
    ['a lost file', JSON.stringify({ version: 1, name: 'tiny', format: 'gguf', files: [{ name: 'gone.gguf', bytes: 64 }], importedAt: 'x' })],
  ])('refuses to open a manifest with %s', async (_, manifest) => {
    const { root, folder } = await storeWithTiny();
    (await folder.getFileHandle('local-model.json')).bytes = new TextEncoder().encode(manifest);
    expect((await rejection(openLocalModel(root, 'tiny'))).code).toBe('INCOMPLETE');
  });

  it('deletes a model (then it is not found), and deleting one already gone is no error', async () => {
    const { root } = await storeWithTiny();
    await deleteLocalModel(root, 'tiny');
    expect(await listLocalModels(root)).toEqual([]);
    expect((await rejection(openLocalModel(root, 'tiny'))).code).toBe('NOT_FOUND');
    await deleteLocalModel(root, 'tiny');
    expect(await listLocalModels(new MemoryDirectory())).toEqual([]);
    expect((await rejection(openLocalModel(root, '../tiny'))).code).toBe('BAD_NAME');
  });
});
