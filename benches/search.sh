#!/usr/bin/env bash
# The search strategies on the real data, each a whole `alsflow run` in a fresh store
# (release build, nothing memoised):
#
#   make bench-search          (data home: $ALSFLOW_DATA, else ../shared/data)
#
# 1. ml-100k protocol split, the seed's grid (pipelines/bench-ml-100k.toml)
# 2. the same with search = "halving"
# 3. the same with search = "extend" (pipelines/ml-100k-extend.toml)
# 4. pipeline.toml's msd dataset: the seed's grid, then search = "extend" with
#    confidence (linear, log) as an axis
#
# For each: wall seconds of the whole run, CPU seconds, the tune summary (fits against
# the grid, best point, mean CV ROEM) and the test metrics of the chosen model.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${ALSFLOW_DATA:-../shared/data}
[ -d "$DATA/splits/ml-100k" ] || { echo "bench-search: $DATA/splits/ml-100k not found (set ALSFLOW_DATA)"; exit 1; }
DATA=$(cd "$DATA" && pwd)
cargo build -q --release -p alsflow
BIN=$(pwd)/target/release/alsflow
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# run NAME CONFIG [DATASET] [--set K=V ...]: a whole run in a fresh store.
run() {
  local name=$1 config=$2 dataset=$3
  shift 3
  local store="$WORK/$name" select=()
  [ -n "$dataset" ] && select=(--dataset "$dataset")
  # bash's own `time`: wall, user and system seconds of the run.
  local TIMEFORMAT="%R %U %S"
  { time "$BIN" --store "$store" --config "$config" --data "$DATA" run "${select[@]}" "$@" \
      2> "$WORK/$name.log" >/dev/null; } 2> "$WORK/$name.time"
  read -r wall user sys < "$WORK/$name.time"
  echo "== $name: ${wall} s wall, $(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.1f", u + s }') s CPU"
  grep -E "/tune: ran" "$WORK/$name.log" | sed 's/^.*: ran in/  tune: ran in/' | cut -c1-400
  grep -E "WARN .*tune" "$WORK/$name.log" | sed 's/^.*tune: /  warning: /' || true
  "$BIN" --store "$store" metrics --json | grep -o '"model":{[^}]*}' | sed 's/^/  test /'
}

run ml100k-grid pipelines/bench-ml-100k.toml ""
run ml100k-halving pipelines/bench-ml-100k.toml "" --set tune.search=halving
run ml100k-extend pipelines/ml-100k-extend.toml ""
run msd-grid pipeline.toml msd
run msd-extend pipeline.toml msd --set tune.search=extend --set 'tune.grid.confidence=["linear","log"]'
