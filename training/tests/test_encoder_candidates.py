"""training/encoder_candidates.py: the candidate repo encoders see the text of the shipped chunks, and embed it as defined.

c2l-base:4 through the script (chunk ids -> text -> c2l-base's tokenizer -> hidden states) must give embed.py's file
embeddings: the text round trip is lossless and the pooling is the shipped one. c2l-base:2 must be the masked mean of
the hidden state after the second layer, computed here independently; the checkpoint and the exported config must name
the candidate, so that the app refuses a hypernetwork trained on it.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

import torch
from tokenizers import Tokenizer

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "training"))
from embed import embed_files  # noqa: E402
from encoder_candidates import C2L_BASE, load_encoder  # noqa: E402
from export_hypernet import ENCODER, encoder_of  # noqa: E402
from model import CausalLM  # noqa: E402

SOURCES = [
    "def scaled(x, factor=3):\n    \"\"\"Multiplies.\"\"\"\n    return x * factor\n",
    "class Registry:\n    def __init__(self):\n        self.items = {}\n\n    def add(self, key, value):\n        self.items[key] = value\n",
    "import os\n\nPATH = os.path.join('a', 'b')  # ünïcode in a comment\n",
]


def files_jsonl(path: Path) -> list[dict]:
    tokenizer = Tokenizer.from_file(str(C2L_BASE / "tokenizer.json"))
    files = []
    for index, source in enumerate(SOURCES):
        ids = tokenizer.encode(source, add_special_tokens=False).ids
        chunks = [ids[:40], ids[40:]] if len(ids) > 40 else [ids]
        files.append({"repo": "r1" if index < 2 else "r2", "path": f"m{index}.py", "blob": f"b{index}", "chunks": chunks})
    path.write_text("".join(json.dumps(f) + "\n" for f in files))
    return files


def run_candidate(tmp_path: Path, name: str) -> dict:
    out = tmp_path / f"{name.replace(':', '-')}.pt"
    subprocess.run([sys.executable, str(REPO / "training/encoder_candidates.py"), "--encoder", name,
                    "--files", str(tmp_path / "files.jsonl"), "--out", str(out)], check=True, capture_output=True)
    return torch.load(out)


def test_c2l_base_final_layer_equals_embed_py(tmp_path):
    files = files_jsonl(tmp_path / "files.jsonl")
    result = run_candidate(tmp_path, "c2l-base:4")
    expected = embed_files(CausalLM.from_pretrained(str(C2L_BASE)).eval(), files)
    for file, vector in zip(files, expected):
        assert torch.allclose(result["blobs"][file["blob"]], vector, atol=1e-5, rtol=1e-4)
    assert result["repos"] == {"r1": {"paths": ["m0.py", "m1.py"], "blobs": ["b0", "b1"]},
                               "r2": {"paths": ["m2.py"], "blobs": ["b2"]}}
    assert result["encoder"] == {"model": "c2l-base:4", "hidden_size": 384}


def test_c2l_base_second_layer_is_that_layers_state(tmp_path):
    files = files_jsonl(tmp_path / "files.jsonl")
    result = run_candidate(tmp_path, "c2l-base:2")
    model = CausalLM.from_pretrained(str(C2L_BASE)).eval()
    for file in files:
        chunk_means = []
        for ids in file["chunks"]:
            x = model.model.embed_tokens(torch.tensor([ids]))
            cos, sin = model.model.rotary_emb(torch.arange(len(ids)), x.dtype)
            with torch.no_grad():
                for layer in model.model.layers[:2]:
                    x = layer(x, cos, sin)
            chunk_means.append(x[0].mean(0))
        assert torch.allclose(result["blobs"][file["blob"]], torch.stack(chunk_means).mean(0), atol=1e-5, rtol=1e-4)
    # The final layer's state differs: the layer is really chosen.
    final = run_candidate(tmp_path, "c2l-base:4")
    assert not torch.allclose(result["blobs"]["b0"], final["blobs"]["b0"], atol=1e-3)


def test_bad_names_are_refused():
    for name in ("c2l-base", "c2l-base:9", "smollm2:x", "bert"):
        try:
            load_encoder(name)
        except SystemExit as error:
            assert str(error).startswith(("BAD_ENCODER", "BAD_LAYER"))
        else:
            raise AssertionError(f"{name} was accepted")


def test_layer_two_candidate_is_what_embed_py_writes_for_the_shipped_encoder(tmp_path):
    """The sweep's c2l-base:2 (the encoder chosen) and `embed.py --layer 2` (what training and the app read) agree,
    the layer is recorded for export, and resuming into a file of another layer is refused."""
    files = files_jsonl(tmp_path / "files.jsonl")
    candidate = run_candidate(tmp_path, "c2l-base:2")
    out = tmp_path / "layer2.pt"
    embed = [sys.executable, str(REPO / "training/embed.py"), "--files", str(tmp_path / "files.jsonl")]
    subprocess.run([*embed, "--layer", "2", "--out", str(out)], check=True, capture_output=True)
    written = torch.load(out)
    for file in files:
        assert torch.allclose(written["blobs"][file["blob"]], candidate["blobs"][file["blob"]], atol=1e-5, rtol=1e-4)
    assert written["encoder"] == {"model": "c2l-base", "layer": 2, "hidden_size": 384}
    assert encoder_of({"encoder": written["encoder"]}) == {**ENCODER, "layer": 2}
    refused = subprocess.run([*embed, "--out", str(out)], capture_output=True, text=True)
    assert refused.returncode != 0 and "BAD_OUT" in refused.stderr


def test_export_names_the_candidate_encoder():
    assert encoder_of({}) == ENCODER
    assert encoder_of({"encoder": {"model": "c2l-base", "hidden_size": 384}}) == ENCODER
    candidate = encoder_of({"encoder": {"model": "minilm", "hidden_size": 384}})
    assert candidate["model"] == "minilm" and candidate["chunk_tokens"] == ENCODER["chunk_tokens"]
