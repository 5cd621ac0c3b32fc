"""Parity: our TypeScript tokenizer (cli/tokenize.ts, cli/pack.ts) gives the same ids and decoded text as HF `tokenizers`.

Builds several tokenizer.json files with the real client (GPT-2-style ByteLevel with its own regex, with and without
add_prefix_space; Qwen2-style NFC + Split + ByteLevel with added tokens; Llama-3-style with ignore_merges and a
TemplateProcessing post-processor; a newline-indent pattern with a complement inside a class; StarCoder-style Digits + ByteLevel with lstrip/rstrip/single_word added tokens;
legacy "a b" merges; one trained by our TypeScript trainer; public/models/c2l-base/tokenizer.json when it exists),
encodes a few MB of real Python from this machine (the stdlib and site-packages, read in place) plus hand-written and
seeded-random Unicode documents with both, and requires identical ids and identical decoded text.
Set TOKENIZER_PARITY_MB to change the corpus size (default 3).
"""

import glob
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TSX = REPO / "node_modules" / ".bin" / "tsx"
CORPUS_MB = float(os.environ.get("TOKENIZER_PARITY_MB", "3"))
SHIPPED_TOKENIZER = REPO / "public" / "models" / "c2l-base" / "tokenizer.json"

QWEN2_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
# Newline keeps the indentation after it; uses a complement inside a class ([^\S\r\n]), which JS cannot write directly.
NEWLINE_INDENT_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+[^\S\r\n]*|\s+(?!\S)|\s+"""
LLAMA3_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""

TRICKY_DOCUMENTS = [
    "def f(x):\r\n\treturn x  # CRLF and tab\r\n",
    "nul\x00byte and \x0b\x0c controls \x1b[0m",
    "spaces: \u00a0nbsp \u3000ideographic \u2028ls \u2029ps \u0085nel \ufeffbom \u180emvs \u200bzwsp",
    "contractions: it's IT'S it'\u017fa (long s folds to s) we've WE'LL I'd I'M x'\u212a",
    "emoji 👩‍💻 🇫🇷 😀😀 family 👨‍👩‍👧 keycap 1️⃣",
    "non-NFC: e\u0301 A\u030a \u212b \ufb01 ﬀ",
    "scripts: 日本語のテキスト, Ελληνικά, русский, العربية, हिन्दी १२३, ไทย",
    "numbers: 1234567 3.14159 1e-10 0x1F ²³ Ⅻ ١٢٣ １２３ 12345678901234567890",
    "specials: <|endoftext|>after<|endoftext|> <|im_start|>user\nhi<|im_end|>",
    "added: <fim_prefix>x = 1<fim_suffix> a <|mask|>  b\n<|mask|>c TODO: xTODO TODO_ _TODO (TODO) def main(): def mainly",
    " leading space and trailing space ",
    " " * 300 + "x" + "\n" * 50 + "=" * 700 + "\n" + "-" * 64,
    "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo" * 30,
    "",
    "x",
    "\n",
    "'s's's ''' \"\"\" '''docstring'''",
]


def random_documents(count, seed=1234):
    """Seeded random strings drawn from ranges that stress the regexes: ASCII, Latin-1, whitespace, marks, astral."""
    rng = random.Random(seed)
    pools = [
        (0x20, 0x7E), (0x00, 0x20), (0x80, 0xFF), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF),
        (0x2000, 0x206F), (0x3000, 0x303F), (0x4E00, 0x4E80), (0xFF00, 0xFFEF), (0x1F300, 0x1F64F), (0x10000, 0x1007F),
    ]
    weights = [40, 6, 6, 3, 3, 3, 5, 3, 3, 3, 3, 2]
    docs = []
    for _ in range(count):
        chars = []
        for _ in range(rng.randint(0, 200)):
            lo, hi = rng.choices(pools, weights)[0]
            chars.append(chr(rng.randint(lo, hi)))
        docs.append("".join(chars))
    return docs


def python_sources(limit_bytes):
    roots = sorted(glob.glob("/usr/lib/python3*/")) + [p for p in sys.path if p.endswith("site-packages")]
    docs, total, seen = [], 0, set()
    for root in roots:
        for path in sorted(glob.glob(os.path.join(root, "**", "*.py"), recursive=True)):
            real = os.path.realpath(path)
            if real in seen or not os.path.isfile(real):
                continue
            seen.add(real)
            with open(real, "rb") as f:
                text = f.read().decode("utf-8", errors="replace")
            if not text:
                continue
            docs.append(text)
            total += len(text.encode("utf-8"))
            if total >= limit_bytes:
                return docs
    return docs


@pytest.fixture(scope="module")
def python_docs():
    docs = python_sources(int(CORPUS_MB * 1e6))
    if not docs:
        pytest.skip("no .py files found on this machine")
    return docs


@pytest.fixture(scope="module")
def documents(python_docs):
    return python_docs + TRICKY_DOCUMENTS + random_documents(300)


@pytest.fixture(scope="module")
def training_texts(python_docs):
    return python_docs[: max(1, len(python_docs) // 4)]


def train(tokenizer, texts, vocab_size, special_tokens):
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=special_tokens, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def edited(tokenizer, edit):
    """Round-trips the tokenizer through JSON with `edit` applied to the dict."""
    data = json.loads(tokenizer.to_str())
    edit(data)
    return Tokenizer.from_str(json.dumps(data))


def gpt2_style(texts, add_prefix_space=False):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    tok.decoder = decoders.ByteLevel()
    return train(tok, texts, 3000, ["<|endoftext|>"])


def qwen2_style(texts):
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated"), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )
    tok.decoder = decoders.ByteLevel()
    train(tok, texts, 4000, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    tok.add_tokens(["<fim_prefix>", "def main"])
    return tok


def newline_indent_style(texts):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(NEWLINE_INDENT_PATTERN), behavior="isolated"), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )
    tok.decoder = decoders.ByteLevel()
    return train(tok, texts, 3000, ["<|endoftext|>"])


def llama3_style(texts):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated"), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )
    tok.decoder = decoders.ByteLevel()
    train(tok, texts, 3500, ["<|begin_of_text|>", "<|end_of_text|>"])
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence(
        [processors.ByteLevel(trim_offsets=False), processors.TemplateProcessing(single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", bos)])]
    )
    return edited(tok, lambda d: d["model"].update(ignore_merges=True))


def starcoder_style(texts):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    )
    tok.decoder = decoders.ByteLevel()
    train(tok, texts, 3000, ["<|endoftext|>", "<fim_prefix>", "<fim_suffix>"])
    tok.add_special_tokens([AddedToken("<|mask|>", lstrip=True, rstrip=True, special=True, normalized=False)])
    tok.add_tokens([AddedToken("TODO", single_word=True)])
    return tok


def legacy_merges(texts):
    def to_strings(d):
        d["model"]["merges"] = [" ".join(pair) for pair in d["model"]["merges"]]
    return edited(gpt2_style(texts), to_strings)


def run_tsx(*args):
    result = subprocess.run([str(TSX), *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"tsx {' '.join(map(str, args))} failed:\n{result.stderr}"
    return result


def ts_trained(texts, tmp_path):
    corpus = tmp_path / "train.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    script = tmp_path / "train_tokenizer.ts"
    script.write_text(
        f"import {{ readFileSync, writeFileSync }} from 'node:fs';\n"
        f"import {{ trainBpeTokenizer }} from {json.dumps(str(REPO / 'src/tokenizer/trainBpe.ts'))};\n"
        "const texts = readFileSync(process.argv[2], 'utf8').split('\\n').filter(Boolean).map((l) => JSON.parse(l).text);\n"
        "const tok = trainBpeTokenizer({ texts, vocabSize: 3000, specialTokens: ['<|endoftext|>'], pattern: process.argv[4] });\n"
        "writeFileSync(process.argv[3], JSON.stringify(tok.toJSON()));\n",
        encoding="utf-8",
    )
    out = tmp_path / "ts_trained.json"
    run_tsx(script, corpus, out, QWEN2_PATTERN)
    return Tokenizer.from_file(str(out))


BUILDERS = {
    "gpt2_bytelevel": lambda texts, tmp: gpt2_style(texts),
    "gpt2_add_prefix_space": lambda texts, tmp: gpt2_style(texts, add_prefix_space=True),
    "qwen2_split_nfc_added": lambda texts, tmp: qwen2_style(texts),
    "llama3_ignore_merges_template": lambda texts, tmp: llama3_style(texts),
    "newline_indent_class_complement": lambda texts, tmp: newline_indent_style(texts),
    "starcoder_digits_flags": lambda texts, tmp: starcoder_style(texts),
    "legacy_string_merges": lambda texts, tmp: legacy_merges(texts),
    "trained_by_typescript": ts_trained,
}
if SHIPPED_TOKENIZER.exists():
    BUILDERS["c2l_base_shipped"] = lambda texts, tmp: Tokenizer.from_file(str(SHIPPED_TOKENIZER))


def first_difference(a, b):
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


pytestmark = pytest.mark.skipif(not TSX.exists(), reason="node_modules/.bin/tsx missing: run npm ci")


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_typescript_tokenizer_matches_hf(name, documents, training_texts, tmp_path):
    tokenizer = BUILDERS[name](training_texts, tmp_path)
    tokenizer_path = tmp_path / "tokenizer.json"
    tokenizer.save(str(tokenizer_path))
    docs_path = tmp_path / "docs.jsonl"
    docs_path.write_text("".join(json.dumps({"text": d}) + "\n" for d in documents), encoding="utf-8")
    ids_path, decoded_path = tmp_path / "ids.json", tmp_path / "decoded.jsonl"
    pieces_path = tmp_path / "pieces.json"
    run_tsx(
        "cli/tokenize.ts", "--tokenizer", tokenizer_path, "--in", docs_path, "--jsonl",
        "--out", ids_path, "--decoded-out", decoded_path, "--pieces-out", pieces_path,
    )
    # Pre-tokenizer pieces first: a small vocab can hide a wrong split (rare characters merge the same either way).
    for i, (ours, doc) in enumerate(zip(json.loads(pieces_path.read_text(encoding="utf-8")), documents)):
        theirs = [piece for piece, _ in tokenizer.pre_tokenizer.pre_tokenize_str(doc)]
        if ours != theirs:
            k = first_difference(ours, theirs)
            pytest.fail(f"{name}: pre-tokenizer pieces of document {i} differ at {k}: ours {ours[k:k + 3]} vs HF {theirs[k:k + 3]}\n{doc[:200]!r}")
    ts_ids = json.loads(ids_path.read_text())
    # split on "\n" only: JSON.stringify leaves U+2028/U+2029 unescaped, and str.splitlines would split there.
    ts_decoded = [json.loads(line)["text"] for line in decoded_path.read_text(encoding="utf-8").split("\n") if line]

    hf_ids = [e.ids for e in tokenizer.encode_batch(documents)]
    assert len(ts_ids) == len(hf_ids) == len(documents)
    for i, (ours, theirs) in enumerate(zip(ts_ids, hf_ids)):
        if ours != theirs:
            k = first_difference(ours, theirs)
            context = lambda ids: [tokenizer.id_to_token(t) for t in ids[max(0, k - 3): k + 4]]  # noqa: E731
            pytest.fail(f"{name}: document {i} differs at token {k}: ours {context(ours)} vs HF {context(theirs)}\n{documents[i][:200]!r}")
    hf_decoded = tokenizer.decode_batch(hf_ids, skip_special_tokens=False)
    for i, (ours, theirs) in enumerate(zip(ts_decoded, hf_decoded)):
        assert ours == theirs, f"{name}: decode of document {i} differs: {ours[:120]!r} vs {theirs[:120]!r}"
    total_bytes = sum(len(d.encode("utf-8")) for d in documents)
    print(f"{name}: {len(documents)} documents, {total_bytes / 1e6:.2f} MB, {sum(map(len, hf_ids))} tokens identical")


def test_pack_matches_hf(python_docs, training_texts, tmp_path):
    tokenizer = gpt2_style(training_texts)
    tokenizer_path = tmp_path / "tokenizer.json"
    tokenizer.save(str(tokenizer_path))
    docs = python_docs[:60] + TRICKY_DOCUMENTS
    splits = {"train": docs[: len(docs) // 2], "val": docs[len(docs) // 2:]}
    for split, split_docs in splits.items():
        (tmp_path / "corpus" / split).mkdir(parents=True)
        for shard in range(2):
            with open(tmp_path / "corpus" / split / f"shard-{shard:05d}.jsonl", "w", encoding="utf-8") as f:
                for doc in split_docs[shard::2]:
                    f.write(json.dumps({"text": doc, "package": "stdlib"}) + "\n")
    run_tsx("cli/pack.ts", "--tokenizer", tokenizer_path, "--corpus", tmp_path / "corpus", "--out", tmp_path / "tokens")

    meta = json.loads((tmp_path / "tokens" / "meta.json").read_text())
    eos = tokenizer.token_to_id("<|endoftext|>")
    assert meta["eos_id"] == eos and meta["dtype"] == "uint16" and meta["vocab_size"] == tokenizer.get_vocab_size()
    for split, split_docs in splits.items():
        ordered = split_docs[0::2] + split_docs[1::2]  # shard-00000 first, then shard-00001
        expected = [t for doc in ordered for t in tokenizer.encode(doc).ids + [eos]]
        packed = np.fromfile(tmp_path / "tokens" / f"{split}.bin", dtype="<u2")
        assert packed.tolist() == expected, f"{split}.bin differs from HF ids"
        assert meta["tokens"][split] == len(expected)
        assert meta["documents"][split] == len(split_docs)
        assert meta["bytes"][split] == sum(len(d.encode("utf-8")) for d in split_docs)
