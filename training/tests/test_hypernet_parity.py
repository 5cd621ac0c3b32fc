"""The browser's repo encoder and hypernetwork (src/code2lora) against the PyTorch definitions training uses.

(a) file embeddings: src/code2lora/repoEncoder.ts with public/models/c2l-base vs training/embed.py on the same chunk ids;
(b) adapters: training/export_hypernet.py writes a random Hypernetwork (float32 and float16), src/code2lora/loadHypernetwork.ts
    loads it and generateAdapter runs it on the same file embeddings as training/hypernet.py;
(c) Evo's diff embeddings: src/code2lora/repoEncoder.ts embedDiff vs training/embed.py embed_diffs on the same chunks;
(d) Evo: a random EvoHypernetwork exported the same way; src/code2lora/evo.ts steps its GRU state over 20 commits (some
    without a diff) and makes adapters from the states: states and adapters equal EvoHypernetwork's.
"""
import hashlib
import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest
import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "training"))
from embed import embed_diffs, embed_files, load_encoder  # noqa: E402
from export_hypernet import ENCODER, ExportError, export_hypernetwork  # noqa: E402
from hypernet import EvoHypernetwork, Hypernetwork, HypernetConfig, module_shapes  # noqa: E402
from model import CausalLM, ModelConfig  # noqa: E402

TOLERANCE = 1e-4
ENCODER_DIR = REPO / "public/models/c2l-base"
# A small Llama with GQA (4 query heads, 2 KV heads of 16): every module shape differs from the others'.
BASE_CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 120, "hidden_size": 64,
               "intermediate_size": 96, "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2,
               "head_dim": 16, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": False}


def run_tsx(*args):
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx is not on PATH")
    result = subprocess.run([npx, "tsx", "test/support/code2loraParity.ts", *args], cwd=REPO, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]


def relative_error(ours: torch.Tensor, expected: torch.Tensor) -> float:
    return ((ours - expected).abs().max() / expected.abs().max()).item()


def git_blob_id(content: str) -> str:
    data = content.encode("utf-8")
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@pytest.mark.parametrize("layer", [None, 2], ids=["final", "layer2"])
def test_file_embeddings_match_embed_py(tmp_path, layer):
    """Same files kept, same chunk ids, same blob ids as git, and file embeddings within 1e-4 of training/embed.py;
    also read after layer 2 of 4 (a hypernetwork config's encoder.layer: no final norm)."""
    import json.decoder
    import textwrap

    sources = [
        {"path": "pkg/textwrap.py", "content": inspect.getsource(textwrap)},  # long: only its first two chunks count
        {"path": "pkg/decoder.py", "content": inspect.getsource(json.decoder)},
        {"path": "pkg/small.py", "content": "RATE = 3\n\n\ndef scaled(x):\n    return RATE * x  # naïve ✓\n"},
        {"path": "pkg/shapes.py", "content": "class Square:\n    def __init__(self, side):\n        self.side = side\n\n"
                                             "    def area(self):\n        return self.side ** 2\n"},
        {"path": "tests/test_small.py", "content": "from pkg.small import scaled\n\n\ndef test_scaled():\n    assert scaled(2) == 6\n"},
        {"path": "pkg/empty.py", "content": "\n   \n"},
        {"path": "README.md", "content": "# not Python\n"},
    ]
    sources_file, out = tmp_path / "sources.json", tmp_path / "embeddings.json"
    sources_file.write_text(json.dumps(sources))
    run_tsx("embed", "--encoder", str(ENCODER_DIR), "--sources", str(sources_file), "--out", str(out),
            *(["--layer", str(layer)] if layer else []))
    files = json.loads(out.read_text())["files"]
    assert [f["path"] for f in files] == ["pkg/textwrap.py", "pkg/decoder.py", "pkg/small.py", "pkg/shapes.py"]
    content = {s["path"]: s["content"] for s in sources}
    for file in files:
        assert file["blobId"] == git_blob_id(content[file["path"]])
        assert 1 <= len(file["chunks"]) <= ENCODER["chunks_per_file"]
        assert all(1 <= len(chunk) <= ENCODER["chunk_tokens"] for chunk in file["chunks"])
    assert len(files[0]["chunks"]) == 2

    encoder = load_encoder(ENCODER_DIR, layer)
    assert encoder.config.hidden_size == ENCODER["hidden_size"]
    expected = embed_files(encoder, files)
    ours = torch.tensor([f["embedding"] for f in files])
    for file, mine, theirs in zip(files, ours, expected):
        error = relative_error(mine, theirs)
        print(f"{file['path']}: {len(file['chunks'])} chunks, {sum(map(len, file['chunks']))} tokens, relative error {error:.2e}")
        assert error < TOLERANCE


