"""Batch greedy decoding for the benchmark's torch engine (`npm run bench -- --engine torch`): ids in, ids out.

Usage: training/.venv/bin/python training/evaluate.py --model DIR --requests requests.jsonl --out completions.jsonl
       [--max_new_tokens 64] [--batch_size 8] [--batch_tokens 8192] [--dtype float32|bfloat16] [--threads N]
       [--eos_ids 2,...] [--device cpu|cuda]

TypeScript owns the task: it mines, builds the prompt (RAG's retrieved code included), tokenizes and truncates it,
writes adapters as PEFT directories, and scores the text. This script only decodes, as the TypeScript runtime does
(src/bench/methods.ts completePrompt): greedy, at most max_new_tokens, stopping at an end-of-text token, and for a
one-line target as soon as the continuation's first non-blank line is complete.

Input, one request per line: {"id": str, "prompt_ids": [int], "adapter": "PEFT dir" | null, "one_line": bool,
"target_ids": [int] (optional: the task's target, scored as well)}.
Output, one line per request (appended, flushed): {"id", "completion_ids" (stop token excluded), "text" (decoded with
the model's tokenizer.json), "stop" ("eos" | "first_line" | "max_tokens"), "margins" (top-1 minus top-2 logit at each
generated step: how near a tie each greedy choice was), "seconds" (the batch's decode time shared among its requests),
"request_digest" (what the completion was decoded from: prompt, adapter, line rule, model, dtype, stop tokens and
token budget)}, and with target_ids: "target_nll" (mean negative log-likelihood of the target's tokens teacher-forced
after the prompt, nats a token: a finer measure than exact match), "target_tokens", "target_digest". A rerun on the
same output resumes: a request whose id and digest are there already is skipped (only scored, and written again with
its score, when its target is not scored yet); an id there with another digest (another prompt, adapter or setting)
is refused, exit 2, so that no stale completion is scored as if it answered the new request.

The model is the Hugging Face directory (config.json, model.safetensors, tokenizer.json) loaded by transformers as
LlamaForCausalLM/Qwen2ForCausalLM; adapters are loaded by peft's PeftModel (the clients users have). Requests are
grouped by adapter and sorted by length; a batch is left-padded with an attention mask and position ids counted from
each sequence's first real token, prefilled once into a KV cache (with the targets after the prompts, right-padded:
their logits score them, then the cache is cut back to the prompts), then decoded a token per step; finished sequences
leave the batch (their rows are dropped from the cache) and the batch ends when all are done.
"""
import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as train.py: spinning OpenMP threads starve on shared cores

import warnings  # noqa: E402

import torch  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

# As src/bench/metrics.ts: Qwen-style fill-in-the-middle tokens are removed before looking at the text.
FIM_TOKENS = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")


def first_line_final(text: str) -> bool:
    """metrics.ts isFirstLineFinal: without FIM tokens and leading whitespace, the continuation holds a line break."""
    for token in FIM_TOKENS:
        text = text.replace(token, "")
    return "\n" in text.lstrip()


