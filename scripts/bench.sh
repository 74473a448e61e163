#!/usr/bin/env bash
# make bench: build the module, set up the peer pipeline's virtualenv (benches/diy_pipeline.py),
# run the benchmark (benches/cdc.rs); results are printed and written to benches/RESULTS.md.
#   MODE=catchup (default) | live | snapshot | mirror | cluster | all ; BENCH_TXNS, BENCH_ROWS_PER_TXN,
#   BENCH_RUNS, BENCH_RATE, BENCH_SECONDS, BENCH_ROWS (snapshot), BENCH_FSYNC, BENCH_PERF, BENCH_PERF_VARIANT (mirror: 0, 1, 2),
#   BENCH_MODULE_ARGS (more module arguments, e.g. "mask-columns bench.items.name mask-salt s"),
#   BENCH_CLUSTER_REPLICAS (cluster: replicas per primary, default 0).
#   A small run: BENCH_TXNS=30 BENCH_RUNS=1 make bench MODE=cluster
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
venv=.tmp/bench-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q mysql-replication redis
fi
BENCH_PYTHON="$(pwd)/$venv/bin/python" BENCH_MODE="${MODE:-catchup}" cargo bench --bench cdc
