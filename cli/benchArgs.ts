// Shared command-line pieces of the benchmark CLIs: repository/seed/split options and the stderr progress bar.
import type { SplitFractions } from '../src/parse/splits.ts';

export class UsageError extends Error {
  readonly code = 'USAGE';
}

export function integerOption(name: string, value: string | undefined, fallback: number, minimum = 0): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < minimum) throw new UsageError(`--${name} must be an integer >= ${minimum}, got ${value}`);
  return number;
}

/** `all` (every repository is held out: CR test) or `VAL,TEST` fractions for the hash split. */
export function heldOutOption(value: string | undefined): 'all' | SplitFractions {
  if (value === undefined || value === 'all') return 'all';
  const [val, test] = value.split(',').map(Number);
  if (!(val >= 0 && test >= 0 && val + test <= 1)) throw new UsageError(`--held-out must be "all" or "VAL,TEST" fractions, got ${value}`);
  return { val, test };
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * A one-line progress bar on stderr: redrawn in place on a terminal, else printed every 5% (logs stay short).
 */
export function progressBar(stream: NodeJS.WriteStream = process.stderr) {
  let lastPrintedPercent = -5;
  return ({ done, total, resumed, method, repo, elapsedSeconds, etaSeconds }: {
    done: number; total: number; resumed: number; method: string; repo: string; elapsedSeconds: number; etaSeconds: number | null;
  }) => {
    const fraction = total === 0 ? 1 : done / total;
    const width = 24;
    const filled = Math.round(fraction * width);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} (${(fraction * 100).toFixed(0)}%)`
      + `${resumed ? `, ${resumed} resumed` : ''} ${method ? `${method} @ ${repo}` : 'done'}`
      + ` elapsed ${formatDuration(elapsedSeconds)} ETA ${etaSeconds === null ? '?' : formatDuration(etaSeconds)}`;
    if (stream.isTTY) {
      stream.write(`\r${line.slice(0, (stream.columns ?? 120) - 1).padEnd((stream.columns ?? 120) - 1)}`);
      if (done === total) stream.write('\n');
    } else if (fraction * 100 >= lastPrintedPercent + 5 || done === total) {
      lastPrintedPercent = fraction * 100;
      stream.write(`${line}\n`);
    }
  };
}
