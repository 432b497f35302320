#!/usr/bin/env bash
# Evaluation at scale, side by side: alsflow's exact metrics over every user (and the
# evaluate stage's work, sampled evaluation, recommend --all) against `implicit`
# 0.7.3's top-10-only `ranking_metrics_at_k` and batch `recommend`, on one
# ML-20M-shaped file (the one `make bench-compare` uses), same split, same model shape
# (64 factors, CG, 10 iterations), 2 threads each.
#
#   make bench-eval
#
# Results: one JSON line per system in benches/results/eval-*.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-benches/data/ml20m-synth.tsv}
SPLIT=${SPLIT:-benches/data/ml20m-split}
OUT=benches/results/eval-$(date -u +%Y%m%dT%H%M%SZ).jsonl
mkdir -p benches/data benches/results

source benches/venv.sh

echo "== building the alsflow tools (release)"
cargo build --release -q -p alsflow --example synth_tsv --example eval_tsv
if [ ! -s "$DATA" ]; then
  echo "== generating $DATA"
  target/release/examples/synth_tsv "$DATA"
fi
echo "== alsflow (writes the split to $SPLIT)"
RAYON_NUM_THREADS=2 target/release/examples/eval_tsv "$DATA" --write-split "$SPLIT" | tee -a "$OUT"
echo "== implicit"
OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 benches/.venv/bin/python benches/implicit_eval.py "$SPLIT" \
  --threads 2 | tee -a "$OUT"
echo "raw results: $OUT"
