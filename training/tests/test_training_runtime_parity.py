"""The seam between training and product: a checkpoint exported by training/model.py gives the same logits and the
same greedy continuation in our TypeScript runtime (cli/logits.ts, tfjs wasm backend in Node)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "training"))
from model import CausalLM, ModelConfig  # noqa: E402

TOLERANCE = 1e-4
IDS = [(i * 31 + i * i * 5 + 3) % 96 for i in range(160)]

SHAPES = {
    "gqa-tied": ModelConfig(vocab_size=96, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                            num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True, eos_token_id=0),
    "qwen2-bias-untied": ModelConfig(vocab_size=96, hidden_size=48, intermediate_size=96, num_hidden_layers=3,
                                     num_attention_heads=6, num_key_value_heads=3, tie_word_embeddings=False,
                                     attention_bias=True, rope_theta=500.0, eos_token_id=0),
}


def run_runtime(*args):
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx is not on PATH")
    result = subprocess.run([npx, "tsx", "cli/logits.ts", *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


@pytest.fixture(params=sorted(SHAPES))
def exported(request, tmp_path):
    torch.manual_seed(1)
    model = CausalLM(SHAPES[request.param]).eval()
    with torch.no_grad():  # larger than the training init, so that a wrong formula shows in the logits
        for parameter in model.parameters():
            parameter.normal_(0, 0.15) if parameter.dim() > 1 else parameter.uniform_(0.5, 1.5)
    model.save_pretrained(str(tmp_path / "model"))
    return model, tmp_path


def test_logits_match(exported):
    model, tmp_path = exported
    out = tmp_path / "logits.json"
    run_runtime("--model", str(tmp_path / "model"), "--ids", ",".join(map(str, IDS)), "--out", str(out))
    data = json.loads(out.read_text())
    ours = torch.tensor(data["logits"]).reshape(data["shape"])
    with torch.no_grad():
        reference, _ = model(torch.tensor([IDS]))
    assert ours.shape == reference[0].shape
    assert (ours - reference[0]).abs().max().item() < TOLERANCE


def test_greedy_continuation_matches(exported):
    model, tmp_path = exported
    out = tmp_path / "generated.json"
    prompt = IDS[:24]
    run_runtime("--model", str(tmp_path / "model"), "--ids", ",".join(map(str, prompt)), "--generate", "16", "--out", str(out))
    ours = json.loads(out.read_text())["generated"]
    reference = model.generate(torch.tensor([prompt]), max_new_tokens=16)[0, len(prompt):].tolist()
    assert ours == reference
