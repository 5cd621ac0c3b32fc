// API unit templates: the Python each one writes, what that Python returns (computed here), and the tests over it.
import { GREETINGS, PAIR_SEPARATORS, SEPARATORS } from './vocabulary.ts';
import { py, pyLiteral, pyRepr, pyReprValue, pyString, type PyValue } from './python.ts';
import { SeededRandom } from './random.ts';
import {
  capitalize, plural, toSnake,
  type ApiUnit, type ConstantSpec, type ProjectState, type RepoStyle, type TemplateName,
} from './project.ts';

/** What calling the Python would do: return a value, or raise the project's error with this message. */
export type Outcome = { value: PyValue } | { raises: string; pattern: string };

/** One checked fact; the test renderers turn it into a pytest or unittest assertion. */
export type Check =
  | { kind: 'equals'; expr: string; expected: PyValue | { source: string } }
  | { kind: 'truthy'; expr: string; expected: boolean }
  | { kind: 'none'; expr: string; isNone: boolean }
  | { kind: 'raises'; statement: string; pattern: string }
  | { kind: 'approx'; expr: string; expected: number }
  | { kind: 'contains'; member: string; container: string };

/**
 * One test function. In `body`, `$obj` stands for the object under test: the pytest fixture argument, or the
 * `self.` attribute that setUp assigns.
 */
export interface TestCase {
  name: string;
  body: (string | Check)[];
  /** Names imported from the unit's module. */
  imports: string[];
  isAsync?: boolean;
  fixture?: { name: string; construct: string; doc: string };
  /** A table of (argument, expected) rows; the body refers to the two names. */
  table?: { names: [string, string]; rows: [string, string][] };
}

interface ConstantRole {
  /** Words of the constant's name after the noun ("factor" gives PEAR_FACTOR). */
  suffix: string;
  initial(rng: SeededRandom, style: RepoStyle, unit: NewUnit): PyValue;
  changed(current: PyValue, rng: SeededRandom, style: RepoStyle, unit: NewUnit): PyValue;
}

/** The fields a template sees while a unit is being created. */
export type NewUnit = Pick<ApiUnit, 'noun' | 'verb' | 'adjective' | 'params'>;

export interface Template {
  constantRoles: ConstantRole[];
  nameParts(rng: SeededRandom, unit: NewUnit, state: ProjectState): string[];
  isClass?: boolean;
  /** Fixed literals drawn at creation. */
  makeParams?(rng: SeededRandom, unit: NewUnit, state: ProjectState): Record<string, number | string>;
  exampleCount: [number, number];
  makeExample(rng: SeededRandom, unit: ApiUnit, state: ProjectState, index: number): PyValue[];
  definition(unit: ApiUnit, state: ProjectState): string[];
  summary(unit: ApiUnit, state: ProjectState): string;
  signature(unit: ApiUnit, state: ProjectState): string;
  evaluate?(unit: ApiUnit, args: PyValue[], state: ProjectState): Outcome;
  /** Turns a stored example into the call's arguments (lets an example follow a changed constant). */
  callArgs?(unit: ApiUnit, example: PyValue[], state: ProjectState): PyValue[];
  cases(unit: ApiUnit, state: ProjectState): TestCase[];
  needsAsyncio?: boolean;
  /** Some str results are checked only for not being None (assertIsNotNone / `is not None`). */
  presenceChecks?: boolean;
}

// ---------------------------------------------------------------------------------------------- helpers

export function constantOf(state: ProjectState, unit: ApiUnit, index: number): ConstantSpec {
  const constant = state.constants.get(unit.constantIds[index]);
  if (!constant) throw new Error(`unit ${unit.name} has no constant #${index}`);
  return constant;
}

const numberOf = (value: PyValue): number => {
  if (value.kind !== 'int' && value.kind !== 'float') throw new Error(`expected a number, got ${value.kind}`);
  return value.value;
};
const strOf = (value: PyValue): string => {
  if (value.kind !== 'str') throw new Error(`expected a str, got ${value.kind}`);
  return value.value;
};
const itemsOf = (value: PyValue): PyValue[] => {
  if (value.kind !== 'list' && value.kind !== 'tuple') throw new Error(`expected a sequence, got ${value.kind}`);
  return value.items;
};

