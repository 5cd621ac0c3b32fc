"""Embeds every encoder file of the hypernetwork data with the frozen repo encoder (c2l-base), once per git blob.

Usage: training/.venv/bin/python training/embed.py [--files data/hypernet/files.jsonl] [--encoder public/models/c2l-base]
       [--out data/hypernet/file_embeddings.pt]

files.jsonl comes from `npm run data:hypernet` (TypeScript cut each file into code-unit chunks and tokenized them); this
computes what src/code2lora/repoEncoder.ts computes in the browser: the masked mean of the encoder's final hidden states
over each chunk, and the mean over a file's chunks. A parity test holds the two equal. Blobs already embedded (the
output of an earlier run) are not recomputed.
"""
import argparse
import json
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train_hypernet.py
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model import CausalLM  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@torch.no_grad()
def embed_chunks(encoder: CausalLM, chunks: list[list[int]]) -> torch.Tensor:
    """Masked mean of the final hidden states of each chunk ([N, E]); right padding cannot change a causal model's states."""
    length = max(len(ids) for ids in chunks)
    ids = torch.zeros(len(chunks), length, dtype=torch.long)
    mask = torch.zeros(len(chunks), length)
    for row, chunk in enumerate(chunks):
        ids[row, :len(chunk)] = torch.tensor(chunk)
        mask[row, :len(chunk)] = 1
    hidden = encoder.model(ids).float()
    return (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)


def embed_files(encoder: CausalLM, files: list[dict], batch_chunks: int = 64) -> torch.Tensor:
    """Each file's embedding: the mean of its chunks' embeddings. Chunks are batched by length to waste little padding."""
    flat = [(index, chunk) for index, file in enumerate(files) for chunk in file["chunks"]]
    flat.sort(key=lambda item: len(item[1]))
    sums = torch.zeros(len(files), encoder.config.hidden_size)
    for start in range(0, len(flat), batch_chunks):
        batch = flat[start:start + batch_chunks]
        vectors = embed_chunks(encoder, [chunk for _, chunk in batch])
        for (index, _), vector in zip(batch, vectors):
            sums[index] += vector
    counts = torch.tensor([len(file["chunks"]) for file in files], dtype=torch.float32).unsqueeze(-1)
    return sums / counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=Path, default=REPO / "data/hypernet/files.jsonl")
    parser.add_argument("--encoder", type=Path, default=REPO / "public/models/c2l-base")
    parser.add_argument("--out", type=Path, default=REPO / "data/hypernet/file_embeddings.pt")
    args = parser.parse_args()
    torch.manual_seed(0)
    encoder = CausalLM.from_pretrained(str(args.encoder)).eval()
    cache = torch.load(args.out) if args.out.exists() else {"blobs": {}}
    by_repo: dict[str, list[dict]] = {}
    todo: dict[str, dict] = {}
    with args.files.open() as handle:
        for line in handle:
            file = json.loads(line)
            by_repo.setdefault(file["repo"], []).append(file)
            if file["blob"] not in cache["blobs"]:
                todo[file["blob"]] = file
    pending = list(todo.values())
    tokens = sum(len(chunk) for file in pending for chunk in file["chunks"])
    print(f"{len(pending)} blobs to embed ({tokens} tokens); {len(cache['blobs'])} cached", flush=True)
    started = time.time()
    step = 512
    for start in range(0, len(pending), step):
        part = pending[start:start + step]
        for file, vector in zip(part, embed_files(encoder, part)):
            cache["blobs"][file["blob"]] = vector
        done = min(start + step, len(pending))
        elapsed = time.time() - started
        print(f"embedded {done}/{len(pending)} blobs, {elapsed:.0f} s, ETA {elapsed / done * (len(pending) - done):.0f} s", flush=True)
    cache["repos"] = {repo: {"paths": [f["path"] for f in files], "blobs": [f["blob"] for f in files]}
                      for repo, files in by_repo.items()}
    cache["encoder"] = {"model": args.encoder.name, "hidden_size": encoder.config.hidden_size}
    torch.save(cache, str(args.out) + ".tmp")
    os.replace(str(args.out) + ".tmp", args.out)
    print(f"{len(cache['repos'])} repositories, {len(cache['blobs'])} blobs -> {args.out} "
          f"({tokens / max(time.time() - started, 1e-9):.0f} tokens/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
