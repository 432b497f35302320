#!/usr/bin/env bash
# `make bench-spark`: the Spark backend on the common protocol's ml-100k split
# (pipelines/bench-ml-100k.toml, rank 64, 15 iterations, reg_param 0.1, alpha 40 with
# Spark's conventions), three ways:
#   1. train on Spark with master local[2]; our evaluate's metrics, and protocol.py's
#      on the exported factors (they must agree to 1e-6);
#   2. the same on a standalone cluster started here on loopback (a master and two
#      workers, 1 core and 1 GB each), compared with 1.;
#   3. tune on Spark: a 4-point x 3-fold grid in one application, then a fully cached
#      rerun, and what `status` says when num_blocks or the master URL change.
# Needs the data home with splits/ml-100k (ALSFLOW_DATA, else ../shared/data), Java 17,
# and `make spark-env`; protocol.py (../shared/bench) needs pandas and scipy, which
# this script adds to spark/.venv.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${ALSFLOW_BIN:-$ROOT/target/release/alsflow}
VENV=$ROOT/spark/.venv
PROTOCOL=${PROTOCOL:-$ROOT/../shared/bench/protocol.py}
DATA=${ALSFLOW_DATA:-$ROOT/../shared/data}
SPLIT=$DATA/splits/ml-100k
[ -d "$SPLIT" ] || { echo "bench-spark: $SPLIT not found (set ALSFLOW_DATA)"; exit 3; }
[ -x "$VENV/bin/spark-submit" ] || { echo "bench-spark: run make spark-env first"; exit 1; }
"$VENV/bin/python" -c "import pandas, scipy" 2>/dev/null || "$VENV/bin/pip" install -q pandas scipy

