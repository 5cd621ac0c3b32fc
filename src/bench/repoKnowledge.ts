// Tasks that need repository knowledge: the target uses a name that the repository defines and the test file before
// the assertion never mentions (e.g. `nx.NetworkXNoPath)` after a prompt that only ever says `nx.`). No prompt can
// supply such a name; only knowledge of the repository can (an adapter made from it, retrieved code). EM on these
// tasks, and the share of those names that a completion writes (name recall), measure repository specificity more
// directly than EM over all tasks, where learning the task's format dominates.
import { extractCodeUnits } from '../parse/codeUnits.ts';
import type { SnapshotFile } from '../parse/mineTasks.ts';
import type { PythonParser } from '../parse/pythonParser.ts';
import { postprocessPrediction } from './metrics.ts';

// Python 3.11's builtins (dir(builtins) without the interactive helpers): a repository that defines `list` or
// `TimeoutError` again does not make `list(...)` in a test repository knowledge.
const PYTHON_BUILTINS = new Set(`ArithmeticError AssertionError AttributeError BaseException BaseExceptionGroup
  BlockingIOError BrokenPipeError BufferError BytesWarning ChildProcessError ConnectionAbortedError ConnectionError
  ConnectionRefusedError ConnectionResetError DeprecationWarning EOFError Ellipsis EncodingWarning EnvironmentError
  Exception ExceptionGroup False FileExistsError FileNotFoundError FloatingPointError FutureWarning GeneratorExit IOError
  ImportError ImportWarning IndentationError IndexError InterruptedError IsADirectoryError KeyError KeyboardInterrupt
  LookupError MemoryError ModuleNotFoundError NameError None NotADirectoryError NotImplemented NotImplementedError
  OSError OverflowError PendingDeprecationWarning PermissionError ProcessLookupError RecursionError ReferenceError
  ResourceWarning RuntimeError RuntimeWarning StopAsyncIteration StopIteration SyntaxError SyntaxWarning SystemError
  SystemExit TabError TimeoutError True TypeError UnboundLocalError UnicodeDecodeError UnicodeEncodeError UnicodeError
  UnicodeTranslateError UnicodeWarning UserWarning ValueError Warning ZeroDivisionError abs aiter all anext any ascii
  bin bool breakpoint bytearray bytes callable chr classmethod compile complex delattr dict dir divmod enumerate eval
  exec filter float format frozenset getattr globals hasattr hash hex id input int isinstance issubclass iter len list
  locals map max memoryview min next object oct open ord pow print property range repr reversed round set setattr slice
  sorted staticmethod str sum super tuple type vars zip`.split(/\s+/));

const WORD = /[\p{L}_][\p{L}\p{N}_]*/gu;
// String literals (prefixes, triple quotes, one left open where a target is cut), numbers (so `1e5` is no name `e5`),
// keyword arguments (`match=` names a parameter of the callee, whoever defines one), then names: only the last group
// is kept.
const CODE_TOKEN = /[rRbBuUfF]{0,2}(?:"""[\s\S]*?(?:"""|$)|'''[\s\S]*?(?:'''|$)|"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?)|\p{N}[\p{L}\p{N}_.]*|[\p{L}_][\p{L}\p{N}_]*\s*=(?!=)|([\p{L}_][\p{L}\p{N}_]*)/gu;

/** Names used as code (not inside string literals, not parts of numbers, not keyword arguments), in order of first use. */
export function codeNamesOf(code: string): string[] {
  const names = new Set<string>();
  for (const match of code.matchAll(CODE_TOKEN)) if (match[1]) names.add(match[1]);
  return [...names];
}

/**
 * Names the repository defines in `files` (its non-test Python files): functions, classes and module-level
 * assignments, without one-character names, dunders and Python's builtins.
 */
export function definedNames(files: readonly SnapshotFile[], parser: PythonParser): Set<string> {
  const names = new Set<string>();
  const add = (name: string) => {
    if (name.length > 1 && !(name.startsWith('__') && name.endsWith('__')) && !PYTHON_BUILTINS.has(name)) names.add(name);
  };
  for (const file of files) {
    const { units, assignments } = extractCodeUnits(file.content, parser);
    for (const unit of units) if (unit.kind !== 'module') add(unit.name);
    for (const assignment of assignments) assignment.names.forEach(add);
  }
  return names;
}

/** The names `target` uses as code that `defined` holds and `prompt` never mentions (in code, strings or comments). */
export function unseenRepoNames(prompt: string, target: string, defined: ReadonlySet<string>): string[] {
  const mentioned = new Set(prompt.match(WORD));
  return codeNamesOf(target).filter((name) => defined.has(name) && !mentioned.has(name));
}

/** The share of `names` that the scored prediction (the paper's post-processing of the raw text) uses as code. */
export function nameRecall(rawPrediction: string, target: string, names: readonly string[]): number {
  if (names.length === 0) throw new RangeError('nameRecall needs at least one name');
  const written = new Set(codeNamesOf(postprocessPrediction(rawPrediction, target)));
  return names.filter((name) => written.has(name)).length / names.length;
}