def random_hypernetwork(options: bool = False) -> Hypernetwork:
    """Random weights everywhere, file scores sharp enough that the softmax is far from uniform, and log-scales
    spread over the clamp: below 1e-5, inside, above 0.3. With `options`, format version 2's standardisation (a
    mean far from zero and uneven scales, as real embeddings have) and a random adapter per layer."""
    base = ModelConfig(**{k: v for k, v in BASE_CONFIG.items() if k in ModelConfig.__dataclass_fields__})
    config = HypernetConfig(embedding_size=ENCODER["hidden_size"], shapes=module_shapes(base), hidden_size=32, rank=4,
                            alpha=8, mean_weight=0.6, max_weight=1.4, standardize_repo=options, layer_base=options,
                            num_layers=base.num_hidden_layers)
    torch.manual_seed(0)
    network = Hypernetwork(config)
    with torch.no_grad():
        network.file_score.weight.mul_(4)
        if options:
            size = 2 * config.embedding_size
            network.repo_norm.mean.copy_(torch.randn(size) * 3)
            network.repo_norm.std.copy_(torch.rand(size) * 2 + 0.05)
            for parts in network.layer_base.values():
                parts["B"].normal_(0, 0.05)
        log_scales = iter(torch.linspace(-14.0, 0.5, 2 * len(config.shapes)).tolist())
        for module in config.shapes:
            for part in ("A", "B"):
                network.log_scale[module][part].fill_(next(log_scales))
    return network


