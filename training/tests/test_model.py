"""training/model.py against transformers: same weights, same logits, both directions of the Hugging Face layout."""
import json
import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from model import CausalLM, ModelConfig  # noqa: E402

transformers = pytest.importorskip("transformers")

TINY_CONFIGS = {
    "llama-gqa-tied": dict(vocab_size=97, hidden_size=48, intermediate_size=80, num_hidden_layers=2,
                           num_attention_heads=6, num_key_value_heads=2, tie_word_embeddings=True),
    "llama-mha-untied": dict(vocab_size=64, hidden_size=32, intermediate_size=72, num_hidden_layers=3,
                             num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=False, rope_theta=500.0),
    "qwen2-gqa-bias-tied": dict(vocab_size=80, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                num_attention_heads=8, num_key_value_heads=2, tie_word_embeddings=True, attention_bias=True),
    "qwen2-bias-untied": dict(vocab_size=50, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                              num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=False,
                              attention_bias=True, rms_norm_eps=1e-6),
}


def randomised(model):
    # Every weight random (norms and biases included), so a misplaced or ignored tensor changes the logits.
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn_like(parameter) * 0.2)
    return model


def sample_ids(vocab_size, batch=2, seq=17):
    generator = torch.Generator().manual_seed(2)
    return torch.randint(0, vocab_size, (batch, seq), generator=generator)


@pytest.mark.parametrize("name", sorted(TINY_CONFIGS))
def test_exported_model_loads_in_transformers_with_same_logits(name, tmp_path):
    torch.manual_seed(0)
    ours = randomised(CausalLM(ModelConfig(**TINY_CONFIGS[name]))).eval()
    ours.save_pretrained(str(tmp_path))
    expected_architecture = "Qwen2ForCausalLM" if ours.config.attention_bias else "LlamaForCausalLM"
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == [expected_architecture]

    theirs = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path), dtype=torch.float32).eval()
    assert type(theirs).__name__ == expected_architecture
    ids = sample_ids(ours.config.vocab_size)
    with torch.no_grad():
        our_logits, _ = ours(ids)
        their_logits = theirs(input_ids=ids).logits
    assert (our_logits - their_logits).abs().max().item() < 1e-5


@pytest.mark.parametrize("name", sorted(TINY_CONFIGS))
def test_transformers_model_loads_in_ours_with_same_logits(name, tmp_path):
    spec = dict(TINY_CONFIGS[name])
    bias = spec.pop("attention_bias", False)
    hf_config_class = transformers.Qwen2Config if bias else transformers.LlamaConfig
    torch.manual_seed(0)
    theirs = hf_config_class(**spec)
    theirs = transformers.AutoModelForCausalLM.from_config(theirs, dtype=torch.float32)
    theirs = randomised(theirs).eval()
    if spec["tie_word_embeddings"]:
        assert theirs.lm_head.weight.data_ptr() == theirs.model.embed_tokens.weight.data_ptr()
    theirs.save_pretrained(str(tmp_path))

    ours = CausalLM.from_pretrained(str(tmp_path)).eval()
    assert ours.config.attention_bias == bias
    assert ours.config.tie_word_embeddings == spec["tie_word_embeddings"]
    ids = sample_ids(spec["vocab_size"])
    with torch.no_grad():
        our_logits, _ = ours(ids)
        their_logits = theirs(input_ids=ids).logits
    assert (our_logits - their_logits).abs().max().item() < 1e-5


def test_float16_export_round_trips_within_half_precision(tmp_path):
    torch.manual_seed(0)
    ours = CausalLM(ModelConfig(**TINY_CONFIGS["llama-gqa-tied"])).eval()
    ours.save_pretrained(str(tmp_path), dtype=torch.float16)
    assert json.loads((tmp_path / "config.json").read_text())["torch_dtype"] == "float16"
    reloaded = CausalLM.from_pretrained(str(tmp_path)).eval()
    ids = sample_ids(ours.config.vocab_size)
    with torch.no_grad():
        difference = (ours(ids)[0] - reloaded(ids)[0]).abs().max().item()
    assert 0 < difference < 1e-2


def test_loss_is_cross_entropy_of_next_token_logits():
    torch.manual_seed(0)
    model = CausalLM(ModelConfig(**TINY_CONFIGS["llama-mha-untied"]))
    ids = sample_ids(model.config.vocab_size)
    logits, loss = model(ids[:, :-1], ids[:, 1:])
    by_hand = -torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None]).mean()
    assert abs(loss.item() - by_hand.item()) < 1e-6
    # A fresh model predicts close to uniformly.
    assert abs(loss.item() - torch.log(torch.tensor(float(model.config.vocab_size))).item()) < 0.1


def test_from_pretrained_rejects_unknown_architecture(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"]}))
    with pytest.raises(ValueError, match="unsupported architecture"):
        CausalLM.from_pretrained(str(tmp_path))


def test_attention_without_scaled_dot_product_attention_matches(monkeypatch):
    # PyTorch 1.13 (Debian's) has no F.scaled_dot_product_attention: the explicit softmax path must agree with it.
    torch.manual_seed(0)
    model = randomised(CausalLM(ModelConfig(**TINY_CONFIGS["qwen2-gqa-bias-tied"]))).eval()
    ids = sample_ids(model.config.vocab_size)
    with torch.no_grad():
        fused, _ = model(ids)
        monkeypatch.delattr(torch.nn.functional, "scaled_dot_product_attention")
        explicit, _ = model(ids)
    assert (fused - explicit).abs().max().item() < 1e-5