const constNumber = (state: ProjectState, unit: ApiUnit, index = 0): number => numberOf(constantOf(state, unit, index).value);
const constStr = (state: ProjectState, unit: ApiUnit, index = 0): string => strOf(constantOf(state, unit, index).value);
const constName = (state: ProjectState, unit: ApiUnit, index = 0): string => constantOf(state, unit, index).name;

function intRole(suffix: string, min: number, max: number): ConstantRole {
  return {
    suffix,
    initial: (rng) => py.int(rng.int(min, max)),
    changed: (current, rng) => {
      let next = numberOf(current);
      while (next === numberOf(current)) next = rng.int(min, max);
      return py.int(next);
    },
  };
}

/** A string constant whose value is one of `choices`, starting from the repository's own convention. */
function choiceRole(suffix: string, choices: (style: RepoStyle, unit: NewUnit) => string[], first: (style: RepoStyle) => string): ConstantRole {
  return {
    suffix,
    initial: (_rng, style) => py.str(first(style)),
    changed: (current, rng, style, unit) => py.str(rng.pick(choices(style, unit).filter((option) => option !== strOf(current)))),
  };
}

const regexEscape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const call = (unit: ApiUnit, args: PyValue[]): string => `${unit.name}(${args.map(pyLiteral).join(', ')})`;

const raises = (message: string, pattern = message): Outcome => ({ raises: message, pattern: regexEscape(pattern) });

/** Words of the project's domain, for example inputs. */
const domainWords = (state: ProjectState): string[] => [...state.style.domain.nouns, ...state.style.domain.adjectives];

/** Tests made from a unit's examples: one function with the value checks, one with the error checks. */
function casesFromExamples(template: Template, unit: ApiUnit, state: ProjectState): TestCase[] {
  const valueChecks: Check[] = [];
  const errorChecks: Check[] = [];
  unit.examples.forEach((example, index) => {
    const args = template.callArgs ? template.callArgs(unit, example, state) : example;
    const expr = call(unit, args);
    const outcome = evaluateUnit(state, unit, args);
    if ('raises' in outcome) {
      errorChecks.push({ kind: 'raises', statement: expr, pattern: outcome.pattern });
      return;
    }
    const value = outcome.value;
    if (value.kind === 'bool') valueChecks.push({ kind: 'truthy', expr, expected: value.value });
    else if (value.kind === 'none') valueChecks.push({ kind: 'none', expr, isNone: true });
    else if (value.kind === 'float') valueChecks.push({ kind: 'approx', expr, expected: value.value });
    else if (value.kind === 'str' && template.presenceChecks && index % 2 === 1) {
      valueChecks.push({ kind: 'none', expr, isNone: false });
    } else valueChecks.push({ kind: 'equals', expr, expected: value });
  });
  const base = toSnake(unit.name);
  const cases: TestCase[] = [];
  if (valueChecks.length) cases.push({ name: base, body: valueChecks, imports: [unit.name] });
  if (errorChecks.length) cases.push({ name: `${base}_rejects_bad_input`, body: errorChecks, imports: [unit.name] });
  return cases;
}

function docstring(indent: string, summary: string, details: string[]): string[] {
  if (details.length === 0) return [`${indent}"""${summary}"""`];
  return [`${indent}"""${summary}`, '', ...details.map((line) => (line ? indent + line : '')), `${indent}"""`];
}

/** Doctest-style lines for the unit's first example that returns, or a pointer to the README when none does. */
function exampleDetails(template: Template, unit: ApiUnit, state: ProjectState): string[] {
  for (const example of unit.examples) {
    const args = template.callArgs ? template.callArgs(unit, example, state) : example;
    const outcome = evaluateUnit(state, unit, args);
    if ('value' in outcome && !template.needsAsyncio) {
      return ['Example:', `    >>> ${call(unit, args)}`, `    ${pyReprValue(outcome.value)}`];
    }
  }
  return [`See the ${capitalize(state.style.projectWord)} README for the conventions this follows.`];
}

function functionDefinition(template: Template, unit: ApiUnit, state: ProjectState, params: string, body: string[], isAsync = false): string[] {
  const details = unit.documented ? exampleDetails(template, unit, state) : [];
  return [
    `${isAsync ? 'async ' : ''}def ${unit.name}(${params}):`,
    ...docstring('    ', template.summary(unit, state), details),
    ...body.map((line) => `    ${line}`),
  ];
}

