// How a synthetic project starts and how it changes, one commit at a time (add, rename, change, move, document).
import { SeededRandom } from './random.ts';
import {
  className, claimName, constantName, functionName, makeStyle, plural, releaseName,
  type ApiUnit, type ModuleSpec, type ProjectState, type TemplateName,
} from './project.ts';
import { TEMPLATES, type NewUnit } from './templates.ts';
import { pyLiteral } from './python.ts';
import { versionString } from './renderProject.ts';

type CommitKind = 'feat' | 'fix' | 'refactor' | 'docs' | 'test' | 'chore';

/** A commit subject in the repository's own style ("feat: add x", "Add x", "add x"). */
function subject(state: ProjectState, kind: CommitKind, text: string): string {
  switch (state.style.commitStyle) {
    case 'conventional':
      return `${kind}: ${text.charAt(0).toLowerCase()}${text.slice(1)}`;
    case 'plain':
      return text;
    case 'lowercase':
      return text.charAt(0).toLowerCase() + text.slice(1);
  }
}

function unitName(state: ProjectState, template: TemplateName, parts: string[]): string {
  return TEMPLATES[template].isClass ? className(state.style, parts[0]) : functionName(state.style, parts);
}

function freshWords(rng: SeededRandom, state: ProjectState): NewUnit {
  const { domain } = state.style;
  return { noun: rng.pick(domain.nouns), verb: rng.pick(domain.verbs), adjective: rng.pick(domain.adjectives), params: {} };
}

/** Redraw one of a unit's words per attempt, so that collisions and renames find a different name. */
function rerolled(rng: SeededRandom, state: ProjectState, words: NewUnit, attempt: number): NewUnit {
  const fresh = freshWords(rng, state);
  const field = (['verb', 'adjective', 'noun'] as const)[attempt % 3];
  return { ...words, [field]: fresh[field] };
}

function claimModuleName(state: ProjectState, rng: SeededRandom): string {
  const { nouns } = state.style.domain;
  return claimName(state, (attempt) =>
    attempt < 6 ? plural(rng.pick(nouns)) : rng.pick(['core', 'helpers', 'records', 'formatting', 'checks', `${rng.pick(nouns)}_ops`]));
}

function addModule(state: ProjectState, rng: SeededRandom, testStyle: ModuleSpec['testStyle']): ModuleSpec {
  const module: ModuleSpec = {
    id: state.nextId++,
    name: claimModuleName(state, rng),
    testStyle,
    usesAssertHelper: testStyle === 'pytest' && rng.chance(0.6),
  };
  state.modules.push(module);
  return module;
}

function addUnit(state: ProjectState, rng: SeededRandom, templateName: TemplateName, module: ModuleSpec, dependency?: ApiUnit): ApiUnit {
  const template = TEMPLATES[templateName];
  let words = freshWords(rng, state);
  if (dependency) words = { ...words, noun: dependency.noun, verb: dependency.verb };
  const name = claimName(state, (attempt) => {
    if (attempt > 0) words = rerolled(rng, state, words, attempt);
    return unitName(state, templateName, template.nameParts(rng, words, state));
  });
  words.params = template.makeParams?.(rng, words, state) ?? {};
  const constantIds = template.constantRoles.map((role) => {
    const id = state.nextId++;
    const constant = {
      id,
      name: claimName(state, (attempt) => constantName(state.style, attempt === 0 ? [words.noun, role.suffix] : [rng.pick(state.style.domain.adjectives), words.noun, role.suffix])),
      value: role.initial(rng, state.style, words),
    };
    state.constants.set(id, constant);
    return id;
  });
  const unit: ApiUnit = {
    id: state.nextId++, template: templateName, name, moduleId: module.id,
    noun: words.noun, verb: words.verb, adjective: words.adjective, params: words.params,
    constantIds, examples: [], dependsOn: dependency?.id, documented: false,
  };
  state.units.push(unit);
  const count = rng.int(...template.exampleCount);
  for (let index = 0; index < count; index++) addExample(state, rng, unit);
  return unit;
}

/** Append a new example, redrawing a few times to avoid repeating one the unit already has. */
function addExample(state: ProjectState, rng: SeededRandom, unit: ApiUnit): void {
  const template = TEMPLATES[unit.template];
  const seen = new Set(unit.examples.map((example) => example.map(pyLiteral).join(', ')));
  let example = template.makeExample(rng, unit, state, unit.examples.length);
  for (let attempt = 0; attempt < 5 && seen.has(example.map(pyLiteral).join(', ')); attempt++) {
    example = template.makeExample(rng, unit, state, unit.examples.length);
  }
  unit.examples.push(example);
}

