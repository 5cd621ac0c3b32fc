"""Measures one per-repo LoRA training micro-step (forward + backward + AdamW) on an HF-layout base model, with PEFT.

Used by `npm run bench:perf` to estimate what training a per-repository LoRA would cost next to generating an adapter:
the paper's per-repo baseline trains LoRA r=16 (alpha 32) on every linear layer for 3 epochs at micro-batch 4.
Prints one JSON object. Random token ids stand in for the repository's tasks: the cost does not depend on the values.
"""
import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from peft import LoraConfig, get_peft_model  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="directory with config.json and model.safetensors")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=512)
    parser.add_argument("--steps", type=int, default=3, help="timed steps, after one warm-up step")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.float32)
    modules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=modules, lora_dropout=0.0))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    seq = min(args.seq, model.config.max_position_embeddings)
    ids = torch.randint(0, model.config.vocab_size, (args.batch, seq))

    def step() -> None:
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    seconds = (time.perf_counter() - started) / args.steps
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(json.dumps({
        "seconds_per_micro_step": seconds, "batch": args.batch, "seq": seq, "threads": args.threads,
        "trainable_parameters": trainable, "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
