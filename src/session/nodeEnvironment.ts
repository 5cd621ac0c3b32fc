// Node's I/O for a RepoSession (the CLIs and the benchmark): node:fs, the parser from node_modules, embeddings in memory.
import * as fs from 'node:fs';
import { MemoryFileEmbeddingCache, vectorStores } from '../code2lora/fileEmbeddingCache.ts';
import { loadPythonParser, type PythonParser } from '../parse/pythonParser.ts';
import type { SessionEnvironment } from './repoSession.ts';

let parser: Promise<PythonParser> | null = null;

/** What a RepoSession needs in Node; each call has its own embedding stores, and all share one parser. */
export function nodeEnvironment(): SessionEnvironment {
  return {
    fs,
    parser: () => (parser ??= loadPythonParser()),
    stores: vectorStores(() => new MemoryFileEmbeddingCache()),
  };
}