const moduleIndex = (state: ProjectState, id: number): number => state.modules.findIndex((module) => module.id === id);
const dependentsOf = (state: ProjectState, unit: ApiUnit): ApiUnit[] => state.units.filter((other) => other.dependsOn === unit.id);

/** The first commit: two or three modules that between them use every template feature the tests rely on. */
export function createInitialState(seed: number, rng: SeededRandom): ProjectState {
  const style = makeStyle(seed);
  const state: ProjectState = {
    style,
    packageName: style.projectWord,
    distributionName: `${style.projectWord}-${rng.pick(['kit', 'tools', 'lib', plural(style.domain.nouns[0])])}`,
    modules: [], units: [], constants: new Map(), usedNames: new Set([style.projectWord, 'errors', 'tests']), nextId: 1,
    version: [0, 1, 0], releases: [], unreleasedNotes: [],
    readme: { taglineVariant: rng.int(0, 2), conventionsSection: false, contributingSection: false },
  };
  const pytestModule = addModule(state, rng, 'pytest');
  pytestModule.usesAssertHelper = true;
  const unittestModule = addModule(state, rng, 'unittest');
  const third = rng.chance(0.6) ? addModule(state, rng, rng.chance(0.5) ? 'pytest' : 'unittest') : null;
  const groups: [ModuleSpec, TemplateName[]][] = [
    [pytestModule, rng.shuffle(['ratio', 'predicate', 'scale', 'split'] as TemplateName[])],
    [unittestModule, rng.shuffle(['container', 'guard', 'greet', 'lookup'] as TemplateName[])],
  ];
  for (const [module, templates] of groups) for (const templateName of templates) addUnit(state, rng, templateName, module);
  const rest = rng.shuffle(['asyncFetch', 'registry', 'joiner'] as TemplateName[]);
  const extras = rng.sample(['clamp', 'label', 'tally', 'select'] as TemplateName[], rng.int(0, 2));
  for (const [index, templateName] of [...rest, ...extras].entries()) {
    addUnit(state, rng, templateName, third ?? (index % 2 === 0 ? pytestModule : unittestModule));
  }
  const scale = state.units.find((unit) => unit.template === 'scale')!;
  addUnit(state, rng, 'mapped', third ?? pytestModule, scale);
  // List units module by module (the sort is stable, so a dependency stays ahead of the unit that calls it).
  state.units.sort((a, b) => moduleIndex(state, a.moduleId) - moduleIndex(state, b.moduleId));
  return state;
}

/** A change to the project; returns the commit subject, or null when it does not apply to this state. */
type Operation = (state: ProjectState, rng: SeededRandom) => string | null;

const ADDABLE: TemplateName[] = ['scale', 'clamp', 'label', 'joiner', 'tally', 'select', 'ratio', 'predicate', 'lookup', 'guard', 'split', 'greet', 'asyncFetch', 'mapped', 'container'];

const addFunction: Operation = (state, rng) => {
  const templateName = rng.pick(ADDABLE);
  let dependency: ApiUnit | undefined;
  let candidates = state.modules.filter((module) => state.units.filter((unit) => unit.moduleId === module.id).length < 7);
  if (templateName === 'mapped') {
    const scales = state.units.filter((unit) => unit.template === 'scale');
    if (scales.length === 0) return null;
    dependency = rng.pick(scales);
    const from = moduleIndex(state, dependency.moduleId);
    candidates = candidates.filter((module) => moduleIndex(state, module.id) >= from);
  }
  if (candidates.length === 0) return null;
  const unit = addUnit(state, rng, templateName, rng.pick(candidates), dependency);
  state.unreleasedNotes.push(`Add \`${unit.name}\`.`);
  return subject(state, 'feat', `Add ${unit.name}`);
};

