// Code units, imports, test detection and encoder chunking over tricky Python, through the real tree-sitter grammar.
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  chunkForEncoder, ChunkOptionsError, extractCodeUnits, isTestFunction, summarizeFile,
} from '../src/parse/codeUnits.ts';
import { isPythonTestPath, isTestPath } from '../src/git/pathFilters.ts';
import { loadPythonParser, type PythonParser } from '../src/parse/pythonParser.ts';

let parser: PythonParser;
beforeAll(async () => {
  parser = await loadPythonParser();
});

const SAMPLE = `"""Module doc with a # hash."""
from __future__ import annotations
import os.path as osp, sys
from ..pkg.sub import (alpha as a,  # comment inside
    beta)
from . import sibling
from m import *

ANSWER: int = 42
x, (y, *rest) = 1, (2, 3, 4)
CONFIG["k"] = "v"
counter += 1

@decorator
@pytest.mark.parametrize("a,b", [(1, "x, y"), (2, "[")])
async def fetch(a: int,
                b: str = "#not a comment") -> dict[str, int]:
    '''Fetch things.'''
    async def inner():
        return "nested"
    return {}

class Ünïcode(Base, metaclass=Meta):
    """Класс."""
    attr = 1

    def méthode(self): pass

    class Inner:
        def deep(self):
            def closure():
                pass

if TYPE_CHECKING:
    def typed_only(): ...

def test_top():
    assert fetch
`;

describe('extractCodeUnits', () => {
  it('finds every unit with its qualified name, signature, docstring, decorators and async flag', () => {
    const { units, hasSyntaxErrors } = extractCodeUnits(SAMPLE, parser);
    expect(hasSyntaxErrors).toBe(false);
    expect(units.map((unit) => `${unit.kind}:${unit.qualifiedName}`)).toEqual([
      'module:', 'function:fetch', 'function:fetch.inner', 'class:Ünïcode', 'function:Ünïcode.méthode',
      'class:Ünïcode.Inner', 'function:Ünïcode.Inner.deep', 'function:Ünïcode.Inner.deep.closure',
      'function:typed_only', 'function:test_top',
    ]);
    const [module, fetch, inner, klass, method] = units;
    expect(module.docstring).toBe('Module doc with a # hash.');
    expect(fetch.signature).toBe('async def fetch(a: int,\n                b: str = "#not a comment") -> dict[str, int]:');
    expect(fetch.isAsync).toBe(true);
    expect(fetch.decorators).toEqual(['decorator', 'pytest.mark.parametrize("a,b", [(1, "x, y"), (2, "[")])']);
    expect(fetch.docstring).toBe('Fetch things.');
    expect(fetch.span.startLine).toBe(14);
    expect(fetch.signatureSpan).toMatchObject({ startLine: 16, endLine: 17 });
    expect(fetch.bodySpan.startLine).toBe(18);
    expect(fetch.span.endLine).toBe(21);
    expect(SAMPLE.slice(fetch.span.startIndex, fetch.span.startIndex + 10)).toBe('@decorator');
    expect(inner).toMatchObject({ parent: 'fetch', isMethod: false, isAsync: true });
    expect(klass).toMatchObject({ signature: 'class Ünïcode(Base, metaclass=Meta):', docstring: 'Класс.', parent: null });
    expect(method).toMatchObject({ name: 'méthode', parent: 'Ünïcode', isMethod: true, isAsync: false });
    expect(SAMPLE.slice(method.span.startIndex, method.span.endIndex)).toBe('def méthode(self): pass');
  });

  it('reads imports with modules, names and aliases, and module-level assignments', () => {
    const { imports, assignments } = extractCodeUnits(SAMPLE, parser);
    expect(imports.map(({ kind, module, alias, names }) => ({ kind, module, alias, names }))).toEqual([
      { kind: 'from', module: '__future__', alias: null, names: [{ name: 'annotations', alias: null }] },
      { kind: 'import', module: 'os.path', alias: 'osp', names: [] },
      { kind: 'import', module: 'sys', alias: null, names: [] },
      { kind: 'from', module: '..pkg.sub', alias: null, names: [{ name: 'alpha', alias: 'a' }, { name: 'beta', alias: null }] },
      { kind: 'from', module: '.', alias: null, names: [{ name: 'sibling', alias: null }] },
      { kind: 'from', module: 'm', alias: null, names: [{ name: '*', alias: null }] },
    ]);
    expect(imports[3].span).toMatchObject({ startLine: 4, endLine: 5 });
    expect(assignments.map((assignment) => assignment.names)).toEqual([['ANSWER'], ['x', 'y', 'rest'], [], ['counter']]);
    expect(assignments[0].text).toBe('ANSWER: int = 42');
  });

  it('still yields the units that parse when another part of the file has a syntax error', () => {
    const broken = 'def good_one():\n    return 1\n\ndef broken(:\n    pass\n\nclass After:\n    def ok(self):\n        return 2\n';
    const { units, hasSyntaxErrors } = extractCodeUnits(broken, parser);
    expect(hasSyntaxErrors).toBe(true);
    expect(units.map((unit) => unit.qualifiedName)).toEqual(['', 'good_one', 'broken', 'After', 'After.ok']);
  });
});

