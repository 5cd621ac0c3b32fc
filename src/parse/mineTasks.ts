// Assertion-completion task mining (RepoPeftBench rules, DESIGN.md section 1): prompts, caps, deterministic sampling.
import type { Node } from 'web-tree-sitter';
import { type AssertionKind, type AssertionTarget, ASSERTION_KINDS, findAssertionTargets } from './assertionTargets.ts';
import {
  assignmentOf, type CodeUnit, codeUnitsOfTree, type FileUnits, isTestFunction, type SourceSpan, spanOf,
} from './codeUnits.ts';
import { isPythonTestPath } from '../git/pathFilters.ts';
import type { PythonParser } from './pythonParser.ts';
import { seededSample } from './seededRandom.ts';
import { groupBy } from '../util/groupBy.ts';

export type { AssertionKind } from './assertionTargets.ts';

export type PromptMode = 'static' | 'evo';

export interface AssertionTask {
  repo: string;
  commit: string;
  /** Repo-relative path with `/` separators. */
  file: string;
  /** 1-based line where the target starts. */
  line: number;
  kind: AssertionKind;
  prompt: string;
  target: string;
  /** Qualified name of the outermost enclosing function, e.g. `TestApi.test_get`. */
  functionName: string;
}

/** A task before it is tied to a repository and commit. */
export type FileTask = Omit<AssertionTask, 'repo' | 'commit'>;

export interface MiningLimits {
  perFunction: number;
  perFile: number;
  perRepo: number;
  /** Repos with fewer tasks (after the caps) are dropped. */
  minPerRepo: number;
  /** Static prompts keep at most this many lines (the last ones). */
  maxPromptLines: number;
  /** Evo: tasks per commit at most (absent: no cap). Applied before the other caps. */
  perCommit?: number;
  /** Evo: tasks per test file within one commit at most (absent: no cap). Applied before `perCommit`. */
  perFilePerCommit?: number;
}

/** The paper's limits. */
export const PAPER_LIMITS: Readonly<MiningLimits> = {
  perFunction: 5, perFile: 20, perRepo: 200, minPerRepo: 30, maxPromptLines: 600,
};

/**
 * The authors' Evo caps: at most 8 tasks per commit and 4 per test file per commit, and none of the static caps
 * (their Evo data has ~540 tasks per repository).
 */
export const EVO_LIMITS: Readonly<MiningLimits> = {
  ...PAPER_LIMITS, perFunction: Infinity, perFile: Infinity, perRepo: Infinity, perCommit: 8, perFilePerCommit: 4,
};

export interface SnapshotFile {
  path: string;
  content: string;
}

export interface MineRepoOptions {
  repo: string;
  commit: string;
  files: readonly SnapshotFile[];
  parser: PythonParser;
  mode?: PromptMode;
  seed?: number;
  /** Every target found: no caps, no sampling, no minimum. */
  all?: boolean;
  limits?: Partial<MiningLimits>;
}

export interface MineRepoResult {
  tasks: AssertionTask[];
  /** Targets found before caps and sampling. */
  found: number;
  foundByKind: Record<AssertionKind, number>;
  testFiles: number;
  /** Test files where tree-sitter recovered from syntax errors (their other statements were still mined). */
  filesWithSyntaxErrors: string[];
  /** Set when the repo falls below `minPerRepo`; `tasks` is then empty. */
  dropped: { reason: 'too_few_targets'; tasksAfterCaps: number; minimum: number; message: string } | null;
}

// Methods that prepare a test case; their bodies belong in the prompt of every test of the class.
const SETUP_METHODS = new Set([
  'setUp', 'setUpClass', 'tearDown', 'tearDownClass', 'setup_method', 'teardown_method', 'setup', 'teardown',
  'asyncSetUp', 'asyncTearDown', 'setup_class', 'teardown_class',
]);

export function emptyKindCounts(): Record<AssertionKind, number> {
  return Object.fromEntries(ASSERTION_KINDS.map((kind) => [kind, 0])) as Record<AssertionKind, number>;
}

/** Per-file facts the prompt builder needs, computed once while the tree is alive. */
interface FileContext {
  source: string;
  lines: string[];
  fileUnits: FileUnits;
  /** Module-level import and assignment statements. */
  moduleStatements: SourceSpan[];
  /** Class-body assignments, keyed by the class body's start index. */
  classAssignments: Map<number, SourceSpan[]>;
  /** Every identifier, in source order, for "which helpers does this test use". */
  identifiers: { index: number; name: string }[];
}

