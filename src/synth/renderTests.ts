// Writes a module's tests (pytest or unittest style) from its units' test cases, with every target marked.
import { markTarget, stripMarkers } from './markers.ts';
import { pyFloat, pyFloatRounded, pyLiteral, pyLiteralLines, pyString, type PyValue } from './python.ts';
import { hashString } from './random.ts';
import { toPascal, type ApiUnit, type ModuleSpec, type ProjectState } from './project.ts';
import { TEMPLATES, type Check, type TestCase } from './templates.ts';

const MAX_LINE = 88;

/** A stable number in [0, 1) for a label: picks assertion variants without consuming the history's random stream. */
const variant = (label: string): number => hashString(label) / 4294967296;

interface FileContext {
  state: ProjectState;
  module: ModuleSpec;
  /** Name of the pytest assert_* helper, when the file defines one. */
  helperName?: string;
}

function expectedLines(expected: PyValue | { source: string }, indent: string, multiline: boolean): string[] {
  if ('source' in expected) return [expected.source];
  return multiline ? pyLiteralLines(expected, indent) : [pyLiteral(expected)];
}

/** Long collections are written one element per line, the way formatters lay them out. */
function wantsMultiline(expected: PyValue | { source: string }, firstLine: string): boolean {
  if ('source' in expected) return false;
  if (expected.kind === 'dict') return expected.entries.length >= 3 || firstLine.length + pyLiteral(expected).length > MAX_LINE;
  if (expected.kind === 'list') return expected.items.length >= 5 || firstLine.length + pyLiteral(expected).length > MAX_LINE;
  return false;
}

function assertMessage(ctx: FileContext, label: string): string {
  const { style } = ctx.state;
  if (variant(`message:${label}`) >= style.assertMessageRate) return '';
  return `, ${pyString(`${style.projectWord}: unexpected result, see [${style.tag}] notes`)}`;
}

function pytestCheck(check: Check, indent: string, ctx: FileContext, label: string): string {
  const { errorName } = ctx.state.style;
  switch (check.kind) {
    case 'equals': {
      const head = `${indent}assert ${check.expr} == `;
      const multiline = wantsMultiline(check.expected, head);
      const expected = expectedLines(check.expected, indent, multiline).join('\n');
      if (ctx.helperName && variant(`helper:${label}`) < 0.4) {
        return `${indent}${ctx.helperName}(${check.expr}, ${markTarget('assert_helper', `${expected})`)}`;
      }
      return head + markTarget('assert_compare', expected) + assertMessage(ctx, label);
    }
    case 'truthy':
      return `${indent}assert ${markTarget('assert_expr', check.expected ? check.expr : `not ${check.expr}`)}${assertMessage(ctx, label)}`;
    case 'none':
      return `${indent}assert ${check.expr} is ${check.isNone ? '' : 'not '}${markTarget('assert_compare', 'None')}`;
    case 'raises':
      return [
        `${indent}with pytest.raises(${markTarget('pytest_raises', `${errorName}, match=${pyString(check.pattern)})`)}:`,
        `${indent}    ${check.statement}`,
      ].join('\n');
    case 'approx': {
      const approx = `pytest.approx(${markTarget('pytest_approx', `${pyFloatRounded(check.expected, 6)}, rel=1e-4)`)}`;
      return `${indent}assert ${check.expr} == ${markTarget('assert_compare', approx)}`;
    }
    case 'contains':
      return `${indent}assert ${check.member} in ${markTarget('assert_compare', check.container)}`;
  }
}