describe('test detection', () => {
  it('recognises pytest and unittest file conventions, case-insensitively', () => {
    for (const path of ['tests/util.py', 'pkg/tests/sub/helpers.py', 'test/x.py', 'pkg/testing/a.py', 'test_api.py',
      'pkg/api_test.py', 'conftest.py', 'pkg/conftest.py', 'pkg/tests.py', 'Tests/Util.py', 'pkg/TEST_api.py', 'pkg/Api_Test.py']) {
      expect(isPythonTestPath(path), path).toBe(true);
    }
    for (const path of ['pkg/api.py', 'pkg/contest.py', 'pkg/testutils.py', 'latest/x.py', 'tests/data.json', 'test_x.pyc',
      'pkg/attest.py', 'contests/x.py']) {
      expect(isPythonTestPath(path), path).toBe(false);
    }
  });

  it('counts every file under a test directory as a test path (the Evo diff leaves out tests/README.md too)', () => {
    expect(isTestPath('tests/data.json')).toBe(true);
    expect(isTestPath('pkg/Testing/notes.md')).toBe(true);
    expect(isTestPath('docs/testing.md')).toBe(false);
  });

  it('marks top-level and class-level test functions, not helpers, fixtures or closures', () => {
    const source = 'import pytest\n\n@pytest.fixture\ndef client():\n    return 1\n\ndef test_a(client):\n'
      + '    def test_inner():\n        pass\n\nclass TestB:\n    def test_c(self):\n        pass\n    def helper(self):\n'
      + '        pass\n\ndef helper():\n    pass\n';
    const { units } = extractCodeUnits(source, parser);
    expect(units.filter((unit) => isTestFunction(unit, units)).map((unit) => unit.qualifiedName))
      .toEqual(['test_a', 'TestB.test_c']);
  });

  it('summarises counts for the app', () => {
    const source = 'import unittest\n\nclass T(unittest.TestCase):\n    def test_a(self):\n        self.assertEqual(1, 1)\n'
      + '        self.assertTrue(x)\n\ndef helper():\n    return 1\n\ndef test_b():\n    assert helper() == 1\n    assert helper()\n';
    const { units, ...counts } = summarizeFile(source, parser);
    expect(counts).toEqual({ lines: 13, functions: 3, classes: 1, testFunctions: 2, assertions: 4, hasSyntaxErrors: false });
    // The units it counted are the ones the encoder chunks along: one parse serves both.
    expect(units).toEqual(extractCodeUnits(source, parser).units);
  });
});

