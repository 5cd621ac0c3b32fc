"""Meta-trains Code2LoRA's hypernetwork (or a LoRA baseline) through the frozen base LM on assertion-completion tasks.

Usage (npm run train:hypernet -- [--name=value ...]): every module-level name below can be overridden, nanoGPT-style.
  method=code2lora-static  the hypernetwork: repo file embeddings -> one adapter per repository
  method=shared-lora       one ordinary LoRA for every repository (the paper's "single shared LoRA" baseline)
  method=per-repo-lora     one LoRA trained on one repository's own IR-train tasks (repos=NAME)
  method=code2lora-evo     (or --evo) the Evo hypernetwork: Static's, warm-started from `warm_start`, plus a GRU over
                           each commit's diff embedding (hypernet.py EvoHypernetwork); data_dir defaults to data/evo

Evo data (npm run data:evo, training/embed.py --diffs): tasks carry the commit where they appear and a time split
(80/10/10 of commits) instead of an in-repo split; the state starts at the history's first commit and steps through
every commit up to the task's, with gradients through the last `bptt_commits` steps only (truncated BPTT, as the
authors detach the state). shared-lora with data_dir=data/evo is the evo track's shared LoRA baseline.

Inputs: data/hypernet/tasks.jsonl (npm run data:hypernet: mined and tokenized by our TypeScript) and
data/hypernet/file_embeddings.pt (training/embed.py). Loss: cross-entropy on the target tokens only (logits computed
at those positions alone), through the base model with the adapter applied functionally. AdamW, linear warmup then
cosine, gradient clipping, a wall-clock budget. Every `checkpoint_interval` steps the whole state is saved (batches are
a function of the seed and the step, so a resumed run sees exactly the batches it would have seen); losses go to
log.jsonl. The checkpoint kept for export is the one with the lowest cross-repo validation loss, as the authors select.
"""
import os

# Spinning OpenMP threads starve the working one when the 2 cores are shared (training/README.md: 2x): wait passively.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import json
import math
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file as load_safetensors
from torch.nn.utils.rnn import pad_sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from export_lora import peft_name  # noqa: E402
from hypernet import MODULES, EvoHypernetwork, Hypernetwork, HypernetConfig, module_shapes  # noqa: E402
from model import CausalLM, bfloat16_is_faster  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

# ---- configuration (override with --name=value) ------------------------------------------------------------------
method = "code2lora-static"
base_model = "data/models/smollm2-135m-instruct"
data_dir = "data/hypernet"
embeddings_file = "file_embeddings.pt"  # in data_dir: another encoder's (training/encoder_candidates.py) to compare encoders
out_dir = ""  # default: training/runs/<method>
repos = ""  # per-repo-lora: the repository to train on
hidden_size = 64
standardize_repo = True  # hypernet.py: repo vectors standardised with the training repositories' statistics
layer_base = True  # hypernet.py: a learned per-layer adapter that the heads' output is added to
init_lora = ""  # a PEFT folder (export_lora.py): layer_base (heads at zero), or shared-lora's weights, start from it
rank = 16
alpha = 32
prompt_tokens = 256  # prompts keep their last tokens, as evaluation does
max_target_tokens = 48
batch_size = 8
learning_rate = 3e-4
weight_decay = 0.01
warmup_fraction = 0.05
max_steps = 300  # the length of the learning-rate schedule; 0: as many as time_budget_minutes holds (timed at the start)
stop_at_step = 0  # stop (with a checkpoint) after this step without changing the schedule: equal budgets, split runs
time_budget_minutes = 30.0
grad_clip = 1.0
eval_interval = 50  # with max_steps=0, 0 spreads `sized_evals` evaluations over the sized schedule
sized_evals = 12
eval_tasks = 96
checkpoint_interval = 25
seed = 0
warm_start = "public/models/smollm2-135m-instruct/code2lora-static/hypernetwork.safetensors"  # evo: Static's weights
bptt_commits = 16  # evo: gradients flow through at most this many GRU steps
update_gate_bias = 6.0  # evo: the GRU's update gate starts at sigmoid(this): 6 keeps 99.75% of the state per diff
new_lr_multiplier = 10.0  # learning-rate factor of the parameters a warm start did not give: evo's GRU and diff input;
# static with init_lora: everything but layer_base
evo_require_diffs = True  # evo data: train only on repositories whose diff embeddings exist (any method)
autocast_dtype = "auto"  # auto (bfloat16 on a GPU, and where this CPU runs it faster than float32) | bfloat16 | none
threads = 0  # 0: torch's default
device = "cpu"  # or cuda: the same script at full scale where a GPU is lent (training/README.md)

