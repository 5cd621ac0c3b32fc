"""The benchmark's torch engine (training/evaluate.py) against the TypeScript engine and against plain greedy decoding.

(a) evaluate.py alone, with c2l-base: batched, left-padded, KV-cached decoding gives the ids of a full forward pass
    per token on each prompt alone; the one-line and end-of-text stops; a mixed file of base and adapter requests
    equals separate runs; a rerun resumes; targets scored in the decode pass equal a full pass, change no completion,
    and are scored without decoding on a rerun of completions made before.
(b) `npm run bench` with --engine ts and --engine torch on the same synthetic tasks (c2l-base; 60 tasks x base,
    shared-lora with a random adapter written by our TypeScript PEFT export, code2lora-static, shuffled-adapter): the
    same raw predictions, a difference allowed only at a float near-tie (logit margin below MARGIN_TIE, printed); the
    same target likelihoods.
(c) The same for SmolLM2-135M-Instruct (GGUF in TypeScript, its converted directory in PyTorch) when both exist here.
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest
import torch

transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")
from tokenizers import Tokenizer  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
# By path, under its own name: `evaluate` is also the name of a Hugging Face package.
_spec = importlib.util.spec_from_file_location("c2l_evaluate", REPO / "training/evaluate.py")
evaluate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(evaluate)

C2L_BASE = REPO / "public/models/c2l-base"
SMOLLM2_GGUF = REPO / "public/models/smollm2-135m-instruct/model.gguf"
SMOLLM2_DIR = REPO / "data/models/smollm2-135m-instruct"
# Float32 in tfjs (wasm) and in PyTorch differ by ~1e-5 in the logits: a greedy choice closer than this may flip.
MARGIN_TIE = 1e-3
PROMPTS = [
    "import math\n\n\ndef area(r):\n    return math.pi * r * r\n\n\ndef test_area():\n    assert area(1) == ",
    "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, x):\n        self.items.append(x)\n",
    "def add(a, b):\n    return a + b\n\n\nassert add(2, 3) == ",
    "x = 1\n",
    "# A module with a long docstring.\n" * 12 + "def f():\n    return ",
]


def run_evaluate(requests, tmp_path, name, *extra, model=C2L_BASE, returncode=0):
    requests_path, out_path = tmp_path / f"{name}.requests.jsonl", tmp_path / f"{name}.out.jsonl"
    requests_path.write_text("".join(json.dumps(r) + "\n" for r in requests))
    result = subprocess.run([sys.executable, str(REPO / "training/evaluate.py"), "--model", str(model), "--requests",
                             str(requests_path), "--out", str(out_path), *extra], capture_output=True, text=True, timeout=600)
    assert result.returncode == returncode, result.stderr[-3000:]
    return {r["id"]: r for r in map(json.loads, out_path.read_text().splitlines())}, result.stderr


def reference_greedy(model, tokenizer, prompt_ids, max_new_tokens, one_line, eos_ids):
    """Greedy decoding the slow, obvious way: a full forward pass over prompt + generated ids for every token."""
    ids = []
    for _ in range(max_new_tokens):
        with torch.no_grad():
            token = int(model(torch.tensor([prompt_ids + ids])).logits[0, -1].argmax())
        if token in eos_ids:
            return ids, "eos"
        ids.append(token)
        if one_line and evaluate.first_line_final(tokenizer.decode(ids, skip_special_tokens=False)):
            return ids, "first_line"
    return ids, "max_tokens"


@pytest.fixture(scope="module")
def c2l():
    if not (C2L_BASE / "model.safetensors").exists():
        pytest.skip("public/models/c2l-base is not here")
    tokenizer = Tokenizer.from_file(str(C2L_BASE / "tokenizer.json"))
    model = transformers.AutoModelForCausalLM.from_pretrained(C2L_BASE, dtype=torch.float32).eval()
    return model, tokenizer


def test_first_line_rule_matches_metrics_ts():
    # The cases test/bench.test.ts checks for isFirstLineFinal.
    assert not evaluate.first_line_final("  \n  ")
    assert not evaluate.first_line_final("\n foo")
    assert evaluate.first_line_final("\n foo\n")
    assert evaluate.first_line_final("<|fim_middle|> 7\n")
    assert not evaluate.first_line_final("<|fim_middle|>\n")


def test_batches_cap_the_prefill_with_its_targets():
    # Prompts end at one column and targets follow: the prefill is (longest prompt + longest target) wide.
    requests = [{"prompt_ids": [0] * n, "target_ids": [0] * t} for n, t in ((10, 2), (12, 30), (14, 1), (16, 1))]
    assert [len(b) for b in evaluate.batches(requests, 8, 100)] == [2, 2]  # 2 x (12 + 30) fits; 3 x (14 + 30) does not
    for batch in evaluate.batches(requests, 8, 100):
        assert len(batch) * (max(len(r["prompt_ids"]) for r in batch) + max(len(r["target_ids"]) for r in batch)) <= 100
    # Without targets (a decode-only request file) only the prompts count, as before.
    assert [len(b) for b in evaluate.batches([{"prompt_ids": r["prompt_ids"]} for r in requests], 8, 100)] == [4]
    assert [len(b) for b in evaluate.batches(requests, 3, 10_000)] == [3, 1]


def test_batched_decoding_equals_full_passes(c2l, tmp_path):
    model, tokenizer = c2l
    requests = [{"id": f"p{i}-{one_line}", "prompt_ids": tokenizer.encode(prompt).ids, "adapter": None, "one_line": one_line}
                for i, prompt in enumerate(PROMPTS) for one_line in (True, False)]
    lengths = sorted({len(r["prompt_ids"]) for r in requests})
    assert lengths[0] * 3 < lengths[-1], "prompts of very different lengths, so left padding is exercised"
    batched, log = run_evaluate(requests, tmp_path, "batched", "--max_new_tokens", "24", "--batch_size", "10")
    single, _ = run_evaluate(requests, tmp_path, "single", "--max_new_tokens", "24", "--batch_size", "1")
    eos = {model.config.eos_token_id}
    stops = set()
    for request in requests:
        expected, stop = reference_greedy(model, tokenizer, request["prompt_ids"], 24, request["one_line"], eos)
        for result in (batched[request["id"]], single[request["id"]]):
            assert result["completion_ids"] == expected, request["id"]
            assert result["stop"] == stop
            assert result["text"] == tokenizer.decode(expected, skip_special_tokens=False)
            assert len(result["margins"]) == len(expected) + (stop == "eos")
        stops.add(stop)
    assert "first_line" in stops and ("max_tokens" in stops or "eos" in stops), stops
    assert "[10/10]" in log, "progress goes to stderr"


def test_stop_tokens_and_resume(c2l, tmp_path):
    _, tokenizer = c2l
    requests = [{"id": f"p{i}", "prompt_ids": tokenizer.encode(prompt).ids, "adapter": None, "one_line": False}
                for i, prompt in enumerate(PROMPTS)]
    free, _ = run_evaluate(requests, tmp_path, "all", "--max_new_tokens", "12")
    chosen = next(r for r in requests if free[r["id"]]["stop"] == "max_tokens")
    generated = free[chosen["id"]]["completion_ids"]
    request = {**chosen, "id": "a"}
    first, _ = run_evaluate([request], tmp_path, "free", "--max_new_tokens", "12")
    assert first["a"]["completion_ids"] == generated and len(generated) == 12
    # Make the third generated token a stop token: generation ends before it, the stop token is not returned.
    stopped, _ = run_evaluate([request], tmp_path, "stop", "--max_new_tokens", "12", "--eos_ids", str(generated[2]))
    assert stopped["a"]["completion_ids"] == generated[:2] and stopped["a"]["stop"] == "eos"
    # A rerun on the same output decodes only what is missing.
    again, log = run_evaluate([request, {**request, "id": "b"}], tmp_path, "free", "--max_new_tokens", "12")
    assert "1 already in" in log and again["b"]["completion_ids"] == generated
    # The same ids from another prompt, or with another token budget, are refused, and the output is left as it was.
    for changed, extra in (({**request, "prompt_ids": request["prompt_ids"][:-1]}, ()), (request, ("--max_new_tokens", "8"))):
        kept, log = run_evaluate([changed], tmp_path, "free", "--max_new_tokens", "12", *extra, returncode=2)
        assert "decoded from another prompt, adapter or setting" in log and kept == again


def reference_target_nll(model, prompt_ids, target_ids):
    """The mean NLL of the target's tokens from one full pass over prompt + target."""
    with torch.no_grad():
        log_probabilities = model(torch.tensor([prompt_ids + target_ids])).logits[0].log_softmax(-1)
    start = len(prompt_ids) - 1
    return -sum(log_probabilities[start + j, token].item() for j, token in enumerate(target_ids)) / len(target_ids)


