// RepoPeftBench scoring: the paper's post-processing and lenient exact match, difflib's edit similarity, bootstrap CIs.
import { seededUniform } from '../util/random.ts';

// Python's str.isspace() set: str.strip() and str.split() use it, and JS's trim() differs (\x1c-\x1f, \x85, \ufeff).
const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const EDGE_SPACE = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');
const SPACE_RUN = new RegExp(`[${PY_SPACE}]+`);

/** Python's `s.strip()`. */
export function pyStrip(text: string): string {
  return text.replace(EDGE_SPACE, '');
}

/** Python's `s.split()` (no argument): runs of whitespace separate, no empty words. */
export function pySplit(text: string): string[] {
  return text.split(SPACE_RUN).filter((word) => word.length > 0);
}

function rstripChars(text: string, chars: string): string {
  let end = text.length;
  while (end > 0 && chars.includes(text[end - 1])) end--;
  return text.slice(0, end);
}

// Qwen-style fill-in-the-middle tokens; our tokenizer has them too, and decoding keeps special tokens.
const FIM_TOKENS = ['<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>'];

const LEADING_SPACE = new RegExp(`^[${PY_SPACE}]+`);

/**
 * True once generation can stop for a one-line target: the continuation, without FIM tokens and leading whitespace,
 * already holds a line break, so post-processing (which keeps only that first line) can no longer change.
 */
export function isFirstLineFinal(raw: string): boolean {
  let text = raw;
  for (const token of FIM_TOKENS) text = text.replaceAll(token, '');
  return text.replace(LEADING_SPACE, '').includes('\n');
}

/** Everything before the first `#`, stripped (as the authors do, even when the `#` is inside a string literal). */
export function stripComments(text: string): string {
  return pyStrip(text.split('#')[0]);
}

/**
 * The paper's post-processing of a raw continuation, given its target: strip (and drop FIM tokens); a one-line
 * target keeps the prediction's first line; drop comments; a target without a comma cuts the prediction at its first
 * comma; a single-word target keeps the prediction's first word.
 *
 * @example postprocessPrediction(' 42, "x")\n    assert y', '42') // '42'
 */
export function postprocessPrediction(raw: string, target: string): string {
  let prediction = raw;
  for (const token of FIM_TOKENS) prediction = prediction.replaceAll(token, '');
  prediction = pyStrip(prediction);
  if (!target.includes('\n') && prediction.includes('\n')) prediction = prediction.split('\n')[0];
  prediction = stripComments(prediction);
  const reference = stripComments(target);
  if (reference) {
    if (!reference.includes(',') && prediction.includes(',')) prediction = pyStrip(prediction.split(',')[0]);
    const words = pySplit(prediction);
    if (pySplit(reference).length === 1 && words.length > 1) prediction = words[0];
  }
  return pyStrip(prediction);
}

/** Lenient normalisation: strip, drop trailing `:` `,` spaces and tabs, `, ` and ` ,` to `,`, collapse whitespace. */
export function normalizeForMatch(text: string): string {
  const trimmed = rstripChars(pyStrip(text), ':, \t').replaceAll(', ', ',').replaceAll(' ,', ',');
  return pySplit(trimmed).join(' ');
}

/**
 * difflib.SequenceMatcher(None, a, b).ratio() over code points, with the same autojunk heuristic (an element of a
 * sequence b of 200 or more items that occurs more than len(b)/100 + 1 times is "popular" and never starts a
 * match), so values equal Python's.
 */
export function editSimilarity(a: string, b: string): number {
  const left = Array.from(a);
  const right = Array.from(b);
  const total = left.length + right.length;
  return total === 0 ? 1 : (2 * matchingCharacters(left, right)) / total;
}

