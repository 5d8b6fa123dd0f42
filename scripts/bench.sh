#!/usr/bin/env bash
# scripts/bench.sh: txpipe's benchmark table from one run (docs/performance.md).
# BENCH_ROWS (default 1000000) sets the generated file's rows; BENCH_DIR
# (default /tmp) holds the file and the data dir; BENCH_REPEAT (default 3)
# runs of each read-only measurement; BENCH_QUERIES (default 200);
# BENCH_PREFILL (default 0) rows stored before the measured upload (store growth:
# files of 1M rows, each of one month before the measured file's year);
# BENCH_SMALL_FILES (default 1000) files of 100 rows uploaded by 50 clients.
#   BENCH_ROWS=100000 scripts/bench.sh      # a quick run
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${BENCH_DIR:-/tmp}
bin=$(mktemp -d "$dir/txbench-bin.XXXXXX")
trap 'rm -rf "$bin"' EXIT
CGO_ENABLED=0 go build -o "$bin/txpipe" ./cmd/txpipe
CGO_ENABLED=0 go build -o "$bin/txbench" ./internal/bench/cmd/txbench
"$bin/txbench" -txpipe "$bin/txpipe" -dir "$dir" -rows "${BENCH_ROWS:-1000000}" \
  -repeat "${BENCH_REPEAT:-3}" -queries "${BENCH_QUERIES:-200}" -prefill "${BENCH_PREFILL:-0}" \
  -small-files "${BENCH_SMALL_FILES:-1000}" ${BENCH_ARGS:-}