// ---------------------------------------------------------------------------------------------- templates

const scale: Template = {
  constantRoles: [intRole('factor', 2, 12)],
  nameParts: (_rng, unit) => [unit.verb, unit.noun],
  makeParams: (rng) => ({ offset: rng.int(1, 30) }),
  exampleCount: [3, 4],
  makeExample: (rng) => [py.int(rng.int(0, 60))],
  summary: (unit, state) => `${capitalize(unit.verb)} ${unit.noun} counts: multiply by ${constName(state, unit)} and add ${unit.params.offset}.`,
  signature: (unit) => `${unit.name}(${unit.noun}_count)`,
  definition(unit, state) {
    return functionDefinition(this, unit, state, `${unit.noun}_count`, [`return ${unit.noun}_count * ${constName(state, unit)} + ${unit.params.offset}`]);
  },
  evaluate: (unit, [count], state) => ({ value: py.int(numberOf(count) * constNumber(state, unit) + Number(unit.params.offset)) }),
  cases(unit, state) {
    const checks: Check[] = unit.examples.slice(0, 2).map((example) => ({
      kind: 'equals', expr: call(unit, example), expected: valueOf(evaluateUnit(state, unit, example)),
    }));
    const rows = unit.examples.map((example): [string, string] => [pyLiteral(example[0]), pyLiteral(valueOf(evaluateUnit(state, unit, example)))]);
    const base = toSnake(unit.name);
    return [
      { name: base, body: checks, imports: [unit.name] },
      {
        name: `${base}_table`,
        body: [{ kind: 'equals', expr: `${unit.name}(${unit.noun}_count)`, expected: { source: 'expected' } }],
        imports: [unit.name],
        table: { names: [`${unit.noun}_count`, 'expected'], rows },
      },
    ];
  },
};

const clamp: Template = {
  constantRoles: [intRole('limit', 20, 99)],
  nameParts: (rng, unit) => [rng.pick(['clamp', 'bound', 'cap']), unit.noun],
  exampleCount: [3, 4],
  makeExample: (rng, _unit, _state, index) =>
    index === 2 ? [py.int(rng.int(-20, 80)), py.int(rng.int(5, 15)), py.int(rng.int(30, 60))] : [py.int(rng.int(-20, 130))],
  summary: (unit) => `Clamp a ${unit.noun} reading into the range [low, high].`,
  signature: (unit, state) => `${unit.name}(value, low=0, high=${constName(state, unit)})`,
  definition(unit, state) {
    return functionDefinition(this, unit, state, `value, low=0, high=${constName(state, unit)}`, ['return max(low, min(high, value))']);
  },
  evaluate: (unit, args, state) => {
    const [value, low = py.int(0), high = py.int(constNumber(state, unit))] = args;
    return { value: py.int(Math.max(numberOf(low), Math.min(numberOf(high), numberOf(value)))) };
  },
  cases(unit, state) {
    return casesFromExamples(this, unit, state);
  },
};

const label: Template = {
  constantRoles: [choiceRole('tag', (style, unit) => [style.tag, style.prefix.toUpperCase(), `${style.tag}-${unit.noun.slice(0, 2).toUpperCase()}`, unit.noun.toUpperCase()], (style) => style.tag)],
  nameParts: (rng, unit) => [rng.pick(['format', 'label', 'render']), unit.noun, 'label'],
  makeParams: (_rng, _unit, state) => ({ width: state.style.labelWidth }),
  exampleCount: [2, 4],
  makeExample: (rng, _unit, state) => [py.str(rng.pick(domainWords(state))), py.int(rng.chance(0.2) ? rng.int(1000, 20000) : rng.int(0, 99))],
  summary: (unit, state) => `Render a ${unit.noun} label such as "[${constStr(state, unit)}] ${unit.noun} #${'7'.padStart(Number(unit.params.width), '0')}".`,
  signature: (unit) => `${unit.name}(${unit.noun}, number)`,
  definition(unit, state) {
    const width = String(unit.params.width).padStart(2, '0');
    return functionDefinition(this, unit, state, `${unit.noun}, number`, [`return f"[{${constName(state, unit)}}] {${unit.noun}} #{number:${width}d}"`]);
  },
  evaluate: (unit, [word, number], state) =>
    ({ value: py.str(`[${constStr(state, unit)}] ${strOf(word)} #${String(numberOf(number)).padStart(Number(unit.params.width), '0')}`) }),
  cases(unit, state) {
    return casesFromExamples(this, unit, state);
  },
};

