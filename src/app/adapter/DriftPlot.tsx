// A small SVG plot of the Evo adapter's drift along history: ‖ΔW_t − ΔW_{t−1}‖ summed over modules, per commit computed so far.
import type { EvoDriftPoint } from '../../code2lora/evoSession.ts';

const WIDTH = 520;
const HEIGHT = 120;
const PAD = { left: 56, right: 8, top: 8, bottom: 22 };

/**
 * Drift per commit as bars over the whole history (0 = oldest commit), the selected commit highlighted. Plain SVG: the
 * plot is a few dozen rectangles, so no chart library is needed.
 */
export function DriftPlot({ points, historyLength, selectedIndex }: {
  points: readonly EvoDriftPoint[];
  historyLength: number;
  selectedIndex: number | null;
}) {
  if (points.length === 0) {
    return <p className="muted" data-testid="drift-plot-empty">No drift yet: step to a later commit to see how the adapter moves.</p>;
  }
  const max = Math.max(...points.map((p) => p.drift), 1e-12);
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotWidth / Math.max(historyLength, 1);
  const barWidth = Math.max(1, slot * 0.8);
  const x = (index: number) => PAD.left + index * slot + (slot - barWidth) / 2;
  const y = (drift: number) => PAD.top + plotHeight * (1 - drift / max);
  return (
    <figure className="drift-plot">
      <svg
        role="img"
        aria-label={`Adapter drift per commit, ${points.length} of ${historyLength} commits computed, largest ${max.toExponential(2)}`}
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        width={WIDTH}
        height={HEIGHT}
        data-testid="drift-plot"
        data-points={points.length}
      >
        <line x1={PAD.left} y1={PAD.top + plotHeight} x2={WIDTH - PAD.right} y2={PAD.top + plotHeight} stroke="#8a94a1" />
        <line x1={PAD.left} y1={PAD.top} x2={PAD.left} y2={PAD.top + plotHeight} stroke="#8a94a1" />
        <text x={PAD.left - 4} y={PAD.top + 8} textAnchor="end" fontSize="10">{max.toExponential(1)}</text>
        <text x={PAD.left - 4} y={PAD.top + plotHeight} textAnchor="end" fontSize="10">0</text>
        <text x={PAD.left} y={HEIGHT - 6} fontSize="10">oldest</text>
        <text x={WIDTH - PAD.right} y={HEIGHT - 6} textAnchor="end" fontSize="10">newest</text>
        {points.map((p) => (
          <rect
            key={p.index}
            x={x(p.index)}
            y={y(p.drift)}
            width={barWidth}
            height={Math.max(0, PAD.top + plotHeight - y(p.drift))}
            fill={p.index === selectedIndex ? '#d9822b' : '#4a78c2'}
            data-index={p.index}
          >
            <title>{`${p.commit.slice(0, 8)}: drift ${p.drift.toExponential(3)}`}</title>
          </rect>
        ))}
      </svg>
      <figcaption className="muted">
        How far each commit moved the adapter: ‖(α/r)(B<sub>t</sub>A<sub>t</sub> − B<sub>t−1</sub>A<sub>t−1</sub>)‖ summed over modules,
        for the {points.length} commits stepped so far.
      </figcaption>
    </figure>
  );
}
