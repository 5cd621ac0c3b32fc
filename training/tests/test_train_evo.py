"""Code2LoRA-Evo's model and training (training/hypernet.py EvoHypernetwork, train_hypernet.py --evo) on a tiny base.

(a) the warm start is exact: Evo's adapter at the first commit equals the Static hypernetwork's it was loaded from, and
    a commit without a diff leaves the state unchanged;
(b) the GRU stepped for a whole batch at once (EvoHypernetwork.states_at) gives the states and gradients of stepping
    each task alone;
(c) a tiny --evo run lowers the training loss, logs the first-commit (Static) reference, and resumes exactly.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "training"))
from hypernet import EvoHypernetwork, Hypernetwork, HypernetConfig, module_shapes  # noqa: E402
from model import CausalLM, ModelConfig  # noqa: E402

BASE_CONFIG = {"vocab_size": 120, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
               "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
               "rope_theta": 10000.0, "tie_word_embeddings": False}
EMBEDDING, HIDDEN, COMMITS = 12, 8, 10


def tiny_config() -> HypernetConfig:
    base = ModelConfig(**BASE_CONFIG)
    return HypernetConfig(embedding_size=EMBEDDING, shapes=module_shapes(base), hidden_size=HIDDEN, rank=4, alpha=8,
                          init_log_scale=-1.0)


def test_warm_start_is_static_at_the_first_commit_and_empty_diffs_do_not_move_the_state():
    torch.manual_seed(0)
    config = tiny_config()
    static = Hypernetwork(config)
    evo = EvoHypernetwork(config)
    missing = evo.load_state_dict(static.state_dict(), strict=False).missing_keys
    assert set(missing) == evo.new_parameter_names() and missing
    files, mask = torch.randn(2, 5, EMBEDDING), torch.tensor([[True] * 5, [True, True, False, False, False]])
    expected, ours = static(files, mask), evo.adapter_at(evo.repo_state(files, mask))
    for module in config.shapes:
        for part in (0, 1):
            assert torch.allclose(expected[module][part], ours[module][part], rtol=1e-5, atol=1e-7)
    state = evo.repo_state(files, mask)
    stepped = evo.step(state, torch.randn(2, 2 * EMBEDDING), torch.tensor([False, True]))
    assert torch.equal(stepped[0], state[0]) and not torch.equal(stepped[1], state[1])


def test_batched_states_equal_stepping_each_task_alone_values_and_gradients():
    torch.manual_seed(3)
    evo = EvoHypernetwork(tiny_config(), update_gate_bias=0.0)  # an open gate: every diff moves the state
    lengths, bptt = (9, 6, 12), 3
    files, mask = torch.randn(3, 4, EMBEDDING), torch.ones(3, 4, dtype=torch.bool)
    histories = [(torch.randn(n, 2 * EMBEDDING), torch.rand(n) > 0.3) for n in lengths]
    rows, ends = torch.tensor([0, 2, 2, 1, 0, 2, 1]), torch.tensor([8, 11, 2, 5, 0, 7, 3])

    def alone():  # the loop train_hypernet.py ran before: each task stepped by itself, one commit at a time
        start = evo.repo_state(files, mask)
        result = []
        for row, end in zip(rows.tolist(), ends.tolist()):
            diffs, has_diff = histories[row]
            begin = max(0, end - bptt)
            state = start[row]
            if begin > 0:
                with torch.no_grad():
                    state = state.detach()
                    for index in range(1, begin + 1):
                        state = evo.step(state[None], diffs[index][None], has_diff[index][None])[0]
            for index in range(begin + 1, end + 1):
                state = evo.step(state[None], diffs[index][None], has_diff[index][None])[0]
            result.append(state)
        return torch.stack(result)

    def batched():
        diffs = torch.zeros(3, max(lengths), 2 * EMBEDDING)
        has_diff = torch.zeros(3, max(lengths), dtype=torch.bool)
        for row, (history, moved) in enumerate(histories):
            diffs[row, :len(history)], has_diff[row, :len(history)] = history, moved
        return evo.states_at(evo.repo_state(files, mask), diffs, has_diff, rows, ends, bptt)

    outputs = {}
    for name, states_of in (("alone", alone), ("batched", batched)):
        evo.zero_grad()
        states = states_of()
        (states * torch.linspace(-1, 1, states.numel()).view_as(states)).sum().backward()
        outputs[name] = states.detach(), {n: p.grad.clone() for n, p in evo.named_parameters() if p.grad is not None}
    (expected, expected_grads), (ours, our_grads) = outputs["alone"], outputs["batched"]
    assert torch.allclose(ours, expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(ours[0], evo.repo_state(files, mask)[0])  # the histories did move the states
    assert set(our_grads) == set(expected_grads) and "trunk.0.weight" in our_grads  # commit 0 reached: the trunk learns
    for name, grad in expected_grads.items():
        assert torch.allclose(our_grads[name], grad, rtol=1e-4, atol=1e-6), name


def write_data(directory: Path, base_dir: Path, static_path: Path,
               repositories=(("a", "train"), ("b", "train"), ("c", "val"))) -> None:
    """Repositories (by default two train, one val) with COMMITS commits each, tasks at commits 1.., random token ids."""
    torch.manual_seed(1)
    generator = torch.Generator().manual_seed(2)
    tasks, blobs, repos, diffs = [], {}, {}, {}
    for r, (name, split) in enumerate(repositories):
        names = [f"{name}{i}" for i in range(3)]
        for blob in names:
            blobs[blob] = torch.randn(EMBEDDING, generator=generator)
        repos[name] = {"paths": [f"{b}.py" for b in names], "blobs": names}
        diffs[name] = {"commits": [f"{name}-{i}" for i in range(COMMITS)],
                       "embeddings": torch.randn(COMMITS, 2 * EMBEDDING, generator=generator),
                       "has_diff": torch.tensor([i % 4 != 3 for i in range(COMMITS)])}
        for index in range(1, COMMITS):
            time_split = "train" if index < 8 else ("val" if index == 8 else "test")
            for k in range(2):
                # The target depends on the repository and the commit, so only a state that follows history can learn it.
                target = [(7 * r + index + k) % 50 + 10, 3]
                tasks.append({"repo": name, "split": split, "time_split": time_split, "commit": f"{name}-{index}",
                              "commit_index": index, "prompt_ids": [(5 * index + j) % 100 + 1 for j in range(12)],
                              "target_ids": target})
    directory.mkdir()
    (directory / "tasks.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))
    torch.save({"blobs": blobs, "repos": repos, "encoder": {"model": "test", "hidden_size": EMBEDDING}},
               directory / "file_embeddings.pt")
    torch.save({"repos": diffs, "encoder": {"model": "test", "hidden_size": EMBEDDING}}, directory / "diff_embeddings.pt")
    CausalLM(ModelConfig(**BASE_CONFIG)).save_pretrained(str(base_dir))
    save_file({k: v.contiguous() for k, v in Hypernetwork(tiny_config()).state_dict().items()}, str(static_path))


def run_training(tmp_path: Path, out: str, *extra: str) -> list[dict]:
    args = [sys.executable, str(REPO / "training/train_hypernet.py"), "--evo", f"--base_model={tmp_path / 'base'}",
            f"--data_dir={tmp_path / 'data'}", f"--out_dir={tmp_path / out}", f"--warm_start={tmp_path / 'static.safetensors'}",
            f"--hidden_size={HIDDEN}", "--rank=4", "--alpha=8", "--batch_size=4", "--max_steps=12", "--eval_interval=6",
            "--eval_tasks=8", "--checkpoint_interval=3", "--bptt_commits=3", "--learning_rate=3e-2",
            "--autocast_dtype=none", "--threads=1", *extra]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in (tmp_path / out / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("evo")
    write_data(root / "data", root / "base", root / "static.safetensors")
    return root


def test_tiny_evo_run_learns_logs_the_static_reference_and_resumes_exactly(data):
    log = run_training(data, "full")
    start = log[0]
    assert start["method"] == "code2lora-evo" and "first_commit_cr_val_loss" in start
    assert (start["update_gate_bias"], start["bptt_commits"]) == (6.0, 3)
    losses = [r["loss"] for r in log if "loss" in r]
    assert len(losses) == 12 and sum(losses[-3:]) < sum(losses[:3])
    checkpoint = torch.load(data / "full" / "checkpoint.pt")
    initial = EvoHypernetwork(tiny_config())
    assert not torch.equal(checkpoint["trainable"]["gru.weight_ih"], initial.state_dict()["gru.weight_ih"])

    run_training(data, "split", "--stop_at_step=5")
    resumed = run_training(data, "split")
    assert [r["loss"] for r in resumed if "loss" in r] == losses



@pytest.mark.parametrize("mixed_in", ["diff embeddings", "warm start"])
def test_evo_refuses_embeddings_or_a_warm_start_of_another_encoder_layer(data, tmp_path, mixed_in):
    """A run whose file embeddings, diff embeddings and warm start read different encoder layers stops before training."""
    mixed = tmp_path / "data"
    mixed.mkdir()
    for name in ("tasks.jsonl", "file_embeddings.pt", "diff_embeddings.pt"):
        (mixed / name).write_bytes((data / "data" / name).read_bytes())
    warm_start = tmp_path / "static" / "hypernetwork.safetensors"
    warm_start.parent.mkdir()
    warm_start.write_bytes((data / "static.safetensors").read_bytes())
    if mixed_in == "diff embeddings":
        diffs = torch.load(mixed / "diff_embeddings.pt")
        torch.save({**diffs, "encoder": {**diffs["encoder"], "layer": 2}}, mixed / "diff_embeddings.pt")
    else:
        (warm_start.parent / "hypernetwork_config.json").write_text(json.dumps({"encoder": {"model": "test", "layer": 2}}))
    args = [sys.executable, str(REPO / "training/train_hypernet.py"), "--evo", f"--base_model={data / 'base'}",
            f"--data_dir={mixed}", f"--out_dir={tmp_path / 'run'}", f"--warm_start={warm_start}",
            f"--hidden_size={HIDDEN}", "--rank=4", "--alpha=8", "--max_steps=1", "--threads=1"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode != 0
    assert "ENCODER_MISMATCH: file embeddings read layer last" in result.stderr
    assert f"{mixed_in} read layer 2" in result.stderr
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