def read_jsonl(path: Path) -> list[dict]:
    """Every complete line (a last line cut short by a crash is dropped, and cut from the file)."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[:text.rfind("\n") + 1]
        path.write_text(text, encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class Decoder:
    """One base model, any number of PEFT adapters (one active at a time), and greedy batch decoding."""

    def __init__(self, model_dir: Path, dtype: torch.dtype, eos_ids=None, device: str = "cpu"):
        import transformers
        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        warnings.filterwarnings("ignore", category=FutureWarning)  # deprecation notices of transformers/peft internals
        self.model_dir = model_dir
        self.device = device
        self.base = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).eval().to(device)
        self.model = self.base
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        eos = self.base.config.eos_token_id if eos_ids is None else eos_ids
        self.eos_ids = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        self.adapter = None  # the active adapter's directory; None: the base model
        # transformers 5.x names the KV cache argument `cache`; 4.x `past_key_values`.
        import inspect
        self.cache_argument = "cache" if "cache" in inspect.signature(self.base.forward).parameters else "past_key_values"

    def use_adapter(self, path):
        """Makes `path` (a PEFT directory) the active adapter, or the base model when None."""
        if path == self.adapter:
            return
        import peft
        if path is not None:
            if self.model is self.base:
                self.model = peft.PeftModel.from_pretrained(self.base, path, adapter_name="a0", is_trainable=False).eval()
                self.slot = 0
            else:
                self.slot += 1
                self.model.load_adapter(path, adapter_name=f"a{self.slot}", is_trainable=False)
                self.model.set_adapter(f"a{self.slot}")
                self.model.delete_adapter(f"a{self.slot - 1}")
        self.adapter = path

    def forward(self, cache=None, keep: int = 1, **inputs):
        """Logits of the last `keep` positions [batch, keep, vocab] and the KV cache, through the active adapter (or none)."""
        if cache is not None:
            inputs[self.cache_argument] = cache
        if self.adapter is None and self.model is not self.base:
            with self.model.disable_adapter():
                out = self.model(**inputs, use_cache=True, logits_to_keep=keep)
        else:
            out = self.model(**inputs, use_cache=True, logits_to_keep=keep)
        return out.logits.float(), getattr(out, self.cache_argument)

    @torch.no_grad()
    def prefill(self, requests: list[dict]):
        """One pass over a batch of prompts (all with the active adapter), each followed by its `target_ids` if it has
        them. Prompts are left-padded so that they all end at one column and targets right-padded after it; causal
        attention keeps the prompts' positions blind to the targets, so cutting the cache back to that column leaves the
        prompts' own cache. Returns the logits after each prompt [batch, vocab], that cache, its attention mask, each
        prompt's last position, and per request the target's per-token NLL and top-1 flags (None without a target)."""
        size = len(requests)
        length = max(len(r["prompt_ids"]) for r in requests)
        targets = [r.get("target_ids") or [] for r in requests]
        longest_target = max(len(target) for target in targets)
        ids = torch.zeros(size, length + longest_target, dtype=torch.long)
        mask = torch.zeros(size, length + longest_target, dtype=torch.long)
        for row, (request, target) in enumerate(zip(requests, targets)):
            prompt = request["prompt_ids"]
            if not prompt:
                raise ValueError(f"request {request['id']}: empty prompt")
            ids[row, length - len(prompt):length + len(target)] = torch.tensor(prompt + target)
            mask[row, length - len(prompt):length + len(target)] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        # Column 0 of the kept logits is the prompt's last position: it predicts the next token and the target's first.
        logits, cache = self.forward(input_ids=ids, attention_mask=mask, position_ids=positions, keep=longest_target + 1)
        if longest_target:
            cache.crop(-longest_target)  # negative: drop that many positions (transformers 4.x and 5.x alike)
        scores = []
        for row, target in enumerate(targets):
            if not target:
                scores.append(None)
                continue
            predicted = logits[row, :len(target)].log_softmax(-1)
            expected = torch.tensor(target, device=predicted.device)
            scores.append({"token_nll": -predicted.gather(1, expected[:, None])[:, 0], "top1": predicted.argmax(-1) == expected})
        return logits[:, 0], cache, mask[:, :length], positions[:, length - 1], scores

    @torch.no_grad()
    def decode(self, requests: list[dict], max_new_tokens: int) -> list[dict]:
        """Greedy continuations of a batch of prompts (all with the active adapter), and the scores of their targets."""
        size = len(requests)
        logits, cache, mask, next_position, scores = self.prefill(requests)
        results = [{"id": r["id"], "completion_ids": [], "text": "", "stop": "max_tokens", "margins": [], **target_fields(score)}
                   for r, score in zip(requests, scores)]
        active = list(range(size))  # the request index of each row still in the batch
        for step in range(max_new_tokens):
            chosen = logits.argmax(dim=-1)
            top2 = logits.topk(2, dim=-1).values
            margins = (top2[:, 0] - top2[:, 1]).tolist()
            keep = []
            for row, index in enumerate(active):
                token, result = int(chosen[row]), results[index]
                result["margins"].append(round(margins[row], 5))
                if token in self.eos_ids:
                    result["stop"] = "eos"
                    continue
                result["completion_ids"].append(token)
                if requests[index]["one_line"] and first_line_final(self.tokenizer.decode(result["completion_ids"], skip_special_tokens=False)):
                    result["stop"] = "first_line"
                    continue
                keep.append(row)
            if not keep or step == max_new_tokens - 1:
                break
            if len(keep) < len(active):
                rows = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(rows)
                mask, chosen, next_position = mask[rows], chosen[rows], next_position[rows]
                active = [active[row] for row in keep]
            mask = torch.cat([mask, torch.ones(len(active), 1, dtype=mask.dtype, device=self.device)], dim=1)
            next_position = next_position + 1
            logits, cache = self.forward(input_ids=chosen.unsqueeze(1), attention_mask=mask,
                                         position_ids=next_position.unsqueeze(1), cache=cache)
            logits = logits[:, -1]
        for result in results:
            result["text"] = self.tokenizer.decode(result["completion_ids"], skip_special_tokens=False)
        return results


def target_fields(score) -> dict:
    """What a completion record says of its target's score (nothing without one)."""
    if score is None:
        return {}
    return {"target_nll": round(score["token_nll"].mean().item(), 6), "target_tokens": len(score["token_nll"])}


