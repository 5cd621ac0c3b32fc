// The synthetic project's model: per-repository conventions, modules, API units and constants, and naming rules.
import type { PyValue } from './python.ts';
import { SeededRandom } from './random.ts';
import { DOMAINS, FIRST_NAMES, GREETINGS, LAST_NAMES, PAIR_SEPARATORS, SEPARATORS, SYLLABLES, type Domain } from './vocabulary.ts';

export type TemplateName =
  | 'scale' | 'clamp' | 'label' | 'joiner' | 'tally' | 'select' | 'ratio' | 'predicate'
  | 'lookup' | 'guard' | 'split' | 'greet' | 'mapped' | 'asyncFetch' | 'registry' | 'container';

/** Conventions fixed per repository: they are what a repository-specific adapter can learn. */
export interface RepoStyle {
  domain: Domain;
  /** Invented word the project is named after ("velkor"). */
  projectWord: string;
  /** Short lowercase prefix ("vk"), used by prefixed function and constant names. */
  prefix: string;
  functionCase: 'snake' | 'prefixed' | 'camel';
  constantCase: 'prefixed' | 'plain' | 'default';
  classNaming: 'project' | 'suffix';
  classSuffix: string;
  addMethod: string;
  totalMethod: string;
  errorName: string;
  separator: string;
  pairSeparator: string;
  tag: string;
  greeting: string;
  labelWidth: number;
  unittestClassNaming: 'test-prefix' | 'tests-suffix';
  /** How often a pytest assert carries a message. */
  assertMessageRate: number;
  commitStyle: 'conventional' | 'plain' | 'lowercase';
  authors: { name: string; email: string }[];
}

export interface ConstantSpec {
  id: number;
  name: string;
  value: PyValue;
}

/** One public API element (a function, a decorator with its registry, or a class) and the examples its tests use. */
export interface ApiUnit {
  id: number;
  template: TemplateName;
  name: string;
  moduleId: number;
  noun: string;
  verb: string;
  adjective: string;
  /** Module-level constants the unit owns, in the order its template declares their roles. */
  constantIds: number[];
  examples: PyValue[][];
  /** Literals fixed at creation (an offset, handler keys). */
  params: Record<string, number | string>;
  /** The unit this one calls (only ever one defined earlier, in the same or an earlier module: no import cycles). */
  dependsOn?: number;
  /** Long docstring with an example, added by "document" commits. */
  documented: boolean;
}

export interface ModuleSpec {
  id: number;
  name: string;
  testStyle: 'pytest' | 'unittest';
  /** pytest files only: a local assert_* helper used by some checks. */
  usesAssertHelper: boolean;
}

export interface ProjectState {
  style: RepoStyle;
  packageName: string;
  distributionName: string;
  modules: ModuleSpec[];
  units: ApiUnit[];
  constants: Map<number, ConstantSpec>;
  usedNames: Set<string>;
  nextId: number;
  version: [number, number, number];
  releases: { version: string; notes: string[] }[];
  unreleasedNotes: string[];
  readme: { taglineVariant: number; conventionsSection: boolean; contributingSection: boolean };
}

export const capitalize = (word: string): string => word.charAt(0).toUpperCase() + word.slice(1);

export function plural(noun: string): string {
  if (/(s|x|ch|sh)$/.test(noun)) return `${noun}es`;
  if (/[^aeiou]y$/.test(noun)) return `${noun.slice(0, -1)}ies`;
  return `${noun}s`;
}

/** camelCase or PascalCase to snake_case. */
export function toSnake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

export function toPascal(snake: string): string {
  return snake.split('_').filter(Boolean).map(capitalize).join('');
}

/** A function (or decorator) name from word parts, in the repository's convention. */
export function functionName(style: RepoStyle, parts: string[]): string {
  switch (style.functionCase) {
    case 'snake':
      return parts.join('_');
    case 'prefixed':
      return [style.prefix, ...parts].join('_');
    case 'camel':
      return parts[0] + parts.slice(1).map(capitalize).join('');
  }
}

export function constantName(style: RepoStyle, parts: string[]): string {
  const words = parts.map((part) => part.toUpperCase());
  switch (style.constantCase) {
    case 'prefixed':
      return [style.prefix.toUpperCase(), ...words].join('_');
    case 'plain':
      return words.join('_');
    case 'default':
      return ['DEFAULT', ...words].join('_');
  }
}

export function className(style: RepoStyle, noun: string): string {
  return style.classNaming === 'project' ? capitalize(style.projectWord) + capitalize(noun) : capitalize(noun) + style.classSuffix;
}

/**
 * Reserve a name that no other unit, constant or module uses. `candidate(attempt)` proposes names; after a
 * few collisions the project word is appended, which always makes it unique in practice.
 */
export function claimName(state: ProjectState, candidate: (attempt: number) => string): string {
  for (let attempt = 0; attempt < 64; attempt++) {
    const proposed = attempt < 48 ? candidate(attempt) : `${candidate(attempt)}_${state.style.projectWord}${attempt}`;
    if (!state.usedNames.has(proposed)) {
      state.usedNames.add(proposed);
      return proposed;
    }
  }
  throw new Error('could not find an unused name');
}

export function releaseName(name: string, state: ProjectState): void {
  state.usedNames.delete(name);
}

function inventWord(rng: SeededRandom): string {
  return rng.sample(SYLLABLES, rng.int(2, 3)).join('');
}

/** Draw a repository's conventions from its seed. */
export function makeStyle(seed: number): RepoStyle {
  const rng = SeededRandom.derive(seed, 'style');
  const domain = rng.pick(DOMAINS);
  const projectWord = inventWord(rng);
  const consonants = projectWord.slice(1).replace(/[aeiou]/g, '');
  const prefix = projectWord[0] + (consonants.slice(0, rng.int(1, 2)) || projectWord[1]);
  const authorCount = rng.int(2, 4);
  const firstNames = rng.sample(FIRST_NAMES, authorCount);
  const emailDomain = rng.chance(0.5) ? `${projectWord}.dev` : 'example.org';
  const authors = firstNames.map((first) => {
    const last = rng.pick(LAST_NAMES);
    return { name: `${first} ${last}`, email: `${first.toLowerCase()}.${last.toLowerCase()}@${emailDomain}` };
  });
  return {
    domain,
    projectWord,
    prefix,
    functionCase: rng.pick(['snake', 'prefixed', 'camel'] as const),
    constantCase: rng.pick(['prefixed', 'plain', 'default'] as const),
    classNaming: rng.pick(['project', 'suffix'] as const),
    classSuffix: rng.pick(['Ledger', 'Bin', 'Store', 'Rack', 'Tray']),
    addMethod: rng.pick(['add', 'put', 'store', 'push', 'stow']),
    totalMethod: rng.pick(['total', 'count', 'size', 'load']),
    errorName: rng.pick([`${capitalize(projectWord)}Error`, `${capitalize(domain.nouns[0])}Error`, `Invalid${capitalize(domain.nouns[1])}`]),
    separator: rng.pick(SEPARATORS),
    pairSeparator: rng.pick(PAIR_SEPARATORS),
    tag: projectWord.slice(0, rng.int(2, 4)).toUpperCase(),
    greeting: rng.pick(GREETINGS),
    labelWidth: rng.int(2, 4),
    unittestClassNaming: rng.pick(['test-prefix', 'tests-suffix'] as const),
    assertMessageRate: rng.pick([0, 0.15, 0.35]),
    commitStyle: rng.pick(['conventional', 'plain', 'lowercase'] as const),
    authors,
  };
}
