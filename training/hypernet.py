"""Code2LoRA's hypernetwork: file embeddings of a repository -> one LoRA adapter (A, B per module type) for a frozen LM.

Reads in the order data flows (DESIGN.md section 1):
  files   [B, F, E] masked -> learned file scores, softmax -> repo vector [a * weighted mean ; b * max]   [B, 2E]
  trunk   Linear(2E, H) + GELU + Linear(H, H) + GELU, L2-normalised and scaled by sqrt(H)                [B, H]
  heads   per (module, A|B): tanh(Linear(H, size)) * clamp(exp(s), 1e-5, 0.3), s a learned log-scale init -3.5
One A, B per module type, shared by every layer (the paper's choice). A is [r, in] and B is [out, r], PEFT's layout,
applied as W x + (alpha / r) * B A x. Parameter names are the ones src/code2lora/hypernetwork.ts reads.
"""
import json
import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
FORMAT = "code2lora-hypernetwork"
FORMAT_VERSION = 1


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

    def repo_vector(self, files, mask):
        """files [B, F, E], mask [B, F] (True for a real file) -> [B, 2E]."""
        scores = self.file_score(files).squeeze(-1)
        return pool_files(scores, files, mask, self.config.mean_weight, self.config.max_weight)

    def adapter_from_state(self, state):
        """A trunk output (or an Evo GRU state) [B, H] -> {module: (A [B, r, in], B [B, out, r])}."""
        r = self.config.rank
        adapter = {}
        for m, (fan_out, fan_in) in self.config.shapes.items():
            bound = {p: self.log_scale[m][p].exp().clamp(1e-5, 0.3) for p in ("A", "B")}
            a = torch.tanh(self.heads[m]["A"](state)) * bound["A"]
            b = torch.tanh(self.heads[m]["B"](state)) * bound["B"]
            adapter[m] = (a.view(-1, r, fan_in), b.view(-1, fan_out, r))
        return adapter

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

    def new_parameter_names(self) -> set:
        """The parameters Static does not have (trained from scratch; the rest are warm-started)."""
        return {n for n, _ in self.named_parameters() if n.split(".")[0] in ("diff_in", "diff_norm", "gru")}


KINDS = {"code2lora-static": Hypernetwork, "code2lora-evo": EvoHypernetwork}


def config_json(config: HypernetConfig, base: dict, encoder: dict, training: dict, kind: str = "code2lora-static") -> str:
    """hypernetwork_config.json: what the loaders check before they trust the weights."""
    return json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind, "base_model": base, "encoder": encoder,
                       **config.to_json(), "training": training}, indent=2) + "\n"
