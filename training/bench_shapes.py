"""Measures training throughput of candidate model shapes (float32 vs bfloat16 autocast) to size the base model.

    training/.venv/bin/python training/bench_shapes.py [--steps=20] [--threads=2] [--vocab=8192]

One full training step (forward, backward, AdamW) on random tokens per measurement, best of --passes; prints a
Markdown table row per shape and mode with parameters, f16 file size, tokens/s, and the tokens reachable in two hours.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as train.py: spinning OpenMP threads starve on shared cores
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import CausalLM, ModelConfig  # noqa: E402

# (hidden_size, layers, heads, kv_heads, intermediate_size, block_size, batch_size)
SHAPES = [
    (256, 4, 4, 4, 704, 256, 16),
    (256, 6, 4, 2, 704, 256, 16),
    (384, 6, 6, 2, 1024, 256, 16),
    (384, 6, 6, 2, 1024, 512, 8),
    (384, 4, 6, 2, 1024, 512, 8),
    (512, 6, 8, 4, 1408, 256, 16),
]


def measure(shape, vocab_size, steps, autocast_dtype):
    hidden, layers, heads, kv_heads, intermediate, block, batch = shape
    torch.manual_seed(0)
    model = CausalLM(ModelConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=intermediate,
                                 num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    tokens = torch.randint(0, vocab_size, (batch, block + 1))

    def train_step():
        with torch.autocast(device_type="cpu", dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
            _, loss = model(tokens[:, :-1], tokens[:, 1:])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(3):
        train_step()
    start = time.perf_counter()
    for _ in range(steps):
        train_step()
    seconds = (time.perf_counter() - start) / steps
    return model.num_parameters(), model.num_parameters(exclude_embeddings=True), batch * block / seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vocab", type=int, nargs="+", default=[8192])
    parser.add_argument("--shapes", type=int, nargs="+", default=list(range(len(SHAPES))), help="indices into SHAPES")
    parser.add_argument("--modes", nargs="+", default=["f32", "bf16"], choices=["f32", "bf16"])
    parser.add_argument("--passes", type=int, default=2, help="best of this many passes (the machine is shared)")
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {arguments.steps} timed steps each")
    print("| d | layers | heads/kv | ffn | seq | batch | vocab | params (M) | non-emb (M) | f16 MB | mode | tokens/s | tokens in 2 h (M) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    dtypes = {"f32": None, "bf16": torch.bfloat16}
    for vocab_size in arguments.vocab:
        for shape in (SHAPES[i] for i in arguments.shapes):
            for mode in arguments.modes:
                results = [measure(shape, vocab_size, arguments.steps, dtypes[mode]) for _ in range(arguments.passes)]
                parameters, non_embedding, tokens_per_second = max(results, key=lambda result: result[2])
                hidden, layers, heads, kv_heads, intermediate, block, batch = shape
                print(f"| {hidden} | {layers} | {heads}/{kv_heads} | {intermediate} | {block} | {batch} | {vocab_size} "
                      f"| {parameters / 1e6:.1f} | {non_embedding / 1e6:.1f} | {parameters * 2 / 1e6:.1f} | {mode} "
                      f"| {tokens_per_second:,.0f} | {tokens_per_second * 7200 / 1e6:.0f} |", flush=True)


if __name__ == "__main__":
    main()
