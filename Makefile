# alsflow — the commands a user and CI run. `make help` lists them.
SHELL := /bin/bash
CARGO ?= cargo
BIN := target/release/alsflow

# The data home: $ALSFLOW_DATA, else ./data, else a read-only data folder beside the
# checkout (../shared/data) when one is there.
ifeq ($(origin ALSFLOW_DATA), undefined)
  ifneq ($(wildcard data),)
    ALSFLOW_DATA := $(abspath data)
  else ifneq ($(wildcard ../shared/data),)
    ALSFLOW_DATA := $(abspath ../shared/data)
  else
    ALSFLOW_DATA := $(abspath data)
  endif
endif
export ALSFLOW_DATA

.PHONY: help build pipeline test lint bench bench-compare bench-grid-compare bench-search bench-serve bench-eval bench-scale bench-spark spark-env report report-check clean-store

help:
	@echo "make pipeline       full reproducible run of pipeline.toml (falls back to pipelines/synthetic.toml offline)"
	@echo "make test           every test (what CI runs)"
	@echo "make lint           rustfmt check + clippy -D warnings"
	@echo "make bench          Rust benchmarks (criterion and harness-less benches)"
	@echo "make bench-compare  ALS speed against the Python 'implicit' library (installs it in a virtualenv)"
	@echo "make bench-grid-compare  the ml-100k 192-point grid against 'implicit' (sampled and extrapolated)"
	@echo "make bench-search   tune.search grid / halving / extend on ml-100k and msd (whole runs, fresh stores)"
	@echo "make bench-serve    alsflow serve under load (wrk, loopback) beside implicit's in-process recommend"
	@echo "make bench-eval     evaluation at scale (exact, sampled, recommend --all) against 'implicit' on the ML-20M-shaped file"
	@echo "make bench-scale    the whole pipeline on ML-20M- and MSD-shaped files (generated when absent): stage times, peak RSS"
	@echo "make report         write the HTML report of the latest run to ./report"
	@echo "make report-check   render the report in headless Chromium and check its images load"
	@echo "make spark-env      a virtualenv with the pinned PySpark in spark/.venv (the Spark backend's tests use it)"
	@echo "make bench-spark    the Spark backend on the ml-100k protocol split: local and a loopback cluster, checked with protocol.py"

build:
	$(CARGO) build --release -p alsflow

# Exit code 3 from `alsflow run` means "the data is not available here and could not be
# downloaded"; only then does `make pipeline` switch to the offline synthetic pipeline.
pipeline: build
	@echo "data home: $$ALSFLOW_DATA"
	@set +e; $(BIN) run --config pipeline.toml; rc=$$?; set -e; \
	if [ $$rc -eq 3 ]; then \
	  echo "make pipeline: the datasets of pipeline.toml are not in the data home ($$ALSFLOW_DATA) and cannot be downloaded (offline?)."; \
	  echo "make pipeline: running the offline synthetic pipeline (pipelines/synthetic.toml) instead."; \
	  $(BIN) run --config pipelines/synthetic.toml; \
	elif [ $$rc -ne 0 ]; then exit $$rc; fi

# The end-to-end tests (top-level tests/, run as the CLI package's tests) use the binary
# cargo builds for them. The last line tests an optional feature of the ALS crate
# (nalgebra-sparse input), off in the default build.
test:
	$(CARGO) test --workspace
	$(CARGO) test -p alsflow-als --features nalgebra-sparse --test from_csr

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench:
	$(CARGO) bench --workspace
	$(CARGO) bench -p alsflow-als --features compare-dense --bench dense_kernels

bench-compare:
	bash benches/compare.sh

bench-grid-compare:
	bash benches/grid_compare.sh

bench-search:
	bash benches/search.sh

bench-serve:
	bash benches/serve_bench.sh

bench-eval:
	bash benches/eval_compare.sh

bench-scale:
	bash benches/scale.sh

report: build
	$(BIN) report --out report

report-check: report
	bash benches/report_check.sh report

# The Spark backend (`backend = "spark"`): PySpark from PyPI, pinned in
# spark/requirements.txt, in spark/.venv. `make test` runs the Spark tests when it is
# there (and Java is), else they skip with a message.
spark-env:
	bash spark/env.sh

bench-spark: build spark-env
	bash benches/spark_ml100k.sh