const joiner: Template = {
  constantRoles: [choiceRole('separator', () => [...SEPARATORS], (style) => style.separator)],
  nameParts: (_rng, unit) => ['join', unit.noun, 'names'],
  exampleCount: [2, 3],
  makeExample: (rng, _unit, state) => {
    const words = rng.sample(domainWords(state), rng.int(2, 4));
    return [py.list(words.map((word) => py.str(rng.chance(0.3) ? ` ${capitalize(word)}` : rng.chance(0.3) ? `${word.toUpperCase()} ` : word)))];
  },
  summary: (unit, state) => `Join ${unit.noun} names, trimmed, lowercased and sorted, with ${constName(state, unit)}.`,
  signature: (unit) => `${unit.name}(${plural(unit.noun)})`,
  definition(unit, state) {
    const items = plural(unit.noun);
    return functionDefinition(this, unit, state, items, [`return ${constName(state, unit)}.join(sorted(item.strip().lower() for item in ${items}))`]);
  },
  evaluate: (unit, [items], state) => {
    const words = itemsOf(items).map((item) => strOf(item).trim().toLowerCase()).sort();
    return { value: py.str(words.join(constStr(state, unit))) };
  },
  cases(unit, state) {
    return casesFromExamples(this, unit, state);
  },
};

const tally: Template = {
  constantRoles: [intRole('weight', 1, 3)],
  nameParts: (rng, unit) => [rng.pick(['tally', 'count']), plural(unit.noun)],
  exampleCount: [1, 3],
  makeExample: (rng, _unit, state) => {
    const pool = rng.sample(domainWords(state), rng.int(2, 4));
    return [py.list(Array.from({ length: rng.int(3, 6) }, () => py.str(rng.pick(pool))))];
  },
  summary: (unit, state) => `Count each ${unit.noun}, weighting every occurrence by ${constName(state, unit)}.`,
  signature: (unit) => `${unit.name}(${plural(unit.noun)})`,
  definition(unit, state) {
    const items = plural(unit.noun);
    return functionDefinition(this, unit, state, items, [
      'counts = {}',
      `for item in ${items}:`,
      `    counts[item] = counts.get(item, 0) + ${constName(state, unit)}`,
      'return counts',
    ]);
  },
  evaluate: (unit, [items], state) => {
    const counts = new Map<string, number>();
    for (const item of itemsOf(items)) counts.set(strOf(item), (counts.get(strOf(item)) ?? 0) + constNumber(state, unit));
    return { value: py.dict([...counts].map(([key, count]) => [key, py.int(count)])) };
  },
  cases(unit, state) {
    return casesFromExamples(this, unit, state);
  },
};

const select: Template = {
  constantRoles: [intRole('step', 2, 5)],
  nameParts: (_rng, unit) => [unit.verb, unit.adjective, plural(unit.noun)],
  makeParams: (rng) => ({ multiplier: rng.int(2, 10) }),
  exampleCount: [2, 3],
  makeExample: (rng) => [py.list(Array.from({ length: rng.int(4, 7) }, () => py.int(rng.int(0, 40))))],
  summary: (unit, state) => `Keep the ${unit.adjective} ${plural(unit.noun)} (multiples of ${constName(state, unit)}), scaled by ${unit.params.multiplier}.`,
  signature: (unit) => `${unit.name}(values)`,
  definition(unit, state) {
    return functionDefinition(this, unit, state, 'values', [`return [value * ${unit.params.multiplier} for value in values if value % ${constName(state, unit)} == 0]`]);
  },
  evaluate: (unit, [values], state) => ({
    value: py.list(itemsOf(values).map(numberOf).filter((value) => value % constNumber(state, unit) === 0).map((value) => py.int(value * Number(unit.params.multiplier)))),
  }),
  cases(unit, state) {
    return casesFromExamples(this, unit, state);
  },
};

