"""Pretrains the base code LM (training/model.py) on packed token streams; nanoGPT's train.py for a small CPU or one GPU.

    training/.venv/bin/python training/train.py --config=training/configs/base.py [--key=value ...] [--resume]

Reads <data_dir>/{train,val}.bin (little-endian uint16/uint32 token streams, eos between documents) and meta.json,
written by `npm run data:pack`. Writes to training/runs/<run_name>/: ckpt.pt (model, optimizer, RNG and step, for an
exact resume), log.jsonl, loss_curve.png; and, when export_dir is set, the Hugging Face layout there at every
checkpoint (config.json, model.safetensors, tokenizer files, training_state.json).
"""
import ast
import json
import os

# Before torch loads OpenMP: idle threads sleep instead of spinning. On 2 cores shared with other work, spinning
# threads starve the one doing work (measured: 2 threads 1,020 tokens/s spinning vs 2,269 passive; README).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import math
import shutil
import signal
import sys
import time
from dataclasses import asdict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import CausalLM, ModelConfig, bfloat16_is_faster  # noqa: E402

# -----------------------------------------------------------------------------
# config: plain module-level values; --config=file.py then --key=value override them (see apply_overrides)
run_name = "base"
runs_dir = "training/runs"
data_dir = "data/tokens"
tokenizer_dir = "public/models/c2l-base"  # tokenizer.json (+ tokenizer_config.json) copied into export_dir
export_dir = ""  # Hugging Face layout written at every checkpoint; "" writes none
export_dtype = "float16"  # float16 | float32
resume = False  # True: continue exactly from <run dir>/ckpt.pt; "auto": do so when it exists, else start fresh
init_from = ""  # an HF-layout directory to start from (weights only, fresh optimizer); "" = random init
seed = 1337
device = "auto"  # auto | cpu | cuda
num_threads = 2  # CPU threads for torch; the machine this was sized on has 2 cores
autocast_dtype = "auto"  # auto | bfloat16 | float16 (cuda) | none: matmuls in this dtype, weights and optimizer in float32
compile = False  # torch.compile the model (PyTorch >= 2)
# model (vocab_size 0: take it from meta.json, else from the tokenizer)
vocab_size = 0
hidden_size = 256
intermediate_size = 704
num_hidden_layers = 4
num_attention_heads = 4
num_key_value_heads = 4
rope_theta = 10000.0
rms_norm_eps = 1e-5
tie_word_embeddings = True
attention_bias = False
# optimisation
block_size = 256  # tokens per training window; also max_position_embeddings of the exported model
batch_size = 16
grad_accum = 1  # micro-batches per optimizer step
max_iters = 2000  # length of the schedule (unless time_budget_minutes sizes it)
time_budget_minutes = 0.0  # > 0: at the end of warmup, set max_iters so the run ends about this long after it began
stop_at_iter = 0  # stop with a checkpoint after this step, schedule unchanged (to split a run over sessions); 0 = off
learning_rate = 3e-3
min_lr = 3e-4  # cosine decays to this at max_iters
warmup_iters = 100
weight_decay = 0.1  # on matmul weights only; not on norms, biases or the (tied) embedding
beta1 = 0.9
beta2 = 0.95
grad_clip = 1.0
# evaluation, logging, checkpoints
eval_interval = 200  # steps between validation runs
eval_windows = 256  # fixed validation windows of block_size tokens, evenly spaced over val.bin: same every eval
checkpoint_interval = 200  # steps between checkpoints (and exports); also at the end and on SIGTERM/SIGINT
log_interval = 10
peak_seconds = 0.5  # time spent measuring the matmul peak at startup
# -----------------------------------------------------------------------------


def apply_overrides(argv, namespace):
    """nanoGPT's configurator: --config=file.py executes a file of assignments, --key=value sets one known key."""
    for argument in argv:
        if not argument.startswith("--"):
            raise SystemExit(f"unexpected argument {argument!r}: use --key=value or --config=file.py")
        key, has_value, text = argument[2:].partition("=")
        if key == "config":
            with open(text) as f:
                exec(f.read(), namespace)
            continue
        if key not in namespace or key.startswith("_") or callable(namespace[key]):
            raise SystemExit(f"unknown config key {key!r}")
        if not has_value:
            value = True  # a bare --flag
        else:
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                value = text  # a bare string such as --device=cpu
        current = namespace[key]
        if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        namespace[key] = value