const addModuleOperation: Operation = (state, rng) => {
  if (state.modules.length >= 5) return null;
  const module = addModule(state, rng, rng.chance(0.55) ? 'pytest' : 'unittest');
  const names = Array.from({ length: rng.int(1, 2) }, () =>
    addUnit(state, rng, rng.pick(ADDABLE.filter((name) => name !== 'mapped')), module).name);
  state.unreleasedNotes.push(`New module \`${state.packageName}.${module.name}\` with ${names.map((name) => `\`${name}\``).join(' and ')}.`);
  return subject(state, 'feat', `Add ${state.packageName}.${module.name} module`);
};

const renameUnit: Operation = (state, rng) => {
  const unit = rng.pick(state.units);
  const template = TEMPLATES[unit.template];
  let words: NewUnit = { noun: unit.noun, verb: unit.verb, adjective: unit.adjective, params: unit.params };
  const old = unit.name;
  const name = claimName(state, (attempt) => {
    words = rerolled(rng, state, { noun: unit.noun, verb: unit.verb, adjective: unit.adjective, params: unit.params }, attempt);
    return unitName(state, unit.template, template.nameParts(rng, words, state));
  });
  releaseName(old, state);
  Object.assign(unit, { name, noun: words.noun, verb: words.verb, adjective: words.adjective });
  state.unreleasedNotes.push(`Rename \`${old}\` to \`${name}\`.`);
  return subject(state, 'refactor', `Rename ${old} to ${name}`);
};

function pickConstant(state: ProjectState, rng: SeededRandom): { unit: ApiUnit; index: number } | null {
  const owners = state.units.filter((unit) => unit.constantIds.length > 0);
  if (owners.length === 0) return null;
  const unit = rng.pick(owners);
  return { unit, index: rng.int(0, unit.constantIds.length - 1) };
}

const changeConstant: Operation = (state, rng) => {
  const picked = pickConstant(state, rng);
  if (!picked) return null;
  const constant = state.constants.get(picked.unit.constantIds[picked.index])!;
  const before = pyLiteral(constant.value);
  constant.value = TEMPLATES[picked.unit.template].constantRoles[picked.index].changed(constant.value, rng, state.style, picked.unit);
  state.unreleasedNotes.push(`\`${constant.name}\` is now ${pyLiteral(constant.value)}.`);
  return subject(state, rng.chance(0.5) ? 'fix' : 'feat', `Change ${constant.name} from ${before} to ${pyLiteral(constant.value)}`);
};

const renameConstant: Operation = (state, rng) => {
  const picked = pickConstant(state, rng);
  if (!picked) return null;
  const constant = state.constants.get(picked.unit.constantIds[picked.index])!;
  const role = TEMPLATES[picked.unit.template].constantRoles[picked.index];
  const old = constant.name;
  constant.name = claimName(state, () => constantName(state.style, [rng.pick(state.style.domain.adjectives), picked.unit.noun, role.suffix]));
  releaseName(old, state);
  state.unreleasedNotes.push(`Rename \`${old}\` to \`${constant.name}\`.`);
  return subject(state, 'refactor', `Rename ${old} to ${constant.name}`);
};

const addExamples: Operation = (state, rng) => {
  const units = state.units.filter((unit) => TEMPLATES[unit.template].exampleCount[1] > 0 && unit.examples.length < 4);
  if (units.length === 0) return null;
  const unit = rng.pick(units);
  addExample(state, rng, unit);
  return subject(state, 'test', rng.pick([`Test ${unit.name} with more inputs`, `Cover another ${unit.noun} case`]));
};

const documentUnit: Operation = (state, rng) => {
  const units = state.units.filter((unit) => !unit.documented);
  if (units.length === 0) return null;
  const unit = rng.pick(units);
  unit.documented = true;
  return subject(state, 'docs', `Document ${unit.name}`);
};

const editReadme: Operation = (state, rng) => {
  const { readme } = state;
  const choices: [string, () => void][] = [['Reword the README introduction', () => { readme.taglineVariant += 1; }]];
  if (!readme.conventionsSection) choices.push(['Describe naming conventions in the README', () => { readme.conventionsSection = true; }]);
  if (!readme.contributingSection) choices.push(['Add contributing notes', () => { readme.contributingSection = true; }]);
  const [text, apply] = rng.pick(choices);
  apply();
  return subject(state, 'docs', text);
};

const release: Operation = (state, rng) => {
  if (state.unreleasedNotes.length < 3) return null;
  const [major, minor, patch] = state.version;
  state.version = rng.chance(0.7) ? [major, minor + 1, 0] : [major, minor, patch + 1];
  state.releases.push({ version: versionString(state), notes: state.unreleasedNotes });
  state.unreleasedNotes = [];
  return subject(state, 'chore', `Release ${versionString(state)}`);
};

