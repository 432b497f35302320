#!/usr/bin/env bash
# The scale benchmark: the whole `alsflow run` on an ML-20M-shaped and a
# Million-Song-shaped file, each stage's wall time and the process's peak RSS.
#
#   make bench-scale                         # both pipelines, every stage
#   PIPELINES="msd" make bench-scale         # one of them
#   STAGES="train" make bench-scale          # stop after train (preprocess, split, train)
#
# The data files are generated when absent, into benches/data/: the ML-20M-shaped one
# by the project's generator (synth_tsv), the MSD-shaped one (3.0 GB, a few minutes) by
# ../shared/bench/gen_msd_shaped.py in a virtualenv with numpy + pyarrow
# (benches/.venv-scale). Each pipeline runs on a fresh store (so the raw file is
# imported as a first run would), then the store is removed. Results: one JSON file per
# pipeline in benches/results/, and a Markdown table per pipeline on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
PIPELINES=${PIPELINES:-"ml20m msd"}
STAGES=${STAGES:-}
GEN=${GEN:-../shared/bench/gen_msd_shaped.py}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p benches/data benches/results

echo "== building alsflow and the generator (release)"
cargo build --release -q -p alsflow --bin alsflow --example synth_tsv

for p in $PIPELINES; do
  case $p in
    ml20m)
      data=benches/data/ml20m-synth.tsv
      if [ ! -s "$data" ]; then
        echo "== generating $data"
        target/release/examples/synth_tsv "$data"
      fi ;;
    msd)
      data=benches/data/msd-shaped.tsv
      if [ ! -s "$data" ]; then
        if [ ! -f "$GEN" ]; then
          echo "bench-scale: $GEN not found (the shared bench folder beside the checkout)" >&2
          exit 1
        fi
        if [ ! -x benches/.venv-scale/bin/python ]; then
          echo "== installing numpy and pyarrow into benches/.venv-scale"
          python3 -m venv benches/.venv-scale
          benches/.venv-scale/bin/pip install -q numpy pyarrow
        fi
        echo "== generating $data (3.0 GB, a few minutes)"
        benches/.venv-scale/bin/python "$GEN" "$data.part"
        mv "$data.part" "$data"
      fi ;;
    *) echo "bench-scale: unknown pipeline '$p' (ml20m or msd)" >&2; exit 1 ;;
  esac
  store=benches/data/store-$p
  rm -rf "$store"
  echo "== alsflow run: pipelines/scale-$p.toml ${STAGES:+(stages up to: $STAGES)}"
  # shellcheck disable=SC2086
  python3 benches/measure_run.py "scale-$p" "benches/results/scale-$p-$STAMP.json" -- \
    target/release/alsflow --store "$store" --config "pipelines/scale-$p.toml" \
    --data benches/data run --json $STAGES
  rm -rf "$store"
done
