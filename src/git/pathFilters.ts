// Which repository paths are worth reading: Python sources and docs, minus vendored, generated and test files.

const VENDORED_SEGMENT = /(^|\/)(_?vendor(ed)?|_vendored|third_party|thirdparty|externals?|node_modules|site-packages|\.venv|venv|build|dist|\.tox|__pycache__)\//i;
const GENERATED_NAME = /(_pb2(_grpc)?\.py|\.min\.js|_generated\.py|\.pyi)$/i;
// pytest/unittest conventions, case-insensitive: anything under a test/tests/testing directory; Python files named
// test_*.py, *_test.py, tests.py or conftest.py anywhere.
const TEST_DIRECTORY = /(^|\/)(tests?|testing)\//i;
const TEST_FILE_NAME = /(^|\/)(test_[^/]*|[^/]*_test|tests|conftest)\.py$/i;

export function isVendoredPath(path: string): boolean {
  return VENDORED_SEGMENT.test(path);
}

export function isGeneratedPath(path: string): boolean {
  return GENERATED_NAME.test(path);
}

/** The one test-path rule (repo-relative, `/`-separated): the Evo diff excludes these, the miner reads them. */
export function isTestPath(path: string): boolean {
  return TEST_DIRECTORY.test(path) || TEST_FILE_NAME.test(path);
}

export function isPythonPath(path: string): boolean {
  return path.endsWith('.py');
}

/** A Python file that pytest or unittest would treat as test code: where assertion tasks are mined. */
export function isPythonTestPath(path: string): boolean {
  return isPythonPath(path) && isTestPath(path);
}

/** The paper's diff filter: non-test .py/.md/.rst files. */
export function isEvoDiffPath(path: string): boolean {
  return /\.(py|md|rst)$/i.test(path) && !isTestPath(path) && !isVendoredPath(path);
}

/** A blob is treated as binary when it has a NUL byte in its first 8 KiB, as git does. */
export function looksBinary(bytes: Uint8Array): boolean {
  const end = Math.min(bytes.length, 8192);
  for (let i = 0; i < end; i++) if (bytes[i] === 0) return true;
  return false;
}
