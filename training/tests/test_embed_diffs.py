"""Evo's diff embeddings (training/embed.py --diffs): chunk pooling on the shipped encoder, empty diffs, format, resume."""
import json
import os
import sys
from argparse import Namespace
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "training"))
import embed  # noqa: E402
from model import CausalLM  # noqa: E402

ENCODER_DIR = REPO / "public/models/c2l-base"


def chunk(seed: int, length: int) -> list[int]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(5, 8000, (length,), generator=generator).tolist()


def commits_of(repo: str, chunk_counts: list[int]) -> list[dict]:
    return [{"repo": repo, "index": i, "commit": f"{repo}-{i:02d}", "time": 1700000000 + i, "message_first_line": "m",
             "files_changed": 1, "diff_chunks": [chunk(100 * i + k, 128 if k < count - 1 else 17 + 9 * i)
                                                 for k in range(count)]}
            for i, count in enumerate(chunk_counts)]


def test_diff_embedding_is_mean_and_max_of_chunk_embeddings():
    """Batched, length-sorted, right-padded chunks give each chunk's own masked mean; zeros without chunks."""
    encoder = CausalLM.from_pretrained(str(ENCODER_DIR)).eval()
    commits = commits_of("r", [2, 0, 1, 3])
    pooled = embed.embed_diffs(encoder, commits, batch_chunks=4)
    width = encoder.config.hidden_size
    assert pooled.shape == (4, 2 * width)
    with torch.no_grad():
        for commit, vector in zip(commits, pooled):
            if not commit["diff_chunks"]:
                assert torch.equal(vector, torch.zeros(2 * width))
                continue
            alone = torch.stack([encoder.model(torch.tensor([ids])).float()[0].mean(0) for ids in commit["diff_chunks"]])
            expected = torch.cat([alone.mean(0), alone.max(0).values])
            assert ((vector - expected).abs().max() / expected.abs().max()).item() < 1e-5


def test_run_diffs_writes_each_repository_in_order_and_resumes(tmp_path, monkeypatch):
    encoder = CausalLM.from_pretrained(str(ENCODER_DIR)).eval()
    commits = commits_of("a", [1, 0, 2]) + commits_of("b", [0, 1])
    diffs = tmp_path / "commits.jsonl"
    diffs.write_text("".join(json.dumps(c) + "\n" for c in commits))
    args = Namespace(diffs=diffs, diff_out=tmp_path / "diff_embeddings.pt", encoder=ENCODER_DIR, save_every=2)
    embed.run_diffs(encoder, args)
    saved = torch.load(args.diff_out)
    assert saved["encoder"]["hidden_size"] == encoder.config.hidden_size
    assert saved["repos"]["a"]["commits"] == ["a-00", "a-01", "a-02"]
    assert saved["repos"]["a"]["has_diff"].tolist() == [True, False, True]
    assert saved["repos"]["b"]["has_diff"].tolist() == [False, True]
    assert saved["repos"]["a"]["embeddings"].shape == (3, 2 * encoder.config.hidden_size)
    assert torch.allclose(saved["repos"]["a"]["embeddings"][2], embed.embed_diffs(encoder, commits[2:3])[0], atol=1e-6)

    embedded = []
    monkeypatch.setattr(embed, "embed_diffs", lambda enc, part: embedded.extend(part) or torch.zeros(len(part), 2))
    embed.run_diffs(encoder, args)
    assert embedded == []  # everything was cached
    assert torch.equal(torch.load(args.diff_out)["repos"]["a"]["embeddings"], saved["repos"]["a"]["embeddings"])
