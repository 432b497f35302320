#!/usr/bin/env bash
# Load benchmark of `alsflow serve` (make bench-serve): builds ML-20M-shaped (138,493
# users x 26,744 items) and MSD-shaped (384,546 items) models at 64 factors with the
# pipeline on synthetic files, starts the server on loopback, drives it with wrk
# (keep-alive connections, bounded in time), reloads a model under load counting
# failed responses, and times the Python `implicit` library's in-process
# `model.recommend(...)` on the same files in the same run.
#
#   make bench-serve
#   DURATION=20 SHAPES="ml20m" make bench-serve
#
# Loopback only; every wrk run stops after DURATION seconds. Results: a Markdown
# table on stdout and in benches/results/serve-<time>.md (copy it into the README).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
SHAPES=${SHAPES:-"ml20m msd"}
WORK=benches/data/serve
OUT=benches/results/serve-$(date -u +%Y%m%dT%H%M%SZ).md
mkdir -p benches/data benches/results "$WORK"

if ! command -v wrk >/dev/null; then
  echo "== installing wrk (Debian package)"
  apt-get install -y -q wrk >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q wrk; }
fi
source benches/venv.sh

echo "== building alsflow (release)"
cargo build --release -q -p alsflow --bin alsflow --example synth_tsv
BIN=$PWD/target/release/alsflow
SERVER_PID=""
cleanup() { if [ -n "$SERVER_PID" ]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi; }
trap cleanup EXIT

ROWS=()
row() { ROWS+=("$1"); echo "   $1"; }

# wrk's summary -> "requests/s p50 p99 non2xx errors"
wrk_summary() {
  python3 - "$1" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(label):
    m = re.search(r"^\s*%s%%\s+([\d.]+)(us|ms|s)\s*$" % label, t, re.M)
    if not m: return float("nan")
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
non2xx = int((re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t) or [0, 0])[1])
errs = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", t))
print(f"{rps:.0f} {ms('50'):.3f} {ms('99'):.3f} {non2xx} {errs}")
PY
}

# run_wrk LABEL CONNECTIONS SCRIPT IDS_FILE DURATION -> one table row
run_wrk() {
  local label=$1 conns=$2 script=$3 ids=$4 dur=$5 log="$WORK/wrk-$RANDOM.txt"
  IDS_FILE=$ids DATASET=$DATASET wrk -t1 -c"$conns" -d"${dur}s" --latency -s "$script" "http://$ADDR" >"$log"
  read -r rps p50 p99 non2xx errs < <(wrk_summary "$log")
  row "| $SHAPE | $label | $conns | $rps | $p50 | $p99 | $non2xx | $errs |"
}

start_server() {
  : >"$WORK/serve.log"
  "$BIN" --store "$STORE" serve --addr 127.0.0.1:0 --poll-interval 1 2>"$WORK/serve.log" &
  SERVER_PID=$!
  for _ in $(seq 1 600); do
    ADDR=$(grep -o 'listening on http://[0-9.:]*' "$WORK/serve.log" | head -1 | sed 's#.*http://##' || true)
    [ -n "$ADDR" ] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.log"; exit 1; }
    sleep 0.5
  done
  echo "the server did not start"; exit 1
}

served_model() { curl -s "http://$ADDR/healthz" | python3 -c "import json,sys; print(json.load(sys.stdin)['models']['$DATASET'])"; }

for SHAPE in $SHAPES; do
  case $SHAPE in
    ml20m) TSV=benches/data/ml20m-synth.tsv; GEN_ARGS=() ;;
    msd) TSV=benches/data/msd-shaped-synth.tsv; GEN_ARGS=(--users 300000 --items 384546 --interactions 12000000) ;;
    *) echo "unknown shape $SHAPE (ml20m, msd)"; exit 1 ;;
  esac
  DATASET=$SHAPE
  STORE=$PWD/$WORK/store-$SHAPE
  if [ ! -s "$TSV" ]; then
    echo "== generating $TSV"
    target/release/examples/synth_tsv "$TSV" "${GEN_ARGS[@]}"
  fi
  cat >"$WORK/pipeline-$SHAPE.toml" <<TOML
[[dataset]]
name = "$SHAPE"
path = "$PWD/$TSV"
format = "delimited"
delimiter = "\t"
header = false
columns = { user = 0, item = 1, value = 2 }
feedback = "count"