WORK=$(mktemp -d /tmp/alsflow-bench-spark.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
export SPARK_LOCAL_IP=127.0.0.1 ALSFLOW_DATA=$DATA

SPARK_SETS=(
  --set tune.enabled=false
  --set train.backend=spark
  --set train.reg_scaling=per_interaction --set train.solver=cholesky --set train.nonnegative=true
  --set "spark.submit=\"$VENV/bin/spark-submit\""
  --set "spark.conf.\"spark.driver.memory\"=\"4g\""
  --set "spark.conf.\"spark.sql.shuffle.partitions\"=8"
)

# Run the pipeline on store $1 with master $2; print the train outputs' ids.
run_pipeline() {
  local store=$1 master=$2
  shift 2
  /usr/bin/time -f "%e s wall" "$BIN" --store "$store" --config pipelines/bench-ml-100k.toml run --json \
    "${SPARK_SETS[@]}" --set "spark.master=\"$master\"" "$@" >"$store.json"
}

# Our metrics, and protocol.py's on the factors of store $1, side by side.
check_protocol() {
  local store=$1
  local uf if
  uf=$(grep '"stage":"train"' "$store.json" | sed 's/.*"user_factors":"\([0-9a-f]*\)".*/\1/')
  if=$(grep '"stage":"train"' "$store.json" | sed 's/.*"item_factors":"\([0-9a-f]*\)".*/\1/')
  "$BIN" --store "$store" export "$uf" --out "$store.U.json" >/dev/null
  "$BIN" --store "$store" export "$if" --out "$store.V.json" >/dev/null
  "$BIN" --store "$store" metrics --json >"$store.metrics.json"
  "$VENV/bin/python" - "$store" "$SPLIT" "$PROTOCOL" <<'EOF'
import json, subprocess, sys
store, split, protocol = sys.argv[1:4]
def to_tsv(side, ids_file):
    index = {}
    for line in open(f"{split}/{ids_file}"):
        idx, raw = line.rstrip("\n").split("\t")
        index[raw] = int(idx)
    rows = json.load(open(f"{store}.{side}.json"))
    with open(f"{store}.{side}.tsv", "w") as out:
        for r in rows:
            out.write("\t".join([str(index[r["raw_id"]])] + [repr(float(v)) for v in r["factors"]]) + "\n")
to_tsv("U", "users.tsv")
to_tsv("V", "items.tsv")
theirs = json.loads(subprocess.run(
    [sys.executable, protocol, "eval", "--split", split,
     "--user-factors", f"{store}.U.tsv", "--item-factors", f"{store}.V.tsv"],
    check=True, capture_output=True, text=True).stdout)
ours = json.load(open(f"{store}.metrics.json"))["ml-100k"]["model"]
worst = 0.0
for key in ["roem", "precision@10", "recall@10", "map@10", "ndcg@10", "auc"]:
    d = abs(ours[key] - theirs[key])
    worst = max(worst, d)
    print(f"  {key:13s} alsflow {ours[key]:.6f}  protocol.py {theirs[key]:.6f}  |diff| {d:.1e}")
print(f"  largest difference {worst:.1e} ({'within' if worst <= 1e-6 else 'NOT within'} 1e-6)")
EOF
}

echo "== 1. train on Spark, master local[2]"
run_pipeline "$WORK/local" "local[2]"
check_protocol "$WORK/local"

echo "== 2. the same on a loopback standalone cluster (master + 2 workers, 1 core / 1 GB each)"
port=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export PYSPARK_PYTHON=$VENV/bin/python
"$VENV/bin/spark-class" org.apache.spark.deploy.master.Master --host 127.0.0.1 --port "$port" --webui-port 0 >"$WORK/master.log" 2>&1 &
PIDS+=($!)
until grep -q "I have been elected leader" "$WORK/master.log"; do sleep 0.5; done
for w in 1 2; do
  "$VENV/bin/spark-class" org.apache.spark.deploy.worker.Worker --host 127.0.0.1 --cores 1 --memory 1g \
    --webui-port 0 --work-dir "$WORK/worker$w" "spark://127.0.0.1:$port" >"$WORK/worker$w.log" 2>&1 &
  PIDS+=($!)
done
for w in 1 2; do until grep -q "Successfully registered with master" "$WORK/worker$w.log"; do sleep 0.5; done; done
run_pipeline "$WORK/cluster" "spark://127.0.0.1:$port" --set "spark.conf.\"spark.executor.memory\"=\"768m\""
check_protocol "$WORK/cluster"
for side in user_factors item_factors; do
  a=$(grep '"stage":"train"' "$WORK/local.json" | sed "s/.*\"$side\":\"\([0-9a-f]*\)\".*/\1/")
  b=$(grep '"stage":"train"' "$WORK/cluster.json" | sed "s/.*\"$side\":\"\([0-9a-f]*\)\".*/\1/")
  echo "  $side: local ${a:0:12}, cluster ${b:0:12} ($([ "$a" = "$b" ] && echo identical bits || echo different bits))"
done
"$VENV/bin/python" - "$WORK/local.metrics.json" "$WORK/cluster.metrics.json" <<'EOF'
import json, sys
a, b = (json.load(open(p))["ml-100k"]["model"] for p in sys.argv[1:3])
worst = max(abs(a[k] - b[k]) for k in ["roem", "precision@10", "recall@10", "map@10", "ndcg@10", "auc"])
print(f"  local vs cluster: ROEM {a['roem']:.6f} vs {b['roem']:.6f}; largest metric difference {worst:.1e}")
EOF

echo "== 3. tune on Spark: 4 points x 3 folds in one application"
TUNE_SETS=(--set tune.enabled=true --set tune.backend=spark --set split.folds=3
  --set "tune.grid={ rank = [10, 20], reg_param = [0.05, 0.1] }")
run_pipeline "$WORK/tune" "local[2]" "${TUNE_SETS[@]}"
grep -o '"stage":"[a-z]*","status":"[a-z]*"' "$WORK/tune.json" | tr '\n' ' '; echo
echo "  second run:"
run_pipeline "$WORK/tune" "local[2]" "${TUNE_SETS[@]}"
grep -o '"stage":"[a-z]*","status":"[a-z]*"' "$WORK/tune.json" | tr '\n' ' '; echo
for change in "spark.num_blocks=5" "spark.master=\"spark://127.0.0.1:$port\""; do
  echo "  status with --set $change:"
  "$BIN" --store "$WORK/tune" --config pipelines/bench-ml-100k.toml status "${SPARK_SETS[@]}" \
    --set "spark.master=\"local[2]\"" "${TUNE_SETS[@]}" --set "$change" | sed 's/^/    /'
done