apply_overrides(sys.argv[1:], globals())
config = {k: v for k, v in globals().items()
          if not k.startswith("_") and isinstance(v, (int, float, bool, str)) and k not in ("config",)}
# -----------------------------------------------------------------------------

run_dir = os.path.join(runs_dir, run_name)
checkpoint_path = os.path.join(run_dir, "ckpt.pt")
log_path = os.path.join(run_dir, "log.jsonl")
os.makedirs(run_dir, exist_ok=True)
if device == "auto":
    device = "cuda" if torch.cuda.is_available() else "cpu"
torch.set_num_threads(num_threads)
if autocast_dtype == "auto":
    autocast_dtype = "bfloat16" if bfloat16_is_faster(device) else "none"
amp_dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16, "none": None}[autocast_dtype]
if amp_dtype == torch.float16 and device == "cpu":
    raise SystemExit("autocast_dtype float16 is for cuda; use bfloat16 or none on cpu")


def autocast():
    if amp_dtype is None:
        return torch.autocast(device_type=device, enabled=False)
    return torch.autocast(device_type=device, dtype=amp_dtype)


def log(record):
    record = {"time": round(time.time(), 3), **record}
    print(json.dumps(record), flush=True)
    with open(log_path, "a") as f:
        f.write(json.dumps(record) + "\n")


# ---- startup checks: matmul correctness against float64, and the peak the utilisation is measured against ----

