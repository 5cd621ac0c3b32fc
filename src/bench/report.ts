// Benchmark report: the paper-style markdown table (methods x splits, CIs, costs, paired differences) and SVG plots.
import type { BenchSummary, PairedSummary, RepoKnowledgeSummary, RepoSummary, SplitSummary, TimelinePoint } from './run.ts';

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#9c755f'];

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

const fixed = (value: number, digits = 1) => value.toFixed(digits);

interface BarValue {
  value: number;
  lo?: number;
  hi?: number;
}

/** Grouped vertical bars on a 0-100 axis with optional CI whiskers; a legend names the series. */
export function groupedBarChart({ title, groups, series, valueOf, yLabel = 'EM (%)' }: {
  title: string;
  groups: readonly string[];
  series: readonly string[];
  valueOf: (group: string, series: string) => BarValue | null;
  yLabel?: string;
}): string {
  const bar = 18;
  const gap = 26;
  const left = 52;
  const top = 36;
  const plotHeight = 220;
  const groupWidth = series.length * bar + gap;
  const width = Math.max(360, left + groups.length * groupWidth + 20);
  const legendTop = top + plotHeight + 48;
  const perRow = Math.max(1, Math.floor((width - left) / 150));
  const height = legendTop + Math.ceil(series.length / perRow) * 18 + 10;
  const y = (value: number) => top + plotHeight - (Math.max(0, Math.min(100, value)) / 100) * plotHeight;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    `<text transform="translate(14 ${top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`,
  ];
  for (let tick = 0; tick <= 100; tick += 20) {
    parts.push(`<line x1="${left}" x2="${width - 10}" y1="${y(tick)}" y2="${y(tick)}" stroke="#e5e5e5"/>`,
      `<text x="${left - 6}" y="${y(tick) + 4}" text-anchor="end">${tick}</text>`);
  }
  groups.forEach((group, g) => {
    const x0 = left + gap / 2 + g * groupWidth;
    series.forEach((name, s) => {
      const value = valueOf(group, name);
      if (!value) return;
      const x = x0 + s * bar;
      parts.push(`<rect x="${x}" y="${y(value.value)}" width="${bar - 3}" height="${y(0) - y(value.value)}" fill="${PALETTE[s % PALETTE.length]}">`
        + `<title>${escapeXml(`${name} · ${group}: ${fixed(value.value)}`)}</title></rect>`);
      if (value.lo !== undefined && value.hi !== undefined) {
        const cx = x + (bar - 3) / 2;
        parts.push(`<path d="M${cx} ${y(value.lo)}V${y(value.hi)}M${cx - 3} ${y(value.lo)}h6M${cx - 3} ${y(value.hi)}h6" stroke="#222" fill="none"/>`);
      }
    });
    parts.push(`<text x="${x0 + (series.length * bar) / 2}" y="${top + plotHeight + 16}" text-anchor="middle">${escapeXml(group.length > 17 ? `${group.slice(0, 16)}…` : group)}</text>`);
  });
  series.forEach((name, s) => {
    const x = left + (s % perRow) * 150;
    const ly = legendTop + Math.floor(s / perRow) * 18;
    parts.push(`<rect x="${x}" y="${ly - 9}" width="10" height="10" fill="${PALETTE[s % PALETTE.length]}"/>`,
      `<text x="${x + 14}" y="${ly}">${escapeXml(name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** EM along commit time: one line per method over the bins of commit position (oldest left). */
export function timelineChart(points: readonly TimelinePoint[], methods: readonly string[]): string {
  const width = 560;
  const left = 52;
  const top = 36;
  const plotWidth = width - left - 20;
  const plotHeight = 200;
  const bins = points[0]?.bins ?? 10;
  const legendTop = top + plotHeight + 46;
  const perRow = Math.max(1, Math.floor((width - left) / 125));
  const height = legendTop + Math.ceil(methods.length / perRow) * 18 + 10;
  const x = (bin: number) => left + ((bin + 0.5) / bins) * plotWidth;
  const y = (value: number) => top + plotHeight - (value / 100) * plotHeight;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">Evo EM along commit time</text>`,
    `<text transform="translate(14 ${top + plotHeight / 2}) rotate(-90)" text-anchor="middle">EM (%)</text>`,
    `<text x="${left + plotWidth / 2}" y="${top + plotHeight + 32}" text-anchor="middle">position of the task's commit in the history (oldest → newest)</text>`,
  ];
  for (let tick = 0; tick <= 100; tick += 20) {
    parts.push(`<line x1="${left}" x2="${left + plotWidth}" y1="${y(tick)}" y2="${y(tick)}" stroke="#e5e5e5"/>`,
      `<text x="${left - 6}" y="${y(tick) + 4}" text-anchor="end">${tick}</text>`);
  }
  for (let bin = 0; bin < bins; bin++) {
    parts.push(`<text x="${x(bin)}" y="${top + plotHeight + 16}" text-anchor="middle">${Math.round((bin / bins) * 100)}%</text>`);
  }
  methods.forEach((method, m) => {
    const line = points.filter((p) => p.method === method).sort((a, b) => a.bin - b.bin);
    if (line.length === 0) return;
    const color = PALETTE[m % PALETTE.length];
    parts.push(`<polyline points="${line.map((p) => `${x(p.bin)},${y(p.em)}`).join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const p of line) {
      parts.push(`<circle cx="${x(p.bin)}" cy="${y(p.em)}" r="3" fill="${color}"><title>${escapeXml(`${method}: ${fixed(p.em)}% of ${p.n}`)}</title></circle>`);
    }
    const lx = left + (m % perRow) * 125;
    const ly = legendTop + Math.floor(m / perRow) * 18;
    parts.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${color}"/>`, `<text x="${lx + 14}" y="${ly}">${escapeXml(method)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

export const PLOT_FILES = { byMethod: 'em_by_method.svg', byRepo: 'em_by_repo.svg', evoTimeline: 'evo_em_timeline.svg' } as const;

/** The three plots, by file name. The timeline is left out when no evo task was scored. */
export function renderPlots(summary: BenchSummary, methods: readonly string[]): Record<string, string> {
  const splits = [...new Set(summary.summary.map((s) => s.split))];
  const cell = new Map(summary.summary.map((s) => [`${s.method}\u0000${s.split}`, s]));
  const repoCell = new Map(summary.perRepo.map((r) => [`${r.method}\u0000${r.repo}`, r]));
  const plots: Record<string, string> = {
    [PLOT_FILES.byMethod]: groupedBarChart({
      title: 'EM per method and split (95% bootstrap CI)', groups: splits, series: methods,
      valueOf: (split, method) => {
        const s = cell.get(`${method}\u0000${split}`);
        return s ? { value: s.em, lo: s.em_ci[0], hi: s.em_ci[1] } : null;
      },
    }),
    [PLOT_FILES.byRepo]: groupedBarChart({
      title: 'EM per repository (all scored splits, 95% CI)', groups: [...new Set(summary.perRepo.map((r) => r.repo))], series: methods,
      valueOf: (repo, method) => {
        const r = repoCell.get(`${method}\u0000${repo}`);
        return r ? { value: r.em, lo: r.em_ci[0], hi: r.em_ci[1] } : null;
      },
    }),
  };
  if (summary.evoTimeline.length > 0) plots[PLOT_FILES.evoTimeline] = timelineChart(summary.evoTimeline, methods);
  return plots;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

const ci = ([lo, hi]: [number, number], digits = 1) => `[${fixed(lo, digits)}, ${fixed(hi, digits)}]`;

export interface ReportContext {
  command: string;
  wallSeconds: number;
  /** Sum of per-task and preparation seconds over every run that contributed records (resumed runs included). */
  computeSeconds: number;
  model: string;
  taskSet: string;
  methods: readonly string[];
  notes: readonly string[];
  skipped: readonly { method: string; repo: string; tasks: number; reason: string }[];
}

/** report.md: the methods x splits table (EM with CI, EditSim), costs, paired differences vs the baseline, per repo. */
export function renderReport(summary: BenchSummary, context: ReportContext, plots: readonly string[]): string {
  const { methods } = context;
  const splits = [...new Set(summary.summary.map((s) => s.split))];
  const cell = new Map(summary.summary.map((s) => [`${s.method}\u0000${s.split}`, s]));
  const mainRows = methods.map((method) => [method, ...splits.map((split) => {
    const s = cell.get(`${method}\u0000${split}`);
    return s ? `${fixed(s.em)} ${ci(s.em_ci)} · ES ${fixed(s.editsim, 3)} (n ${s.n})` : '–';
  })]);
  const costs = methods.flatMap((method) => {
    const rows = summary.summary.filter((s: SplitSummary) => s.method === method);
    if (rows.length === 0) return [];
    const n = rows.reduce((sum, s) => sum + s.n, 0);
    const weighted = (pick: (s: SplitSummary) => number) => rows.reduce((sum, s) => sum + pick(s) * s.n, 0) / n;
    return [[method, fixed(weighted((s) => s.prompt_tokens_mean), 0), fixed(weighted((s) => s.extra_prompt_tokens_mean), 0),
      fixed(weighted((s) => s.seconds_per_task), 3), fixed(rows[0].prepare_seconds_mean, 2)]];
  });
  const nllRows = methods.flatMap((method) => {
    const row = splits.map((split) => {
      const s = cell.get(`${method}\u0000${split}`);
      return s?.target_nll !== undefined ? `${fixed(s.target_nll, 3)} ${ci(s.target_nll_ci!, 3)} (n ${s.nll_n})` : '–';
    });
    return row.some((text) => text !== '–') ? [[method, ...row]] : [];
  });
  const pValue = (p: number) => (p < 0.001 ? '<0.001' : fixed(p, 3));
  const pairedRowsOf = (paired: readonly PairedSummary[]) => paired.map((p) => [
    p.method, p.baseline, p.split, String(p.n), `${p.em_diff >= 0 ? '+' : ''}${fixed(p.em_diff)} ${ci(p.em_diff_ci)}`, pValue(p.p),
    `${p.editsim_diff >= 0 ? '+' : ''}${fixed(p.editsim_diff, 3)}`,
    p.target_nll_diff !== undefined
      ? `${p.target_nll_diff >= 0 ? '+' : ''}${fixed(p.target_nll_diff, 3)} ${ci(p.target_nll_diff_ci!, 3)}, p ${pValue(p.target_nll_p!)} (n ${p.nll_n})`
      : '–',
  ]);
  const pairedRows = pairedRowsOf(summary.paired);
  const pairedHeader = ['method', 'against', 'split', 'n', 'ΔEM (pp) [95% CI]', 'p', 'ΔEditSim', 'ΔNLL [95% CI], p (n)'];
  const repos = [...new Set(summary.perRepo.map((r) => r.repo))];
  const repoCell = new Map(summary.perRepo.map((r: RepoSummary) => [`${r.method}\u0000${r.repo}`, r]));
  const repoRows = repos.map((repo) => [repo, ...methods.map((method) => {
    const r = repoCell.get(`${method}\u0000${repo}`);
    return r ? `${fixed(r.em)} (n ${r.n})${r.target_nll !== undefined ? ` · NLL ${fixed(r.target_nll, 3)}` : ''}` : '–';
  })]);
  const signed = (d: { mean: number; ci: [number, number] } | undefined, digits = 1) =>
    (d ? `${d.mean >= 0 ? '+' : ''}${fixed(d.mean, digits)} ${ci(d.ci, digits)}` : '–');
  const knowledgeRows = summary.repoKnowledge.map((k: RepoKnowledgeSummary) => [
    k.method, k.split, String(k.n), `${fixed(k.em)} ${ci(k.em_ci)}`, signed(k.em_diff), `${fixed(k.name_recall)} ${ci(k.name_recall_ci)}`, signed(k.name_recall_diff),
    k.target_nll !== undefined ? `${fixed(k.target_nll, 3)} ${ci(k.target_nll_ci!, 3)}` : '–', signed(k.target_nll_diff, 3),
  ]);
  const knowledgePairedRows = pairedRowsOf(summary.repoKnowledgePaired);
  const sections = [
    '# RepoPeftBench-TS report',
    '',
    `- Command: \`${context.command}\``,
    `- Wall time: ${fixed(context.wallSeconds, 1)} s for this invocation; ${fixed(context.computeSeconds, 1)} s of task and preparation time over all runs that contributed records`,
    `- Model: ${context.model}`,
    `- Task set: ${context.taskSet}`,
    ...context.notes.map((note) => `- ${note}`),
    '',
    '## Exact match (%) with 95% bootstrap CI, and edit similarity',
    '',
    'Scoring follows the paper: the raw greedy continuation is post-processed (first line, comments, comma and',
    'single-word rules) and compared to the target after lenient normalisation; EditSim is difflib\'s ratio.',
    '',
    table(['method', ...splits], mainRows),
    '',
    '## Costs',
    '',
    table(['method', 'prompt tokens (mean)', 'extra prompt tokens', 's / task', 'prepare s / repo'], costs),
    '',
    '## Likelihood of the target (nats a token, 95% bootstrap CI)',
    '',
    'Each task\'s target teacher-forced after the method\'s own prompt, through its adapter: the mean negative',
    'log-likelihood of its tokens (at most the decoding budget). Lower is better. It sees what EM cannot: how much',
    'likelier an adapter makes the right continuation even where the greedy choice does not change.',
    '',
    nllRows.length > 0 ? table(['method', ...splits], nllRows) : 'Not measured (records made before the benchmark measured it).',
    '',
    '## Paired differences (same tasks, paired bootstrap)',
    '',
    'Every method against base, and the comparisons the claims rest on (static against the shared LoRA and against',
    'another repository\'s adapter; Evo against Static re-run per commit and the shared LoRA). ΔNLL below zero: the',
    'method makes the targets likelier than the one it is compared with.',
    '',
    pairedRows.length > 0 ? table(pairedHeader, pairedRows) : 'No two methods scored the same tasks.',
    '',
    '## EM (%) per repository, with the target NLL where measured',
    '',
    table(['repository', ...methods], repoRows),
    '',
    '## Tasks that need repository knowledge',
    '',
    'Static tasks whose target uses a name that the repository\'s non-test code defines and the prompt never mentions:',
    'no prompt supplies it, only knowledge of the repository can. Name recall: the share of those names the scored',
    'prediction writes. Target NLL as above. Differences are against base on the same tasks (paired bootstrap).',
    '',
    knowledgeRows.length > 0
      ? table(['method', 'split', 'n', 'EM % [95% CI]', 'ΔEM (pp) [95% CI]', 'name recall % [95% CI]', 'Δ recall (pp) [95% CI]',
        'NLL [95% CI]', 'ΔNLL [95% CI]'], knowledgeRows)
      : 'None scored: no task needs a name from outside its prompt, or the task set was mined before tasks were marked.',
    '',
  ];
  if (knowledgePairedRows.length > 0) {
    sections.push(
      'The claims\' comparisons on these tasks alone, where an adapter made from the repository (rather than another',
      'one\'s, or one LoRA for all) should show first:', '', table(pairedHeader, knowledgePairedRows), '',
    );
  }
  if (context.skipped.length > 0) {
    sections.push('## Not run', '', ...context.skipped.map((s) => `- ${s.method} on ${s.repo} (${s.tasks} tasks): ${s.reason}`), '');
  }
  sections.push('## Plots', '', ...plots.map((file) => `![${file}](${file})`), '');
  return sections.join('\n');
}