for argument in sys.argv[1:]:
    if argument == "--evo":
        argument = "--method=code2lora-evo"
    if not argument.startswith("--") or "=" not in argument:
        sys.exit(f"USAGE: arguments are --name=value, got {argument!r}")
    key, value = argument[2:].split("=", 1)
    key = key.replace("-", "_")
    if key not in globals() or key.startswith("_"):
        sys.exit(f"USAGE: unknown setting {key!r}")
    current = globals()[key]
    globals()[key] = value if isinstance(current, str) else (value.lower() in ("1", "true", "yes") if isinstance(current, bool) else type(current)(value))
if method not in ("code2lora-static", "code2lora-evo", "shared-lora", "per-repo-lora"):
    sys.exit(f"USAGE: unknown method {method!r}")
if method == "per-repo-lora" and not repos:
    sys.exit("USAGE: per-repo-lora needs --repos=NAME")
out_dir = Path(out_dir or REPO / "training/runs" / (method if method != "per-repo-lora" else f"per-repo-lora/{repos}"))
if method == "code2lora-evo" and data_dir == "data/hypernet":
    data_dir = "data/evo"
if max_steps < 0 or (max_steps == 0 and time_budget_minutes <= 0):
    sys.exit("USAGE: max_steps=0 sizes the schedule from time_budget_minutes, which must then be positive")
if device != "cpu" and not (device.startswith("cuda") and torch.cuda.is_available()):
    sys.exit(f"USAGE: device {device!r} is not available here (cpu, or cuda where torch sees a GPU)")
device_type = torch.device(device).type
if threads:
    torch.set_num_threads(threads)
if autocast_dtype == "auto":
    autocast_dtype = "bfloat16" if bfloat16_is_faster(device_type) else "none"
if autocast_dtype not in ("bfloat16", "none"):
    sys.exit(f"USAGE: autocast_dtype is auto, bfloat16 or none, got {autocast_dtype!r}")

# ---- data --------------------------------------------------------------------------------------------------------
tasks = [json.loads(line) for line in open(REPO / data_dir / "tasks.jsonl")]
diff_path = REPO / data_dir / "diff_embeddings.pt"
diff_data = torch.load(diff_path) if method == "code2lora-evo" or (evo_require_diffs and diff_path.exists()) else None
diffs = diff_data["repos"] if diff_data is not None else None
if evo_require_diffs and diffs is not None:
    # Evo data whose diff embeddings are not all computed yet (training/embed.py --diffs writes repository by
    # repository): keep the repositories that have them, so Evo and the baselines train on the same tasks.
    embedded_repos = set(diffs)
    without = sum(1 for t in tasks if t["repo"] not in embedded_repos)
    tasks = [t for t in tasks if t["repo"] in embedded_repos]
    print(f"{without} tasks dropped: their repositories have no diff embeddings yet", flush=True)
if diffs is not None:
    for history in diffs.values():
        history["embeddings"], history["has_diff"] = history["embeddings"].to(device), history["has_diff"].to(device)
for task in tasks:  # static data splits a repository's tasks at random (ir_split), evo data by commit time (time_split)
    task["in_repo_split"] = task.get("ir_split") or task["time_split"]
if method == "per-repo-lora":
    train_tasks = [t for t in tasks if t["repo"] == repos and t["in_repo_split"] == "train"]
    ir_val_tasks = [t for t in tasks if t["repo"] == repos and t["in_repo_split"] == "val"]
    cr_val_tasks = ir_val_tasks  # one repository: its own validation tasks select the checkpoint
else:
    train_tasks = [t for t in tasks if t["split"] == "train" and t["in_repo_split"] == "train"]
    ir_val_tasks = [t for t in tasks if t["split"] == "train" and t["in_repo_split"] == "val"]
    # Evo: a held-out repository's later commits, the part of its history an evo adapter is scored on.
    cr_val_tasks = [t for t in tasks if t["split"] == "val" and t["in_repo_split"] != "train"]
selected_on = "cr_val"
if not cr_val_tasks:  # no held-out repository in the data: select on the training repositories' later commits
    cr_val_tasks, selected_on = ir_val_tasks, "ir_val"
if not train_tasks:
    sys.exit(f"NO_TASKS: no training tasks in {data_dir} for method {method} {repos}")
