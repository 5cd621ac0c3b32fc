"""Embeds every encoder file of the hypernetwork data with the frozen repo encoder (c2l-base), once per git blob.

Usage: training/.venv/bin/python training/embed.py [--files data/hypernet/files.jsonl] [--encoder public/models/c2l-base]
       [--layer L] [--out data/hypernet/file_embeddings.pt]
       training/.venv/bin/python training/embed.py --files data/evo/files.jsonl --diffs data/evo/commits.jsonl
       [--diff-out data/evo/diff_embeddings.pt]

files.jsonl comes from `npm run data:hypernet` (TypeScript cut each file into code-unit chunks and tokenized them); this
computes what src/code2lora/repoEncoder.ts computes in the browser: the masked mean of the encoder's final hidden states
over each chunk, and the mean over a file's chunks. A parity test holds the two equal. --layer L reads the hidden
state after layer L instead (the final norm only after the last layer; src/code2lora/encoderSettings.ts `layer`). Blobs already embedded (the
output of an earlier run) are not recomputed.

Evo (--diffs, commits.jsonl from `npm run data:evo`): every commit's diff chunks (src/code2lora/diffEncoder.ts) are
embedded the same way, and a commit's diff embedding is [mean over its chunks ; max over its chunks] ([2E]), zeros for a
commit without chunks (has_diff false). Written per repository in history order: {"repos": {repo: {"commits": [sha],
"embeddings": [T, 2E], "has_diff": [T]}}, "encoder": {...}}; commits already in --diff-out are not recomputed, and the
file is saved every --save-every commits, so an interrupted run resumes.
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
    """Masked mean of the hidden states of each chunk ([N, E]); right padding cannot change a causal model's states."""
    length = max(len(ids) for ids in chunks)
    ids = torch.zeros(len(chunks), length, dtype=torch.long)
    mask = torch.zeros(len(chunks), length)
    for row, chunk in enumerate(chunks):
        ids[row, :len(chunk)] = torch.tensor(chunk)
        mask[row, :len(chunk)] = 1
    hidden = encoder.model(ids).float()
    return (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)


def load_encoder(directory: Path, layer: int | None) -> CausalLM:
    """The encoder cut after `layer` (all layers when None): what LlamaModel.firstLayers runs in the browser."""
    encoder = CausalLM.from_pretrained(str(directory)).eval()
    count = encoder.config.num_hidden_layers
    if layer is None or layer == count:
        return encoder
    if not 1 <= layer <= count:
        sys.exit(f"BAD_LAYER: {directory.name} has layers 1..{count}, got {layer}")
    # The final norm belongs to the last layer's output: a cut model's hidden state is the residual stream as it is.
    encoder.model.layers = encoder.model.layers[:layer]
    encoder.model.norm = torch.nn.Identity()
    return encoder


def encoder_identity(encoder: CausalLM, args) -> dict:
    """The encoder's name, and the layer read when it is cut (hypernetwork_config.json's encoder.layer)."""
    cut = len(encoder.model.layers) < encoder.config.num_hidden_layers
    return {"model": args.encoder.name, **({"layer": len(encoder.model.layers)} if cut else {})}


def check_same_encoder(previous: dict, encoder: CausalLM, args, path: Path) -> None:
    """Resuming adds to an output file: refuse one that holds another encoder's (or another layer's) vectors."""
    held = {key: previous.get("encoder", {}).get(key) for key in ("model", "layer")}
    ours = {"layer": None, **encoder_identity(encoder, args)}
    ours = {key: ours[key] for key in held}
    if previous.get("encoder") is not None and held != ours:
        sys.exit(f"BAD_OUT: {path} holds embeddings of {held}, not {ours}: pass another output file")


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


def pool_diff(chunk_vectors: torch.Tensor) -> torch.Tensor:
    """A commit's diff embedding from its chunk embeddings [N, E]: [mean ; max] -> [2E]; zeros when N = 0."""
    if chunk_vectors.shape[0] == 0:
        return torch.zeros(2 * chunk_vectors.shape[1])
    return torch.cat([chunk_vectors.mean(0), chunk_vectors.max(0).values])


def embed_diffs(encoder: CausalLM, commits: list[dict], batch_chunks: int = 64) -> torch.Tensor:
    """[C, 2E]: each commit's pooled diff embedding (pool_diff of embed_chunks over its diff_chunks)."""
    flat = [(index, chunk) for index, commit in enumerate(commits) for chunk in commit["diff_chunks"]]
    flat.sort(key=lambda item: len(item[1]))
    vectors: list[list[torch.Tensor]] = [[] for _ in commits]
    for start in range(0, len(flat), batch_chunks):
        batch = flat[start:start + batch_chunks]
        for (index, _), vector in zip(batch, embed_chunks(encoder, [chunk for _, chunk in batch])):
            vectors[index].append(vector)
    width = encoder.config.hidden_size
    return torch.stack([pool_diff(torch.stack(v) if v else torch.zeros(0, width)) for v in vectors])


def save_atomically(value, path: Path) -> None:
    torch.save(value, str(path) + ".tmp")
    os.replace(str(path) + ".tmp", path)


