"""Code2LoRA adapters for a benchmark's tasks, computed from the training data's embeddings, as PEFT folders.

Usage: training/.venv/bin/python training/export_adapters.py --hypernetwork DIR --files FILE_EMBEDDINGS.pt
       --requests BENCH/torch/base.requests.jsonl --out BENCH/torch [--diffs DIFF_EMBEDDINGS.pt] [--shuffled]

The benchmark's own path (`npm run bench -- --methods code2lora-static,code2lora-evo`) embeds every file (and diff) with
c2l-base in the TypeScript runtime; on 2 shared cores that takes longer than a session has for five large
repositories. The same values exist in the training data (`npm run data:hypernet` / `data:evo` chunk with the same
TypeScript, `embed.py` embeds them; the two sides are held equal by tests/test_hypernet_parity.py), so this computes
the same adapters from them:
  code2lora-static  the hypernetwork applied to the repository's file embeddings;
  code2lora-evo     (--diffs) the state starts at the history's first commit and steps through every commit up to
                    the task's; the adapter is `EvoHypernetwork.adapter_at`.
It writes OUT/adapters/KIND/REPO@COMMIT/ and OUT/KIND.requests.jsonl (the base requests' prompts with those adapters)
for training/evaluate.py; with --shuffled also OUT/shuffled-adapter.requests.jsonl, where each repository gets the
adapter of the next one in name order (the last the first's): the benchmark's shuffled-adapter control.
"""
import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from export_lora import export_lora  # noqa: E402
from hypernet import KINDS, MODULES, HypernetConfig  # noqa: E402


def per_layer_tensors(adapter, layers: int) -> dict:
    """A hypernetwork's adapter (one dict for every layer, or a list per layer) -> export_lora's A.i / B.i names."""
    tensors = {}
    for layer in range(layers):
        modules = adapter[layer] if isinstance(adapter, list) else adapter
        for i, module in enumerate(MODULES):
            a, b = modules[module]
            tensors[f"A.{layer * len(MODULES) + i}"] = a[0].clone()  # one tensor per layer: safetensors refuses shared storage
            tensors[f"B.{layer * len(MODULES) + i}"] = b[0].clone()
    return tensors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hypernetwork", type=Path, required=True, help="an exported code2lora-static or -evo folder")
    parser.add_argument("--base", type=Path, default=Path("data/models/smollm2-135m-instruct"))
    parser.add_argument("--files", type=Path, required=True)
    parser.add_argument("--diffs", type=Path, help="Evo: the histories' diff embeddings")
    parser.add_argument("--requests", type=Path, required=True, help="the benchmark's base.requests.jsonl (ids REPO@SHA12:...)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--shuffled", action="store_true", help="also write shuffled-adapter.requests.jsonl")
    args = parser.parse_args()
    config_file = json.loads((args.hypernetwork / "hypernetwork_config.json").read_text())
    kind = config_file.get("kind", "code2lora-static")
    if kind not in KINDS:
        print(f"BAD_CONFIG: unknown hypernetwork kind {kind!r}", file=sys.stderr)
        return 1
    if (kind == "code2lora-evo") != (args.diffs is not None):
        print(f"USAGE: a {kind} hypernetwork {'needs' if kind == 'code2lora-evo' else 'takes no'} --diffs", file=sys.stderr)
        return 1
    config = HypernetConfig.from_json(config_file)
    network = KINDS[kind](config)
    network.load_state_dict({k: v.float() for k, v in load_file(str(args.hypernetwork / "hypernetwork.safetensors")).items()})
    network.eval()
    files = torch.load(args.files)
    # Embeddings of another encoder layer than the one the hypernetwork was trained on make meaningless adapters.
    layer_read, layer_given = config_file["encoder"].get("layer"), files.get("encoder", {}).get("layer")
    if layer_read != layer_given:
        print(f"ENCODER_MISMATCH: {args.hypernetwork} reads encoder layer {layer_read or 'last'}, "
              f"{args.files} holds layer {layer_given or 'last'}", file=sys.stderr)
        return 1
    diffs = torch.load(args.diffs)["repos"] if args.diffs else None
    requests = [json.loads(line) for line in args.requests.open()]
    layers = json.loads((args.base / "config.json").read_text())["num_hidden_layers"]

    def data_repo(name: str) -> str:  # the benchmark names a work tree (networkx), the data its owner+name
        known = diffs if diffs is not None else files["repos"]
        matches = [repo for repo in known if repo == name or repo.endswith(f"+{name}")]
        if len(matches) != 1:
            raise SystemExit(f"NO_DATA: {name} matches {matches or 'no repository'} of {args.diffs or args.files}")
        return matches[0]

    def adapter_for(group: str):
        name, short = group.split("@")
        repo = data_repo(name)
        blobs = files["repos"][repo]["blobs"]
        embedded = torch.stack([files["blobs"][blob] for blob in blobs])[None]
        mask = torch.ones(1, len(blobs), dtype=torch.bool)
        if diffs is None:
            print(f"{group}: {len(blobs)} files", flush=True)
            return network(embedded, mask)
        history = diffs[repo]
        index = next((i for i, sha in enumerate(history["commits"]) if sha.startswith(short)), None)
        if index is None:
            raise SystemExit(f"NOT_IN_HISTORY: {group} is not in {repo}'s {len(history['commits'])} history commits")
        state = network.repo_state(embedded, mask)
        for step in range(1, index + 1):
            state = network.step(state, history["embeddings"][step][None], history["has_diff"][step][None])
        print(f"{group}: {index} commits stepped from {history['commits'][0][:12]}", flush=True)
        return network.adapter_at(state)

    groups = sorted({request["id"].split(":", 1)[0] for request in requests})  # REPO@SHA12
    folders = {}
    with torch.no_grad():
        for group in groups:
            folders[group] = args.out / "adapters" / kind / group
            export_lora(per_layer_tensors(adapter_for(group), layers), args.base, folders[group], config.alpha)
    outputs = {kind: folders}
    if args.shuffled:
        outputs["shuffled-adapter"] = {group: folders[groups[(i + 1) % len(groups)]] for i, group in enumerate(groups)}
    for method, chosen in outputs.items():
        with (args.out / f"{method}.requests.jsonl").open("w") as handle:
            for request in requests:
                handle.write(json.dumps({**request, "adapter": str(chosen[request["id"].split(":", 1)[0]])}) + "\n")
        print(f"{len(chosen)} adapters, {len(requests)} requests -> {args.out}/{method}.requests.jsonl")
    return 0


if __name__ == "__main__":
    sys.exit(main())