sample = random.Random(seed)
ir_val_tasks = sample.sample(ir_val_tasks, min(eval_tasks, len(ir_val_tasks)))
cr_val_tasks = ir_val_tasks if selected_on == "ir_val" else sample.sample(cr_val_tasks, min(eval_tasks, len(cr_val_tasks)))

hypernetwork_method = method in ("code2lora-static", "code2lora-evo")
cr_val_names = sorted({t["repo"] for t in cr_val_tasks})
shuffled_repo = dict(zip(cr_val_names, cr_val_names[1:] + cr_val_names[:1]))
embeddings = torch.load(REPO / data_dir / embeddings_file) if hypernetwork_method else None


def repo_files(names: list[str]):
    """Padded file embeddings [B, F, E] and mask [B, F] of the named repositories."""
    per_repo = [torch.stack([embeddings["blobs"][blob] for blob in embeddings["repos"][name]["blobs"]]) for name in names]
    files = pad_sequence(per_repo, batch_first=True).float()
    mask = pad_sequence([torch.ones(len(repo_embeddings), dtype=torch.bool) for repo_embeddings in per_repo], batch_first=True)
    return files.to(device), mask.to(device)


def batch_for_step(step: int) -> list[dict]:
    """Epoch e's order is a seeded permutation; step s reads its slice: resuming at s gives the same batches."""
    per_epoch = len(train_tasks) // batch_size
    epoch, index = divmod(step, per_epoch)
    order = torch.randperm(len(train_tasks), generator=torch.Generator().manual_seed(seed * 1000 + epoch)).tolist()
    return [train_tasks[i] for i in order[index * batch_size:(index + 1) * batch_size]]


# ---- model -------------------------------------------------------------------------------------------------------
torch.manual_seed(seed)
lm = CausalLM.from_pretrained(str(REPO / base_model)).eval().to(device)
for parameter in lm.parameters():
    parameter.requires_grad_(False)
shapes = module_shapes(lm.config)
scale = alpha / rank


class LayerLora(nn.Module):
    """An ordinary LoRA on all seven projections of every layer, PEFT's initialisation (A Kaiming-uniform, B zero)."""

    def __init__(self):
        super().__init__()
        self.A = nn.ParameterList()
        self.B = nn.ParameterList()
        for _ in range(lm.config.num_hidden_layers):
            for m in MODULES:
                out_features, in_features = shapes[m]
                a = torch.empty(rank, in_features)
                nn.init.kaiming_uniform_(a, a=math.sqrt(5))
                self.A.append(nn.Parameter(a))
                self.B.append(nn.Parameter(torch.zeros(out_features, rank)))

    def load_peft(self, weights: dict) -> None:
        n = len(MODULES)
        with torch.no_grad():
            for layer in range(lm.config.num_hidden_layers):
                for i, m in enumerate(MODULES):
                    self.A[layer * n + i].copy_(weights[peft_name(layer, m, "A")])
                    self.B[layer * n + i].copy_(weights[peft_name(layer, m, "B")])

    def per_layer(self, batch: int):
        n = len(MODULES)
        return [{m: (self.A[layer * n + i].expand(batch, -1, -1), self.B[layer * n + i].expand(batch, -1, -1), scale)
                 for i, m in enumerate(MODULES)} for layer in range(lm.config.num_hidden_layers)]


def encoder_layer(identity: dict | None):
    """The layer an encoder identity reads (None: the last), the one setting that tells c2l-base's embeddings apart."""
    return (identity or {}).get("layer")


if method == "code2lora-evo":
    # Files, diffs and the warm start's trunk must all read the same encoder layer: a mixed run trains fine and
    # makes adapters from vectors the app never computes.
    layers = {"file embeddings": encoder_layer(embeddings["encoder"]),
              "diff embeddings": encoder_layer(diff_data.get("encoder"))}
    warm_config = (REPO / warm_start).parent / "hypernetwork_config.json" if warm_start else None
    if warm_config is not None and warm_config.exists():
        layers["warm start"] = encoder_layer(json.loads(warm_config.read_text()).get("encoder"))
    if len(set(layers.values())) > 1:
        sys.exit("ENCODER_MISMATCH: " + ", ".join(f"{k} read layer {v or 'last'}" for k, v in layers.items()))
if method == "code2lora-evo" and warm_start:
    static_weights = {name: tensor.float() for name, tensor in load_safetensors(str(REPO / warm_start)).items()}
    # Evo keeps the architecture of the Static hypernetwork it starts from.
    standardize_repo = "repo_norm.mean" in static_weights
    layer_base = any(name.startswith("layer_base.") for name in static_weights)
