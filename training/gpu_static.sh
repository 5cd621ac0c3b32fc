#!/usr/bin/env bash
# The Static track at GPU scale, for a session that is lent a GPU (../shared/DESIGN.md; the device tool): the shared
# LoRA and two Static hypernetworks (H = 64, the shipped size, and H = 256) train side by side on the one GPU, each
# schedule sized to the same time budget (train_hypernet.py max_steps=0), the same batches (seed 1), then each is
# decoded on the 500 cross-repo tasks (matched and shuffled adapters) by the benchmark's torch engine on the GPU.
#
# Usage: bash training/gpu_static.sh OUT [MINUTES]   (DEVICE, EVAL_TASKS, REQUESTS, RUNS override: a small try on a CPU)
# Needs what the Static card's "Reproduce" makes: data/models/smollm2-135m-instruct, data/hypernet/tasks.jsonl,
# data/hypernet/file_embeddings-layer2.pt and data/results/cr-eval/torch/base.requests.jsonl. Writes the runs under
# training/runs/gpu/, the exported hypernetworks and LoRA under data/models/gpu-*, completions under
# data/results/cr-eval-gpu/, and copies logs and completions to OUT. Score here with bench:score as docs/results.md.
set -uo pipefail
OUT=${1:?usage: bash training/gpu_static.sh OUT [MINUTES]}
MINUTES=${2:-6}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
REQUESTS=${REQUESTS:-data/results/cr-eval/torch/base.requests.jsonl}
BASE=data/models/smollm2-135m-instruct
EVAL=data/results/cr-eval-gpu
mkdir -p "$OUT" "$EVAL" training/runs/gpu
COMMON=(--device="$DEVICE" --max_steps=0 --eval_interval=0 --time_budget_minutes="$MINUTES" --batch_size=32
        --eval_tasks="${EVAL_TASKS:-384}" --checkpoint_interval=100000 --learning_rate=3e-4 --seed=1 --threads=4
        --embeddings_file=file_embeddings-layer2.pt)
declare -A METHOD=([shared-lora]=shared-lora [static-h64]=code2lora-static [static-h256]=code2lora-static)
declare -A EXTRA=([shared-lora]="" [static-h64]=--hidden_size=64 [static-h256]=--hidden_size=256)
read -r -a RUN_NAMES <<<"${RUNS:-shared-lora static-h64 static-h256}"

for run in "${RUN_NAMES[@]}"; do
  $PY training/train_hypernet.py --method="${METHOD[$run]}" ${EXTRA[$run]} "${COMMON[@]}" \
      --out_dir="training/runs/gpu/$run" >"$OUT/train-$run.log" 2>&1 &
done
wait

for run in "${RUN_NAMES[@]}"; do
  [ -f "training/runs/gpu/$run/best.pt" ] || { echo "$run: no best.pt (see $OUT/train-$run.log)"; continue; }
  if [ "${METHOD[$run]}" = shared-lora ]; then
    $PY training/export_lora.py --checkpoint "training/runs/gpu/$run/best.pt" --base $BASE --out "data/models/gpu-$run" &&
    $PY -c 'import json, sys
for line in open(sys.argv[1]):
    print(json.dumps({**json.loads(line), "adapter": sys.argv[2]}))' "$REQUESTS" \
        "data/models/gpu-$run" >"$EVAL/$run.requests.jsonl"
  else
    $PY training/export_hypernet.py --checkpoint "training/runs/gpu/$run/best.pt" --base $BASE --out "data/models/gpu-$run" &&
    $PY training/export_adapters.py --hypernetwork "data/models/gpu-$run" --base $BASE \
        --files data/hypernet/file_embeddings-layer2.pt --requests "$REQUESTS" \
        --out "$EVAL/$run" --shuffled >"$OUT/export-$run.log" 2>&1 &&
    mv "$EVAL/$run/code2lora-static.requests.jsonl" "$EVAL/$run.requests.jsonl" &&
    mv "$EVAL/$run/shuffled-adapter.requests.jsonl" "$EVAL/$run-shuffled.requests.jsonl"
  fi
done

for requests in "$EVAL"/*.requests.jsonl; do
  name=$(basename "$requests" .requests.jsonl)
  $PY training/evaluate.py --model $BASE --requests "$requests" --out "$EVAL/$name.completions.jsonl" --device "$DEVICE" \
      --max_new_tokens 64 --batch_size 64 --dtype float32 --eos_ids 2 --threads 2 >"$OUT/decode-$name.log" 2>&1 &
done
wait
for run in "${RUN_NAMES[@]}"; do cp "training/runs/gpu/$run/log.jsonl" "$OUT/log-$run.jsonl" 2>/dev/null; done
cp "$EVAL"/*.completions.jsonl "$OUT/" 2>/dev/null
ls -la "$OUT"