function unittestCheck(check: Check, indent: string, ctx: FileContext, label: string): string {
  const { errorName } = ctx.state.style;
  const method = (name: string, args: string[], target: string): string => {
    const line = `${indent}self.${name}(${[...args, ''].join(', ')}${markTarget('unittest_method', target)}`;
    return stripMarkers(line).length <= MAX_LINE
      ? line
      : `${indent}self.${name}(\n${args.map((arg) => `${indent}    ${arg},\n`).join('')}${indent}    ${markTarget('unittest_method', target)}`;
  };
  switch (check.kind) {
    case 'equals': {
      const expected = check.expected;
      const kind = 'source' in expected ? 'source' : expected.kind;
      const specific = kind === 'dict' ? 'assertDictEqual' : kind === 'list' ? 'assertListEqual' : kind === 'tuple' ? 'assertTupleEqual' : null;
      const name = specific && variant(`specific:${label}`) < 0.5 ? specific : 'assertEqual';
      const head = `${indent}self.${name}(${check.expr}, `;
      if (wantsMultiline(expected, head)) {
        return head + markTarget('unittest_method', `${expectedLines(expected, indent, true).join('\n')})`);
      }
      return method(name, [check.expr], `${expectedLines(expected, indent, false)[0]})`);
    }
    case 'truthy':
      return method(check.expected ? 'assertTrue' : 'assertFalse', [], `${check.expr})`);
    case 'none':
      return method(check.isNone ? 'assertIsNone' : 'assertIsNotNone', [], `${check.expr})`);
    case 'raises': {
      const target = variant(`regex:${label}`) < 0.6 ? `${errorName}, ${pyString(check.pattern)})` : `${errorName})`;
      const name = target.endsWith(`${errorName})`) ? 'assertRaises' : 'assertRaisesRegex';
      return `${indent}with self.${name}(${markTarget('unittest_method', target)}:\n${indent}    ${check.statement}`;
    }
    case 'approx':
      return method('assertAlmostEqual', [check.expr], `${pyFloat(check.expected)})`);
    case 'contains':
      return method('assertIn', [check.member], `${check.container})`);
  }
}

function importBlock(ctx: FileContext, cases: TestCase[], stdlib: string[], thirdParty: string[]): string[] {
  const { state, module } = ctx;
  const lines: string[] = stdlib.map((name) => `import ${name}`);
  if (thirdParty.length) lines.push(...(lines.length ? [''] : []), ...thirdParty.map((name) => `import ${name}`));
  const names = [...new Set(cases.flatMap((testCase) => testCase.imports))].sort();
  const from = `from ${state.packageName}.${module.name} import `;
  const firstParty = from.length + names.join(', ').length <= MAX_LINE
    ? [from + names.join(', ')]
    : [`${from}(`, ...names.map((name) => `    ${name},`), ')'];
  const raises = cases.some((testCase) => testCase.body.some((item) => typeof item !== 'string' && item.kind === 'raises'));
  if (raises) firstParty.push(`from ${state.packageName}.errors import ${state.style.errorName}`);
  if (lines.length) lines.push('');
  return [...lines, ...firstParty];
}

const usesPytestModule = (cases: TestCase[]): boolean =>
  cases.some((testCase) => testCase.fixture || testCase.table || testCase.body.some((item) => typeof item !== 'string' && (item.kind === 'raises' || item.kind === 'approx')));

function casesOf(state: ProjectState, units: ApiUnit[]): TestCase[] {
  return units.flatMap((unit) => TEMPLATES[unit.template].cases(unit, state));
}

function renderBody(testCase: TestCase, indent: string, object: string, render: (check: Check, indent: string, label: string) => string, label: string): string[] {
  return testCase.body.map((item, index) =>
    (typeof item === 'string' ? indent + item : render(item, indent, `${label}:${index}`)).replaceAll('$obj', object));
}