def test_targets_scored_in_the_decode_pass(c2l, tmp_path):
    model, tokenizer = c2l
    targets = ["math.pi", "self.items", "5", "y = 2", "None"]
    plain = [{"id": f"p{i}", "prompt_ids": tokenizer.encode(prompt).ids, "adapter": None, "one_line": True}
             for i, prompt in enumerate(PROMPTS)]
    scored_requests = [{**r, "target_ids": tokenizer.encode(target).ids} for r, target in zip(plain, targets)]
    scored_requests[3].pop("target_ids")  # a request without a target is decoded as before, and not scored
    together, _ = run_evaluate(scored_requests, tmp_path, "scored", "--max_new_tokens", "16", "--batch_size", "5")
    alone, _ = run_evaluate(plain, tmp_path, "plain", "--max_new_tokens", "16", "--batch_size", "5")
    for request in scored_requests:
        result = together[request["id"]]
        # Right-padded targets after the prompts do not change what is decoded from the prompts.
        assert result["completion_ids"] == alone[request["id"]]["completion_ids"], request["id"]
        if "target_ids" not in request:
            assert "target_nll" not in result
            continue
        expected = reference_target_nll(model, request["prompt_ids"], request["target_ids"])
        assert result["target_tokens"] == len(request["target_ids"])
        assert abs(result["target_nll"] - expected) < 1e-4, (request["id"], result["target_nll"], expected)
    # Completions decoded before targets were scored: a rerun scores them without decoding, keeping each completion.
    rescored, log = run_evaluate(scored_requests, tmp_path, "plain", "--max_new_tokens", "16")
    assert "0 to decode, 4 decoded to score" in log
    for request in scored_requests:
        assert rescored[request["id"]]["completion_ids"] == alone[request["id"]]["completion_ids"]
        assert rescored[request["id"]].get("target_nll") == together[request["id"]].get("target_nll")
    # Nothing left to do; another target for the same prompt is scored again.
    _, log = run_evaluate(scored_requests, tmp_path, "plain", "--max_new_tokens", "16")
    assert "0 to decode" in log and "to score" not in log
    changed = [{**scored_requests[0], "target_ids": scored_requests[0]["target_ids"][:1]}]
    again, log = run_evaluate(changed, tmp_path, "plain", "--max_new_tokens", "16")
    assert "1 decoded to score" in log and again["p0"]["target_tokens"] == 1