if hypernetwork_method:
    config = HypernetConfig(embedding_size=embeddings["encoder"]["hidden_size"], shapes=shapes, hidden_size=hidden_size,
                            rank=rank, alpha=alpha, standardize_repo=standardize_repo, layer_base=layer_base,
                            num_layers=lm.config.num_hidden_layers)
    trainable = Hypernetwork(config) if method == "code2lora-static" else EvoHypernetwork(config, update_gate_bias)
else:
    trainable = LayerLora()
trainable.to(device)  # before any initialisation below: those copy into the parameters where they live
init_lora_weights = None
if init_lora:
    peft_config = json.loads((REPO / init_lora / "adapter_config.json").read_text())
    if (peft_config.get("r"), peft_config.get("lora_alpha")) != (rank, alpha):
        sys.exit(f"INIT_LORA_MISMATCH: {init_lora} has rank {peft_config.get('r')} and alpha {peft_config.get('lora_alpha')}, "
                 f"this run {rank} and {alpha}")
    init_lora_weights = {k: v.float() for k, v in load_safetensors(str(REPO / init_lora / "adapter_model.safetensors")).items()}
if init_lora_weights is not None and method == "code2lora-static":
    if not layer_base:
        sys.exit("USAGE: init_lora needs layer_base (the heads alone cannot hold a per-layer LoRA)")
    with torch.no_grad():
        for layer in range(lm.config.num_hidden_layers):
            for m in MODULES:
                for part in "AB":
                    trainable.layer_base[m][part][layer].copy_(init_lora_weights[peft_name(layer, m, part)])
    trainable.zero_heads()
elif init_lora_weights is not None and method in ("shared-lora", "per-repo-lora"):
    trainable.load_peft(init_lora_weights)
elif init_lora_weights is not None:
    sys.exit(f"USAGE: init_lora is for code2lora-static, shared-lora and per-repo-lora, not {method}")
if method == "code2lora-static" and standardize_repo and not (out_dir / "checkpoint.pt").exists():
    # Statistics of the training repositories' repo vectors, fixed from here on (a resume loads them with the weights).
    with torch.no_grad():
        train_names = sorted({t["repo"] for t in train_tasks})
        vectors = torch.cat([trainable.repo_vector(*repo_files(train_names[i:i + 32])) for i in range(0, len(train_names), 32)])
        trainable.repo_norm.fit(vectors)
if method == "code2lora-evo" and warm_start:
    missing = trainable.load_state_dict(static_weights, strict=False).missing_keys
    if set(missing) != trainable.new_parameter_names():
        sys.exit(f"WARM_START_MISMATCH: {warm_start} does not hold Static's weights for this config (missing {missing})")


def evo_states(batch: list[dict]) -> torch.Tensor:
    """The GRU state at each task's commit [B, H] (EvoHypernetwork.states_at: stepped for the whole batch at once)."""
    names = sorted({t["repo"] for t in batch})
    files, mask = repo_files(names)
    # Histories padded to the longest: zero embeddings, has_diff False (a padded commit never moves the state).
    embedded = pad_sequence([diffs[name]["embeddings"] for name in names], batch_first=True).float().to(device)
    has_diff = pad_sequence([diffs[name]["has_diff"] for name in names], batch_first=True).to(device)
    rows = torch.tensor([names.index(t["repo"]) for t in batch], device=device)
    ends = torch.tensor([t["commit_index"] for t in batch], device=device)
    return trainable.states_at(trainable.repo_state(files, mask), embedded, has_diff, rows, ends, bptt_commits)


def with_scale(adapter):
    """A hypernetwork's adapter (one dict, or one per layer with layer_base) in model.py's (A, B, scale) form."""
    if isinstance(adapter, list):
        return [with_scale(layer) for layer in adapter]
    return {m: (a, b, scale) for m, (a, b) in adapter.items()}


def lora_for(batch: list[dict], repo_of=lambda name: name):
    """The adapter of each task's repository (`repo_of` maps it to another one for the shuffled-adapter loss)."""
    if method == "code2lora-static":
        return with_scale(trainable(*repo_files([repo_of(t["repo"]) for t in batch])))
    if method == "code2lora-evo":
        return with_scale(trainable.adapter_at(evo_states(batch)))
    return trainable.per_layer(len(batch))


def shuffled_lora(batch: list[dict]):
    """Static's adapter of another CR-val repository (each one the next in name order): matched minus this loss is
    how much of the adapter is specific to its repository."""
    return lora_for(batch, repo_of=lambda name: shuffled_repo[name])