describe('chunkForEncoder', () => {
  const functionSource = (name: string, lines: number) =>
    `def ${name}():\n${Array.from({ length: lines }, (_, i) => `    v${i} = ${i}\n`).join('')}\n`;

  it('never splits a unit that fits and covers the file in order', () => {
    const source = `import os\n\n${functionSource('a', 5)}${functionSource('b', 5)}${functionSource('c', 5)}`;
    const { units } = extractCodeUnits(source, parser);
    const chunks = chunkForEncoder(source, units, { maxChars: 140 });
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.map((chunk) => chunk.text).join('')).toBe(source);
    for (const unit of units.filter((candidate) => candidate.kind === 'function')) {
      const holder = chunks.filter((chunk) => chunk.startIndex <= unit.span.startIndex && unit.span.endIndex <= chunk.endIndex);
      expect(holder.length, unit.name).toBe(1);
    }
    for (const chunk of chunks) expect(chunk.text.length).toBeLessThanOrEqual(140);
  });

  it('splits a class over the limit between its methods, and a huge function by lines', () => {
    const method = (name: string) => `    def ${name}(self):\n        return "${name.repeat(8)}"\n\n`;
    const source = `class Big:\n${method('one')}${method('two')}${method('three')}\n${functionSource('huge', 40)}`;
    const { units } = extractCodeUnits(source, parser);
    const chunks = chunkForEncoder(source, units, { maxChars: 120 });
    expect(chunks.map((chunk) => chunk.text).join('')).toBe(source);
    for (const name of ['Big.one', 'Big.two', 'Big.three']) {
      const unit = units.find((candidate) => candidate.qualifiedName === name)!;
      expect(chunks.some((chunk) => chunk.startIndex <= unit.span.startIndex && unit.span.endIndex <= chunk.endIndex), name)
        .toBe(true);
    }
    for (const chunk of chunks) {
      expect(chunk.text.length).toBeLessThanOrEqual(120);
      expect(chunk.text.endsWith('\n')).toBe(true);
    }
  });

  it('repeats whole trailing pieces as overlap and counts with a token function', () => {
    const source = Array.from({ length: 30 }, (_, i) => `line_${i} = ${i}\n`).join('');
    const countTokens = (text: string) => text.split(/\s+/).filter(Boolean).length;
    const chunks = chunkForEncoder(source, extractCodeUnits(source, parser).units, { maxTokens: 30, countTokens, overlap: 6 });
    expect(chunks[0].text).toBe(source.split('\n').slice(0, 10).join('\n') + '\n');
    expect(chunks[1].startLine).toBe(9);
    expect(chunks[chunks.length - 1].endLine).toBe(30);
    expect(() => chunkForEncoder(source, [], { maxTokens: 10 })).toThrow(ChunkOptionsError);
    expect(() => chunkForEncoder(source, [], { maxChars: 10, overlap: 10 })).toThrow(ChunkOptionsError);
  });

  it('cuts a single line longer than the limit', () => {
    const source = `x = "${'a'.repeat(250)}"\n`;
    const chunks = chunkForEncoder(source, extractCodeUnits(source, parser).units, { maxChars: 100 });
    expect(chunks.map((chunk) => chunk.text.length)).toEqual([100, 100, 57]);
  });
});

describe('loadPythonParser', () => {
  it('accepts explicit wasm locations (the browser path) as well as resolving them itself', async () => {
    const require = createRequire(import.meta.url);
    const explicit = await loadPythonParser({
      locateWasm: {
        treeSitter: require.resolve('web-tree-sitter/web-tree-sitter.wasm'),
        python: require.resolve('tree-sitter-python/tree-sitter-python.wasm'),
      },
    });
    const tree = explicit.parse('def f():\n    return 1\n');
    try {
      expect(tree.rootNode.toString()).toBe(
        '(module (function_definition name: (identifier) parameters: (parameters) body: (block (return_statement (integer)))))');
    } finally {
      tree.delete();
    }
  });
});