def base_dir(tmp_path: Path, config: dict) -> Path:
    directory = tmp_path / "tiny-llama"
    directory.mkdir(exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    return directory


@pytest.mark.parametrize("dtype,options", [("float32", False), ("float16", False), ("float32", True), ("float16", True)])
def test_loaded_hypernetwork_matches_pytorch(tmp_path, dtype, options):
    """train_hypernet.py's checkpoint -> export_hypernet.py -> loadHypernetwork + generateAdapter == Hypernetwork.forward,
    for the paper's architecture and with format version 2's options (standardised repo vector, per-layer base)."""
    network = random_hypernetwork(options)
    base = base_dir(tmp_path, BASE_CONFIG)
    checkpoint, out = tmp_path / "best.pt", tmp_path / "code2lora-static"
    torch.save({"trainable": network.state_dict(), "config": network.config.to_json(), "step": 7, "best_val": 1.25}, checkpoint)
    export = subprocess.run([sys.executable, str(REPO / "training/export_hypernet.py"), "--checkpoint", str(checkpoint),
                             "--base", str(base), "--out", str(out), "--dtype", dtype], capture_output=True, text=True)
    assert export.returncode == 0, export.stderr
    written = json.loads((out / "hypernetwork_config.json").read_text())
    assert written["base_model"]["name"] == "tiny-llama" and written["encoder"] == ENCODER
    assert written["training"] == {"checkpoint": "best.pt", "step": 7, "best_cr_val_loss": 1.25}

    # The reference runs on the weights as stored: for float16, the rounded values.
    stored = load_file(out / "hypernetwork.safetensors")
    assert {t.dtype for name, t in stored.items() if not name.startswith("repo_norm.")} == {getattr(torch, dtype)}
    assert all(t.dtype == torch.float32 for name, t in stored.items() if name.startswith("repo_norm."))
    assert written["standardize_repo"] == written["layer_base"] == options
    network.load_state_dict({name: tensor.float() for name, tensor in stored.items()})
    files = torch.randn(5, ENCODER["hidden_size"], generator=torch.Generator().manual_seed(1)) * torch.linspace(0.5, 2, 5)[:, None]
    with torch.no_grad():
        expected = network(files[None], torch.ones(1, 5, dtype=torch.bool))
    scores = network.file_score(files).squeeze(-1).softmax(-1)
    assert scores.max() > 2 * scores.min(), "file scores too flat to test the softmax"

    embeddings, result = tmp_path / "files.json", tmp_path / "adapter.json"
    embeddings.write_text(json.dumps(files.tolist()))
    run_tsx("adapter", "--hypernetwork", str(out), "--base-config", str(base / "config.json"), "--base-name", "Tiny-Llama",
            "--encoder-hidden-size", str(ENCODER["hidden_size"]), "--embeddings", str(embeddings), "--out", str(result))
    ours = json.loads(result.read_text())
    assert (ours["rank"], ours["alpha"], len(ours["layers"])) == (4, 8, BASE_CONFIG["num_hidden_layers"])
    per_layer = expected if options else [expected] * BASE_CONFIG["num_hidden_layers"]
    for layer, (our_layer, expected_layer) in enumerate(zip(ours["layers"], per_layer)):
        assert list(our_layer) == list(network.config.shapes)
        for module, (a, b) in expected_layer.items():
            our_a = torch.tensor(our_layer[module]["A"]).view(a.shape[1:])
            our_b = torch.tensor(our_layer[module]["B"]).view(b.shape[1:])
            errors = relative_error(our_a, a[0]), relative_error(our_b, b[0])
            print(f"{dtype} layer {layer} {module}: A {tuple(a.shape[1:])} max |A| {a.abs().max():.2e} relative error "
                  f"{errors[0]:.2e}; B {tuple(b.shape[1:])} max |B| {b.abs().max():.2e} relative error {errors[1]:.2e}")
            assert max(errors) < TOLERANCE
    if options:  # the layers differ, and the standardisation is not a no-op
        assert not torch.equal(expected[0]["q_proj"][0], expected[1]["q_proj"][0])


def test_export_refuses_another_base_model(tmp_path):
    network = random_hypernetwork()
    other = base_dir(tmp_path, {**BASE_CONFIG, "intermediate_size": 128})
    with pytest.raises(ExportError) as error:
        export_hypernetwork(network.state_dict(), network.config, other, tmp_path / "out")
    assert error.value.code == "BASE_MODEL_MISMATCH"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("options", [False, True])
def test_evo_states_and_adapters_match_pytorch_over_20_commits(tmp_path, options):
    """With `options`, format version 2's standardised repo vector and per-layer base, as the shipped Evo has."""
    base_config = ModelConfig(**{k: v for k, v in BASE_CONFIG.items() if k in ModelConfig.__dataclass_fields__})
    config = HypernetConfig(embedding_size=ENCODER["hidden_size"], shapes=module_shapes(base_config), hidden_size=32,
                            rank=4, alpha=8, init_log_scale=-1.0, standardize_repo=options, layer_base=options,
                            num_layers=base_config.num_hidden_layers)
    torch.manual_seed(5)
    network = EvoHypernetwork(config, update_gate_bias=0.0)  # an open gate: every step moves the state a lot
    with torch.no_grad():
        network.diff_norm.weight.uniform_(0.5, 1.5)
        network.diff_norm.bias.uniform_(-0.2, 0.2)
        if options:
            network.repo_norm.mean.copy_(torch.randn(2 * config.embedding_size) * 3)
            network.repo_norm.std.copy_(torch.rand(2 * config.embedding_size) * 2 + 0.05)
            for parts in network.layer_base.values():
                parts["B"].normal_(0, 0.05)
    base = base_dir(tmp_path, BASE_CONFIG)
    checkpoint, out = tmp_path / "best.pt", tmp_path / "code2lora-evo"
    torch.save({"trainable": network.state_dict(), "config": config.to_json(), "method": "code2lora-evo", "step": 3,
                "best_val": 1.0}, checkpoint)
    export = subprocess.run([sys.executable, str(REPO / "training/export_hypernet.py"), "--checkpoint", str(checkpoint),
                             "--base", str(base), "--out", str(out), "--dtype", "float32"], capture_output=True, text=True)
    assert export.returncode == 0, export.stderr
    assert json.loads((out / "hypernetwork_config.json").read_text())["kind"] == "code2lora-evo"

    generator = torch.Generator().manual_seed(6)
    files = torch.randn(6, ENCODER["hidden_size"], generator=generator)
    diffs = torch.randn(20, 2 * ENCODER["hidden_size"], generator=generator) * 3
    has_diff = torch.tensor([i % 5 != 2 for i in range(20)])
    with torch.no_grad():
        states = [network.repo_state(files[None], torch.ones(1, 6, dtype=torch.bool))[0]]
        for diff, present in zip(diffs, has_diff):
            states.append(network.step(states[-1][None], diff[None], present[None])[0])
    assert (states[-1] - states[0]).norm() > 0.5 * states[0].norm(), "the state hardly moved: nothing is tested"

    embeddings, diff_file, result = tmp_path / "files.json", tmp_path / "diffs.json", tmp_path / "evo.json"
    embeddings.write_text(json.dumps(files.tolist()))
    diff_file.write_text(json.dumps([d.tolist() if present else None for d, present in zip(diffs, has_diff)]))
    run_tsx("evo", "--hypernetwork", str(out), "--base-config", str(base / "config.json"), "--embeddings", str(embeddings),
            "--diffs", str(diff_file), "--out", str(result))
    ours = json.loads(result.read_text())
    state_errors = [relative_error(torch.tensor(o), e) for o, e in zip(ours["states"], states)]
    print(f"evo: {len(states)} states, max relative error {max(state_errors):.2e}")
    assert len(ours["states"]) == 21 and max(state_errors) < TOLERANCE
    for picked in ours["adapters"]:
        with torch.no_grad():
            expected = network.adapter_at(states[picked["commit"]][None])
        per_layer = expected if options else [expected] * BASE_CONFIG["num_hidden_layers"]
        assert len(picked["layers"]) == len(per_layer)
        for layer, (our_layer, expected_layer) in enumerate(zip(picked["layers"], per_layer)):
            for module, (a, b) in expected_layer.items():
                errors = (relative_error(torch.tensor(our_layer[module]["A"]).view(a.shape[1:]), a[0]),
                          relative_error(torch.tensor(our_layer[module]["B"]).view(b.shape[1:]), b[0]))
                assert max(errors) < TOLERANCE, (picked["commit"], layer, module, errors)


def test_diff_embeddings_match_embed_py(tmp_path):
    """[mean ; max] over a commit's chunks, full and short chunks mixed; a commit without chunks is null / zeros."""
    generator = torch.Generator().manual_seed(9)
    commits = [[torch.randint(5, 8000, (n,), generator=generator).tolist() for n in lengths]
               for lengths in ([128, 128, 40], [], [7], [128] * 5)]
    chunks, result = tmp_path / "chunks.json", tmp_path / "diffs.json"
    chunks.write_text(json.dumps(commits))
    run_tsx("embed-diff", "--encoder", str(ENCODER_DIR), "--chunks", str(chunks), "--out", str(result))
    ours = json.loads(result.read_text())
    encoder = CausalLM.from_pretrained(str(ENCODER_DIR)).eval()
    expected = embed_diffs(encoder, [{"diff_chunks": c} for c in commits])
    assert ours[1] is None and torch.equal(expected[1], torch.zeros_like(expected[1]))
    errors = [relative_error(torch.tensor(o), e) for o, e in zip(ours, expected) if o is not None]
    print(f"diff embeddings: max relative error {max(errors):.2e}")
    assert max(errors) < TOLERANCE