def target_loss(batch: list[dict], lora) -> torch.Tensor:
    """Mean cross-entropy over the target tokens of a batch (prompt cut from the left, right padding)."""
    sequences, spans = [], []
    for task in batch:
        prompt = task["prompt_ids"][-prompt_tokens:]
        target = task["target_ids"][:max_target_tokens]
        sequences.append(prompt + target)
        spans.append((len(prompt) - 1, len(prompt) + len(target) - 1))
    length = max(len(s) for s in sequences)
    ids = torch.zeros(len(batch), length, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, :len(sequence)] = torch.tensor(sequence)
    rows = torch.cat([torch.full((end - start,), row) for row, (start, end) in enumerate(spans)]).to(device)
    positions = torch.cat([torch.arange(start, end) for start, end in spans]).to(device)
    ids = ids.to(device)
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=autocast_dtype == "bfloat16"):
        hidden = lm.model(ids, lora=lora)[rows, positions]
        logits = lm.lm_head(hidden)
    return F.cross_entropy(logits.float(), ids[rows, positions + 1])


def first_commit_lora(batch: list[dict]):
    """Evo's adapter with the state held at the history's first commit: the warm start's Static adapter, no steps."""
    files, mask = repo_files([t["repo"] for t in batch])
    return with_scale(trainable.adapter_at(trainable.repo_state(files, mask)))


@torch.no_grad()
def evaluate(eval_set: list[dict], adapter: str = "trained") -> float:
    """Mean target loss with the trained adapter, none (the base model), or Evo's first-commit state."""
    trainable.eval()
    losses = []
    make_lora = {"trained": lora_for, "none": lambda batch: None, "first-commit": first_commit_lora, "shuffled": shuffled_lora}[adapter]
    for start in range(0, len(eval_set), batch_size):
        batch = eval_set[start:start + batch_size]
        losses.append(target_loss(batch, make_lora(batch)).item() * len(batch))
    trainable.train()
    return sum(losses) / max(len(eval_set), 1)


def validation_losses(adapter: str = "trained") -> dict:
    """IR-val and CR-val losses, one evaluation when both are the same tasks (no held-out repository in the data)."""
    ir = evaluate(ir_val_tasks, adapter)
    losses = {"ir_val_loss": ir, "cr_val_loss": ir if cr_val_tasks is ir_val_tasks else evaluate(cr_val_tasks, adapter)}
    if method == "code2lora-static" and adapter == "trained" and len(shuffled_repo) > 1:
        losses["cr_val_shuffled_loss"] = evaluate(cr_val_tasks, "shuffled")
    return losses


def learning_rate_at(step: int) -> float:
    warmup = max(1, int(warmup_fraction * max_steps))
    if step < warmup:
        return learning_rate * (step + 1) / warmup
    progress = (step - warmup) / max(1, max_steps - warmup)
    return learning_rate * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


if method == "code2lora-evo":
    new_names = trainable.new_parameter_names()
elif method == "code2lora-static" and init_lora:
    new_names = {n for n, _ in trainable.named_parameters() if not n.startswith("layer_base.")}
else:
    new_names = set()
parameter_groups = [
    {"params": [p for n, p in trainable.named_parameters() if n not in new_names], "lr_factor": 1.0},
    {"params": [p for n, p in trainable.named_parameters() if n in new_names], "lr_factor": new_lr_multiplier},
]
optimizer = torch.optim.AdamW([g for g in parameter_groups if g["params"]], lr=learning_rate, weight_decay=weight_decay)
out_dir.mkdir(parents=True, exist_ok=True)
checkpoint_path, best_path, log_path = out_dir / "checkpoint.pt", out_dir / "best.pt", out_dir / "log.jsonl"
step, best_val, spent = 0, float("inf"), 0.0
if checkpoint_path.exists():
    state = torch.load(checkpoint_path, map_location=device)
    trainable.load_state_dict(state["trainable"])
    optimizer.load_state_dict(state["optimizer"])
    step, best_val, spent = state["step"], state["best_val"], state["seconds"]
    if max_steps == 0:  # the schedule sized when the run started, not again on this machine
        if not state.get("max_steps"):
            sys.exit(f"USAGE: {checkpoint_path} was not sized from a time budget: resume with its --max_steps")
        max_steps, eval_interval = state["max_steps"], state["eval_interval"]
    print(f"resumed {checkpoint_path} at step {step} ({spent / 60:.1f} min spent, best CR-val loss {best_val:.4f})", flush=True)
