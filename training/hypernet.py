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

    def forward(self, files, mask):
        h = self.trunk(self.repo_vector(files, mask))
        h = F.normalize(h, dim=-1) * math.sqrt(self.config.hidden_size)
        return self.adapter_from_state(h)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def config_json(config: HypernetConfig, base: dict, encoder: dict, training: dict) -> str:
    """hypernetwork_config.json: what the loaders check before they trust the weights."""
    return json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, "base_model": base, "encoder": encoder,
                       **config.to_json(), "training": training}, indent=2) + "\n"
