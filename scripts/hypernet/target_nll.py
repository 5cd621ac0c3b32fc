"""How likely each adapter makes a task's own target: a finer probe than exact match, for docs/results.md. Greedy
decoding shows only which continuation wins; this scores the target, teacher-forced after the task's prompt, and
reports per method the mean negative log-likelihood (nats a token) of the target's tokens and, on tasks that need
repository knowledge (`repoNames`), of the needed names' tokens (those overlapping a name's first occurrence in the
target) and how often a name's first token is the top choice. Differences are paired with the first method, 95%
bootstrap over tasks.

Usage: training/.venv/bin/python scripts/hypernet/target_nll.py --model data/models/smollm2-135m-instruct \
         --tasks A/tasks.jsonl,B/tasks.jsonl --methods shared=R1.requests.jsonl+R2.requests.jsonl,static=... \
         [--knowledge-only] [--pairs A:B,...] [--json OUT [--rows]]
Requests are the benchmark's torch-engine requests (prompt_ids, adapter); the tasks every method has a request for
are scored (with --knowledge-only, those of them with `repoNames`).
"""
import argparse
import json
import re
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))
from evaluate import Decoder, read_jsonl  # noqa: E402


def name_token_positions(offsets, target: str, names: list[str]) -> list[int]:
    """Indices of the target tokens that overlap the first whole-word occurrence of each name."""
    positions = set()
    for name in names:
        found = re.search(rf"\b{re.escape(name)}\b", target)
        if found:
            positions.update(i for i, (start, end) in enumerate(offsets) if start < found.end() and end > found.start())
    return sorted(positions)


def target_scores(decoder: Decoder, prompt_ids: list[int], target_ids: list[int], name_positions: list[int]) -> dict:
    """The target teacher-forced after the prompt, as the benchmark's torch engine scores it (evaluate.py prefill)."""
    score = decoder.prefill([{"id": "", "prompt_ids": prompt_ids, "target_ids": target_ids}])[-1][0]
    token_nll, top = score["token_nll"], score["top1"]
    first_name = name_positions[0] if name_positions else None
    return {
        "target_nll": token_nll.mean().item(),
        "name_nll": token_nll[name_positions].mean().item() if name_positions else None,
        "name_first_top1": bool(top[first_name].item()) if first_name is not None else None,
    }


def mean_with_interval(values: list[float], rounds: int = 10000, seed: int = 0) -> dict:
    """The mean and its 95% bootstrap interval."""
    generator = torch.Generator().manual_seed(seed)
    data = torch.tensor(values, dtype=torch.float64)
    means = data[torch.randint(len(values), (rounds, len(values)), generator=generator)].mean(1)
    return {"mean": data.mean().item(), "ci95": [means.quantile(0.025).item(), means.quantile(0.975).item()]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--tasks", required=True)
    parser.add_argument("--methods", required=True, help="name=requests.jsonl[+requests.jsonl...],...; the first is the reference")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--rows", action="store_true", help="also write every task's scores to --json (tasks_scored)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="score only the first N tasks (a quick try)")
    parser.add_argument("--knowledge-only", action="store_true", help="only the tasks that need repository knowledge")
    parser.add_argument("--pairs", default="", help="more paired differences, A:B (A minus B),...")
    args = parser.parse_args()
    specs = [spec.partition("=") for spec in args.methods.split(",")]
    if any(not name or not files for name, _, files in specs):
        parser.error("--methods takes name=requests.jsonl[+requests.jsonl...],...")
    pairs = [tuple(pair.split(":")) for pair in filter(None, args.pairs.split(","))]
    if any(len(pair) != 2 or not set(pair) <= {name for name, _, _ in specs} for pair in pairs):
        parser.error("--pairs takes A:B,... where A and B are names given in --methods")
    torch.set_num_threads(args.threads)

    tasks = {t["id"]: t for path in args.tasks.split(",") for t in read_jsonl(Path(path))
             if t.get("repoNames") or not args.knowledge_only}
    methods = {name: {r["id"]: r for path in files.split("+") for r in read_jsonl(Path(path)) if r["id"] in tasks}
               for name, _, files in specs}
    ids = sorted(set(tasks).intersection(*methods.values()))[:args.limit or None]
    print(f"{len(ids)} tasks with a request for every method, {sum(bool(tasks[i].get('repoNames')) for i in ids)} of them "
          "need repository knowledge", flush=True)

    decoder = Decoder(args.model, torch.float32)
    scores = {}
    for name, requests in methods.items():
        rows = {}
        for task_id in sorted(ids, key=lambda i: str(requests[i]["adapter"])):  # one adapter load per group
            task, request = tasks[task_id], requests[task_id]
            encoding = decoder.tokenizer.encode(task["target"], add_special_tokens=False)
            decoder.use_adapter(request["adapter"])
            rows[task_id] = target_scores(decoder, request["prompt_ids"], encoding.ids,
                                          name_token_positions(encoding.offsets, task["target"], task.get("repoNames", [])))
        scores[name] = rows
        print(f"{name}: scored", flush=True)

    def paired(first: str, second: str) -> dict:
        """first minus second, per measure, over the tasks where both have it."""
        differences = {}
        for key in ("target_nll", "name_nll"):
            among = [i for i in ids if scores[first][i][key] is not None]
            if among:
                differences[key] = mean_with_interval([scores[first][i][key] - scores[second][i][key] for i in among])
        return differences

    def described(differences: dict, against: str = "") -> str:
        return "".join(f"  {key.split('_')[0]}s{f' - {against}' if against else ''} {d['mean']:+.4f} "
                       f"[{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}]" for key, d in differences.items())

    reference = next(iter(methods))
    summary = {"tasks": len(ids), "methods": {}, "pairs": {}}
    for name, rows in scores.items():
        named = [i for i in ids if rows[i]["name_nll"] is not None]
        entry = {"target_nll": sum(rows[i]["target_nll"] for i in ids) / len(ids), "tasks_with_name_tokens": len(named)}
        line = f"{name:>24}: target {entry['target_nll']:.4f}"
        if named:
            entry["name_nll"] = sum(rows[i]["name_nll"] for i in named) / len(named)
            entry["name_first_top1"] = sum(rows[i]["name_first_top1"] for i in named) / len(named)
            line += f"  names {entry['name_nll']:.3f}  first name token top-1 {100 * entry['name_first_top1']:.1f}%"
        if name != reference:
            differences = paired(name, reference)
            entry.update({f"{key}_minus_{reference}": d for key, d in differences.items()})
            line += described(differences, reference)
        summary["methods"][name] = entry
        print(line)
    for first, second in pairs:
        differences = summary["pairs"][f"{first} - {second}"] = paired(first, second)
        print(f"{first} - {second}:{described(differences)}")
    if args.rows:
        summary["tasks_scored"] = scores
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
