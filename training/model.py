"""The base code LM: a Llama/Qwen2-family decoder in one file, with weight names identical to Hugging Face's.

Reads top to bottom in the order data flows: config, RMSNorm, rotary embedding, attention, MLP, block, model.
Parameter names match LlamaForCausalLM / Qwen2ForCausalLM state dicts, so export is a plain safetensors save
and `transformers.AutoModelForCausalLM.from_pretrained` loads what `save_pretrained` writes (and the reverse).
Runs on PyTorch 1.13 (no scaled_dot_product_attention: explicit softmax) and 2.x, CPU and CUDA.
"""
import json
import math
import os
import time
from dataclasses import dataclass, fields
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file


def bfloat16_is_faster(device: str) -> bool:
    """A CPU without bf16 instructions (AVX2 only) emulates bf16 matmuls ~50x slower than float32: time both.

    Each dtype is warmed up, then timed in alternating rounds, and the best round of each is compared. One cold round
    each, float32 first, picked float32 in fresh processes on a CPU where bf16 matmuls run 2x faster (83 vs 71
    matmuls; warm: 146 vs 295) and a per-repo LoRA step 1.4x faster: bf16's first matmuls pay its kernels' set-up."""
    if device != "cpu":
        return True
    operands = {dtype: (torch.randn(512, 512, dtype=dtype), torch.randn(512, 512, dtype=dtype))
                for dtype in (torch.float32, torch.bfloat16)}
    best = {dtype: 0 for dtype in operands}
    for round_index in range(4):
        for dtype, (a, b) in operands.items():
            started, count = time.perf_counter(), 0
            while time.perf_counter() - started < 0.03:
                a @ b
                count += 1
            if round_index > 0:  # round 0 warms up
                best[dtype] = max(best[dtype], count)
    return best[torch.bfloat16] > best[torch.float32]


@dataclass
class ModelConfig:
    vocab_size: int = 8192
    hidden_size: int = 256
    intermediate_size: int = 704
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 4
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    max_position_embeddings: int = 2048
    tie_word_embeddings: bool = True
    attention_bias: bool = False  # Qwen2-style bias on q/k/v (not o); exported as Qwen2ForCausalLM
    bos_token_id: Optional[int] = None
    eos_token_id: Optional[int] = None

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def validate(self) -> None:
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(f"hidden_size {self.hidden_size} is not a multiple of num_attention_heads {self.num_attention_heads}")
        if self.num_attention_heads % self.num_key_value_heads != 0:
            raise ValueError(f"num_attention_heads {self.num_attention_heads} is not a multiple of num_key_value_heads {self.num_key_value_heads}")
        if self.head_dim % 2 != 0:
            raise ValueError(f"head_dim {self.head_dim} must be even for rotary embeddings")


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        # Normalise in float32 and cast back before the weight, exactly as HF's LlamaRMSNorm does.
        input_dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(input_dtype)


class RotaryEmbedding(nn.Module):
    """cos/sin tables in HF's layout: frequencies repeated over the two halves of head_dim (rotate_half convention)."""

    def __init__(self, head_dim: int, theta: float):
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, positions, dtype):
        freqs = torch.outer(positions.float(), self.inv_freq)
        angles = torch.cat((freqs, freqs), dim=-1)
        return angles.cos().to(dtype), angles.sin().to(dtype)


def rotate_half(x):
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def apply_rotary(x, cos, sin):
    return x * cos + rotate_half(x) * sin


def project(linear: nn.Linear, x, lora=None):
    """linear(x), plus the LoRA update scale * B A x when `lora` = (A [B, r, in], B [B, out, r], scale) is given.

    A and B carry a batch dimension, so every sequence of a batch can have its own adapter (one per repository) and
    gradients flow into whatever produced them (the hypernetwork); the frozen weight itself is never changed.
    """
    y = linear(x)
    if lora is None:
        return y
    a, b, scale = lora
    return y + scale * torch.bmm(torch.bmm(x, a.transpose(1, 2).to(x.dtype)), b.transpose(1, 2).to(x.dtype))


