"""Code2LoRA's hypernetwork: file embeddings of a repository -> one LoRA adapter (A, B per module type) for a frozen LM.

Reads in the order data flows (DESIGN.md section 1):
  files   [B, F, E] masked -> learned file scores, softmax -> repo vector [a * weighted mean ; b * max]   [B, 2E]
  trunk   Linear(2E, H) + GELU + Linear(H, H) + GELU, L2-normalised and scaled by sqrt(H)                [B, H]
  heads   per (module, A|B): tanh(Linear(H, size)) * clamp(exp(s), 1e-5, 0.3), s a learned log-scale init -3.5
One A, B per module type, shared by every layer (the paper's choice). A is [r, in] and B is [out, r], PEFT's layout,
applied as W x + (alpha / r) * B A x. Parameter names are the ones src/code2lora/hypernetwork.ts reads.

Two options of format version 2, both off in version 1 files:
  standardize_repo  the repo vector is standardised, (v - mean) / std per dimension, with statistics of the training
                    repositories fixed before training: file embeddings of one encoder share a large common direction,
                    and without this every repository's trunk input looks alike to a fresh trunk.
  layer_base        a learned adapter per layer (A_l, B_l), repository-independent, to which the heads' output is added:
                    A_l + head_A(h), B_l + head_B(h). It can start from a trained shared LoRA (train_hypernet.py
                    init_lora) with the heads at zero, so training begins at that LoRA and spends every step on what
                    depends on the repository.
"""
import json
import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
FORMAT = "code2lora-hypernetwork"
FORMAT_VERSION = 2


def module_shapes(base) -> dict:
    """(out, in) of each projection of a Llama-family model config (model.py's ModelConfig)."""
    d, kv, inter = base.hidden_size, base.num_key_value_heads * base.head_dim, base.intermediate_size
    return {"q_proj": (d, d), "k_proj": (kv, d), "v_proj": (kv, d), "o_proj": (d, d),
            "gate_proj": (inter, d), "up_proj": (inter, d), "down_proj": (d, inter)}


@dataclass
class HypernetConfig:
    embedding_size: int  # the encoder's file-embedding size E
    shapes: dict = field(default_factory=dict)  # module -> [out, in] of the base model's projections
    hidden_size: int = 64
    rank: int = 16
    alpha: int = 32
    mean_weight: float = 0.6
    max_weight: float = 1.4
    init_log_scale: float = -3.5
    standardize_repo: bool = False
    layer_base: bool = False
    num_layers: int = 0  # the base model's layer count, needed by layer_base

    @property
    def scaling(self) -> float:
        return self.alpha / self.rank

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "HypernetConfig":
        names = {f for f in cls.__dataclass_fields__}
        config = cls(**{k: v for k, v in data.items() if k in names})
        config.shapes = {m: tuple(s) for m, s in config.shapes.items()}
        return config


def pool_files(file_scores, files, mask, mean_weight: float, max_weight: float):
    """[a * softmax(scores)-weighted mean ; b * max] over the unmasked files: the repo vector."""
    scores = file_scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1).unsqueeze(-1)
    mean = (weights * files).sum(dim=1)
    maximum = files.masked_fill(~mask.unsqueeze(-1), float("-inf")).max(dim=1).values
    return torch.cat((mean_weight * mean, max_weight * maximum), dim=-1)


class RepoStandardizer(nn.Module):
    """(v - mean) / std with fixed statistics (buffers, saved with the weights; fit once before training)."""

    def __init__(self, size: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(size))
        self.register_buffer("std", torch.ones(size))

    def forward(self, vector):
        return (vector - self.mean) / self.std

    @torch.no_grad()
    def fit(self, vectors) -> None:
        """vectors [N, 2E]: one unstandardised repo vector per training repository."""
        self.mean.copy_(vectors.mean(0))
        self.std.copy_(vectors.std(0).clamp_min(1e-6))