const ratio: Template = {
  constantRoles: [{
    suffix: 'scale',
    initial: (rng) => py.float(rng.pick([100, 1000, 12.5, 2.5, 0.5, 60, 24])),
    changed: (current, rng) => py.float(rng.pick([100, 1000, 12.5, 2.5, 0.5, 60, 24].filter((value) => value !== numberOf(current)))),
  }],
  nameParts: (rng, unit) => [unit.noun, rng.pick(['ratio', 'share', 'fraction'])],
  exampleCount: [3, 4],
  makeExample: (rng, _unit, _state, index) => [py.int(rng.int(1, 50)), py.int(index === 1 ? 0 : rng.int(1, 60))],
  summary: (unit, state) => `Share of ${plural(unit.noun)} in a whole, scaled by ${constName(state, unit)}.`,
  signature: (unit) => `${unit.name}(part, whole)`,
  definition(unit, state) {
    return functionDefinition(this, unit, state, 'part, whole', [
      'if whole == 0:',
      `    raise ${state.style.errorName}("whole must not be zero")`,
      `return part / whole * ${constName(state, unit)}`,
    ]);
  },
  evaluate: (unit, [part, whole], state) =>
    numberOf(whole) === 0 ? raises('whole must not be zero', 'must not be zero') : { value: py.float((numberOf(part) / numberOf(whole)) * constNumber(state, unit)) },
  cases(unit, state) {
    return casesFromExamples(this, unit, state);
  },
};

const predicate: Template = {
  constantRoles: [intRole('divisor', 2, 7)],
  nameParts: (_rng, unit) => ['is', unit.adjective, unit.noun],
  exampleCount: [3, 4],
  makeExample: (rng, unit, state, index) => {
    const divisor = constNumber(state, unit);
    return [py.int(index === 0 ? divisor * rng.int(1, 8) : index === 1 ? divisor * rng.int(1, 8) + rng.int(1, divisor - 1) : rng.int(0, 40))];
  },
  summary: (unit, state) => `Tell whether a ${unit.noun} number is ${unit.adjective}: a positive multiple of ${constName(state, unit)}.`,
  signature: (unit) => `${unit.name}(number)`,
  definition(unit, state) {
    return functionDefinition(this, unit, state, 'number', [`return number > 0 and number % ${constName(state, unit)} == 0`]);
  },
  evaluate: (unit, [number], state) => ({ value: py.bool(numberOf(number) > 0 && numberOf(number) % constNumber(state, unit) === 0) }),
  cases(unit, state) {
    return casesFromExamples(this, unit, state);
  },
};

const lookup: Template = {
  constantRoles: [],
  presenceChecks: true,
  nameParts: (rng, unit) => [rng.pick(['find', 'first', 'lookup']), unit.noun],
  exampleCount: [3, 4],
  makeExample: (rng, _unit, state, index) => {
    const words = rng.sample(domainWords(state), rng.int(2, 4));
    const prefix = index === 2 ? rng.pick(['zq', 'qx', 'xy', 'wz']) : rng.pick(words).slice(0, rng.int(1, 3));
    return [py.list(words.map(py.str)), py.str(prefix)];
  },
  summary: (unit) => `Return the first ${unit.noun} that starts with prefix, or None.`,
  signature: (unit) => `${unit.name}(${plural(unit.noun)}, prefix)`,
  definition(unit, state) {
    const items = plural(unit.noun);
    return functionDefinition(this, unit, state, `${items}, prefix`, [
      `for item in ${items}:`,
      '    if item.startswith(prefix):',
      '        return item',
      'return None',
    ]);
  },
  evaluate: (_unit, [items, prefix]) => {
    const found = itemsOf(items).map(strOf).find((item) => item.startsWith(strOf(prefix)));
    return { value: found === undefined ? py.none : py.str(found) };
  },
  cases(unit, state) {
    return casesFromExamples(this, unit, state);
  },
};

