"""Exports an ordinary LoRA trained by train_hypernet.py (shared-lora, per-repo-lora) as a PEFT adapter directory.

Usage: training/.venv/bin/python training/export_lora.py --checkpoint training/runs/per-repo-lora/NAME/checkpoint.pt
       --base data/models/smollm2-135m-instruct --out DIR [--alpha 32]

The checkpoint's `trainable` is train_hypernet.py's LayerLora state dict: A.{layer * 7 + i} [r, in] and B.{...}
[out, r], i indexing MODULES (q, k, v, o, gate, up, down). It becomes DIR/adapter_model.safetensors (float32, PEFT's
names: base_model.model.model.layers.{l}.self_attn.q_proj.lora_A.weight, ...) and DIR/adapter_config.json, which
`peft.PeftModel.from_pretrained(base, DIR)` and our TypeScript importPeftAdapter load. The checkpoint does not store
alpha: pass the --alpha it was trained with (train_hypernet.py's default, 32); the rank is read from the shapes.
"""
import argparse
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hypernet import MODULES, module_shapes  # noqa: E402


def peft_name(layer: int, module: str, part: str) -> str:
    block = "self_attn" if module in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
    return f"base_model.model.model.layers.{layer}.{block}.{module}.lora_{part}.weight"


def export_lora(trainable: dict, base_dir: Path, out_dir: Path, alpha: float) -> dict:
    """Checks every A and B against the base model's shapes, then writes the PEFT directory; returns its config."""
    hf = json.loads((base_dir / "config.json").read_text())
    base = SimpleNamespace(hidden_size=hf["hidden_size"], intermediate_size=hf["intermediate_size"],
                           num_key_value_heads=hf.get("num_key_value_heads", hf["num_attention_heads"]),
                           head_dim=hf.get("head_dim") or hf["hidden_size"] // hf["num_attention_heads"])
    shapes, layers = module_shapes(base), hf["num_hidden_layers"]
    expected_keys = {f"{part}.{index}" for part in "AB" for index in range(layers * len(MODULES))}
    if set(trainable) != expected_keys:
        raise ValueError(f"the checkpoint's LoRA does not match a {layers}-layer model: missing "
                         f"{sorted(expected_keys - set(trainable))[:4]}, unexpected {sorted(set(trainable) - expected_keys)[:4]}")
    rank = trainable["A.0"].shape[0]
    tensors = {}
    for layer in range(layers):
        for i, module in enumerate(MODULES):
            a, b = trainable[f"A.{layer * len(MODULES) + i}"], trainable[f"B.{layer * len(MODULES) + i}"]
            out_features, in_features = shapes[module]
            if tuple(a.shape) != (rank, in_features) or tuple(b.shape) != (out_features, rank):
                raise ValueError(f"layer {layer} {module}: A {tuple(a.shape)}, B {tuple(b.shape)}; expected "
                                 f"({rank}, {in_features}) and ({out_features}, {rank})")
            tensors[peft_name(layer, module, "A")] = a.detach().to(torch.float32).contiguous()
            tensors[peft_name(layer, module, "B")] = b.detach().to(torch.float32).contiguous()
    config = {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": int(alpha) if float(alpha).is_integer() else alpha, "target_modules": sorted(MODULES),
        "base_model_name_or_path": base_dir.name, "lora_dropout": 0.0, "bias": "none", "fan_in_fan_out": False,
        "inference_mode": True, "use_rslora": False, "use_dora": False, "init_lora_weights": True,
        "modules_to_save": None, "layers_to_transform": None, "rank_pattern": {}, "alpha_pattern": {},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    # Temporary names, then renames: a reader never sees half an adapter.
    save_file(tensors, str(out_dir / "adapter_model.safetensors.tmp"), metadata={"format": "pt"})
    (out_dir / "adapter_config.json.tmp").write_text(json.dumps(config, indent=2) + "\n")
    os.replace(out_dir / "adapter_model.safetensors.tmp", out_dir / "adapter_model.safetensors")
    os.replace(out_dir / "adapter_config.json.tmp", out_dir / "adapter_config.json")
    return config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--base", type=Path, required=True, help="the base model's Hugging Face directory (config.json)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--alpha", type=float, default=32.0)
    args = parser.parse_args()
    state = torch.load(args.checkpoint, map_location="cpu")
    if state.get("method") not in ("shared-lora", "per-repo-lora"):
        print(f"NOT_A_LORA: {args.checkpoint} is a {state.get('method')!r} checkpoint", file=sys.stderr)
        return 1
    config = export_lora(state["trainable"], args.base, args.out, args.alpha)
    print(f"wrote {args.out} (r={config['r']}, alpha={config['lora_alpha']}, step {state['step']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