class Hypernetwork(nn.Module):
    def __init__(self, config: HypernetConfig):
        super().__init__()
        self.config = config
        e, h, r = config.embedding_size, config.hidden_size, config.rank
        self.file_score = nn.Linear(e, 1)
        self.trunk = nn.Sequential(nn.Linear(2 * e, h), nn.GELU(), nn.Linear(h, h), nn.GELU())
        self.heads = nn.ModuleDict({
            m: nn.ModuleDict({"A": nn.Linear(h, r * fan_in), "B": nn.Linear(h, fan_out * r)})
            for m, (fan_out, fan_in) in config.shapes.items()})
        self.log_scale = nn.ModuleDict({
            m: nn.ParameterDict({p: nn.Parameter(torch.tensor(config.init_log_scale)) for p in ("A", "B")})
            for m in config.shapes})
        if config.standardize_repo:
            self.repo_norm = RepoStandardizer(2 * e)
        if config.layer_base:
            if config.num_layers <= 0:
                raise ValueError("layer_base needs num_layers")
            self.layer_base = nn.ModuleDict({m: nn.ParameterDict({
                "A": nn.Parameter(torch.empty(config.num_layers, r, fan_in)),
                "B": nn.Parameter(torch.zeros(config.num_layers, fan_out, r))})
                for m, (fan_out, fan_in) in config.shapes.items()})
            for parts in self.layer_base.values():  # PEFT's LoRA initialisation: A Kaiming-uniform, B zero
                for layer in parts["A"]:
                    nn.init.kaiming_uniform_(layer, a=math.sqrt(5))

    def repo_vector(self, files, mask):
        """files [B, F, E], mask [B, F] (True for a real file) -> [B, 2E] (standardised when the config says so)."""
        scores = self.file_score(files).squeeze(-1)
        vector = pool_files(scores, files, mask, self.config.mean_weight, self.config.max_weight)
        return self.repo_norm(vector) if self.config.standardize_repo else vector

    def adapter_from_state(self, state):
        """A trunk output (or an Evo GRU state) [B, H] -> {module: (A [B, r, in], B [B, out, r])}, one for every layer;
        with layer_base, a list with one such dict per layer (A [B, r, in] = A_l + the head's A)."""
        r = self.config.rank
        adapter = {}
        for m, (fan_out, fan_in) in self.config.shapes.items():
            bound = {p: self.log_scale[m][p].exp().clamp(1e-5, 0.3) for p in ("A", "B")}
            a = torch.tanh(self.heads[m]["A"](state)) * bound["A"]
            b = torch.tanh(self.heads[m]["B"](state)) * bound["B"]
            adapter[m] = (a.view(-1, r, fan_in), b.view(-1, fan_out, r))
        if not self.config.layer_base:
            return adapter
        return [{m: (self.layer_base[m]["A"][layer] + a, self.layer_base[m]["B"][layer] + b) for m, (a, b) in adapter.items()}
                for layer in range(self.config.num_layers)]

    def zero_heads(self) -> None:
        """Heads that add nothing: with a layer_base from a trained LoRA, the hypernetwork starts as that LoRA."""
        with torch.no_grad():
            for parts in self.heads.values():
                for head in parts.values():
                    head.weight.zero_()
                    head.bias.zero_()

    def repo_state(self, files, mask):
        """The trunk's output for a repository: [B, H], L2-normalised and scaled by sqrt(H)."""
        h = self.trunk(self.repo_vector(files, mask))
        return F.normalize(h, dim=-1) * math.sqrt(self.config.hidden_size)

    def forward(self, files, mask):
        return self.adapter_from_state(self.repo_state(files, mask))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class EvoHypernetwork(Hypernetwork):
    """Code2LoRA-Evo: the Static hypernetwork plus a GRU that carries its state along the commits of a history.

      h_0  = repo_state(files at the first commit)                       Static's trunk output      [B, H]
      x_t  = LN(Linear(diff_emb_t))    diff_emb = [mean ; max] over the commit's diff chunks      [B, 2E] -> [B, H]
      h_t  = GRUCell(x_t, h_{t-1})     only for commits whose diff has non-test .py/.md/.rst hunks; else h_{t-1}
      adapter_t = heads(normalise(h_t) * sqrt(H))
    The paper writes h_0 = LN(GELU(Linear(repo_vec))) and heads(LN(h_t)); ours keeps Static's own trunk and its
    L2 normalisation instead, so the warm start is exact: with the update gate closed, Evo's adapter at the first
    commit IS Static's. The update gate's bias starts at `update_gate_bias` (sigmoid(6) = 0.9975: the state moves
    little per commit until training opens the gate). Parameter names extend Static's (diff_in, diff_norm, gru).
    """

    def __init__(self, config: HypernetConfig, update_gate_bias: float = 6.0):
        super().__init__(config)
        e, h = config.embedding_size, config.hidden_size
        self.diff_in = nn.Linear(2 * e, h)
        self.diff_norm = nn.LayerNorm(h)
        self.gru = nn.GRUCell(h, h)
        with torch.no_grad():  # torch's GRUCell gates are ordered (reset, update, new)
            self.gru.bias_ih[h:2 * h].fill_(update_gate_bias)
            self.gru.bias_hh[h:2 * h].zero_()

    def step(self, state, diff, has_diff):
        """One commit: state [B, H], diff [B, 2E], has_diff [B] bool -> the next state [B, H]."""
        moved = self.gru(self.diff_norm(self.diff_in(diff)), state)
        return torch.where(has_diff.unsqueeze(-1), moved, state)

    def adapter_at(self, state):
        return self.adapter_from_state(F.normalize(state, dim=-1) * math.sqrt(self.config.hidden_size))

    def states_at(self, start, diffs, has_diff, rows, ends, bptt_commits: int):
        """The state at each task's commit [B, H], for training: every history stepped from its first commit without
        gradients, then with gradients through the task's last `bptt_commits` commits (the trunk gets gradients only
        when that reaches commit 0, as the authors detach the state).

        start [R, H] (repo_state of R histories), diffs [R, T, 2E] and has_diff [R, T] (padded with has_diff False),
        rows [B] (each task's history) and ends [B] (its commit index). One GRU step per commit index for all the
        histories, then for all the tasks, however many: the same states as stepping each task alone (a step per
        commit per task), in far fewer, larger calls, which is what a GPU needs.
        """
        begins = (ends - bptt_commits).clamp(min=0)
        with torch.no_grad():
            state, from_begin = start.detach(), start.detach()[rows]
            for index in range(1, int(begins.max()) + 1):
                state = self.step(state, diffs[:, index], has_diff[:, index])
                reached = begins == index
                from_begin = torch.where(reached[:, None], state[rows], from_begin)
        state = torch.where((begins == 0)[:, None], start[rows], from_begin)
        last = diffs.shape[1] - 1
        for offset in range(1, int((ends - begins).max()) + 1):
            index = (begins + offset).clamp(max=last)
            state = self.step(state, diffs[rows, index], has_diff[rows, index] & (begins + offset <= ends))
        return state

    def new_parameter_names(self) -> set:
        """The parameters Static does not have (trained from scratch; the rest are warm-started)."""
        return {n for n, _ in self.named_parameters() if n.split(".")[0] in ("diff_in", "diff_norm", "gru")}


KINDS = {"code2lora-static": Hypernetwork, "code2lora-evo": EvoHypernetwork}


def config_json(config: HypernetConfig, base: dict, encoder: dict, training: dict, kind: str = "code2lora-static") -> str:
    """hypernetwork_config.json: what the loaders check before they trust the weights."""
    return json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind, "base_model": base, "encoder": encoder,
                       **config.to_json(), "training": training}, indent=2) + "\n"
