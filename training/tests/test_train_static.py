"""Code2LoRA-Static's training with format version 2's options (train_hypernet.py, hypernet.py) on a tiny base.

(a) init_lora: the hypernetwork starts exactly at the given LoRA (its step-0 losses equal shared-lora's started from
    the same LoRA, and the matched and shuffled adapters are the same adapter), then learns adapters that depend on
    the repository (matched and shuffled losses part);
(b) standardize_repo: the statistics standardise what they were fit on, are fit before training and stay fixed;
(c) a run split in two gives the same losses as one run.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "training"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from export_lora import export_lora  # noqa: E402
from hypernet import MODULES, Hypernetwork, HypernetConfig, module_shapes  # noqa: E402
from model import ModelConfig  # noqa: E402
from test_train_evo import BASE_CONFIG, EMBEDDING, HIDDEN, write_data  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("static")
    # Two held-out repositories, so that each can get the other's adapter (the shuffled-adapter loss).
    write_data(root / "data", root / "base", root / "static.safetensors",
               repositories=(("a", "train"), ("b", "train"), ("c", "val"), ("d", "val")))
    base = ModelConfig(**BASE_CONFIG)
    generator = torch.Generator().manual_seed(3)
    shapes = module_shapes(base)
    lora = {}
    for layer in range(base.num_hidden_layers):
        for i, module in enumerate(MODULES):
            out_features, in_features = shapes[module]
            lora[f"A.{layer * len(MODULES) + i}"] = torch.randn(4, in_features, generator=generator) * 0.1
            lora[f"B.{layer * len(MODULES) + i}"] = torch.randn(out_features, 4, generator=generator) * 0.1
    export_lora(lora, root / "base", root / "lora", alpha=8)
    return root


def run(root: Path, method: str, out: str, *extra: str) -> list[dict]:
    args = [sys.executable, str(REPO / "training/train_hypernet.py"), f"--method={method}", f"--base_model={root / 'base'}",
            f"--data_dir={root / 'data'}", f"--out_dir={root / out}", f"--init_lora={root / 'lora'}",
            f"--hidden_size={HIDDEN}", "--rank=4", "--alpha=8", "--batch_size=4", "--max_steps=10", "--eval_interval=5",
            "--eval_tasks=8", "--checkpoint_interval=3", "--learning_rate=3e-2", "--autocast_dtype=none", "--threads=1", *extra]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in (root / out / "log.jsonl").read_text().splitlines()]


def test_starts_at_the_lora_then_learns_repository_specific_adapters(data):
    static, shared = run(data, "code2lora-static", "static"), run(data, "shared-lora", "shared")
    assert static[0]["trainable_parameters"] > shared[0]["trainable_parameters"]
    for key in ("ir_val_loss", "cr_val_loss"):
        assert static[0][key] == pytest.approx(shared[0][key], rel=1e-6)
    assert static[0]["cr_val_shuffled_loss"] == pytest.approx(static[0]["cr_val_loss"], rel=1e-6)
    losses = [r["loss"] for r in static if "loss" in r]
    assert len(losses) == 10 and sum(losses[-3:]) < sum(losses[:3])
    last = [r for r in static if "cr_val_shuffled_loss" in r][-1]
    assert last["cr_val_shuffled_loss"] != pytest.approx(last["cr_val_loss"], rel=1e-4)

    checkpoint = torch.load(data / "static" / "checkpoint.pt")
    config = HypernetConfig.from_json(checkpoint["config"])
    assert config.standardize_repo and config.layer_base and config.num_layers == BASE_CONFIG["num_hidden_layers"]
    # Fit once before training (not the identity), then fixed: the best checkpoint (step 5 or 10) holds the same.
    mean, std = checkpoint["trainable"]["repo_norm.mean"], checkpoint["trainable"]["repo_norm.std"]
    assert mean.abs().max() > 0.1 and not torch.allclose(std, torch.ones_like(std))
    best = torch.load(data / "static" / "best.pt")["trainable"]
    assert torch.equal(best["repo_norm.mean"], mean) and torch.equal(best["repo_norm.std"], std)
    Hypernetwork(config).load_state_dict(checkpoint["trainable"])  # the names and shapes the exporter expects


def test_standardizer_fit_gives_zero_mean_unit_std():
    vectors = torch.randn(6, 2 * EMBEDDING) * torch.linspace(0.1, 5, 2 * EMBEDDING) + 3
    config = HypernetConfig(embedding_size=EMBEDDING, shapes={}, standardize_repo=True)
    network = Hypernetwork(config)
    network.repo_norm.fit(vectors)
    standardized = network.repo_norm(vectors)
    assert torch.allclose(standardized.mean(0), torch.zeros(2 * EMBEDDING), atol=1e-5)
    assert torch.allclose(standardized.std(0), torch.ones(2 * EMBEDDING), atol=1e-5)


def test_a_split_run_gives_the_same_losses(data):
    whole = [r["loss"] for r in run(data, "code2lora-static", "whole") if "loss" in r]
    run(data, "code2lora-static", "split", "--stop_at_step=4")
    resumed = [r["loss"] for r in run(data, "code2lora-static", "split") if "loss" in r]
    assert resumed == whole


def test_schedule_sized_from_the_time_budget_is_kept_on_resume(data):
    # max_steps=0: the start times a few steps and the first evaluation, and sizes the schedule to the budget.
    log = run(data, "code2lora-static", "sized", "--max_steps=0", "--eval_interval=0", "--time_budget_minutes=0.1",
              "--stop_at_step=2")
    start = log[0]
    assert start["sized_from"]["step_seconds"] > 0 and start["sized_from"]["eval_seconds"] > 0
    assert start["max_steps"] >= 2 and start["eval_interval"] == max(1, start["max_steps"] // 12)
    checkpoint = torch.load(data / "sized" / "checkpoint.pt")
    assert (checkpoint["step"], checkpoint["max_steps"], checkpoint["eval_interval"]) == (2, start["max_steps"], start["eval_interval"])
    # A resume reads the schedule from the checkpoint instead of timing this machine again.
    resumed = run(data, "code2lora-static", "sized", "--max_steps=0", "--eval_interval=0", "--time_budget_minutes=0.1",
                  "--stop_at_step=3")
    assert not any(r.get("event") == "start" for r in resumed[len(log):])
    assert torch.load(data / "sized" / "checkpoint.pt")["max_steps"] == start["max_steps"]
    fixed = run(data, "code2lora-static", "fixed", f"--max_steps={start['max_steps']}", "--stop_at_step=3")
    lr_at_3 = [[r["lr"] for r in records if "lr" in r and r["step"] == 3] for records in (resumed, fixed)]
    assert len(lr_at_3[0]) == 1 and lr_at_3[0] == lr_at_3[1]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU here (the device machine runs it)")
def test_a_cuda_run_gives_the_losses_of_a_cpu_run(data):
    cpu = [r["loss"] for r in run(data, "code2lora-static", "on-cpu") if "loss" in r]
    cuda = [r["loss"] for r in run(data, "code2lora-static", "on-cuda", "--device=cuda") if "loss" in r]
    assert cuda == pytest.approx(cpu, rel=2e-3)


def test_an_unavailable_device_is_refused(data, tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "training/train_hypernet.py"), "--device=tpu", f"--data_dir={data / 'data'}",
                             f"--out_dir={tmp_path}"], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "USAGE: device" in result.stderr
