"""Code2LoRA-Evo adapters for a benchmark's tasks, computed from the training data's embeddings, as PEFT folders.

Usage: training/.venv/bin/python training/export_evo_adapters.py --hypernetwork DIR --files FILE_EMBEDDINGS.pt
       --diffs DIFF_EMBEDDINGS.pt --requests BENCH/torch/base.requests.jsonl --out BENCH/torch

The benchmark's own path (`npm run bench -- --methods code2lora-evo`) embeds every file and diff with c2l-base in the
TypeScript runtime; on 2 shared cores that takes longer than a session has for five large histories. The same values
exist in the Evo data (`npm run data:evo` chunks with the same TypeScript, `embed.py` embeds them; the two sides are
held equal by tests/test_hypernet_parity.py), so this computes the same states and adapters from them: the state
starts at each repository's first history commit and steps through every commit up to the task's, the adapter is
`EvoHypernetwork.adapter_at`. It writes OUT/adapters/code2lora-evo/REPO@COMMIT/ and
OUT/code2lora-evo.requests.jsonl (the base requests' prompts with those adapters) for training/evaluate.py.
"""
import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from export_lora import export_lora  # noqa: E402
from hypernet import MODULES, EvoHypernetwork, HypernetConfig  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hypernetwork", type=Path, required=True, help="an exported code2lora-evo folder")
    parser.add_argument("--base", type=Path, default=Path("data/models/smollm2-135m-instruct"))
    parser.add_argument("--files", type=Path, required=True)
    parser.add_argument("--diffs", type=Path, required=True)
    parser.add_argument("--requests", type=Path, required=True, help="the benchmark's base.requests.jsonl (ids REPO@SHA12:...)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    config_file = json.loads((args.hypernetwork / "hypernetwork_config.json").read_text())
    if config_file.get("kind") != "code2lora-evo":
        print(f"NOT_EVO: {args.hypernetwork} holds a {config_file.get('kind', 'code2lora-static')} hypernetwork", file=sys.stderr)
        return 1
    config = HypernetConfig.from_json(config_file)
    network = EvoHypernetwork(config)
    network.load_state_dict({k: v.float() for k, v in load_file(str(args.hypernetwork / "hypernetwork.safetensors")).items()})
    network.eval()
    files, diffs = torch.load(args.files), torch.load(args.diffs)["repos"]
    requests = [json.loads(line) for line in args.requests.open()]
    layers = json.loads((args.base / "config.json").read_text())["num_hidden_layers"]

    def data_repo(name: str) -> str:  # the benchmark names a work tree (networkx), the data its owner+name
        matches = [repo for repo in diffs if repo == name or repo.endswith(f"+{name}")]
        if len(matches) != 1:
            raise SystemExit(f"NO_DATA: {name} matches {matches or 'no repository'} of {args.diffs}")
        return matches[0]

    adapters: dict = {}
    out_requests = []
    with torch.no_grad():
        for request in requests:
            group = request["id"].split(":", 1)[0]  # REPO@SHA12
            if group not in adapters:
                name, short = group.split("@")
                repo = data_repo(name)
                history = diffs[repo]
                index = next((i for i, sha in enumerate(history["commits"]) if sha.startswith(short)), None)
                if index is None:
                    raise SystemExit(f"NOT_IN_HISTORY: {group} is not in {repo}'s {len(history['commits'])} history commits")
                blobs = files["repos"][repo]["blobs"]
                embedded = torch.stack([files["blobs"][blob] for blob in blobs])[None]
                state = network.repo_state(embedded, torch.ones(1, len(blobs), dtype=torch.bool))
                for step in range(1, index + 1):
                    state = network.step(state, history["embeddings"][step][None], history["has_diff"][step][None])
                adapter = network.adapter_at(state)
                per_layer = {}
                for layer in range(layers):
                    for i, module in enumerate(MODULES):
                        per_layer[f"A.{layer * len(MODULES) + i}"] = adapter[module][0][0].clone()  # one tensor per layer: safetensors refuses shared storage
                        per_layer[f"B.{layer * len(MODULES) + i}"] = adapter[module][1][0].clone()
                folder = args.out / "adapters" / "code2lora-evo" / group
                export_lora(per_layer, args.base, folder, config.alpha)
                adapters[group] = folder
                print(f"{group}: {index} commits stepped from {history['commits'][0][:12]}", flush=True)
            out_requests.append({**request, "adapter": str(adapters[group])})
    with (args.out / "code2lora-evo.requests.jsonl").open("w") as handle:
        for request in out_requests:
            handle.write(json.dumps(request) + "\n")
    print(f"{len(adapters)} adapters, {len(out_requests)} requests -> {args.out}/code2lora-evo.requests.jsonl")
    return 0


if __name__ == "__main__":
    sys.exit(main())