/** A pytest-style test module for `units` (all from `module`), with targets marked. */
export function renderPytestFile(state: ProjectState, module: ModuleSpec, units: ApiUnit[]): string {
  const cases = casesOf(state, units);
  const hasEquals = cases.some((testCase) => testCase.body.some((item) => typeof item !== 'string' && item.kind === 'equals'));
  const ctx: FileContext = {
    state, module, helperName: module.usesAssertHelper && hasEquals ? `assert_${state.style.prefix}_equal` : undefined,
  };
  const stdlib = cases.some((testCase) => testCase.isAsync) ? ['asyncio'] : [];
  const blocks: string[][] = [];
  if (ctx.helperName) {
    blocks.push([
      `def ${ctx.helperName}(actual, expected):`,
      '    """Compare two values and name the project in the failure message."""',
      `    assert actual == ${markTarget('assert_compare', 'expected')}, f"${state.style.projectWord}: {actual!r} != {expected!r}"`,
    ]);
  }
  const fixtures = new Map(cases.filter((testCase) => testCase.fixture).map((testCase) => [testCase.fixture!.name, testCase.fixture!]));
  for (const fixture of fixtures.values()) {
    blocks.push(['@pytest.fixture', `def ${fixture.name}():`, `    """${fixture.doc}"""`, `    return ${fixture.construct}`]);
  }
  for (const testCase of cases) {
    const label = `${module.name}:${testCase.name}`;
    const render = (check: Check, indent: string, checkLabel: string) => pytestCheck(check, indent, ctx, checkLabel);
    if (testCase.isAsync) {
      blocks.push([`async def _check_${testCase.name}():`, ...renderBody(testCase, '    ', '', render, label)]);
      blocks.push([`def test_${testCase.name}():`, `    asyncio.run(_check_${testCase.name}())`]);
      continue;
    }
    const decorators: string[] = [];
    let params = testCase.fixture ? testCase.fixture.name : '';
    if (testCase.table) {
      const names = pyString(testCase.table.names.join(', '));
      const rows = `[${testCase.table.rows.map(([arg, expected]) => `(${arg}, ${expected})`).join(', ')}]`;
      const oneLine = `@pytest.mark.parametrize(${names}, ${rows})`;
      decorators.push(...(oneLine.length <= MAX_LINE ? [oneLine] : ['@pytest.mark.parametrize(', `    ${names},`, `    ${rows},`, ')']));
      params = testCase.table.names.join(', ');
    }
    blocks.push([...decorators, `def test_${testCase.name}(${params}):`, ...renderBody(testCase, '    ', testCase.fixture?.name ?? '', render, label)]);
  }
  const header = [`"""Tests for ${state.packageName}.${module.name}."""`, ...importBlock(ctx, cases, stdlib, usesPytestModule(cases) ? ['pytest'] : [])];
  return [header.join('\n'), ...blocks.map((block) => block.join('\n'))].join('\n\n\n') + '\n';
}

/** A unittest-style test module for `units` (all from `module`), with targets marked. */
export function renderUnittestFile(state: ProjectState, module: ModuleSpec, units: ApiUnit[]): string {
  const cases = casesOf(state, units);
  const ctx: FileContext = { state, module };
  const isAsync = cases.some((testCase) => testCase.isAsync);
  const base = isAsync ? 'unittest.IsolatedAsyncioTestCase' : 'unittest.TestCase';
  const pascal = toPascal(module.name);
  const className = state.style.unittestClassNaming === 'test-prefix' ? `Test${pascal}` : `${pascal}Tests`;
  const methods: string[][] = [];
  const fixtures = new Map(cases.filter((testCase) => testCase.fixture).map((testCase) => [testCase.fixture!.name, testCase.fixture!]));
  if (fixtures.size) {
    methods.push(['    def setUp(self):', ...[...fixtures.values()].map((fixture) => `        self.${fixture.name} = ${fixture.construct}`)]);
  }
  for (const testCase of cases) {
    const label = `${module.name}:${testCase.name}`;
    const render = (check: Check, indent: string, checkLabel: string) => unittestCheck(check, indent, ctx, checkLabel);
    const object = testCase.fixture ? `self.${testCase.fixture.name}` : '';
    const signature = `    ${testCase.isAsync ? 'async ' : ''}def test_${testCase.name}(self):`;
    if (testCase.table) {
      const [argument, expected] = testCase.table.names;
      const rows = `[${testCase.table.rows.map(([arg, value]) => `(${arg}, ${value})`).join(', ')}]`;
      methods.push([
        signature,
        `        for ${argument}, ${expected} in ${rows}:`,
        `            with self.subTest(${argument}=${argument}):`,
        ...renderBody(testCase, '                ', object, render, label),
      ]);
      continue;
    }
    methods.push([signature, ...renderBody(testCase, '        ', object, render, label)]);
  }
  const header = [`"""Unit tests for ${state.packageName}.${module.name}."""`, ...importBlock(ctx, cases, ['unittest'], [])];
  const classBlock = [`class ${className}(${base}):`, methods.map((method) => method.join('\n')).join('\n\n')].join('\n');
  const main = ['if __name__ == "__main__":', '    unittest.main()'].join('\n');
  return [header.join('\n'), classBlock, main].join('\n\n\n') + '\n';
}
