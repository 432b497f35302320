#!/usr/bin/env bash
# The seed's 192-point x 5-fold grid on the ml-100k protocol split, alsflow against the
# Python `implicit` library (0.7.3), in one run on this machine:
#
#   make bench-grid-compare
#
# alsflow runs the whole grid, then train + evaluate (`cargo bench -p alsflow-tune
# --bench grid_ml100k`). implicit runs a fixed sample of 10 of its 1,152 fits
# (numpy default_rng(42)), timed with their matrix build and validation ROEM, and
# extrapolated to the grid two ways (mean x 1152, and a linear model in max_iter and
# max_iter x rank), the method of ../shared/bench/RESULTS.md. Both use 2 threads
# (implicit with OPENBLAS_NUM_THREADS=1). Needs ../shared (data and protocol.py).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
SPLIT="$SHARED/data/splits/ml-100k"
[ -d "$SPLIT" ] || { echo "grid_compare: $SPLIT not found (set SHARED=...)"; exit 1; }
SHARED=$(cd "$SHARED" && pwd)  # absolute: cargo runs the bench from its crate folder
SPLIT="$SHARED/data/splits/ml-100k"
mkdir -p benches/results
OUT=benches/results/grid-compare-$(date -u +%Y%m%dT%H%M%SZ)
source benches/venv.sh

echo "== alsflow: the whole grid, then train + evaluate"
ALSFLOW_TEST_DATA="$SHARED/data" cargo bench -q -p alsflow-tune --bench grid_ml100k | tee "$OUT-alsflow.txt"
grep -q "total" "$OUT-alsflow.txt" || { echo "grid_compare: the alsflow grid did not run"; exit 1; }
echo "== implicit: 10 sampled fits of 1,152, extrapolated"
OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 benches/.venv/bin/python benches/implicit_grid_sample.py \
  --split "$SPLIT" --protocol "$SHARED/bench/protocol.py" --threads 2 | tee "$OUT-implicit.json"

python3 - "$OUT-alsflow.txt" "$OUT-implicit.json" <<'PY'
import json, re, sys
ours = float(re.search(r"total\s+([0-9.]+) s", open(sys.argv[1]).read()).group(1))
imp = json.load(open(sys.argv[2]))
print()
print("| system | grid + train + evaluate (s) | speed-up of alsflow |")
print("|---|---:|---:|")
print(f"| alsflow (measured) | {ours:.1f} | |")
for key, name in [("extrapolated_mean_seconds", "mean x 1152"),
                  ("extrapolated_linear_seconds", "linear model")]:
    print(f"| implicit {imp['version']} ({name}, from {imp['sample_seconds']:.1f} s for "
          f"{len(imp['sampled'])} fits) | {imp[key]:.1f} | {imp[key] / ours:.1f}x |")
print(f"| implicit, whole grid measured in ../shared/bench/RESULTS.md | 266.0 | {266.0 / ours:.1f}x |")
PY
