// Local models: a Hugging Face model folder or a .gguf file the user picked, checked, then copied into the Origin Private File System so the choice survives a reload.
//
// Layout: <root>/local-models/<name>/ holds the model's files and, written last, local-model.json (the manifest). A
// folder without a valid manifest is an interrupted copy: it is never loaded, is listed as incomplete, and an import
// under its name replaces it. Written against StoreDirectory, the part of FileSystemDirectoryHandle used here, so
// Node tests can run it against an in-memory directory.
// The page imports this module (listing, deleting, the settings' name check): it must not import the model code (tfjs).
import { formatBytes } from '../util/formatBytes.ts';

export type LocalModelErrorCode =
  | 'UNAVAILABLE' | 'BAD_NAME' | 'NAME_TAKEN' | 'NO_FILES' | 'MISSING_FILE' | 'AMBIGUOUS_FILES' | 'TOO_LARGE' | 'BAD_CONFIG'
  | 'BAD_WEIGHTS' | 'TRUNCATED' | 'NOT_GGUF' | 'QUOTA_EXCEEDED' | 'CANCELLED' | 'NOT_FOUND' | 'INCOMPLETE' | 'BAD_MANIFEST';

/** Every problem with a local model; `file` names the file at fault, when one is. */
export class LocalModelError extends Error {
  constructor(readonly code: LocalModelErrorCode, message: string, readonly file: string | null = null, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LocalModelError';
  }
}

/** The part of the Origin Private File System's FileSystemDirectoryHandle this module uses. */
export interface StoreDirectory {
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<StoreDirectory>;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<StoreFileHandle>;
  removeEntry(name: string, options?: { recursive?: boolean }): Promise<void>;
  keys(): AsyncIterable<string>;
}

export interface StoreFileHandle {
  getFile(): Promise<File>;
  /** A writable that commits on close() and leaves the file as it was on abort() (OPFS writes to a swap file). */
  createWritable(): Promise<StoreWritable>;
}

export interface StoreWritable {
  write(chunk: Uint8Array<ArrayBuffer>): Promise<void>;
  close(): Promise<void>;
  abort(reason?: unknown): Promise<void>;
}

export type LocalModelFormat = 'hf' | 'gguf';

/** local-model.json: what was copied. `weights`: the .gguf file, or the safetensors file(s) of an HF folder. */
export interface LocalModelManifest {
  version: 1;
  name: string;
  format: LocalModelFormat;
  files: Array<{ name: string; bytes: number }>;
  importedAt: string;
}

/** A folder under local-models/: a complete copy (with its manifest) or an interrupted one. */
export interface StoredLocalModel {
  name: string;
  /** Bytes of the files in the folder. */
  bytes: number;
  format: LocalModelFormat | null;
  complete: boolean;
}

export interface ImportProgress {
  /** The file being copied. */
  file: string;
  done: number;
  total: number;
}

const MODELS_FOLDER = 'local-models';
const MANIFEST_FILE = 'local-model.json';
const MAX_NAME_LENGTH = 100;

/** A name that is one plain folder name: letters, digits, `.`, `_`, `-`, not starting with a dot, at most 100 characters. */
export function isLocalModelName(name: unknown): name is string {
  return typeof name === 'string' && name.length <= MAX_NAME_LENGTH && /^[A-Za-z0-9][\w.-]*$/.test(name);
}

/** A file name inside a model's folder: HF's names, shard names (as the shard index allows them), model.gguf, the manifest. */
function isStoredFileName(name: unknown): name is string {
  return typeof name === 'string' && name.length <= 255 && /^[\w-][\w.-]*$/.test(name);
}

/** A file's path as picked: "folder/config.json" from a folder pick, its bare name from a file pick. */
export function pickedPath(file: File): string {
  return file.webkitRelativePath || file.name;
}