def run_diffs(encoder: CausalLM, args) -> None:
    """--diffs: every commit of commits.jsonl -> diff_embeddings.pt, resuming from what --diff-out already holds."""
    by_repo: dict[str, list[dict]] = {}
    with args.diffs.open() as handle:
        for line in handle:
            commit = json.loads(line)
            by_repo.setdefault(commit["repo"], []).append(commit)
    for repo, commits in by_repo.items():
        if [c["index"] for c in commits] != list(range(len(commits))):
            sys.exit(f"BAD_COMMITS: {args.diffs}: the commits of {repo} are not indexes 0..{len(commits) - 1} in order")
    width = encoder.config.hidden_size
    done: dict[tuple[str, str], torch.Tensor] = {}
    if args.diff_out.exists():
        previous = torch.load(args.diff_out)
        check_same_encoder(previous, encoder, args, args.diff_out)
        for repo, history in previous["repos"].items():
            for sha, vector in zip(history["commits"], history["embeddings"]):
                done[(repo, sha)] = vector
    pending = [c for commits in by_repo.values() for c in commits if (c["repo"], c["commit"]) not in done]
    tokens = sum(len(chunk) for c in pending for chunk in c["diff_chunks"])
    chunks = sum(len(c["diff_chunks"]) for c in pending)
    print(f"{len(pending)} commits to embed ({chunks} diff chunks, {tokens} tokens); {len(done)} cached", flush=True)

    def collect() -> dict:
        repos = {}
        for repo, commits in by_repo.items():
            if all((repo, c["commit"]) in done for c in commits):
                repos[repo] = {"commits": [c["commit"] for c in commits],
                               "embeddings": torch.stack([done[(repo, c["commit"])] for c in commits]),
                               "has_diff": torch.tensor([len(c["diff_chunks"]) > 0 for c in commits])}
        return {"repos": repos, "encoder": {**encoder_identity(encoder, args), "hidden_size": width, "pooling": "mean;max"}}

    started = time.time()
    embedded_tokens = 0
    for start in range(0, len(pending), args.save_every):
        part = pending[start:start + args.save_every]
        for commit, vector in zip(part, embed_diffs(encoder, part)):
            done[(commit["repo"], commit["commit"])] = vector
        embedded_tokens += sum(len(chunk) for c in part for chunk in c["diff_chunks"])
        save_atomically(collect(), args.diff_out)
        elapsed = time.time() - started
        finished = min(start + args.save_every, len(pending))
        print(f"embedded {finished}/{len(pending)} commits, {elapsed:.0f} s, {embedded_tokens / max(elapsed, 1e-9):.0f} tokens/s, "
              f"ETA {elapsed / finished * (len(pending) - finished):.0f} s", flush=True)
    result = collect()
    save_atomically(result, args.diff_out)
    commits = sum(len(h["commits"]) for h in result["repos"].values())
    with_diff = sum(int(h["has_diff"].sum()) for h in result["repos"].values())
    print(f"{len(result['repos'])} repositories, {commits} commits ({with_diff} with a diff) -> {args.diff_out} "
          f"({tokens / max(time.time() - started, 1e-9):.0f} tokens/s)")


def read_files(files: Path, out: Path) -> tuple[dict, dict[str, list[dict]], list[dict]]:
    """files.jsonl against an embeddings file being written: (what `out` already holds, the files by repository,
    one file per blob not embedded yet). Shared by every encoder's embedding run (encoder_candidates.py too)."""
    cache = torch.load(out) if out.exists() else {"blobs": {}}
    by_repo: dict[str, list[dict]] = {}
    todo: dict[str, dict] = {}
    with files.open() as handle:
        for line in handle:
            file = json.loads(line)
            by_repo.setdefault(file["repo"], []).append(file)
            if file["blob"] not in cache["blobs"]:
                todo[file["blob"]] = file
    return cache, by_repo, list(todo.values())


def repo_index(by_repo: dict[str, list[dict]]) -> dict:
    """file_embeddings.pt's "repos": each repository's files, paths and blobs in files.jsonl's order."""
    return {repo: {"paths": [f["path"] for f in files], "blobs": [f["blob"] for f in files]} for repo, files in by_repo.items()}


def run_files(encoder: CausalLM, args) -> None:
    """--files: every blob of files.jsonl -> file_embeddings.pt, resuming from what --out already holds."""
    cache, by_repo, pending = read_files(args.files, args.out)
    check_same_encoder(cache, encoder, args, args.out)
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
    cache["repos"] = repo_index(by_repo)
    cache["encoder"] = {**encoder_identity(encoder, args), "hidden_size": encoder.config.hidden_size}
    save_atomically(cache, args.out)
    print(f"{len(cache['repos'])} repositories, {len(cache['blobs'])} blobs -> {args.out} "
          f"({tokens / max(time.time() - started, 1e-9):.0f} tokens/s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=Path, default=None,
                        help="files.jsonl (default data/hypernet/files.jsonl unless --diffs is given alone)")
    parser.add_argument("--encoder", type=Path, default=REPO / "public/models/c2l-base")
    parser.add_argument("--layer", type=int, default=None, help="the hidden state after this layer (default: the last)")
    parser.add_argument("--out", type=Path, default=None, help="default: file_embeddings.pt beside --files")
    parser.add_argument("--diffs", type=Path, default=None, help="Evo: commits.jsonl of `npm run data:evo`")
    parser.add_argument("--diff-out", type=Path, default=None, help="default: diff_embeddings.pt beside --diffs")
    parser.add_argument("--save-every", type=int, default=2000, help="--diffs: commits embedded between saves")
    args = parser.parse_args()
    if args.files is None and args.diffs is None:
        args.files = REPO / "data/hypernet/files.jsonl"
    torch.manual_seed(0)
    encoder = load_encoder(args.encoder, args.layer)
    if args.diffs is not None:
        args.diff_out = args.diff_out or args.diffs.parent / "diff_embeddings.pt"
        run_diffs(encoder, args)
    if args.files is not None:
        args.out = args.out or args.files.parent / "file_embeddings.pt"
        run_files(encoder, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
