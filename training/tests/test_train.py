"""training/train.py end to end on a synthetic token stream: loss falls, checkpoints resume bit-identically, exports load."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

TRAINING_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TRAIN_SCRIPT = os.path.join(TRAINING_DIR, "train.py")
VOCAB_SIZE = 64
TINY_MODEL = ["--hidden_size=32", "--intermediate_size=64", "--num_hidden_layers=2", "--num_attention_heads=4",
              "--num_key_value_heads=2", "--block_size=32", "--batch_size=8", "--eval_windows=16",
              "--learning_rate=1e-2", "--min_lr=1e-3", "--warmup_iters=5", "--peak_seconds=0.05", "--log_interval=1",
              "--num_threads=1"]  # two OpenMP threads crawl for a model this small when other work shares the cores


@pytest.fixture(scope="module")
def token_dir(tmp_path_factory):
    """A stream from a sparse Markov chain (each token has 2 likely successors): learnable well below log(64)."""
    directory = tmp_path_factory.mktemp("tokens")
    rng = np.random.default_rng(0)
    successors = rng.integers(1, VOCAB_SIZE, size=(VOCAB_SIZE, 2))

    def stream(length, seed):
        choices = np.random.default_rng(seed).integers(0, 2, size=length)
        tokens, current = np.empty(length, dtype="<u2"), 1
        for i in range(length):
            current = 0 if i % 500 == 499 else successors[current, choices[i]]  # eos (0) between "documents"
            tokens[i] = current
        return tokens

    stream(40_000, 1).tofile(directory / "train.bin")
    stream(4_000, 2).tofile(directory / "val.bin")
    (directory / "meta.json").write_text(json.dumps(
        {"dtype": "uint16", "vocab_size": VOCAB_SIZE, "eos_id": 0, "tokens": {"train": 40_000, "val": 4_000},
         "bytes": {"train": 100_000, "val": 10_000}, "documents": {"train": 80, "val": 8}}))
    return directory


def train_command(token_dir, runs_dir, *flags):
    return [sys.executable, TRAIN_SCRIPT, f"--data_dir={token_dir}", f"--runs_dir={runs_dir}",
            "--tokenizer_dir=/nonexistent", *TINY_MODEL, *flags]


def run_training(token_dir, runs_dir, *flags):
    result = subprocess.run(train_command(token_dir, runs_dir, *flags), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def read_log(runs_dir, run_name):
    with open(os.path.join(runs_dir, run_name, "log.jsonl")) as f:
        return [json.loads(line) for line in f]


def losses_by_step(records):
    return {r["step"]: r["last_loss"] for r in records if "last_loss" in r}


def test_tiny_run_lowers_loss_and_exports_hf_layout(token_dir, tmp_path):
    export_dir = tmp_path / "export"
    run_training(token_dir, tmp_path, "--run_name=tiny", "--max_iters=60", "--eval_interval=30",
                 "--checkpoint_interval=30", f"--export_dir={export_dir}", "--export_dtype=float32")
    records = read_log(tmp_path, "tiny")
    validation = [r["val_loss"] for r in records if "val_loss" in r]
    assert validation[0] > 3.9  # about log(64) = 4.16 before training
    assert validation[-1] < validation[0] - 1.0
    start = records[0]
    assert start["matmul_relative_error"]["float32"] < 1e-6 and start["peak_gflops"] > 0
    assert all(0 < r["mfu"] < 1 and r["tokens_per_s"] > 0 for r in records if "mfu" in r)
    assert (tmp_path / "tiny" / "loss_curve.png").stat().st_size > 1000

    state = json.loads((export_dir / "training_state.json").read_text())
    assert state["step"] == 60 and state["tokens_trained"] == 60 * 8 * 32
    assert state["val_loss"] == validation[-1]
    assert state["val_bits_per_byte"] == pytest.approx(validation[-1] / np.log(2) / 2.5)
    sys.path.insert(0, TRAINING_DIR)
    from model import CausalLM
    exported = CausalLM.from_pretrained(str(export_dir))
    assert exported.config.vocab_size == VOCAB_SIZE and exported.config.eos_token_id == 0


def test_time_budget_sizes_the_schedule_at_the_end_of_warmup(token_dir, tmp_path):
    run_training(token_dir, tmp_path, "--run_name=budget", "--max_iters=100000", "--time_budget_minutes=0.05",
                 "--warmup_iters=10", "--eval_interval=100000", "--checkpoint_interval=100000")
    records = read_log(tmp_path, "budget")
    schedule = next(r for r in records if r.get("event") == "schedule")
    assert schedule["step"] == 10 and 10 < schedule["max_iters"] < 100000
    assert records[-1]["event"] == "done" and records[-1]["step"] == schedule["max_iters"]
    # The steps planned after warmup fit in 92% of the budget at the measured speed (the log rounds it to 1 ms). How
    # long they then take depends on the machine's load, which a test must not assert.
    planned = schedule["max_iters"] - schedule["step"]
    assert planned * (schedule["seconds_per_step"] - 0.0005) <= 0.92 * 60 * 0.05


def test_resume_from_checkpoint_gives_identical_losses(token_dir, tmp_path):
    flags = ["--max_iters=24", "--eval_interval=8", "--checkpoint_interval=100"]
    run_training(token_dir, tmp_path, "--run_name=straight", *flags)
    straight = losses_by_step(read_log(tmp_path, "straight"))
    assert sorted(straight) == list(range(1, 25))

    # Same schedule, stopped after step 12 with a checkpoint; a fresh process resumes from it.
    run_training(token_dir, tmp_path, "--run_name=split", *flags, "--stop_at_iter=12")
    first_part = read_log(tmp_path, "split")
    assert first_part[-1]["event"] == "stopped" and first_part[-1]["step"] == 12
    run_training(token_dir, tmp_path, "--run_name=split", *flags, "--resume")
    second_part = read_log(tmp_path, "split")[len(first_part):]
    assert second_part[0]["event"] == "resume" and second_part[0]["step"] == 12
    assert losses_by_step(first_part + second_part) == straight
    validation = lambda records: {r["step"]: r["val_loss"] for r in records if "val_loss" in r}  # noqa: E731
    assert validation(first_part + second_part) == validation(read_log(tmp_path, "straight"))


def test_sigterm_checkpoints_and_resume_continues_exactly(token_dir, tmp_path):
    flags = ["--max_iters=400", "--eval_interval=1000", "--checkpoint_interval=1000"]
    process = subprocess.Popen(train_command(token_dir, tmp_path, "--run_name=interrupted", *flags),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log_path = tmp_path / "interrupted" / "log.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and process.poll() is None and not (
            log_path.exists() and '"step": 5,' in log_path.read_text()):
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    records = read_log(tmp_path, "interrupted")
    stopped_at = records[-1]["step"]
    assert records[-1]["event"] == "stopped" and 5 <= stopped_at < 400
    assert any(r.get("event") == "checkpoint" and r["step"] == stopped_at for r in records)

    end = f"--stop_at_iter={stopped_at + 5}"
    run_training(token_dir, tmp_path, "--run_name=interrupted", "--resume", *flags, end)
    resumed = losses_by_step(read_log(tmp_path, "interrupted")[len(records):])
    assert sorted(resumed) == list(range(stopped_at + 1, stopped_at + 6))
    run_training(token_dir, tmp_path, "--run_name=reference", *flags, end)
    reference = losses_by_step(read_log(tmp_path, "reference"))
    assert resumed == {step: reference[step] for step in resumed}