function matchingCharacters(a: readonly string[], b: readonly string[]): number {
  const b2j = new Map<string, number[]>();
  b.forEach((element, j) => {
    const indices = b2j.get(element);
    if (indices) indices.push(j);
    else b2j.set(element, [j]);
  });
  if (b.length >= 200) {
    const popularAbove = Math.floor(b.length / 100) + 1;
    for (const [element, indices] of [...b2j]) if (indices.length > popularAbove) b2j.delete(element);
  }

  // find_longest_match without junk: the earliest longest block, then extended over popular elements on both sides.
  const longestMatch = (alo: number, ahi: number, blo: number, bhi: number): [number, number, number] => {
    let bestI = alo;
    let bestJ = blo;
    let bestSize = 0;
    let runEndingAt = new Map<number, number>();
    for (let i = alo; i < ahi; i++) {
      const next = new Map<number, number>();
      for (const j of b2j.get(a[i]) ?? []) {
        if (j < blo) continue;
        if (j >= bhi) break;
        const k = (runEndingAt.get(j - 1) ?? 0) + 1;
        next.set(j, k);
        if (k > bestSize) {
          bestI = i - k + 1;
          bestJ = j - k + 1;
          bestSize = k;
        }
      }
      runEndingAt = next;
    }
    while (bestI > alo && bestJ > blo && a[bestI - 1] === b[bestJ - 1]) {
      bestI--;
      bestJ--;
      bestSize++;
    }
    while (bestI + bestSize < ahi && bestJ + bestSize < bhi && a[bestI + bestSize] === b[bestJ + bestSize]) bestSize++;
    return [bestI, bestJ, bestSize];
  };

  let matches = 0;
  const queue: [number, number, number, number][] = [[0, a.length, 0, b.length]];
  while (queue.length > 0) {
    const [alo, ahi, blo, bhi] = queue.pop()!;
    const [i, j, size] = longestMatch(alo, ahi, blo, bhi);
    if (size === 0) continue;
    matches += size;
    if (alo < i && blo < j) queue.push([alo, i, blo, j]);
    if (i + size < ahi && j + size < bhi) queue.push([i + size, ahi, j + size, bhi]);
  }
  return matches;
}

export interface CompletionScore {
  /** Lenient exact match of the post-processed prediction and the comment-stripped target. */
  em: boolean;
  /** difflib ratio of the same two strings (not normalised, as the authors compute it). */
  editsim: number;
  prediction: string;
  target: string;
}

/**
 * Scores one raw continuation against its target exactly as the paper does.
 *
 * @example scoreCompletion(' 3\n    assert b == 4', '3') // { em: true, editsim: 1, prediction: '3', target: '3' }
 */
export function scoreCompletion(rawPrediction: string, target: string): CompletionScore {
  const prediction = postprocessPrediction(rawPrediction, target);
  const cleanTarget = stripComments(target);
  return {
    em: normalizeForMatch(prediction) === normalizeForMatch(cleanTarget),
    editsim: editSimilarity(prediction, cleanTarget),
    prediction,
    target: cleanTarget,
  };
}

export class BootstrapError extends Error {
  readonly code = 'BOOTSTRAP_INPUT';
  constructor(message: string) {
    super(message);
    this.name = 'BootstrapError';
  }
}

export interface BootstrapOptions {
  seed?: number;
  /** Default 2000. */
  resamples?: number;
  /** Default 0.95. */
  confidence?: number;
  /**
   * The group (e.g. repository) of each value. When given, groups are resampled with replacement, then the values
   * within each drawn group, and each resample's mean pools its values: tasks of one repository are not independent,
   * and this interval also says how far the mean would move with other repositories, which the task-level one does not.
   */
  clusters?: ArrayLike<string>;
}

/** numpy.quantile's default (linear interpolation) on sorted values. */
function quantileOfSorted(sorted: Float64Array, q: number): number {
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.min(low + 1, sorted.length - 1);
  return sorted[low] + (sorted[high] - sorted[low]) * (position - low);
}

function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return sum / values.length;
}