else:
    log_path.unlink(missing_ok=True)


def log(record: dict) -> None:
    print(json.dumps(record), flush=True)
    with log_path.open("a") as handle:
        handle.write(json.dumps(record) + "\n")


def save(path: Path, **extra) -> None:
    torch.save({"trainable": trainable.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "best_val": best_val, "seconds": spent, "method": method, "repos": repos, "max_steps": max_steps,
                "eval_interval": eval_interval,
                "config": config.to_json() if hypernetwork_method else None,
                "encoder": embeddings["encoder"] if hypernetwork_method else None, **extra}, str(path) + ".tmp")
    os.replace(str(path) + ".tmp", path)


def seconds_per_step(count: int = 4) -> float:
    """One training step's seconds (forward and backward on the first batches, no update: the run is unchanged),
    the median of `count` after a warm-up one."""
    times = []
    for index in range(count + 1):
        started = time.time()
        batch = batch_for_step(index)
        target_loss(batch, lora_for(batch)).backward()
        optimizer.zero_grad(set_to_none=True)
        if device_type == "cuda":
            torch.cuda.synchronize()
        times.append(time.time() - started)
    return sorted(times[1:])[count // 2]


def size_schedule(eval_seconds: float) -> dict:
    """max_steps=0: the steps, and `sized_evals` evaluations among them, that fit 90% of the time budget."""
    global max_steps, eval_interval
    step_seconds = seconds_per_step()
    max_steps = max(1, int((0.9 * time_budget_minutes * 60 - sized_evals * eval_seconds) / step_seconds))
    eval_interval = eval_interval or max(1, max_steps // sized_evals)
    return {"sized_from": {"step_seconds": round(step_seconds, 4), "eval_seconds": round(eval_seconds, 2)}}


trainable_parameters = sum(p.numel() for p in trainable.parameters())
if step == 0:
    evaluation_started = time.time()
    start_losses = validation_losses()
    sizing = size_schedule(time.time() - evaluation_started) if max_steps == 0 else {}
    log({"event": "start", "method": method, "trainable_parameters": trainable_parameters, "train_tasks": len(train_tasks),
         "train_repos": len({t["repo"] for t in train_tasks}), "ir_val_tasks": len(ir_val_tasks), "selected_on": selected_on,
         "cr_val_tasks": len(cr_val_tasks), "device": device, "threads": torch.get_num_threads(), "autocast_dtype": autocast_dtype,
         "batch_size": batch_size, "prompt_tokens": prompt_tokens, "max_steps": max_steps, "eval_interval": eval_interval, **sizing,
         "learning_rate": learning_rate, "init_lora": init_lora,
         "new_lr_multiplier": new_lr_multiplier if new_names else None,
         "encoder": embeddings["encoder"] if hypernetwork_method else None,
         **({"update_gate_bias": update_gate_bias, "bptt_commits": bptt_commits} if method == "code2lora-evo" else {}),
         "base_cr_val_loss": evaluate(cr_val_tasks, adapter="none"), **start_losses,
         **({"first_commit_" + k: v for k, v in validation_losses("first-commit").items()} if method == "code2lora-evo" else {})})
session_start = time.time() - spent
trainable.train()
while step < (stop_at_step or max_steps):
    if time.time() - session_start > time_budget_minutes * 60:
        log({"event": "time_budget", "step": step, "minutes": (time.time() - session_start) / 60})
        break
    started = time.time()
    for group in optimizer.param_groups:
        group["lr"] = learning_rate_at(step) * group["lr_factor"]
    batch = batch_for_step(step)
    loss = target_loss(batch, lora_for(batch))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(trainable.parameters(), grad_clip).item()
    optimizer.step()
    step += 1
    spent = time.time() - session_start
    record = {"step": step, "loss": round(loss.item(), 4), "grad_norm": round(grad_norm, 3),
              "lr": learning_rate_at(step - 1), "step_seconds": round(time.time() - started, 2), "minutes": round(spent / 60, 2)}
    if step % eval_interval == 0 or step in (max_steps, stop_at_step):
        record.update(validation_losses())
        if record["cr_val_loss"] < best_val:
            best_val = record["cr_val_loss"]
            save(best_path)
            record["best"] = True
    log(record)
    if step % checkpoint_interval == 0 or step in (max_steps, stop_at_step):
        save(checkpoint_path)
save(checkpoint_path)
log({"event": "end", "step": step, "best_cr_val_loss": best_val, "minutes": spent / 60})