/** The name a pick suggests: the picked folder's, else the .gguf file's without its extension; made a valid name. */
export function suggestLocalModelName(files: readonly File[]): string {
  const first = files.find((file) => pickedPath(file).includes('/'));
  const gguf = files.find((file) => /\.gguf$/i.test(file.name));
  const raw = first ? pickedPath(first).split('/')[0] : gguf ? gguf.name.replace(/\.gguf$/i, '') : 'local-model';
  const cleaned = raw.replace(/[^\w.-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, MAX_NAME_LENGTH);
  return cleaned || 'local-model';
}

function isDomError(error: unknown, name: string): boolean {
  return (error as { name?: unknown } | null)?.name === name;
}

/** `name`'s folder under local-models/, or null when there is none. */
async function folderOf(models: StoreDirectory, name: string): Promise<StoreDirectory | null> {
  try {
    return await models.getDirectoryHandle(name);
  } catch (error) {
    if (isDomError(error, 'NotFoundError') || isDomError(error, 'TypeMismatchError')) return null;
    throw error;
  }
}

function checkName(name: string): void {
  if (!isLocalModelName(name)) {
    throw new LocalModelError('BAD_NAME', `"${name}" cannot name a local model: use letters, digits, ".", "_" and "-" (at most ${MAX_NAME_LENGTH}, not starting with a dot)`);
  }
}

/** The manifest in `folder`, checked (it is read back from storage, where anything may have changed it); null when absent or invalid. */
async function readManifest(folder: StoreDirectory, name: string): Promise<LocalModelManifest | null> {
  let text: string;
  try {
    text = await (await (await folder.getFileHandle(MANIFEST_FILE)).getFile()).text();
  } catch (error) {
    if (isDomError(error, 'NotFoundError')) return null;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  const m = json as Partial<LocalModelManifest> | null;
  const validFiles = Array.isArray(m?.files) && m.files.length > 0 && m.files.every((f) => (
    f !== null && typeof f === 'object' && isStoredFileName(f.name) && f.name !== MANIFEST_FILE
    && Number.isSafeInteger(f.bytes) && f.bytes >= 0));
  if (m?.version !== 1 || m.name !== name || (m.format !== 'hf' && m.format !== 'gguf') || !validFiles || typeof m.importedAt !== 'string') return null;
  return { version: 1, name, format: m.format, files: m.files!.map((f) => ({ name: f.name, bytes: f.bytes })), importedAt: m.importedAt };
}

/** Copies one file with progress; a failure or cancel aborts the writable, so the file is not committed. */
async function copyFile(
  folder: StoreDirectory, name: string, file: Blob, signal: AbortSignal | undefined, onBytes: (bytes: number) => void,
): Promise<void> {
  const writable = await (await folder.getFileHandle(name, { create: true })).createWritable();
  const reader = file.stream().getReader();
  try {
    for (;;) {
      signal?.throwIfAborted();
      const { done, value } = await reader.read();
      if (done) break;
      await writable.write(value);
      onBytes(value.byteLength);
    }
    signal?.throwIfAborted();
    await writable.close();
  } catch (error) {
    await reader.cancel().catch(() => undefined);
    await writable.abort(error).catch(() => undefined);
    throw error;
  }
}

/** What a failed copy was, as a LocalModelError: the user cancelled, the quota ran out, or the storage failed. */
function copyError(error: unknown, name: string, file: string | null, total: number): LocalModelError {
  if (error instanceof LocalModelError) return error;
  if (isDomError(error, 'AbortError')) return new LocalModelError('CANCELLED', `Cancelled: nothing of ${name} was kept.`, file, { cause: error });
  if (isDomError(error, 'QuotaExceededError')) return quotaError(name, total, file, error);
  return new LocalModelError('INCOMPLETE', `Copying ${file ?? name} into this browser's storage failed: ${(error as Error).message ?? String(error)}. Nothing of ${name} was kept.`, file, { cause: error });
}

function quotaError(name: string, total: number, file: string | null, cause?: unknown, free?: number): LocalModelError {
  return new LocalModelError('QUOTA_EXCEEDED', `${name} needs ${formatBytes(total)}, more than this browser lets the site store`
    + `${free === undefined ? '' : ` (${formatBytes(Math.max(0, free))} free)`}. Free space under Settings: delete local models or cached model `
    + 'files you no longer need (Cached model files) or stored repositories, then try again. Nothing was kept.', file, { cause });
}

/** The files to copy, by stored name, and the model format they make (planLocalModel.ts checks a pick and makes one). */
export interface LocalModelPlan {
  format: LocalModelFormat;
  files: Map<string, Blob>;
}

/**
 * Copies checked files (planLocalModel) into `root`/local-models/`name`/, all or nothing: the
 * manifest is written only after every file, and a failure, a full quota or a cancel (`signal`) removes the folder.
 * Errors: LocalModelError BAD_NAME, NAME_TAKEN, QUOTA_EXCEEDED, CANCELLED, INCOMPLETE (the storage failed).
 * @example
 * const manifest = await importLocalModel({ root: await localModelRoot(), plan: await planLocalModel([...input.files]), name: 'my-model' });
 */
export async function importLocalModel({ root, plan, name, signal, onProgress, estimate }: {
  root: StoreDirectory;
  plan: LocalModelPlan;
  name: string;
  signal?: AbortSignal;
  onProgress?: (progress: ImportProgress) => void;
  /** The storage estimate (navigator.storage.estimate): a copy that cannot fit is refused before it starts. */
  estimate?: () => Promise<{ usage?: number; quota?: number }>;
}): Promise<LocalModelManifest> {
  checkName(name);
  const badFile = [...plan.files.keys()].find((file) => !isStoredFileName(file) || file === MANIFEST_FILE);
  if (badFile !== undefined) throw new LocalModelError('BAD_NAME', `"${badFile}" cannot name a file of a local model`, badFile);
  const models = await root.getDirectoryHandle(MODELS_FOLDER, { create: true });
  const existing = await folderOf(models, name);
  if (existing) {
    if (await readManifest(existing, name)) {
      throw new LocalModelError('NAME_TAKEN', `A local model named ${name} is already stored: choose it from the list, or delete it under Cached model files first, or pick another name`);
    }
    await models.removeEntry(name, { recursive: true }); // an interrupted copy's leftovers
  }
  const total = [...plan.files.values()].reduce((sum, file) => sum + file.size, 0);
  const room = await estimate?.().catch(() => null);
  if (room?.quota !== undefined && room.usage !== undefined && total > room.quota - room.usage) throw quotaError(name, total, null, undefined, room.quota - room.usage);

  signal?.throwIfAborted();
  const folder = await models.getDirectoryHandle(name, { create: true });
  let done = 0;
  let current: string | null = null;
  try {
    for (const [fileName, file] of plan.files) {
      current = fileName;
      onProgress?.({ file: fileName, done, total });
      await copyFile(folder, fileName, file, signal, (bytes) => {
        done += bytes;
        onProgress?.({ file: fileName, done, total });
      });
    }
    current = MANIFEST_FILE;
    const manifest: LocalModelManifest = {
      version: 1, name, format: plan.format, files: [...plan.files].map(([fileName, file]) => ({ name: fileName, bytes: file.size })),
      importedAt: new Date().toISOString(),
    };
    await copyFile(folder, MANIFEST_FILE, new Blob([JSON.stringify(manifest)]), undefined, () => undefined);
    return manifest;
  } catch (error) {
    await models.removeEntry(name, { recursive: true }).catch(() => undefined);
    throw copyError(error, name, current, total);
  }
}

/** Bytes of the files directly in `folder`. */
async function folderBytes(folder: StoreDirectory): Promise<number> {
  let bytes = 0;
  for await (const entry of folder.keys()) {
    try {
      bytes += (await (await folder.getFileHandle(entry)).getFile()).size;
    } catch (error) {
      if (!isDomError(error, 'TypeMismatchError') && !isDomError(error, 'NotFoundError')) throw error;
    }
  }
  return bytes;
}

/** The local models in `root`, complete or not, by name. */
export async function listLocalModels(root: StoreDirectory): Promise<StoredLocalModel[]> {
  const models = await folderOf(root, MODELS_FOLDER);
  if (!models) return [];
  const found: StoredLocalModel[] = [];
  for await (const name of models.keys()) {
    const folder = await folderOf(models, name);
    if (!folder) continue; // a stray file, not a model
    const manifest = isLocalModelName(name) ? await readManifest(folder, name) : null;
    found.push({ name, bytes: await folderBytes(folder), format: manifest?.format ?? null, complete: manifest !== null });
  }
  return found.sort((a, b) => a.name.localeCompare(b.name));
}

/** Deletes a local model's folder (complete or not); one already gone is not an error. */
export async function deleteLocalModel(root: StoreDirectory, name: string): Promise<void> {
  const models = await folderOf(root, MODELS_FOLDER);
  if (!models) return;
  try {
    await models.removeEntry(name, { recursive: true });
  } catch (error) {
    if (!isDomError(error, 'NotFoundError')) throw error;
  }
}

/**
 * A stored local model's manifest and files, each checked against the manifest. Errors: LocalModelError BAD_NAME,
 * NOT_FOUND (no such folder), INCOMPLETE (no valid manifest, or a file missing or of another size).
 */
export async function openLocalModel(root: StoreDirectory, name: string): Promise<{ manifest: LocalModelManifest; files: File[] }> {
  checkName(name);
  const models = await folderOf(root, MODELS_FOLDER);
  const folder = models && (await folderOf(models, name));
  if (!folder) throw new LocalModelError('NOT_FOUND', `The local model ${name} is not stored in this browser (deleted, or the browser cleared the site's storage)`);
  const manifest = await readManifest(folder, name);
  if (!manifest) throw new LocalModelError('INCOMPLETE', `The local model ${name} was not copied completely (its ${MANIFEST_FILE} is missing or invalid): delete it and pick its files again`, MANIFEST_FILE);
  const files: File[] = [];
  for (const expected of manifest.files) {
    let file: File;
    try {
      file = await (await folder.getFileHandle(expected.name)).getFile();
    } catch (error) {
      if (!isDomError(error, 'NotFoundError')) throw error;
      throw new LocalModelError('INCOMPLETE', `The local model ${name} has lost ${expected.name}: delete it and pick its files again`, expected.name);
    }
    if (file.size !== expected.bytes) {
      throw new LocalModelError('INCOMPLETE', `The local model ${name}'s ${expected.name} is ${formatBytes(file.size)}, not the ${formatBytes(expected.bytes)} copied: delete it and pick its files again`, expected.name);
    }
    files.push(file);
  }
  return { manifest, files };
}

/** The Origin Private File System's root in this page or worker; UNAVAILABLE where the browser has none. */
export async function localModelRoot(): Promise<StoreDirectory> {
  const storage = typeof navigator === 'undefined' ? undefined : navigator.storage;
  if (!storage?.getDirectory) throw new LocalModelError('UNAVAILABLE', 'This browser has no private file storage for local models (the Origin Private File System needs https or localhost)');
  return storage.getDirectory();
}