const moveUnit: Operation = (state, rng) => {
  const movable = state.units.filter((unit) => unit.dependsOn === undefined && dependentsOf(state, unit).length === 0);
  if (movable.length === 0 || state.modules.length < 2) return null;
  const unit = rng.pick(movable);
  const target = rng.pick(state.modules.filter((module) => module.id !== unit.moduleId));
  const source = state.modules.find((module) => module.id === unit.moduleId)!;
  unit.moduleId = target.id;
  // Show the moved unit last in its new module.
  state.units.splice(state.units.indexOf(unit), 1);
  state.units.push(unit);
  if (!state.units.some((other) => other.moduleId === source.id)) {
    state.modules.splice(state.modules.indexOf(source), 1);
    releaseName(source.name, state);
  }
  state.unreleasedNotes.push(`\`${unit.name}\` moved to \`${state.packageName}.${target.name}\`.`);
  return subject(state, 'refactor', `Move ${unit.name} to ${state.packageName}.${target.name}`);
};

const removeUnit: Operation = (state, rng) => {
  if (state.units.length <= 6) return null;
  const removable = state.units.filter((unit) =>
    dependentsOf(state, unit).length === 0 && state.units.filter((other) => other.moduleId === unit.moduleId).length > 1);
  if (removable.length === 0) return null;
  const unit = rng.pick(removable);
  state.units.splice(state.units.indexOf(unit), 1);
  releaseName(unit.name, state);
  for (const id of unit.constantIds) {
    releaseName(state.constants.get(id)!.name, state);
    state.constants.delete(id);
  }
  if (unit.params.registry !== undefined) releaseName(String(unit.params.registry), state);
  state.unreleasedNotes.push(`Remove \`${unit.name}\`.`);
  return subject(state, 'refactor', rng.pick([`Remove ${unit.name}`, `Drop deprecated ${unit.name}`]));
};

/** Renaming a module deletes its file and its test file and adds them under the new name. */
const renameModule: Operation = (state, rng) => {
  const module = rng.pick(state.modules);
  const old = module.name;
  module.name = claimModuleName(state, rng);
  releaseName(old, state);
  state.unreleasedNotes.push(`\`${state.packageName}.${old}\` is now \`${state.packageName}.${module.name}\`.`);
  return subject(state, 'refactor', `Rename module ${old} to ${module.name}`);
};

/** Fold the smallest module into another one (not when it holds a dependency or a dependent: import order). */
const mergeModules: Operation = (state, rng) => {
  if (state.modules.length < 3) return null;
  const size = (module: ModuleSpec) => state.units.filter((unit) => unit.moduleId === module.id).length;
  const source = [...state.modules].sort((a, b) => size(a) - size(b))[0];
  const moving = state.units.filter((unit) => unit.moduleId === source.id);
  if (moving.some((unit) => unit.dependsOn !== undefined || dependentsOf(state, unit).length > 0)) return null;
  const target = rng.pick(state.modules.filter((module) => module.id !== source.id));
  for (const unit of moving) unit.moduleId = target.id;
  state.modules.splice(state.modules.indexOf(source), 1);
  releaseName(source.name, state);
  state.unreleasedNotes.push(`\`${state.packageName}.${source.name}\` was merged into \`${state.packageName}.${target.name}\`.`);
  return subject(state, 'refactor', `Merge ${source.name} into ${target.name}`);
};

const OPERATIONS: [Operation, number][] = [
  [addFunction, 4], [addModuleOperation, 1.2], [renameUnit, 3], [changeConstant, 3], [renameConstant, 1],
  [addExamples, 2.5], [documentUnit, 1.5], [editReadme, 1.2], [release, 1], [moveUnit, 1], [removeUnit, 0.7],
  [renameModule, 0.8], [mergeModules, 0.5],
];

/** Apply one randomly chosen change that applies to this state; returns its commit subject. */
export function applyRandomChange(state: ProjectState, rng: SeededRandom): string {
  const weights = OPERATIONS.map(([, weight]) => weight);
  for (;;) {
    const message = OPERATIONS[rng.weightedIndex(weights)][0](state, rng);
    if (message !== null) return message;
  }
}

export function initialCommitSubject(state: ProjectState): string {
  return subject(state, 'chore', 'Initial commit');
}
