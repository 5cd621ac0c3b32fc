"""Loss curves of hypernetwork / LoRA runs (train, IR-val, CR-val, Static's shuffled-adapter CR-val) from their log.jsonl, into one PNG.

Usage: training/.venv/bin/python training/plot_runs.py --out docs/hypernet_loss.png training/runs/code2lora-static [...]
"""
import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").open()]


def smooth(values: list[float], window: int = 20) -> list[float]:
    return [sum(values[max(0, i - window + 1):i + 1]) / len(values[max(0, i - window + 1):i + 1]) for i in range(len(values))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    figure, (train_axis, val_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for run in args.runs:
        log = read_log(run)
        start = next(r for r in log if r.get("event") == "start")
        steps = [r for r in log if "loss" in r]
        evals = [r for r in log if "cr_val_loss" in r and "step" in r]
        # The run's folder names it where two runs share a method (Static at two hidden sizes, say).
        name = start["method"] if run.name == start["method"] else f"{start['method']} ({run.name})"
        train_axis.plot([r["step"] for r in steps], smooth([r["loss"] for r in steps]), label=f"{name} (20-step mean)")
        points = [(0, start["cr_val_loss"], start["ir_val_loss"])] + [(r["step"], r["cr_val_loss"], r["ir_val_loss"]) for r in evals]
        val_axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=f"{name} CR-val")
        val_axis.plot([p[0] for p in points], [p[2] for p in points], marker="x", linestyle="--", label=f"{name} IR-val")
        shuffled = [(r.get("step", 0), r["cr_val_shuffled_loss"]) for r in [start, *evals] if "cr_val_shuffled_loss" in r]
        if shuffled:  # Static's adapters given to other held-out repositories: the gap is what is repository-specific
            val_axis.plot([p[0] for p in shuffled], [p[1] for p in shuffled], marker="s", linestyle=":",
                          label=f"{name} CR-val, shuffled adapters")
    # The base model's loss is drawn only when it is near the runs' (a warm-started run starts far below it, and the
    # line would flatten every curve); the title always gives it.
    low, high = val_axis.get_ylim()
    if start["base_cr_val_loss"] < high + (high - low):
        val_axis.axhline(start["base_cr_val_loss"], color="gray", linestyle=":", label="base model CR-val")
    train_axis.set(title="training loss (target tokens)", xlabel="step", ylabel="cross-entropy (nats/token)")
    val_axis.set(title=f"validation loss (base model CR-val {start['base_cr_val_loss']:.3f})", xlabel="step",
                 ylabel="cross-entropy (nats/token)")
    train_axis.legend(fontsize=8)
    val_axis.legend(fontsize=8)
    figure.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