const guard: Template = {
  constantRoles: [intRole('max', 10, 100)],
  nameParts: (rng, unit) => [rng.pick(['check', 'validate', 'ensure']), unit.noun, 'amount'],
  exampleCount: [3, 4],
  makeExample: (rng, unit, state, index) => {
    const max = constNumber(state, unit);
    if (index === 1) return [py.int(-rng.int(1, 9))];
    if (index === 3) return [py.int(max + rng.int(1, 50))];
    return [py.int(rng.int(0, max))];
  },
  summary: (unit) => `Validate a ${unit.noun} amount and return it unchanged.`,
  signature: (unit) => `${unit.name}(amount)`,
  definition(unit, state) {
    return functionDefinition(this, unit, state, 'amount', [
      `if amount < 0 or amount > ${constName(state, unit)}:`,
      `    raise ${state.style.errorName}(f"${unit.noun} amount out of range: {amount}")`,
      'return amount',
    ]);
  },
  evaluate: (unit, [amount], state) => {
    const value = numberOf(amount);
    if (value < 0 || value > constNumber(state, unit)) return raises(`${unit.noun} amount out of range: ${value}`, `out of range: ${value}`);
    return { value: py.int(value) };
  },
  cases(unit, state) {
    return casesFromExamples(this, unit, state);
  },
};

const split: Template = {
  constantRoles: [choiceRole('delimiter', () => [...PAIR_SEPARATORS], (style) => style.pairSeparator)],
  nameParts: (rng, unit) => [rng.pick(['split', 'parse']), unit.noun, 'record'],
  exampleCount: [2, 3],
  // Stored as [head, tail]; the record is built with the current delimiter, so a changed delimiter updates the tests.
  makeExample: (rng, _unit, state, index) => {
    const [first, second, third] = rng.sample(domainWords(state), 3);
    const head = rng.chance(0.5) ? `${first}[${rng.int(0, 9)}]` : first;
    return [py.str(head), py.str(index === 1 ? '' : `${second}, ${third}`)];
  },
  callArgs: (unit, [head, tail], state) => [py.str(strOf(tail) === '' ? strOf(head) : `${strOf(head)} ${constStr(state, unit)} ${strOf(tail)}`)],
  summary: (unit, state) => `Split a "${unit.noun} ${constStr(state, unit)} rest" record into its two stripped halves.`,
  signature: (unit) => `${unit.name}(record)`,
  definition(unit, state) {
    return functionDefinition(this, unit, state, 'record', [
      `head, _, tail = record.partition(${constName(state, unit)})`,
      'return head.strip(), tail.strip()',
    ]);
  },
  evaluate: (unit, [record], state) => {
    const text = strOf(record);
    const at = text.indexOf(constStr(state, unit));
    const [head, tail] = at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + constStr(state, unit).length)];
    return { value: py.tuple([py.str(head.trim()), py.str(tail.trim())]) };
  },
  cases(unit, state) {
    return casesFromExamples(this, unit, state);
  },
};

const greet: Template = {
  constantRoles: [choiceRole('greeting', () => [...GREETINGS], (style) => style.greeting)],
  nameParts: (rng, unit) => [rng.pick(['greet', 'welcome']), unit.noun, 'keeper'],
  exampleCount: [2, 3],
  makeExample: (rng) => [py.str(rng.pick(['Ada', 'Zoë', 'Søren', 'Łukasz', 'José', 'Noor', 'Ivo', 'Chloé']))],
  summary: (unit) => `Greet a ${unit.noun} keeper in the house style.`,
  signature: (unit) => `${unit.name}(name)`,
  definition(unit, state) {
    return functionDefinition(this, unit, state, 'name', [`return f"{${constName(state, unit)}}, {name}!"`]);
  },
  evaluate: (unit, [name], state) => ({ value: py.str(`${constStr(state, unit)}, ${strOf(name)}!`) }),
  cases(unit, state) {
    return casesFromExamples(this, unit, state);
  },
};

const mapped: Template = {
  constantRoles: [],
  nameParts: (_rng, unit) => [unit.verb, 'all', plural(unit.noun)],
  exampleCount: [1, 3],
  makeExample: (rng) => [py.list(Array.from({ length: rng.int(2, 4) }, () => py.int(rng.int(0, 20))))],
  summary: (unit, state) => `Apply ${dependencyOf(state, unit).name} to every value.`,
  signature: (unit) => `${unit.name}(values)`,
  definition(unit, state) {
    return functionDefinition(this, unit, state, 'values', [`return [${dependencyOf(state, unit).name}(value) for value in values]`]);
  },
  evaluate: (unit, [values], state) => {
    const dependency = dependencyOf(state, unit);
    return { value: py.list(itemsOf(values).map((value) => valueOf(evaluateUnit(state, dependency, [value])))) };
  },
  cases(unit, state) {
    return casesFromExamples(this, unit, state);
  },
};