def batches(requests: list[dict], batch_size: int, batch_tokens: int):
    """Consecutive runs of length-sorted requests: at most batch_size of them and batch_tokens padded tokens in the
    prefill, whose width is the longest prompt plus the longest target (prompts end at one column, targets follow)."""
    batch = []
    for request in requests:
        grown = batch + [request]
        width = max(len(r["prompt_ids"]) for r in grown) + max(len(r.get("target_ids") or ()) for r in grown)
        if batch and (len(batch) == batch_size or width * len(grown) > batch_tokens):
            yield batch
            batch = []
        batch.append(request)
    if batch:
        yield batch


def request_digest(request: dict, args: argparse.Namespace) -> str:
    """Everything a completion depends on, hashed: the request's prompt, adapter and line rule, and the run's settings."""
    key = {"prompt_ids": request["prompt_ids"], "adapter": request.get("adapter"), "one_line": bool(request.get("one_line")),
           "model": str(args.model.resolve()), "dtype": args.dtype, "eos_ids": args.eos_ids, "max_new_tokens": args.max_new_tokens}
    if args.device != "cpu":  # another device's arithmetic can break a near-tie otherwise (cpu's digests stay as they were)
        key["device"] = args.device
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def target_digest(request: dict, digest: str) -> str:
    """What a target's score depends on: the request's digest (prompt, adapter, model, ...) and the target's ids."""
    return hashlib.sha256(json.dumps([digest, request["target_ids"]]).encode()).hexdigest()[:16]