def matmul_self_check():
    """The BLAS this process uses must agree with float64 (a misconfigured BLAS once gave wrong sums silently)."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(384, 512, generator=generator, dtype=torch.float64)
    b = torch.randn(512, 320, generator=generator, dtype=torch.float64)
    exact = a @ b
    checks = {"float32": 1e-6}
    if amp_dtype is not None:
        checks[autocast_dtype] = 1e-2  # 8 mantissa bits (bf16) / 11 (fp16)
    errors = {}
    for name, tolerance in checks.items():
        dtype = getattr(torch, name)
        product = (a.to(device, dtype) @ b.to(device, dtype)).double().cpu()
        errors[name] = ((product - exact).norm() / exact.norm()).item()
        if not errors[name] < tolerance:
            raise SystemExit(f"matmul self-check failed: {name} relative error {errors[name]:.3g} >= {tolerance}")
    return errors


def measure_matmul_peak(seconds):
    """Best GFLOP/s of square matmuls in the compute dtype: the denominator of model FLOP utilisation."""
    dtype = amp_dtype or torch.float32
    best = 0.0
    for n in (512, 1024, 2048):
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        a @ b
        synchronize()
        start, count = time.perf_counter(), 0
        while True:
            a @ b
            count += 1
            synchronize()
            elapsed = time.perf_counter() - start
            if elapsed > seconds / 3:
                break
        best = max(best, 2 * n ** 3 * count / elapsed / 1e9)
    return best


def synchronize():
    if device == "cuda":
        torch.cuda.synchronize()


# ---- data --------------------------------------------------------------------------------------------------

def read_meta():
    path = os.path.join(data_dir, "meta.json")
    if not os.path.exists(path):
        raise SystemExit(f"{path} is missing: run `npm run data:pack` first")
    with open(path) as f:
        meta = json.load(f)
    if meta.get("dtype") not in ("uint16", "uint32"):
        raise SystemExit(f"{path}: dtype must be uint16 or uint32, got {meta.get('dtype')!r}")
    return meta


def split_counts(meta, split):
    """(tokens, bytes) of a split as cli/pack.ts records them: tokens include one eos per document."""
    return (meta.get("tokens") or {}).get(split), (meta.get("bytes") or {}).get(split)


def open_tokens(meta, split):
    path = os.path.join(data_dir, f"{split}.bin")
    dtype = np.dtype(meta["dtype"]).newbyteorder("<")
    if os.path.getsize(path) % dtype.itemsize:
        raise SystemExit(f"{path}: size {os.path.getsize(path)} is not a multiple of {dtype.itemsize} ({meta['dtype']})")
    tokens = np.memmap(path, dtype=dtype, mode="r")
    if len(tokens) < block_size + 2:
        raise SystemExit(f"{path}: {len(tokens)} tokens, fewer than one window of {block_size + 1}")
    return tokens


def training_batch(tokens, rng):
    """batch_size random windows of block_size + 1 tokens: inputs and next-token targets."""
    starts = rng.integers(0, len(tokens) - block_size - 1, size=batch_size)
    windows = np.stack([tokens[s:s + block_size + 1].astype(np.int64) for s in starts])
    windows = torch.from_numpy(windows).to(device)
    return windows[:, :-1], windows[:, 1:]


def validation_windows(tokens):
    starts = np.linspace(0, len(tokens) - block_size - 1, num=min(eval_windows, len(tokens) - block_size - 1)).astype(np.int64)
    return torch.from_numpy(np.stack([tokens[s:s + block_size + 1].astype(np.int64) for s in starts]))


@torch.no_grad()
def validation_loss(model, windows):
    model.eval()
    total, count = 0.0, 0
    for batch in windows.split(batch_size):
        batch = batch.to(device)
        with autocast():
            _, loss = model(batch[:, :-1], batch[:, 1:])
        total += loss.item() * batch.shape[0]
        count += batch.shape[0]
    model.train()
    return total / count


def vocabulary_from_tokenizer():
    path = os.path.join(tokenizer_dir, "tokenizer.json")
    if not os.path.exists(path):
        return None, None
    with open(path) as f:
        tokenizer = json.load(f)
    ids = list(tokenizer["model"]["vocab"].values()) + [t["id"] for t in tokenizer.get("added_tokens", [])]
    eos = next((t["id"] for t in tokenizer.get("added_tokens", []) if "endoftext" in t["content"] or t["content"] in ("</s>", "<eos>")), None)
    return max(ids) + 1, eos


# ---- schedule, optimizer ----------------------------------------------------------------------------------

def steps_within_budget(step, seconds_per_step):
    """max_iters that ends the run time_budget_minutes after its start, leaving 8% for evaluations and checkpoints."""
    remaining = time_budget_minutes * 60 - wall_time
    return max(step + 1, step + int(0.92 * remaining / seconds_per_step))


def learning_rate_at(step):
    """Linear warmup to learning_rate, then cosine decay to min_lr at max_iters."""
    if step < warmup_iters:
        return learning_rate * (step + 1) / warmup_iters
    progress = min(1.0, (step - warmup_iters) / max(1, max_iters - warmup_iters))
    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (learning_rate - min_lr)


def make_optimizer(model):
    # Decay only matmul weights: norms and biases are scales/offsets, and the embedding (tied to the output)
    # holds rare tokens' rows that decay would pull to zero between their rare updates.
    embedding = model.model.embed_tokens.weight
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (decay if parameter.dim() == 2 and parameter is not embedding else no_decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=learning_rate, betas=(beta1, beta2), eps=1e-8)


def flops_per_token(model):
    """PaLM's estimate: 6 flops per parameter used in a matmul (embedding lookup excluded, the output layer included)
    plus 12 * layers * width * context for attention scores and their weighted sums, forward and backward."""
    c = model.config
    matmul_parameters = model.num_parameters(exclude_embeddings=True) + c.vocab_size * c.hidden_size * c.tie_word_embeddings
    return 6 * matmul_parameters + 12 * c.num_hidden_layers * c.hidden_size * block_size


# ---- checkpoints and export ------------------------------------------------------------------------------

def save_checkpoint(state):
    torch.save(state, checkpoint_path + ".tmp")
    os.replace(checkpoint_path + ".tmp", checkpoint_path)


def load_checkpoint():
    try:
        return torch.load(checkpoint_path, map_location="cpu", weights_only=False)  # it holds numpy RNG state
    except TypeError:  # PyTorch 1.13 has no weights_only and loads everything anyway
        return torch.load(checkpoint_path, map_location="cpu")


def export(model, summary):
    model.save_pretrained(export_dir, dtype=getattr(torch, export_dtype))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        source = os.path.join(tokenizer_dir, name)
        if os.path.exists(source) and os.path.abspath(source) != os.path.abspath(os.path.join(export_dir, name)):
            shutil.copyfile(source, os.path.join(export_dir, name))
    with open(os.path.join(export_dir, "training_state.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")


def plot_losses():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    train, val = {}, {}
    with open(log_path) as f:
        for line in f:
            record = json.loads(line)
            if "loss" in record:
                train[record["tokens"]] = record["loss"]  # a resume from an earlier checkpoint rewrites later points
            if "val_loss" in record:
                val[record["tokens"]] = record["val_loss"]
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.plot(sorted(train), [train[t] for t in sorted(train)], label="train", linewidth=0.8)
    axis.plot(sorted(val), [val[t] for t in sorted(val)], "o-", label="validation")
    axis.set_xlabel("tokens")
    axis.set_ylabel("cross-entropy (nats/token)")
    axis.set_title(run_name)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(os.path.join(run_dir, "loss_curve.png"), dpi=100)
    plt.close(figure)


# ---- setup ---------------------------------------------------------------------------------------------------

meta = read_meta()
train_tokens = open_tokens(meta, "train")
val_tokens = open_tokens(meta, "val")
val_token_count, val_byte_count = split_counts(meta, "val")
bytes_per_token = (val_byte_count / val_token_count) if val_token_count and val_byte_count else None
tokenizer_vocab, tokenizer_eos = vocabulary_from_tokenizer()

checkpoint = None
if resume is True or (resume == "auto" and os.path.exists(checkpoint_path)):
    checkpoint = load_checkpoint()
    model_config = ModelConfig(**checkpoint["model_config"])
elif init_from:
    model_config = None
else:
    model_config = ModelConfig(
        vocab_size=vocab_size or meta.get("vocab_size") or tokenizer_vocab or 0,
        hidden_size=hidden_size, intermediate_size=intermediate_size, num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads, num_key_value_heads=num_key_value_heads, rope_theta=rope_theta,
        rms_norm_eps=rms_norm_eps, max_position_embeddings=block_size, tie_word_embeddings=tie_word_embeddings,
        attention_bias=attention_bias, eos_token_id=meta.get("eos_id", tokenizer_eos),
        bos_token_id=None)  # windows start anywhere in the stream: no beginning-of-text token is expected
    if not model_config.vocab_size:
        raise SystemExit("vocab_size unknown: set --vocab_size or put vocab_size in meta.json")

torch.manual_seed(seed)
model = CausalLM.from_pretrained(init_from) if model_config is None else CausalLM(model_config)
model.to(device)
highest_id = max(int(train_tokens.max()), int(val_tokens.max()))
if highest_id >= model.config.vocab_size:
    raise SystemExit(f"token id {highest_id} in {data_dir} is outside the model's vocabulary ({model.config.vocab_size})")
optimizer = make_optimizer(model)
rng = np.random.default_rng(seed)
step, tokens_trained, wall_time = 0, 0, 0.0
if checkpoint is not None:
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    rng.bit_generator.state = checkpoint["data_rng"]
    torch.set_rng_state(checkpoint["torch_rng"])
    step, tokens_trained, wall_time = checkpoint["step"], checkpoint["tokens_trained"], checkpoint["wall_time_s"]
    if time_budget_minutes and checkpoint["step"] > warmup_iters:
        max_iters = checkpoint["max_iters"]  # sized by the time budget in an earlier process
trained_model = torch.compile(model) if compile else model

matmul_errors = matmul_self_check()
peak_gflops = measure_matmul_peak(peak_seconds)
flops_token = flops_per_token(model)
val_windows = validation_windows(val_tokens)
log({"event": "resume" if checkpoint else "start", "step": step, "config": config, "model": asdict(model.config),
     "parameters": model.num_parameters(), "non_embedding_parameters": model.num_parameters(exclude_embeddings=True),
     "train_tokens": len(train_tokens), "val_tokens": len(val_tokens), "bytes_per_token": bytes_per_token,
     "device": device, "threads": torch.get_num_threads(), "torch": torch.__version__,
     "matmul_relative_error": matmul_errors, "peak_gflops": round(peak_gflops, 1),
     "flops_per_token": flops_token})

stop_signal = None


def request_stop(signum, frame):
    global stop_signal
    stop_signal = signum


signal.signal(signal.SIGTERM, request_stop)
signal.signal(signal.SIGINT, request_stop)


def checkpoint_and_export(val_loss, tokens_per_second, utilisation):
    save_checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "data_rng": rng.bit_generator.state,
                     "torch_rng": torch.get_rng_state(), "step": step, "tokens_trained": tokens_trained,
                     "wall_time_s": wall_time, "max_iters": max_iters, "model_config": asdict(model.config),
                     "config": config})
    if export_dir:
        export(model, {"run": run_name, "step": step, "max_iters": max_iters, "tokens_trained": tokens_trained,
                       "val_loss": val_loss, "val_bits_per_byte": bits_per_byte(val_loss),
                       "wall_time_s": round(wall_time, 1), "tokens_per_s": tokens_per_second, "mfu": utilisation,
                       "peak_gflops": round(peak_gflops, 1), "parameters": model.num_parameters(),
                       "device": device, "threads": torch.get_num_threads(), "autocast_dtype": autocast_dtype,
                       "block_size": block_size, "data": {k: v for k, v in meta.items() if not isinstance(v, list)}})
    log({"event": "checkpoint", "step": step, "export_dir": export_dir or None})


def bits_per_byte(loss):
    return None if loss is None or bytes_per_token is None else loss / math.log(2) / bytes_per_token


# ---- training loop -----------------------------------------------------------------------------------------

last_val_loss = None
window_seconds, window_tokens, window_loss, window_steps = 0.0, 0, 0.0, 0
tokens_per_second = utilisation = None
if step == 0:
    evaluation_start = time.perf_counter()
    last_val_loss = validation_loss(trained_model, val_windows)
    wall_time += time.perf_counter() - evaluation_start
    log({"step": 0, "tokens": 0, "val_loss": last_val_loss, "val_bits_per_byte": bits_per_byte(last_val_loss)})
measured_steps, measured_seconds, first_step_of_process = 0, 0.0, step  # for time_budget_minutes
while step < min(max_iters, stop_at_iter or max_iters) and stop_signal is None:
    if time_budget_minutes and step == warmup_iters and measured_steps:
        # The warmup's learning rates do not depend on max_iters, so sizing the schedule here keeps runs reproducible.
        max_iters = steps_within_budget(step, measured_seconds / measured_steps)
        log({"event": "schedule", "step": step, "max_iters": max_iters,
             "seconds_per_step": round(measured_seconds / measured_steps, 3), "time_budget_minutes": time_budget_minutes})
    iteration_start = time.perf_counter()
    for group in optimizer.param_groups:
        group["lr"] = learning_rate_at(step)
    step_loss = 0.0
    for _ in range(grad_accum):
        inputs, targets = training_batch(train_tokens, rng)
        with autocast():
            _, loss = trained_model(inputs, targets)
        (loss / grad_accum).backward()
        step_loss += loss.item() / grad_accum
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip).item()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    synchronize()
    step += 1
    tokens_trained += batch_size * block_size * grad_accum
    # Throughput counts training steps only; wall_time_s also counts evaluations (not checkpoint writes).
    window_seconds += time.perf_counter() - iteration_start
    if step > first_step_of_process + 3:  # the first steps pay for allocation and kernel selection
        measured_steps += 1
        measured_seconds += time.perf_counter() - iteration_start
    window_tokens += batch_size * block_size * grad_accum
    window_loss += step_loss
    window_steps += 1

    if step % log_interval == 0 or step == max_iters:
        tokens_per_second = window_tokens / window_seconds
        utilisation = tokens_per_second * flops_token / (peak_gflops * 1e9)
        log({"step": step, "tokens": tokens_trained, "loss": window_loss / window_steps, "last_loss": step_loss,
             "lr": learning_rate_at(step - 1), "grad_norm": grad_norm, "tokens_per_s": round(tokens_per_second, 1),
             "mfu": float(f"{utilisation:.3g}"), "wall_time_s": round(wall_time + time.perf_counter() - iteration_start, 1)})
        window_seconds, window_tokens, window_loss, window_steps = 0.0, 0, 0.0, 0
    if step % eval_interval == 0 or step == max_iters:
        last_val_loss = validation_loss(trained_model, val_windows)
        log({"step": step, "tokens": tokens_trained, "val_loss": last_val_loss,
             "val_bits_per_byte": bits_per_byte(last_val_loss)})
    wall_time += time.perf_counter() - iteration_start
    if step % checkpoint_interval == 0 or step in (max_iters, stop_at_iter) or stop_signal is not None:
        checkpoint_and_export(last_val_loss, tokens_per_second, utilisation)
        plot_losses()

if stop_signal is not None:
    log({"event": "stopped", "signal": signal.Signals(stop_signal).name, "step": step})
    sys.exit(128 + stop_signal)
if step < max_iters:
    log({"event": "stopped", "reason": "stop_at_iter", "step": step})
    sys.exit(0)
log({"event": "done", "step": step, "tokens": tokens_trained, "val_loss": last_val_loss,
     "val_bits_per_byte": bits_per_byte(last_val_loss), "wall_time_s": round(wall_time, 1)})