/** Means of `resamples` seeded resamples (with replacement) of `values`, or of their clusters when given, sorted. */
function resampledMeans(values: ArrayLike<number>, { seed = 0, resamples = 2000, clusters }: BootstrapOptions): Float64Array {
  if (clusters) return resampledClusterMeans(values, clusters, seed, resamples);
  const uniform = seededUniform(seed);
  const n = values.length;
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    for (let k = 0; k < n; k++) sum += values[Math.floor(uniform() * n)];
    means[r] = sum / n;
  }
  return means.sort();
}

/**
 * Two-stage resampling: clusters with replacement, then each drawn cluster's values with replacement. Resampling
 * clusters alone would ignore the noise within each one and, with few clusters, give intervals that are too narrow.
 */
function resampledClusterMeans(values: ArrayLike<number>, clusters: ArrayLike<string>, seed: number, resamples: number): Float64Array {
  if (clusters.length !== values.length) throw new BootstrapError(`clusters needs one group per value (got ${clusters.length} for ${values.length})`);
  const byCluster = new Map<string, number[]>();
  for (let i = 0; i < values.length; i++) {
    const group = byCluster.get(clusters[i]) ?? [];
    group.push(values[i]);
    byCluster.set(clusters[i], group);
  }
  const groups = [...byCluster.keys()].sort().map((key) => byCluster.get(key)!);
  const uniform = seededUniform(seed);
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    let count = 0;
    for (let k = 0; k < groups.length; k++) {
      const group = groups[Math.floor(uniform() * groups.length)];
      for (let j = 0; j < group.length; j++) sum += group[Math.floor(uniform() * group.length)];
      count += group.length;
    }
    means[r] = sum / count;
  }
  return means.sort();
}

export interface MeanWithInterval {
  mean: number;
  ci: [number, number];
}

/** The mean, its percentile interval, and the sorted resampled means it came from (the p-value reads them too). */
function resampledInterval(values: ArrayLike<number>, options: BootstrapOptions): MeanWithInterval & { means: Float64Array } {
  if (values.length === 0) throw new BootstrapError('bootstrap needs at least one value');
  const { confidence = 0.95 } = options;
  const means = resampledMeans(values, options);
  const tail = (1 - confidence) / 2;
  return { mean: mean(values), ci: [quantileOfSorted(means, tail), quantileOfSorted(means, 1 - tail)], means };
}

/**
 * The mean of `values` and its percentile-bootstrap confidence interval; the same seed gives the same interval.
 *
 * @example bootstrapMean([1, 0, 1, 1], { seed: 0 }) // { mean: 0.75, ci: [0.25, 1] }
 */
export function bootstrapMean(values: ArrayLike<number>, options: BootstrapOptions = {}): MeanWithInterval {
  const { mean: valuesMean, ci } = resampledInterval(values, options);
  return { mean: valuesMean, ci };
}

export interface PairedDifference extends MeanWithInterval {
  /** Two-sided bootstrap p-value for "no difference": twice the smaller share of resampled differences on either side of 0. */
  p: number;
  n: number;
}

/**
 * Paired bootstrap of mean(a - b) over the same tasks (a[i] and b[i] score task i): the tasks are resampled together,
 * so the interval reflects per-task agreement, not two independent samples.
 */
export function pairedBootstrap(a: ArrayLike<number>, b: ArrayLike<number>, options: BootstrapOptions = {}): PairedDifference {
  if (a.length !== b.length) throw new BootstrapError(`paired bootstrap needs equal lengths (got ${a.length} and ${b.length})`);
  const differences = Float64Array.from({ length: a.length }, (_, i) => a[i] - b[i]);
  const { mean: diff, ci, means } = resampledInterval(differences, options);
  let atOrBelow = 0;
  let atOrAbove = 0;
  for (const value of means) {
    if (value <= 0) atOrBelow++;
    if (value >= 0) atOrAbove++;
  }
  return { mean: diff, ci, p: Math.min(1, (2 * Math.min(atOrBelow, atOrAbove)) / means.length), n: a.length };
}
