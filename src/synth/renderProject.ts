// Renders a project's whole file tree (package, tests, README, pyproject) from its model, with planted assertions.
import { extractPlantedAssertions, type PlantedAssertion } from './markers.ts';
import { pyLiteral, pyReprValue, pyString } from './python.ts';
import { hashString } from './random.ts';
import { capitalize, plural, type ApiUnit, type ModuleSpec, type ProjectState } from './project.ts';
import { TEMPLATES, constantOf, dependencyOf, evaluateUnit } from './templates.ts';
import { renderPytestFile, renderUnittestFile } from './renderTests.ts';

const MAX_LINE = 88;

export interface RenderedTree {
  files: Record<string, string>;
  planted: PlantedAssertion[];
}

export const versionString = (state: ProjectState): string => state.version.join('.');

const unitsOf = (state: ProjectState, module: ModuleSpec): ApiUnit[] => state.units.filter((unit) => unit.moduleId === module.id);

const usesError = (unit: ApiUnit): boolean => unit.template === 'ratio' || unit.template === 'guard' || unit.template === 'container';

function fromImport(from: string, names: string[]): string[] {
  const line = `from ${from} import ${names.join(', ')}`;
  return line.length <= MAX_LINE ? [line] : [`from ${from} import (`, ...names.map((name) => `    ${name},`), ')'];
}

function renderModule(state: ProjectState, module: ModuleSpec): string {
  const units = unitsOf(state, module);
  const { style } = state;
  const phrasing = [
    `${capitalize(module.name)}: ${style.domain.topic} helpers for ${state.packageName}.`,
    `Functions for working with ${plural(units[0]?.noun ?? module.name)} and related ${style.domain.topic}.`,
    `The ${module.name} part of ${state.packageName}.`,
  ][hashString(module.name) % 3];
  const imports: string[] = [];
  if (units.some((unit) => TEMPLATES[unit.template].needsAsyncio)) imports.push('import asyncio', '');
  if (units.some(usesError)) imports.push(`from .errors import ${style.errorName}`);
  const foreign = new Map<string, string[]>();
  for (const unit of units) {
    if (unit.dependsOn === undefined) continue;
    const dependency = dependencyOf(state, unit);
    if (dependency.moduleId === module.id) continue;
    const source = state.modules.find((other) => other.id === dependency.moduleId)!.name;
    foreign.set(source, [...new Set([...(foreign.get(source) ?? []), dependency.name])].sort());
  }
  for (const [source, names] of [...foreign].sort()) imports.push(...fromImport(`.${source}`, names));
  if (imports.at(-1) === '') imports.pop();
  const constants = units.flatMap((unit) => unit.constantIds.map((_, index) => constantOf(state, unit, index)));
  const head = [`"""${phrasing}"""`];
  if (imports.length) head.push(imports.join('\n'));
  if (constants.length) head.push(constants.map((constant) => `${constant.name} = ${pyLiteral(constant.value)}`).join('\n'));
  const sections = [head.join('\n\n'), ...units.map((unit) => TEMPLATES[unit.template].definition(unit, state).join('\n'))];
  return sections.join('\n\n\n') + '\n';
}

function renderInit(state: ProjectState): string {
  const { style } = state;
  const lines = [`from .errors import ${style.errorName}`];
  for (const module of state.modules) {
    const names = unitsOf(state, module).map((unit) => unit.name).sort();
    if (names.length) lines.push(...fromImport(`.${module.name}`, names));
  }
  const exported = [style.errorName, ...state.units.map((unit) => unit.name)].sort();
  return [
    `"""${capitalize(style.projectWord)}: a small library for ${style.domain.topic}."""`,
    lines.join('\n'),
    `__version__ = ${pyString(versionString(state))}`,
    ['__all__ = [', ...exported.map((name) => `    ${pyString(name)},`), ']'].join('\n'),
  ].join('\n\n') + '\n';
}

function renderErrors(state: ProjectState): string {
  const { style } = state;
  return [
    `"""Errors raised by ${state.packageName}."""`,
    [
      `class ${style.errorName}(ValueError):`,
      `    """Raised when a ${style.domain.nouns[0]} value is out of range or a container is full."""`,
    ].join('\n'),
  ].join('\n\n\n') + '\n';
}