[split]
method = "random"
test_fraction = 0.1
folds = 2

[train]
rank = 64
max_iter = 2
solver = "cg"
threads = 2

[tune]
enabled = false
TOML
  echo "== $SHAPE: training a 64-factor model with the pipeline"
  "$BIN" --store "$STORE" --config "$WORK/pipeline-$SHAPE.toml" run train --json >"$WORK/run-$SHAPE.jsonl"
  read -r USERS_ID ITEMS_ID < <(python3 -c "
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r['stage'] == 'preprocess': print(r['outputs']['users'], r['outputs']['items'])
" "$WORK/run-$SHAPE.jsonl")
  "$BIN" --store "$STORE" export "$USERS_ID" --out "$WORK/users-$SHAPE.csv" 2>/dev/null
  "$BIN" --store "$STORE" export "$ITEMS_ID" --out "$WORK/items-$SHAPE.csv" 2>/dev/null
  tail -n +2 "$WORK/users-$SHAPE.csv" | cut -d, -f2 >"$WORK/user-ids-$SHAPE.txt"
  tail -n +2 "$WORK/items-$SHAPE.csv" | cut -d, -f2 >"$WORK/item-ids-$SHAPE.txt"
  echo "   $(wc -l <"$WORK/user-ids-$SHAPE.txt") users, $(wc -l <"$WORK/item-ids-$SHAPE.txt") items"

  start_server
  echo "== $SHAPE: serving on $ADDR; wrk, ${DURATION} s per run"
  U=$WORK/user-ids-$SHAPE.txt
  I=$WORK/item-ids-$SHAPE.txt
  run_wrk "warm-up" 8 benches/serve/user.lua "$U" 2 >/dev/null
  if [ "$SHAPE" = ml20m ]; then
    run_wrk "known user, top 10" 32 benches/serve/user.lua "$U" "$DURATION"
    run_wrk "known user, top 10" 1 benches/serve/user.lua "$U" "$DURATION"
    run_wrk "fold-in, 100-item history" 8 benches/serve/foldin.lua "$I" "$DURATION"
    # A reload under load: a new train run (changed alpha) lands while wrk runs.
    BEFORE=$(served_model)
    RELOAD_LOG=$WORK/wrk-reload.txt
    IDS_FILE=$U DATASET=$DATASET wrk -t1 -c8 -d"$((DURATION * 4))s" --latency -s benches/serve/user.lua "http://$ADDR" >"$RELOAD_LOG" &
    WRK_PID=$!
    sleep 2
    "$BIN" --store "$STORE" --config "$WORK/pipeline-$SHAPE.toml" run train --set train.alpha=20 --json >/dev/null 2>&1
    for _ in $(seq 1 240); do [ "$(served_model)" != "$BEFORE" ] && break; sleep 0.25; done
    AFTER=$(served_model)
    wait "$WRK_PID"
    read -r rps p50 p99 non2xx errs < <(wrk_summary "$RELOAD_LOG")
    SWAPPED=$([ "$AFTER" != "$BEFORE" ] && echo "swapped ${BEFORE:0:12} → ${AFTER:0:12}" || echo "NOT swapped")
    row "| $SHAPE | known user, top 10, reload under load ($SWAPPED) | 8 | $rps | $p50 | $p99 | $non2xx | $errs |"
  else
    run_wrk "known user, top 10" 8 benches/serve/user.lua "$U" "$DURATION"
    run_wrk "known user, top 10" 1 benches/serve/user.lua "$U" "$DURATION"
  fi
  cleanup; SERVER_PID=""

  echo "== $SHAPE: implicit's in-process model.recommend(...)"
  CALLS=$([ "$SHAPE" = ml20m ] && echo 2000 || echo 300)
  J=$(OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 benches/.venv/bin/python benches/implicit_recommend.py "$TSV" --calls "$CALLS" --label "$SHAPE")
  read -r ip50 ip99 irate < <(python3 -c "import json,sys; j=json.loads(sys.argv[1]); print(j['p50_ms'], j['p99_ms'], j['calls_per_s_one_thread'])" "$J")
  row "| $SHAPE | implicit model.recommend, in process, one thread | – | $irate | $ip50 | $ip99 | – | – |"
done

{
  echo "| shape | what | connections | requests/s | p50 ms | p99 ms | non-2xx | socket errors |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
} | tee "$OUT"
echo "results: $OUT"
