// The figures a shipped hypernetwork's config records about its training ("training" in hypernetwork_config.json), as label/value pairs to show.

export interface TrainingFigure {
  /** The key in the config's "training" object (nested keys joined with "."). */
  key: string;
  /** The key for people: underscores to spaces, CR/IR/EM/LR in capitals. */
  label: string;
  value: string;
}

const ACRONYMS = new Set(['cr', 'ir', 'em', 'lr', 'evo']);
const MAX_FIGURES = 12;

function label(key: string): string {
  return key.split(/[._]/).filter(Boolean).map((word) => (ACRONYMS.has(word.toLowerCase()) ? word.toUpperCase() : word)).join(' ');
}

function formatValue(value: number | string | boolean): string {
  if (typeof value !== 'number') return String(value);
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  return Number(value.toPrecision(4)).toString();
}

/**
 * How much a figure tells a user about the hypernetwork's quality: exact match first, then losses, then the rest (the
 * run's settings). Only 12 are shown, and configs record their settings before their results.
 */
function rank(key: string): number {
  const words = key.toLowerCase().split(/[._]/);
  if (words.includes('em')) return 0;
  if (words.includes('loss')) return 1;
  return 2;
}

/**
 * The scalar entries of a "training" object (numbers, strings, booleans; one level of nesting flattened), nulls left
 * out, at most 12: exact-match figures first, then losses, then the rest, each group in the order written. The object
 * is free-form: nothing else is assumed about its keys.
 * @example trainingFigures({ step: 1500, best_cr_val_loss: 2.31234 }) // [{ key: 'best_cr_val_loss', label: 'best CR val loss', value: '2.312' }, { key: 'step', label: 'step', value: '1,500' }]
 */
export function trainingFigures(training: unknown): TrainingFigure[] {
  if (training === null || typeof training !== 'object' || Array.isArray(training)) return [];
  const figures: TrainingFigure[] = [];
  const add = (key: string, value: unknown) => {
    if (typeof value === 'number' ? Number.isFinite(value) : typeof value === 'boolean' || (typeof value === 'string' && value.length <= 80)) {
      figures.push({ key, label: label(key), value: formatValue(value as number | string | boolean) });
    }
  };
  for (const [key, value] of Object.entries(training as Record<string, unknown>)) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [inner, innerValue] of Object.entries(value as Record<string, unknown>)) add(`${key}.${inner}`, innerValue);
    } else add(key, value);
  }
  // Array.prototype.sort is stable: each rank keeps the order written.
  return figures.sort((a, b) => rank(a.key) - rank(b.key)).slice(0, MAX_FIGURES);
}
