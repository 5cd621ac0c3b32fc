// Loads web-tree-sitter with the Python grammar, in Node (wasm files from node_modules) and in the browser (URLs).
import { Language, Parser, type Tree } from 'web-tree-sitter';

/** Where the two wasm binaries live: URLs in the browser (e.g. Vite `?url` imports), paths or URLs in Node. */
export interface PythonWasmLocation {
  /** web-tree-sitter's runtime, `web-tree-sitter/web-tree-sitter.wasm`. */
  treeSitter: string | URL;
  /** The grammar, `tree-sitter-python/tree-sitter-python.wasm` (a URL, a path in Node, or its bytes). */
  python: string | URL | Uint8Array;
}

/** A ready parser. `parse` never throws on bad Python: tree-sitter recovers and marks ERROR/MISSING nodes. */
export interface PythonParser {
  readonly language: Language;
  /** Parses `source`; the caller owns the tree and must `delete()` it (it lives in wasm memory). */
  parse(source: string): Tree;
}

export class ParserLoadError extends Error {
  readonly code = 'PARSER_LOAD_FAILED';
  constructor(message: string, readonly cause?: unknown) {
    super(message);
    this.name = 'ParserLoadError';
  }
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined'
  && typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope === 'undefined';

// Held in a variable so that browser bundlers leave this Node-only import alone.
const NODE_MODULE_SPECIFIER = 'node:module';

async function nodeWasmLocation(): Promise<PythonWasmLocation> {
  const { createRequire } = await import(/* @vite-ignore */ NODE_MODULE_SPECIFIER) as typeof import('node:module');
  const require = createRequire(import.meta.url);
  return {
    treeSitter: require.resolve('web-tree-sitter/web-tree-sitter.wasm'),
    python: require.resolve('tree-sitter-python/tree-sitter-python.wasm'),
  };
}

// Parser.init instantiates one wasm module per page/process; later calls must reuse it.
let runtimeReady: Promise<void> | null = null;

function initRuntime(treeSitterWasm: string | URL): Promise<void> {
  runtimeReady ??= Parser.init({ locateFile: () => String(treeSitterWasm) }).catch((error: unknown) => {
    runtimeReady = null;
    throw new ParserLoadError(`could not load web-tree-sitter from ${String(treeSitterWasm)}`, error);
  });
  return runtimeReady;
}

/**
 * Loads the Python parser. In Node both wasm files are resolved from node_modules; in a browser or Worker pass
 * `locateWasm` with their URLs.
 *
 * @example
 *   const parser = await loadPythonParser();
 *   const tree = parser.parse('def f():\n    return 1\n');
 *   try { console.log(tree.rootNode.type); } finally { tree.delete(); }
 */
export async function loadPythonParser(
  { locateWasm }: { locateWasm?: PythonWasmLocation } = {},
): Promise<PythonParser> {
  if (!locateWasm && !isNode) {
    throw new ParserLoadError('loadPythonParser needs locateWasm (the two wasm URLs) outside Node');
  }
  const location = locateWasm ?? await nodeWasmLocation();
  await initRuntime(location.treeSitter);
  let language: Language;
  try {
    const grammar = location.python instanceof URL
      ? (location.python.protocol === 'file:' ? decodeURIComponent(location.python.pathname) : location.python.href)
      : location.python;
    language = await Language.load(grammar);
  } catch (error) {
    throw new ParserLoadError(`could not load the Python grammar from ${String(location.python)}`, error);
  }
  const parser = new Parser();
  parser.setLanguage(language);
  return {
    language,
    parse(source: string): Tree {
      const tree = parser.parse(source);
      // null only happens without a language or with a cancelling progress callback; neither applies here.
      if (!tree) throw new ParserLoadError('tree-sitter returned no tree');
      return tree;
    },
  };
}