def test_bench_likelihood_measures_both_ways_on_the_same_completions(c2l, tmp_path):
    """`npm run bench:likelihood`: decodes with and without the targets in alternated rounds and checks the completions."""
    npx = shutil.which("npx") or pytest.skip("npx is not on PATH")
    _, tokenizer = c2l
    requests = [{"id": f"t{i}", "prompt_ids": tokenizer.encode(prompt).ids, "adapter": None, "one_line": True,
                 "target_ids": tokenizer.encode(" 3\n").ids} for i, prompt in enumerate(PROMPTS)]
    path = tmp_path / "base.requests.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in requests))
    result = subprocess.run([npx, "tsx", "cli/bench-likelihood.ts", "--requests", str(path), "--model", str(C2L_BASE),
                             "--n", "4", "--rounds", "2"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    out = result.stdout
    assert out.startswith("4 requests from ")
    assert len([line for line in out.splitlines() if line.startswith("round ")]) == 4
    assert "ratio " in out and "completions: identical in all 4 decodes" in out


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU here (the device machine runs it)")
def test_cuda_decoding_equals_cpu(c2l, tmp_path):
    _, tokenizer = c2l
    requests = [{"id": f"p{i}-{one_line}", "prompt_ids": tokenizer.encode(prompt).ids, "adapter": None, "one_line": one_line}
                for i, prompt in enumerate(PROMPTS) for one_line in (True, False)]
    cpu, _ = run_evaluate(requests, tmp_path, "cpu", "--max_new_tokens", "24", "--batch_size", "10")
    cuda, _ = run_evaluate(requests, tmp_path, "cuda", "--max_new_tokens", "24", "--batch_size", "10", "--device", "cuda")
    for request in requests:
        a, b = cpu[request["id"]]["completion_ids"], cuda[request["id"]]["completion_ids"]
        same = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        assert a == b or cpu[request["id"]]["margins"][same] < MARGIN_TIE, request["id"]
        assert cpu[request["id"]]["request_digest"] != cuda[request["id"]]["request_digest"]


def random_peft_adapter(model_dir, out_dir, seed):
    base = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, init_lora_weights=False, task_type="CAUSAL_LM",
                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    torch.manual_seed(seed)
    adapted = peft.get_peft_model(base, config)
    with torch.no_grad():
        for name, parameter in adapted.named_parameters():
            if "lora_" in name:
                parameter.normal_(0, 0.04)
    adapted.save_pretrained(out_dir)
    return adapted.eval()


def test_adapters_switch_within_one_run(c2l, tmp_path):
    _, tokenizer = c2l
    adapters = [random_peft_adapter(C2L_BASE, tmp_path / f"adapter{seed}", seed) for seed in (1, 2)]
    prompts = [tokenizer.encode(prompt).ids for prompt in PROMPTS]
    mixed = [{"id": f"{kind}-{i}", "prompt_ids": ids, "adapter": None if kind == "base" else str(tmp_path / kind), "one_line": False}
             for kind in ("base", "adapter1", "adapter2") for i, ids in enumerate(prompts)]
    together, _ = run_evaluate(mixed, tmp_path, "mixed", "--max_new_tokens", "16")
    for kind in ("base", "adapter1", "adapter2"):
        alone, _ = run_evaluate([r for r in mixed if r["id"].startswith(kind)], tmp_path, kind + "-alone", "--max_new_tokens", "16")
        for key, result in alone.items():
            assert together[key]["completion_ids"] == result["completion_ids"], key
    # And the adapter is really applied: PEFT's own model, full passes, gives the same ids.
    for i, ids in enumerate(prompts):
        expected, _ = reference_greedy(adapters[1], tokenizer, ids, 16, False, {adapters[1].config.eos_token_id})
        assert together[f"adapter2-{i}"]["completion_ids"] == expected
    assert any(together[f"adapter1-{i}"]["completion_ids"] != together[f"base-{i}"]["completion_ids"] for i in range(len(prompts)))


# ---- (b), (c): the two engines of `npm run bench` ------------------------------------------------------------------------

def run_bench(*args):
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx is not on PATH")
    result = subprocess.run([npx, "tsx", "cli/bench.ts", *args], cwd=REPO, capture_output=True, text=True, timeout=3000)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result.stderr


def divergence(completion, prediction, tokenizer):
    """The step where the torch engine's tokens stop spelling the TypeScript prediction, and its logit margin there."""
    ids = completion["completion_ids"]
    step = 0
    while step < len(ids) and prediction.startswith(tokenizer.decode(ids[:step + 1], skip_special_tokens=False)):
        step += 1
    margins = completion["margins"]
    return step, margins[min(step, len(margins) - 1)]


def compare_engines(ts_dir, torch_dir, tokenizer, methods):
    ts = {(r["task_id"], r["method"]): r for r in json.loads((ts_dir / "results.json").read_text())["tasks"]}
    torch_results = json.loads((torch_dir / "results.json").read_text())
    assert torch_results["engine"] == "torch"
    ours = {(r["task_id"], r["method"]): r for r in torch_results["tasks"]}
    assert set(ts) == set(ours)
    completions = {}
    for method in methods:
        path = torch_dir / "torch" / f"{method}.completions.jsonl"
        completions[method] = {c["id"]: c for c in map(json.loads, path.read_text().splitlines())}
    differences = []
    for key, record in ts.items():
        if record["prediction"] != ours[key]["prediction"]:
            step, margin = divergence(completions[key[1]][key[0]], record["prediction"], tokenizer)
            differences.append((key, step, margin, record["prediction"], ours[key]["prediction"]))
    for key, step, margin, a, b in differences:
        print(f"differ: {key[1]} {key[0]}: step {step}, logit margin {margin:.2e}: ts {a!r} torch {b!r}")
    per_method = {m: sum(1 for k in ts if k[1] == m) for m in methods}
    print(f"{len(ts) - len(differences)}/{len(ts)} predictions identical {per_method}")
    for _, _, margin, _, _ in differences:
        assert margin < MARGIN_TIE, "a difference that is not a float near-tie"
    # Both engines score every target (teacher-forced after the same prompt, through the same adapter) alike.
    gaps = [abs(record["target_nll"] - ours[key]["target_nll"]) for key, record in ts.items()]
    print(f"target NLL: largest difference between the engines {max(gaps):.2e} over {len(gaps)} records")
    assert max(gaps) < 1e-3
    return ts, ours, differences


def test_bench_engines_agree_on_synthetic_tasks(tmp_path):
    if not (C2L_BASE / "model.safetensors").exists():
        pytest.skip("public/models/c2l-base is not here")
    adapter = tmp_path / "shared-lora"
    npx = shutil.which("npx") or pytest.skip("npx is not on PATH")
    # A random adapter written by our TypeScript PEFT export (src/model/lora.ts exportPeftAdapter).
    subprocess.run([npx, "tsx", "cli/logits.ts", "--model", str(C2L_BASE), "--ids", "1,2,3", "--export-random-adapter",
                    str(adapter), "--seed", "7", "--rank", "4", "--alpha", "8", "--out", str(tmp_path / "l.json")],
                   cwd=REPO, check=True, capture_output=True, timeout=600)
    methods = ["base", "shared-lora", "code2lora-static", "shuffled-adapter"]
    # Both repositories held out: their static tasks are all cr_test (a 6-commit history has too few evo tasks to keep).
    common = ["--model", str(C2L_BASE), "--methods", ",".join(methods), "--shared-lora", str(adapter), "--limit", "60",
              "--history", "6", "--held-out", "all"]
    run_bench("--repos", "synth:3,synth:4", "--out", str(tmp_path / "ts"), *common)
    run_bench("--tasks", str(tmp_path / "ts/tasks.jsonl"), "--out", str(tmp_path / "torch"), "--engine", "torch", *common)
    tokenizer = Tokenizer.from_file(str(C2L_BASE / "tokenizer.json"))
    ts, ours, differences = compare_engines(tmp_path / "ts", tmp_path / "torch", tokenizer, methods)
    assert all(sum(1 for k in ts if k[1] == m) >= 50 for m in methods)
    assert len(differences) <= len(ts) // 50
    # The TypeScript-exported adapter changes the same predictions, to the same text, in both engines.
    changed = {engine: {task for task, method in results if method == "shared-lora"
                        and results[(task, method)]["prediction"] != results[(task, "base")]["prediction"]}
               for engine, results in (("ts", ts), ("torch", ours))}
    print(f"shared-lora changed {len(changed['ts'])} of 60 predictions")
    assert len(changed["ts"]) >= 10
    assert changed["ts"] ^ changed["torch"] <= {key[0] for key, *_ in differences}
    # One adapter a repository, written for evaluate.py and removed once its completions were read.
    requests = [json.loads(line) for line in (tmp_path / "torch/torch/code2lora-static.requests.jsonl").read_text().splitlines()]
    adapters = {request["adapter"] for request in requests}
    assert len(adapters) == 2 and not any(Path(adapter).exists() for adapter in adapters)
    # Records made before targets were scored: a rerun requests them again, evaluate.py finds their completions
    # (0 to decode) and the records get the same likelihoods.
    partial = tmp_path / "torch/results.partial.jsonl"
    records = [json.loads(line) for line in partial.read_text().splitlines()]
    partial.write_text("".join(json.dumps({k: v for k, v in r.items() if not k.startswith("target_")}) + "\n"
                               for r in records))
    log = run_bench("--tasks", str(tmp_path / "ts/tasks.jsonl"), "--out", str(tmp_path / "torch"), "--engine", "torch", *common)
    assert log.count(" 0 to decode") == len(methods), log[-2000:]
    again = {(r["task_id"], r["method"]): r for r in json.loads((tmp_path / "torch/results.json").read_text())["tasks"]}
    assert {key: (r["prediction"], r["target_nll"]) for key, r in again.items()} == \
        {key: (r["prediction"], r["target_nll"]) for key, r in ours.items()}


def test_bench_engines_agree_on_smollm2(tmp_path):
    if not SMOLLM2_GGUF.exists() or not (SMOLLM2_DIR / "model.safetensors").exists():
        pytest.skip("SmolLM2's GGUF (npm run models:smollm2) and its converted directory (training/convert_gguf.py) are not both here")
    common = ["--model", str(SMOLLM2_GGUF), "--methods", "base", "--limit", "16", "--context-tokens", "320", "--history", "4"]
    run_bench("--repos", "synth:5", "--out", str(tmp_path / "ts"), *common)
    run_bench("--tasks", str(tmp_path / "ts/tasks.jsonl"), "--out", str(tmp_path / "torch"), "--engine", "torch", *common)
    tokenizer = Tokenizer.from_file(str(SMOLLM2_DIR / "tokenizer.json"))
    ts, _, differences = compare_engines(tmp_path / "ts", tmp_path / "torch", tokenizer, ["base"])
    assert len(ts) == 16 and len(differences) <= 1