const asyncFetch: Template = {
  constantRoles: [intRole('unit', 2, 9)],
  nameParts: (rng, unit) => [rng.pick(['fetch', 'load']), unit.noun],
  exampleCount: [2, 3],
  makeExample: (rng, _unit, state) => [py.str(rng.pick(domainWords(state)))],
  summary: (unit, state) => `Look a ${unit.noun} up asynchronously and report its size in ${constName(state, unit)} steps.`,
  signature: (unit) => `await ${unit.name}(key)`,
  needsAsyncio: true,
  definition(unit, state) {
    return functionDefinition(this, unit, state, 'key', [
      'await asyncio.sleep(0)',
      `return {"key": key, "size": len(key) * ${constName(state, unit)}}`,
    ], true);
  },
  evaluate: (unit, [key], state) => ({ value: py.dict([['key', key], ['size', py.int(strOf(key).length * constNumber(state, unit))]]) }),
  cases(unit, state) {
    const body: Check[] = unit.examples.map((example) => ({
      kind: 'equals', expr: `await ${call(unit, example)}`, expected: valueOf(evaluateUnit(state, unit, example)),
    }));
    return [{ name: toSnake(unit.name), body, imports: [unit.name], isAsync: true }];
  },
};

/** A decorator that files handlers in a module-level dict, and two handlers registered with it. */
const registry: Template = {
  constantRoles: [],
  nameParts: (_rng, unit) => ['register', unit.noun],
  makeParams: (rng, unit, state) => ({
    registry: claimRegistryName(state, unit),
    key: unit.verb,
    increment: rng.int(1, 9),
  }),
  exampleCount: [0, 0],
  makeExample: () => [],
  summary: (unit) => `Register a ${unit.noun} handler under key.`,
  signature: (unit) => `@${unit.name}(key)`,
  definition(unit, state) {
    const registryName = String(unit.params.registry);
    return [
      `${registryName} = {}`,
      '',
      '',
      `def ${unit.name}(key):`,
      ...docstring('    ', this.summary(unit, state), unit.documented ? [`Handlers are stored in ${registryName}.`] : []),
      '',
      '    def decorator(func):',
      `        ${registryName}[key] = func`,
      '        return func',
      '',
      '    return decorator',
      '',
      '',
      `@${unit.name}("double")`,
      `def _double_${unit.noun}(value):`,
      '    return value * 2',
      '',
      '',
      `@${unit.name}(${pyString(String(unit.params.key))})`,
      `def _${unit.params.key}_${unit.noun}(value):`,
      `    return value + ${unit.params.increment}`,
    ];
  },
  cases(unit) {
    const registryName = String(unit.params.registry);
    const key = String(unit.params.key);
    return [{
      name: `${toSnake(unit.name)}_handlers`,
      imports: [registryName],
      body: [
        { kind: 'contains', member: pyString(key), container: registryName },
        { kind: 'equals', expr: `sorted(${registryName})`, expected: py.list(['double', key].sort().map(py.str)) },
        { kind: 'equals', expr: `${registryName}["double"](21)`, expected: py.int(42) },
        { kind: 'equals', expr: `${registryName}[${pyString(key)}](5)`, expected: py.int(5 + Number(unit.params.increment)) },
      ],
    }];
  },
};

function claimRegistryName(state: ProjectState, unit: NewUnit): string {
  const base = state.style.constantCase === 'prefixed' ? `${state.style.prefix.toUpperCase()}_${unit.noun.toUpperCase()}_HANDLERS` : `${unit.noun.toUpperCase()}_HANDLERS`;
  let name = base;
  for (let n = 2; state.usedNames.has(name); n++) name = `${base}_${n}`;
  state.usedNames.add(name);
  return name;
}