def format_seconds(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="Hugging Face directory: config.json, model.safetensors, tokenizer.json")
    parser.add_argument("--requests", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--max_new_tokens", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--batch_tokens", type=int, default=8192, help="cap on batch size x (longest prompt + longest target)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--threads", type=int, default=0, help="0: torch's default")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda where a GPU is lent (a near-tie may decode otherwise)")
    parser.add_argument("--eos_ids", default=None, help="comma-separated stop tokens (default: config.json's eos_token_id)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    requests = read_jsonl(args.requests)
    digests = {request["id"]: request_digest(request, args) for request in requests}
    target_digests = {r["id"]: target_digest(r, digests[r["id"]]) for r in requests if r.get("target_ids")}
    done = {record["id"]: record for record in read_jsonl(args.out)}
    stale = [r["id"] for r in requests if r["id"] in done and done[r["id"]].get("request_digest") != digests[r["id"]]]
    if stale:
        print(f"evaluate.py: {args.out} holds completions of {len(stale)} of these ids (e.g. {stale[0]}) decoded from another "
              "prompt, adapter or setting; write to another --out, or remove it to decode them again", file=sys.stderr)
        return 2
    todo = [r for r in requests if r["id"] not in done]
    # Decoded already, but their target not scored (or another target): one pass each, no decoding.
    unscored = [r for r in requests if r["id"] in done and r["id"] in target_digests
                and done[r["id"]].get("target_digest") != target_digests[r["id"]]]
    print(f"evaluate.py: {len(requests)} requests, {len(requests) - len(todo)} already in {args.out}, {len(todo)} to decode"
          f"{f', {len(unscored)} decoded to score' if unscored else ''} ({args.dtype}, {torch.get_num_threads()} threads)",
          file=sys.stderr, flush=True)
    if not todo and not unscored:
        return 0
    started = time.time()
    eos_ids = None if args.eos_ids is None else [int(i) for i in args.eos_ids.split(",") if i.strip()]
    decoder = Decoder(args.model, getattr(torch, args.dtype), eos_ids, args.device)
    print(f"loaded {args.model} in {time.time() - started:.1f} s", file=sys.stderr, flush=True)

    def decoded(batch: list[dict]) -> list[dict]:
        batch_started = time.time()
        results = decoder.decode(batch, args.max_new_tokens)
        seconds = (time.time() - batch_started) / len(batch)
        for result in results:
            result["seconds"] = round(seconds, 4)
            result["request_digest"] = digests[result["id"]]
            if result["id"] in target_digests:
                result["target_digest"] = target_digests[result["id"]]
        return results

    def scored(batch: list[dict]) -> list[dict]:
        scores = decoder.prefill(batch)[-1]
        return [{**done[r["id"]], **target_fields(score), "target_digest": target_digests[r["id"]]} for r, score in zip(batch, scores)]

    with args.out.open("a", encoding="utf-8") as out:
        for work, what, batch_work in ((todo, "decoded", decoded), (unscored, "scored", scored)):
            if work:
                run_batches(work, batch_work, decoder, out, args, what)
    return 0


def run_batches(requests: list[dict], batch_work, decoder: Decoder, out, args: argparse.Namespace, what: str) -> None:
    """batch_work on every batch of `requests`, base model first, then one adapter after another, shortest prompts (then
    targets) first within each; each batch's records appended to `out` and flushed, with progress on stderr."""
    groups: dict = {}
    for request in requests:
        groups.setdefault(request.get("adapter"), []).append(request)
    order = sorted(groups, key=lambda adapter: (adapter is not None, adapter or ""))
    finished, started, cpu_started, last_report = 0, time.time(), time.process_time(), 0.0
    for adapter in order:
        decoder.use_adapter(adapter)
        # Prompts of one length (most are cut to the budget) then by target length: a batch's prefill is as wide as its
        # longest prompt plus its longest target, so similar rows waste the least padding.
        group = sorted(groups[adapter], key=lambda r: (len(r["prompt_ids"]), len(r.get("target_ids") or ())))
        for batch in batches(group, args.batch_size, args.batch_tokens):
            for record in batch_work(batch):
                out.write(json.dumps(record) + "\n")
            out.flush()
            finished += len(batch)
            elapsed = time.time() - started
            if elapsed - last_report >= 10 or finished == len(requests):
                last_report = elapsed
                rate = finished / elapsed
                print(f"[{finished}/{len(requests)}] {rate:.2f} tasks/s, elapsed {format_seconds(elapsed)}, "
                      f"ETA {format_seconds((len(requests) - finished) / rate)}", file=sys.stderr, flush=True)
    # CPU seconds (all threads) say what the work cost when other work shares the cores.
    print(f"{what} {len(requests)} in {time.time() - started:.1f} s ({time.process_time() - cpu_started:.1f} CPU s, "
          f"{torch.get_num_threads()} threads)", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
