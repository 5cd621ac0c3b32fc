"""Exports a Code2LoRA-Static or -Evo checkpoint (training/train_hypernet.py) as the files the browser loads.

Usage: training/.venv/bin/python training/export_hypernet.py --checkpoint training/runs/code2lora-static/best.pt
       --base data/models/smollm2-135m-instruct --out public/models/smollm2-135m-instruct/code2lora-static
       [--training-json FILE] [--dtype float16|float32]

Writes OUT/hypernetwork_config.json (hypernet.config_json: the base model's architecture numbers from BASE/config.json
and the SHA-256 of the GGUF it came from, BASE/gguf_sha256.txt, when present; the encoder settings, which must be
src/code2lora/encoderSettings.ts ENCODER_SETTINGS; training figures from the checkpoint and --training-json) and
OUT/hypernetwork.safetensors (the Hypernetwork state_dict under its PyTorch names, float16 by default; the
standardisation statistics float32).
src/code2lora/loadHypernetwork.ts reads both and refuses them for another base model or encoder.
"""
import argparse
import json
import math
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hypernet import KINDS, HypernetConfig, config_json, module_shapes  # noqa: E402

# src/code2lora/encoderSettings.ts ENCODER_SETTINGS, and c2l-base's hidden size.
ENCODER = {"model": "c2l-base", "chunk_tokens": 128, "chunks_per_file": 2, "include_tests": False, "hidden_size": 384}
DTYPES = {"float16": torch.float16, "float32": torch.float32}


class ExportError(Exception):
    """A checkpoint that cannot be exported as asked; `code` says why."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


def base_model_fields(base_dir: Path) -> dict:
    """config.base_model: the architecture numbers the loader compares with the model it runs on."""
    hf = json.loads((base_dir / "config.json").read_text())
    sha_file = base_dir / "gguf_sha256.txt"
    return {
        "name": base_dir.name,
        "sha256": sha_file.read_text().split()[0] if sha_file.exists() else None,
        "num_hidden_layers": hf["num_hidden_layers"],
        "hidden_size": hf["hidden_size"],
        "intermediate_size": hf["intermediate_size"],
        "num_key_value_heads": hf.get("num_key_value_heads", hf["num_attention_heads"]),
        "head_dim": hf.get("head_dim") or hf["hidden_size"] // hf["num_attention_heads"],
        "vocab_size": hf["vocab_size"],
    }


def export_hypernetwork(state_dict: dict, config: HypernetConfig, base_dir: Path, out_dir: Path, *,
                        encoder: dict = ENCODER, training: Optional[dict] = None, dtype: str = "float16",
                        kind: str = "code2lora-static") -> None:
    """Checks the weights against the config and the base model, then writes OUT/hypernetwork_config.json and
    OUT/hypernetwork.safetensors."""
    base = base_model_fields(base_dir)
    expected_shapes = module_shapes(SimpleNamespace(**base))  # as train_hypernet.py derives them from the base model
    for module, shape in config.shapes.items():
        if tuple(shape) != tuple(expected_shapes[module]):
            raise ExportError("BASE_MODEL_MISMATCH", f"{module} is {tuple(shape)} in the checkpoint, {expected_shapes[module]} in {base_dir}")
    if config.embedding_size != encoder["hidden_size"]:
        raise ExportError("ENCODER_MISMATCH", f"the checkpoint embeds files in {config.embedding_size} values, "
                          f"encoder {encoder['model']} has {encoder['hidden_size']}")
    if kind not in KINDS:
        raise ExportError("BAD_CHECKPOINT", f"unknown hypernetwork kind {kind!r} (known: {', '.join(KINDS)})")
    reference = KINDS[kind](config).state_dict()
    missing, unexpected = reference.keys() - state_dict.keys(), state_dict.keys() - reference.keys()
    if missing or unexpected:
        raise ExportError("BAD_CHECKPOINT", f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
    for name, tensor in reference.items():
        if state_dict[name].shape != tensor.shape:
            raise ExportError("BAD_CHECKPOINT", f"{name} is {tuple(state_dict[name].shape)}, expected {tuple(tensor.shape)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "hypernetwork_config.json").write_text(config_json(config, base, encoder, training or {}, kind))
    # repo_norm stays float32: (v - mean) / std subtracts nearly equal numbers, and float16's rounding of the mean
    # (5e-4 relative) would be a large part of the difference.
    save_file({name: tensor.detach().to(torch.float32 if name.startswith("repo_norm.") else DTYPES[dtype]).contiguous()
               for name, tensor in state_dict.items()},
              str(out_dir / "hypernetwork.safetensors"), metadata={"format": "pt"})
    os.chmod(out_dir / "hypernetwork.safetensors", 0o644)  # safetensors creates it owner-only; the app serves it


def encoder_of(checkpoint: dict) -> dict:
    """The encoder the checkpoint's file embeddings came from: c2l-base's settings and the layer read when it was cut
    (embed.py --layer), or the model and width of a candidate encoder (training/encoder_candidates.py) where it was
    trained on one; the app refuses those."""
    trained_on = checkpoint.get("encoder") or {}
    if trained_on.get("model", ENCODER["model"]) == ENCODER["model"]:
        return {**ENCODER, **({"layer": trained_on["layer"]} if "layer" in trained_on else {})}
    return {**ENCODER, "model": trained_on["model"], "hidden_size": trained_on["hidden_size"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--base", type=Path, required=True, help="the base model's HF directory (config.json)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--training-json", type=Path, help="figures to record under config.training (a JSON object)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float16")
    args = parser.parse_args()
    checkpoint = torch.load(args.checkpoint, map_location="cpu")
    if checkpoint.get("config") is None:
        print(f"BAD_CHECKPOINT: {args.checkpoint} holds no hypernetwork (method {checkpoint.get('method')!r})", file=sys.stderr)
        return 1
    best = checkpoint.get("best_val")  # inf when no validation ran: JSON has no infinity, say null
    training = {"checkpoint": args.checkpoint.name, "step": checkpoint.get("step"),
                "best_cr_val_loss": best if best is not None and math.isfinite(best) else None}
    if args.training_json:
        training.update(json.loads(args.training_json.read_text()))
    try:
        export_hypernetwork(checkpoint["trainable"], HypernetConfig.from_json(checkpoint["config"]), args.base, args.out,
                            encoder=encoder_of(checkpoint), training=training, dtype=args.dtype,
                            kind=checkpoint.get("method") or "code2lora-static")
    except ExportError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"wrote {args.out}/hypernetwork_config.json and hypernetwork.safetensors ({args.dtype})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