class Attention(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.head_dim = config.head_dim
        self.q_proj = nn.Linear(config.hidden_size, self.num_heads * self.head_dim, bias=config.attention_bias)
        self.k_proj = nn.Linear(config.hidden_size, self.num_kv_heads * self.head_dim, bias=config.attention_bias)
        self.v_proj = nn.Linear(config.hidden_size, self.num_kv_heads * self.head_dim, bias=config.attention_bias)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, config.hidden_size, bias=False)

    def forward(self, x, cos, sin, lora=None):
        lora = lora or {}
        batch, seq, _ = x.shape
        q = project(self.q_proj, x, lora.get("q_proj")).view(batch, seq, self.num_heads, self.head_dim).transpose(1, 2)
        k = project(self.k_proj, x, lora.get("k_proj")).view(batch, seq, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = project(self.v_proj, x, lora.get("v_proj")).view(batch, seq, self.num_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if self.num_kv_heads != self.num_heads:
            # Query head h reads key/value head h // group, as HF's repeat_kv arranges them.
            group = self.num_heads // self.num_kv_heads
            k = k.repeat_interleave(group, dim=1)
            v = v.repeat_interleave(group, dim=1)
        if hasattr(F, "scaled_dot_product_attention"):
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # PyTorch 1.13
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)
            future = torch.ones(seq, seq, dtype=torch.bool, device=x.device).triu(1)
            scores = scores.masked_fill(future, float("-inf"))
            y = scores.float().softmax(dim=-1).to(q.dtype) @ v
        return project(self.o_proj, y.transpose(1, 2).reshape(batch, seq, self.num_heads * self.head_dim), lora.get("o_proj"))


class MLP(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x, lora=None):
        lora = lora or {}
        hidden = F.silu(project(self.gate_proj, x, lora.get("gate_proj"))) * project(self.up_proj, x, lora.get("up_proj"))
        return project(self.down_proj, hidden, lora.get("down_proj"))


class DecoderLayer(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = Attention(config)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = MLP(config)

    def forward(self, x, cos, sin, lora=None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, lora)
        return x + self.mlp(self.post_attention_layernorm(x), lora)


class DecoderStack(nn.Module):
    """HF's `model.` prefix: embeddings, layers, final norm."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList([DecoderLayer(config) for _ in range(config.num_hidden_layers)])
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.rotary_emb = RotaryEmbedding(config.head_dim, config.rope_theta)

    def forward(self, input_ids, lora=None):
        """`lora`: None, one {module: (A, B, scale)} shared by every layer, or a list with one such dict per layer."""
        x = self.embed_tokens(input_ids)
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        cos, sin = self.rotary_emb(positions, x.dtype)
        for index, layer in enumerate(self.layers):
            x = layer(x, cos, sin, lora[index] if isinstance(lora, list) else lora)
        return self.norm(x)


class CausalLM(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        config.validate()
        self.config = config
        self.model = DecoderStack(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.apply(self._init_weights)
        # Residual projections start smaller so the residual stream's variance does not grow with depth (GPT-2).
        for name, parameter in self.named_parameters():
            if name.endswith("o_proj.weight") or name.endswith("down_proj.weight"):
                nn.init.normal_(parameter, mean=0.0, std=0.02 / math.sqrt(2 * config.num_hidden_layers))
        if config.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, input_ids, targets=None):
        logits = self.lm_head(self.model(input_ids))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.reshape(-1))
        return logits, loss

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        total = sum(p.numel() for p in self.parameters())  # parameters() yields a tied weight once
        if exclude_embeddings:
            total -= self.model.embed_tokens.weight.numel()
        return total

    @torch.no_grad()
    def generate(self, input_ids, max_new_tokens: int, eos_token_id: Optional[int] = None):
        """Greedy decoding without a KV cache: enough for checks and samples, not for speed."""
        for _ in range(max_new_tokens):
            context = input_ids[:, -self.config.max_position_embeddings:]
            logits, _ = self(context)
            next_token = logits[:, -1, :].argmax(dim=-1, keepdim=True)
            input_ids = torch.cat((input_ids, next_token), dim=1)
            if eos_token_id is not None and bool((next_token == eos_token_id).all()):
                break
        return input_ids

    # ---- Hugging Face layout -------------------------------------------------------------------------------

    def hf_config(self, dtype: torch.dtype = torch.float32) -> dict:
        c = self.config
        architecture = "Qwen2ForCausalLM" if c.attention_bias else "LlamaForCausalLM"
        config = {
            "architectures": [architecture],
            "model_type": "qwen2" if c.attention_bias else "llama",
            "vocab_size": c.vocab_size,
            "hidden_size": c.hidden_size,
            "intermediate_size": c.intermediate_size,
            "num_hidden_layers": c.num_hidden_layers,
            "num_attention_heads": c.num_attention_heads,
            "num_key_value_heads": c.num_key_value_heads,
            "head_dim": c.head_dim,
            "hidden_act": "silu",
            "max_position_embeddings": c.max_position_embeddings,
            "rms_norm_eps": c.rms_norm_eps,
            # rope_theta for transformers 4.x and our TypeScript runtime, rope_parameters for transformers 5.x.
            "rope_theta": c.rope_theta,
            "rope_parameters": {"rope_type": "default", "rope_theta": c.rope_theta},
            "rope_scaling": None,
            "tie_word_embeddings": c.tie_word_embeddings,
            "attention_dropout": 0.0,
            "initializer_range": 0.02,
            "use_cache": True,
            "bos_token_id": c.bos_token_id,
            "eos_token_id": c.eos_token_id,
            "torch_dtype": str(dtype).replace("torch.", ""),
            "dtype": str(dtype).replace("torch.", ""),
        }
        if c.attention_bias:
            config.update({"use_sliding_window": False, "sliding_window": None, "max_window_layers": c.num_hidden_layers})
        else:
            config.update({"attention_bias": False, "mlp_bias": False, "pretraining_tp": 1})
        return config

    def save_pretrained(self, directory: str, dtype: torch.dtype = torch.float32) -> None:
        os.makedirs(directory, exist_ok=True)
        state = {name: tensor.detach().to("cpu", dtype).contiguous() for name, tensor in self.state_dict().items()}
        if self.config.tie_word_embeddings:
            del state["lm_head.weight"]  # HF omits the tied copy; safetensors refuses shared storage anyway
        # Write to temporary names and rename, so a reader (or a kill) never sees half a checkpoint.
        weights_path = os.path.join(directory, "model.safetensors")
        save_file(state, weights_path + ".tmp", metadata={"format": "pt"})
        os.chmod(weights_path + ".tmp", 0o644)  # safetensors creates it owner-only; the app serves it
        os.replace(weights_path + ".tmp", weights_path)
        config_path = os.path.join(directory, "config.json")
        with open(config_path + ".tmp", "w") as f:
            json.dump(self.hf_config(dtype), f, indent=2)
            f.write("\n")
        os.replace(config_path + ".tmp", config_path)

    @classmethod
    def from_pretrained(cls, directory: str, dtype: torch.dtype = torch.float32) -> "CausalLM":
        with open(os.path.join(directory, "config.json")) as f:
            hf = json.load(f)
        architecture = (hf.get("architectures") or [None])[0]
        if architecture not in ("LlamaForCausalLM", "Qwen2ForCausalLM"):
            raise ValueError(f"{directory}: unsupported architecture {architecture!r} (want LlamaForCausalLM or Qwen2ForCausalLM)")
        if hf.get("hidden_act", "silu") != "silu":
            raise ValueError(f"{directory}: unsupported hidden_act {hf['hidden_act']!r}")
        rope_scaling = hf.get("rope_scaling") or {}
        rope_parameters = hf.get("rope_parameters") or {}
        if rope_scaling.get("rope_type", rope_scaling.get("type", "default")) != "default" or \
                rope_parameters.get("rope_type", "default") != "default":
            raise ValueError(f"{directory}: only default rotary embeddings are supported")
        if hf.get("mlp_bias") or (architecture == "LlamaForCausalLM" and hf.get("attention_bias")):
            raise ValueError(f"{directory}: Llama checkpoints with attention_bias or mlp_bias are not supported")
        names = {f.name for f in fields(ModelConfig)}
        config = ModelConfig(**{k: v for k, v in hf.items() if k in names})
        config.rope_theta = float(rope_parameters.get("rope_theta", hf.get("rope_theta", 10000.0)))
        config.attention_bias = architecture == "Qwen2ForCausalLM"
        config.tie_word_embeddings = bool(hf.get("tie_word_embeddings", False))  # both HF configs default to untied
        if hf.get("head_dim") not in (None, config.head_dim):
            raise ValueError(f"{directory}: head_dim {hf['head_dim']} != hidden_size / num_attention_heads")
        model = cls(config)
        state = load_file(os.path.join(directory, "model.safetensors"))
        if config.tie_word_embeddings:
            state.pop("lm_head.weight", None)
            state["lm_head.weight"] = state["model.embed_tokens.weight"]
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"{directory}: weights do not match the config (missing {missing}, unexpected {unexpected})")
        return model.to(dtype)