function renderPyproject(state: ProjectState): string {
  const { style } = state;
  const author = style.authors[0];
  return [
    '[project]',
    `name = ${pyString(state.distributionName)}`,
    `version = ${pyString(versionString(state))}`,
    `description = ${pyString(`A small library for ${style.domain.topic}.`)}`,
    'readme = "README.md"',
    'requires-python = ">=3.8"',
    `authors = [{ name = ${pyString(author.name)}, email = ${pyString(author.email)} }]`,
    'license = { text = "MIT" }',
    '',
    '[tool.pytest.ini_options]',
    'pythonpath = ["."]',
    'testpaths = ["tests"]',
    '',
  ].join('\n');
}

/** A usage line for the README: a call and what it returns, computed like the tests' expected values. */
function usageExample(state: ProjectState, unit: ApiUnit): string | null {
  const template = TEMPLATES[unit.template];
  if (!template.evaluate || unit.template === 'asyncFetch') return null;
  for (const example of unit.examples) {
    const args = template.callArgs ? template.callArgs(unit, example, state) : example;
    const outcome = evaluateUnit(state, unit, args);
    if (!('value' in outcome)) continue;
    return `${unit.name}(${args.map(pyLiteral).join(', ')})  # -> ${pyReprValue(outcome.value)}`;
  }
  return null;
}

function renderReadme(state: ProjectState): string {
  const { style } = state;
  const taglines = [
    `A small library for ${style.domain.topic}.`,
    `Tools for ${style.domain.topic}, written for the ${capitalize(style.projectWord)} team.`,
    `${capitalize(style.projectWord)} keeps ${style.domain.topic} simple: small functions, plain data.`,
  ];
  const usageUnits = state.units.map((unit) => ({ unit, line: usageExample(state, unit) })).filter((entry) => entry.line !== null).slice(0, 3);
  const lines = [
    `# ${state.distributionName}`,
    '',
    taglines[state.readme.taglineVariant % taglines.length],
    '',
    '## Installation',
    '',
    '```bash',
    `pip install ${state.distributionName}`,
    '```',
    '',
    '## Usage',
    '',
    '```python',
    ...fromImport(state.packageName, usageUnits.map((entry) => entry.unit.name).sort()),
    '',
    ...usageUnits.map((entry) => entry.line!),
    '```',
    '',
    '## API',
    '',
    ...state.modules.flatMap((module) => unitsOf(state, module).map((unit) =>
      `- \`${TEMPLATES[unit.template].signature(unit, state)}\` (\`${state.packageName}.${module.name}\`): ${TEMPLATES[unit.template].summary(unit, state)}`)),
  ];
  if (state.readme.conventionsSection) {
    const sample = state.units.find((unit) => unit.constantIds.length > 0);
    lines.push(
      '',
      '## Conventions',
      '',
      `- Errors are raised as \`${style.errorName}\`, a subclass of \`ValueError\`.`,
      sample ? `- Tunable values are module constants such as \`${constantOf(state, sample, 0).name}\`.` : '- Tunable values are module constants.',
      `- Joined names use ${pyString(style.separator)}; labels are tagged \`[${style.tag}]\`.`,
    );
  }
  if (state.readme.contributingSection) {
    lines.push('', '## Contributing', '', 'Run the tests with `python -m pytest` before sending a change; keep one test file per module.');
  }
  if (state.releases.length) {
    lines.push('', '## Changelog');
    for (const release of [...state.releases].reverse()) {
      lines.push('', `### ${release.version}`, '', ...release.notes.map((note) => `- ${note}`));
    }
  }
  return lines.join('\n') + '\n';
}

/** Every file of the project at this state, and the assertion targets its tests contain. */
export function renderTree(state: ProjectState): RenderedTree {
  const files: Record<string, string> = {
    'README.md': renderReadme(state),
    'pyproject.toml': renderPyproject(state),
    [`${state.packageName}/__init__.py`]: renderInit(state),
    [`${state.packageName}/errors.py`]: renderErrors(state),
  };
  const planted: PlantedAssertion[] = [];
  for (const module of state.modules) {
    const units = unitsOf(state, module);
    if (units.length === 0) continue;
    files[`${state.packageName}/${module.name}.py`] = renderModule(state, module);
    const path = `tests/test_${module.name}.py`;
    const marked = module.testStyle === 'pytest' ? renderPytestFile(state, module, units) : renderUnittestFile(state, module, units);
    const { text, planted: found } = extractPlantedAssertions(path, marked);
    files[path] = text;
    planted.push(...found);
  }
  planted.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return { files, planted };
}