/** A capacity-limited container class; its examples are scenarios: lists of (item, quantity) additions. */
const container: Template = {
  constantRoles: [intRole('capacity', 4, 12)],
  isClass: true,
  nameParts: (_rng, unit) => [unit.noun],
  exampleCount: [2, 3],
  makeExample: (rng, _unit, state) => {
    const words = domainWords(state);
    return [py.list(Array.from({ length: rng.int(1, 3) }, () => py.tuple([py.str(rng.pick(words)), py.int(rng.int(1, 3))])))];
  },
  summary: (unit, state) => `A ${unit.noun} holding at most ${constName(state, unit)} units.`,
  signature: (unit, state) => `${unit.name}(label, capacity=${constName(state, unit)})`,
  definition(unit, state) {
    const { addMethod, totalMethod, errorName } = state.style;
    const details = unit.documented
      ? [`${capitalize(addMethod)} items with .${addMethod}(item, quantity); it raises ${errorName} when the ${unit.noun} would overflow.`]
      : [];
    return [
      `class ${unit.name}:`,
      ...docstring('    ', this.summary(unit, state), details),
      '',
      `    def __init__(self, label, capacity=${constName(state, unit)}):`,
      '        self.label = label',
      '        self.capacity = capacity',
      '        self._items = {}',
      '',
      `    def ${addMethod}(self, item, quantity=1):`,
      '        """Store quantity units of item and return the new total."""',
      `        if self.${totalMethod}() + quantity > self.capacity:`,
      `            raise ${errorName}(f"${unit.noun} {self.label!r} is full")`,
      '        self._items[item] = self._items.get(item, 0) + quantity',
      `        return self.${totalMethod}()`,
      '',
      `    def ${totalMethod}(self):`,
      '        """Number of units held."""',
      '        return sum(self._items.values())',
      '',
      '    @property',
      '    def is_full(self):',
      `        return self.${totalMethod}() >= self.capacity`,
      '',
      '    def __repr__(self):',
      `        return f"${unit.name}(label={self.label!r}, total={self.${totalMethod}()})"`,
    ];
  },
  cases(unit, state) {
    const { addMethod } = state.style;
    const capacity = constNumber(state, unit);
    const fixtureName = toSnake(unit.name);
    const scenarioNames = ['holds_items', 'accumulates', 'fills_up', 'keeps_count', 'reports_state'];
    return unit.examples.map((example, index) => {
      const body: (string | Check)[] = [];
      let total = 0;
      const additions = itemsOf(example[0]).map((addition) => itemsOf(addition));
      additions.forEach(([item, quantity], step) => {
        const statement = `$obj.${addMethod}(${pyLiteral(item)}, ${pyLiteral(quantity)})`;
        if (total + numberOf(quantity) > capacity) {
          body.push({ kind: 'raises', statement, pattern: 'is full' });
          return;
        }
        total += numberOf(quantity);
        body.push(step === additions.length - 1 ? { kind: 'equals', expr: statement, expected: py.int(total) } : statement);
      });
      body.push({ kind: 'truthy', expr: '$obj.is_full', expected: total >= capacity });
      body.push({ kind: 'equals', expr: 'repr($obj)', expected: py.str(`${unit.name}(label=${pyRepr('main')}, total=${total})`) });
      if (index === 0) body.push({ kind: 'equals', expr: '$obj.capacity', expected: { source: constName(state, unit) } });
      else body.push({ kind: 'raises', statement: `$obj.${addMethod}(${pyString(unit.noun)}, ${capacity + 1})`, pattern: 'is full' });
      return {
        name: `${fixtureName}_${scenarioNames[index % scenarioNames.length]}`,
        body,
        imports: index === 0 ? [unit.name, constName(state, unit)] : [unit.name],
        fixture: { name: fixtureName, construct: `${unit.name}("main")`, doc: `A fresh, empty ${unit.noun} labelled "main".` },
      };
    });
  },
};

export const TEMPLATES: Record<TemplateName, Template> = {
  scale, clamp, label, joiner, tally, select, ratio, predicate, lookup, guard, split, greet, mapped, asyncFetch, registry, container,
};

export function dependencyOf(state: ProjectState, unit: ApiUnit): ApiUnit {
  const dependency = state.units.find((other) => other.id === unit.dependsOn);
  if (!dependency) throw new Error(`unit ${unit.name} has no dependency`);
  return dependency;
}

export function evaluateUnit(state: ProjectState, unit: ApiUnit, args: PyValue[]): Outcome {
  const template = TEMPLATES[unit.template];
  if (!template.evaluate) throw new Error(`template ${unit.template} cannot be evaluated`);
  return template.evaluate(unit, args, state);
}

function valueOf(outcome: Outcome): PyValue {
  if ('raises' in outcome) throw new Error(`expected a value, the call raises: ${outcome.raises}`);
  return outcome.value;
}
