"""Converts a llama GGUF (SmolLM2-135M-Instruct's Q4_1, dequantised) into a Hugging Face directory that training reads.

Usage: training/.venv/bin/python training/convert_gguf.py [--gguf public/models/smollm2-135m-instruct/model.gguf]
       [--out data/models/smollm2-135m-instruct]

transformers reads the GGUF itself (`gguf_file=`, dequantised to float32); this saves that model (float32 safetensors,
config.json, tokenizer.json) and then checks the result: our model.py loads the directory and gives the same logits as
transformers' own GGUF load on a code prompt (max abs difference printed, must be below 1e-4). The directory is data,
never committed. The GGUF's sha256 goes into the directory (gguf_sha256.txt): hypernetworks name the base they serve.
"""
import argparse
import hashlib
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
import transformers

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model import CausalLM, ModelConfig  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_GGUF = REPO / "public/models/smollm2-135m-instruct/model.gguf"
DEFAULT_OUT = REPO / "data/models/smollm2-135m-instruct"
CHECK_PROMPT = "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + "


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert(gguf: Path, out: Path) -> float:
    reference = transformers.AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    out.mkdir(parents=True, exist_ok=True)
    # transformers refuses to save a model loaded from GGUF (it counts as quantised); its weights are plain floats, so
    # our model.py takes them under the same names and writes the HF layout (and the rope_theta our runtime reads).
    c = reference.config
    config = ModelConfig(
        vocab_size=c.vocab_size, hidden_size=c.hidden_size, intermediate_size=c.intermediate_size,
        num_hidden_layers=c.num_hidden_layers, num_attention_heads=c.num_attention_heads,
        num_key_value_heads=c.num_key_value_heads, rope_theta=float(c.rope_parameters["rope_theta"]),
        rms_norm_eps=c.rms_norm_eps, max_position_embeddings=c.max_position_embeddings,
        tie_word_embeddings=c.tie_word_embeddings, bos_token_id=c.bos_token_id, eos_token_id=c.eos_token_id)
    converted = CausalLM(config)
    converted.load_state_dict(reference.state_dict())
    converted.save_pretrained(str(out))
    tokenizer.save_pretrained(out)
    (out / "gguf_sha256.txt").write_text(file_sha256(gguf) + "\n")
    ours = CausalLM.from_pretrained(str(out)).eval()
    ids = torch.tensor([tokenizer(CHECK_PROMPT)["input_ids"]])
    with torch.no_grad():
        expected = reference(ids).logits
        actual, _ = ours(ids)
    return (expected - actual).abs().max().item()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", type=Path, default=DEFAULT_GGUF)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    if not args.gguf.exists():
        print(f"NO_GGUF: {args.gguf} does not exist (run `npm run models:smollm2` first)", file=sys.stderr)
        return 1
    difference = convert(args.gguf, args.out)
    print(f"wrote {args.out}; model.py vs transformers' GGUF load: max |logit difference| {difference:.2e}")
    if difference > 1e-4:
        print("LOGITS_DIFFER: the converted directory does not reproduce the GGUF's logits", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