function fileContextOf(root: Node, source: string): FileContext {
  const fileUnits = codeUnitsOfTree(root, source);
  const moduleStatements: SourceSpan[] = [];
  for (const statement of root.namedChildren) {
    if (!statement) continue;
    if (statement.type === 'import_statement' || statement.type === 'import_from_statement'
      || statement.type === 'future_import_statement' || assignmentOf(statement)) {
      moduleStatements.push(spanOf(statement));
    }
  }
  const classAssignments = new Map<number, SourceSpan[]>();
  for (const definition of root.descendantsOfType('class_definition')) {
    const body = definition?.childForFieldName('body');
    if (!body) continue;
    classAssignments.set(body.startIndex, body.namedChildren
      .filter((statement): statement is Node => statement !== null && assignmentOf(statement) !== null)
      .map(spanOf));
  }
  const identifiers = root.descendantsOfType('identifier')
    .filter((node): node is Node => node !== null)
    .map((node) => ({ index: node.startIndex, name: source.slice(node.startIndex, node.endIndex) }));
  return { source, lines: source.split('\n'), fileUnits, moduleStatements, classAssignments, identifiers };
}

function contains(span: SourceSpan, index: number): boolean {
  return span.startIndex <= index && index < span.endIndex;
}

/** Names a unit's text refers to: identifiers, plus quoted names in its decorators (`usefixtures("db")`). */
function namesUsedBy(unit: CodeUnit, context: FileContext): Set<string> {
  const names = new Set<string>();
  const { identifiers } = context;
  let low = 0;
  let high = identifiers.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (identifiers[middle].index < unit.span.startIndex) low = middle + 1;
    else high = middle;
  }
  for (let i = low; i < identifiers.length && identifiers[i].index < unit.span.endIndex; i++) {
    names.add(identifiers[i].name);
  }
  for (const decorator of unit.decorators) {
    for (const match of decorator.matchAll(/["']([A-Za-z_]\w*)["']/g)) names.add(match[1]);
  }
  return names;
}

function addLines(lineSet: Set<number>, span: SourceSpan): void {
  for (let line = span.startLine; line <= span.endLine; line++) lineSet.add(line);
}

function sortedLines(lineSet: Set<number>): number[] {
  return [...lineSet].sort((a, b) => a - b);
}

/**
 * The static prompt: imports and module assignments above the test, the helpers and fixtures it uses (by name,
 * transitively), the enclosing class header with its assignments, setUp-style methods and used methods, then the
 * test function from its first decorator up to the target. Keeps the last `maxPromptLines` lines.
 */
function staticPrompt(context: FileContext, testFunction: CodeUnit, target: AssertionTarget, maxPromptLines: number): string {
  const { units } = context.fileUnits;
  const functionStart = testFunction.span.startIndex;

  const moduleLines = new Set<number>();
  for (const statement of context.moduleStatements) {
    if (statement.endIndex <= functionStart) addLines(moduleLines, statement);
  }

  const classes = units
    .filter((unit) => unit.kind === 'class' && contains(unit.span, functionStart))
    .sort((a, b) => a.span.startIndex - b.span.startIndex);
  const classNames = new Set(classes.map((unit) => unit.qualifiedName));
  const classLines = new Set<number>();
  for (const owner of classes) {
    addLines(classLines, owner.signatureSpan);
    for (const assignment of context.classAssignments.get(owner.bodySpan.startIndex) ?? []) addLines(classLines, assignment);
    for (const method of units) {
      if (method.parent === owner.qualifiedName && method.kind === 'function' && SETUP_METHODS.has(method.name)) {
        addLines(classLines, method.span);
      }
    }
  }

  // Helpers: module-level functions and methods of the enclosing classes that the test names, then what they name.
  const candidates = units.filter((unit) => unit.kind === 'function' && unit !== testFunction
    && (unit.parent === null || classNames.has(unit.parent))
    && !SETUP_METHODS.has(unit.name) && !isTestFunction(unit, units));
  const included = new Set<CodeUnit>();
  const pending = [testFunction];
  while (pending.length > 0) {
    const names = namesUsedBy(pending.pop()!, context);
    for (const candidate of candidates) {
      if (!included.has(candidate) && names.has(candidate.name)) {
        included.add(candidate);
        pending.push(candidate);
      }
    }
  }
  for (const helper of included) addLines(helper.parent === null ? moduleLines : classLines, helper.span);

  const functionStartLine = testFunction.span.startLine;
  const lineStart = context.source.lastIndexOf('\n', functionStart - 1) + 1;
  const body = context.source.slice(lineStart, target.startIndex);
  for (const line of [...moduleLines, ...classLines]) {
    if (line >= functionStartLine && line <= testFunction.span.endLine) {
      moduleLines.delete(line);
      classLines.delete(line);
    }
  }
  // Module context, then class context, then the test; a blank line marks each place where source lines were skipped.
  const contextLineNumbers = [...sortedLines(moduleLines), ...sortedLines(classLines)];
  const promptLines: string[] = [];
  let previous = -1;
  for (const line of [...contextLineNumbers, functionStartLine]) {
    if (previous !== -1 && line !== previous + 1) promptLines.push('');
    if (line !== functionStartLine) promptLines.push(context.lines[line - 1] ?? '');
    previous = line;
  }
  promptLines.push(...body.split('\n'));
  return promptLines.slice(-maxPromptLines).join('\n');
}

/** The outermost function around an index (a test method, not a closure inside it). */
function outermostFunction(units: readonly CodeUnit[], index: number): CodeUnit | null {
  let best: CodeUnit | null = null;
  for (const unit of units) {
    if (unit.kind === 'function' && contains(unit.span, index)
      && (!best || unit.span.startIndex < best.span.startIndex)) best = unit;
  }
  return best;
}

/**
 * Mines every assertion target of one file (no caps). Targets outside any function are skipped, as the authors do.
 *
 * @example
 *   const tasks = mineFileTasks({ path: 'tests/test_a.py', source, parser, mode: 'static' });
 */
export function mineFileTasks(
  { path, source, parser, mode = 'static', maxPromptLines = PAPER_LIMITS.maxPromptLines }:
  { path: string; source: string; parser: PythonParser; mode?: PromptMode; maxPromptLines?: number },
): { tasks: FileTask[]; hasSyntaxErrors: boolean } {
  const tree = parser.parse(source);
  try {
    const root = tree.rootNode;
    const targets = findAssertionTargets(root, source);
    if (targets.length === 0) return { tasks: [], hasSyntaxErrors: root.hasError };
    const context = fileContextOf(root, source);
    const tasks: FileTask[] = [];
    for (const target of targets) {
      const testFunction = outermostFunction(context.fileUnits.units, target.startIndex);
      if (!testFunction) continue;
      tasks.push({
        file: path,
        line: target.line,
        kind: target.kind,
        prompt: mode === 'evo'
          ? source.slice(0, target.startIndex)
          : staticPrompt(context, testFunction, target, maxPromptLines),
        target: target.target,
        functionName: testFunction.qualifiedName,
      });
    }
    return { tasks, hasSyntaxErrors: root.hasError };
  } finally {
    tree.delete();
  }
}

/**
 * Applies the paper's caps with seeded sampling: per function, then per file, then per repo. The same seed and
 * inputs always give the same tasks, in file and line order.
 */
export function capTasks<T extends FileTask>(tasks: readonly T[], seed: number, limits: MiningLimits): T[] {
  const perFunction = [...groupBy(tasks, (task) => `${task.file}\u0000${task.functionName}`)]
    .flatMap(([key, group]) => seededSample(group, limits.perFunction, seed, `function\u0000${key}`));
  const perFile = [...groupBy(perFunction, (task) => task.file)]
    .flatMap(([file, group]) => seededSample(group, limits.perFile, seed, `file\u0000${file}`));
  return seededSample(perFile, limits.perRepo, seed, 'repo');
}

/**
 * The Evo caps (`perFilePerCommit`, then `perCommit`) with seeded sampling; absent limits cap nothing. The same seed
 * and inputs always give the same tasks, in the input order.
 */
export function capTasksPerCommit<T extends FileTask & { commit: string }>(
  tasks: readonly T[], seed: number, { perCommit = Infinity, perFilePerCommit = Infinity }: Pick<MiningLimits, 'perCommit' | 'perFilePerCommit'>,
): T[] {
  const perFile = [...groupBy(tasks, (task) => `${task.commit}\u0000${task.file}`)]
    .flatMap(([key, group]) => seededSample(group, perFilePerCommit, seed, `commit-file\u0000${key}`));
  return [...groupBy(perFile, (task) => task.commit)]
    .flatMap(([commit, group]) => seededSample(group, perCommit, seed, `commit\u0000${commit}`));
}

/**
 * Mines a repository snapshot: every test file (see `isPythonTestPath`), caps and sampling unless `all`, and the
 * minimum-size rule (a dropped repo comes back with `dropped` set, never silently empty).
 *
 * @example
 *   const { tasks, dropped } = mineRepoTasks({ repo: 'psf/requests', commit: head, files, parser, seed: 0 });
 */
export function mineRepoTasks(options: MineRepoOptions): MineRepoResult {
  const { repo, commit, files, parser, mode = 'static', seed = 0, all = false } = options;
  const limits = { ...PAPER_LIMITS, ...options.limits };
  const found: AssertionTask[] = [];
  const filesWithSyntaxErrors: string[] = [];
  const testFiles = files.filter((file) => isPythonTestPath(file.path))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const file of testFiles) {
    const mined = mineFileTasks({ path: file.path, source: file.content, parser, mode, maxPromptLines: limits.maxPromptLines });
    if (mined.hasSyntaxErrors) filesWithSyntaxErrors.push(file.path);
    for (const task of mined.tasks) found.push({ repo, commit, ...task });
  }
  return finishMining(found, { testFiles: testFiles.length, filesWithSyntaxErrors }, {
    seed, all, limits, where: `${repo}@${commit.slice(0, 12)}`,
  });
}

/** Counts, then caps and the minimum rule unless `all`. */
function finishMining(
  found: AssertionTask[],
  fileCounts: { testFiles: number; filesWithSyntaxErrors: string[] },
  { seed, all, limits, where }: { seed: number; all: boolean; limits: MiningLimits; where: string },
): MineRepoResult {
  const foundByKind = emptyKindCounts();
  for (const task of found) foundByKind[task.kind]++;
  const base = { found: found.length, foundByKind, ...fileCounts };
  if (all) return { tasks: found, ...base, dropped: null };
  const tasks = capTasks(capTasksPerCommit(found, seed, limits), seed, limits);
  if (tasks.length >= limits.minPerRepo) return { tasks, ...base, dropped: null };
  return {
    tasks: [],
    ...base,
    dropped: {
      reason: 'too_few_targets',
      tasksAfterCaps: tasks.length,
      minimum: limits.minPerRepo,
      message: `${where}: ${tasks.length} tasks after caps, fewer than ${limits.minPerRepo}`,
    },
  };
}

export interface HistoryCommit {
  sha: string;
}

export interface MineHistoryOptions {
  repo: string;
  /** Oldest first. */
  commits: readonly HistoryCommit[];
  /** The files of a commit (only test files are used, so a loader may pre-filter with `isPythonTestPath`). */
  readFiles: (commit: string) => Promise<readonly SnapshotFile[]>;
  parser: PythonParser;
  seed?: number;
  all?: boolean;
  limits?: Partial<MiningLimits>;
  /**
   * The first commit's assertions are where the history starts (the whole test suite appears there), not changes:
   * when set they are remembered but give no task.
   */
  skipFirstCommit?: boolean;
  onCommit?: (done: number, total: number) => void;
}

/**
 * Evo mining over a history: each assertion becomes one task at the first commit where it appears (identified by
 * file, function, kind, target and occurrence), with that commit's full test-file prefix as its prompt, which is
 * what `git blame` on the assertion line gives the authors. Unchanged files are not re-parsed.
 */
export async function mineHistoryTasks(options: MineHistoryOptions): Promise<MineRepoResult> {
  const { repo, commits, readFiles, parser, seed = 0, all = false, skipFirstCommit = false, onCommit } = options;
  const limits = { ...PAPER_LIMITS, ...options.limits };
  const minedByPath = new Map<string, { content: string; tasks: FileTask[]; hasSyntaxErrors: boolean }>();
  const firstSeen = new Map<string, AssertionTask>();
  const testPaths = new Set<string>();
  const syntaxErrorPaths = new Set<string>();
  for (const [done, { sha }] of commits.entries()) {
    const files = (await readFiles(sha)).filter((file) => isPythonTestPath(file.path));
    for (const file of files) {
      testPaths.add(file.path);
      let mined = minedByPath.get(file.path);
      if (!mined || mined.content !== file.content) {
        const result = mineFileTasks({ path: file.path, source: file.content, parser, mode: 'evo' });
        mined = { content: file.content, ...result };
        minedByPath.set(file.path, mined);
      }
      if (mined.hasSyntaxErrors) syntaxErrorPaths.add(file.path);
      const occurrences = new Map<string, number>();
      for (const task of mined.tasks) {
        const identity = `${task.file}\u0000${task.functionName}\u0000${task.kind}\u0000${task.target}`;
        const occurrence = occurrences.get(identity) ?? 0;
        occurrences.set(identity, occurrence + 1);
        const key = `${identity}\u0000${occurrence}`;
        if (!firstSeen.has(key)) firstSeen.set(key, { repo, commit: sha, ...task });
      }
    }
    onCommit?.(done + 1, commits.length);
  }
  const firstCommit = commits[0]?.sha;
  const found = [...firstSeen.values()].filter((task) => !(skipFirstCommit && task.commit === firstCommit));
  return finishMining(found, {
    testFiles: testPaths.size, filesWithSyntaxErrors: [...syntaxErrorPaths].sort(),
  }, { seed, all, limits, where: `${repo} (${commits.length} commits)` });
}
