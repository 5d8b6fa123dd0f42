# make bench: the benchmark table of issue 15 from one run (scripts/bench.sh,
# docs/performance.md): a bare encoding/csv read of a generated file,
# `txpipe validate` on one core and on all cores, an upload through a real
# `txpipe serve` to COMPLETED and one-day range queries p50/p99, each as
# rows/s and as a ratio to the bare read, with peak RSS. BENCH_ROWS=100000
# for a quick run.
BENCH_ROWS ?= 1000000

.PHONY: bench
bench:
	BENCH_ROWS=$(BENCH_ROWS) ./scripts/bench.sh

# make bench-engine: the engine's Go benchmarks on the same kind of file: a
# bare encoding/csv read, Validate (every rule and the duplicate check) and
# Decode, on one core and on all cores; then Validate's throughput as a share
# of the bare read on one core, by wall clock and by CPU time (the latter does
# not depend on other load).
BENCH_OUT ?= /tmp/txpipe-bench.txt

.PHONY: bench-engine
bench-engine:
	TXPIPE_BENCH_ROWS=$(BENCH_ROWS) go test ./csvschema -run '^$$' -bench . -benchtime 3x -count 1 -cpu 1,$$(nproc) | tee $(BENCH_OUT)
	@awk '/^Benchmark/ { for (i = 3; i < NF; i++) { if ($$(i+1) == "rows/s") r[$$1] = $$i; if ($$(i+1) == "rows/cpu-s") c[$$1] = $$i } } \
	END { b = r["BenchmarkBareCSV"]; bc = c["BenchmarkBareCSV"]; if (!b) exit 1; \
	  for (n in r) if (n ~ /Validate|Decode/) printf "%-22s %4.0f%% of the bare encoding/csv read on one core (wall clock), %4.0f%% per CPU second\n", n, 100 * r[n] / b, 100 * c[n] / bc }' $(BENCH_OUT) | sort

# make bench-rss: peak RSS (VmHWM) of `txpipe validate` on generated 1M- and
# 10M-row files (about 88 MB and 880 MB in $(BENCH_DIR)), with /usr/bin/time -v.
BENCH_DIR ?= /tmp

.PHONY: bench-rss
bench-rss:
	go build -o $(BENCH_DIR)/txpipe-bench ./cmd/txpipe
	for n in 1000000 10000000; do \
	  f=$(BENCH_DIR)/txpipe-rss-$$n.csv; \
	  [ -s $$f ] || go run ./internal/txgen/cmd/txgen -rows $$n -o $$f; \
	  /usr/bin/time -v $(BENCH_DIR)/txpipe-bench validate $$f 2>&1 | grep -E 'valid|Maximum resident|Elapsed'; \
	done

# make lambda-binary: the Lambda bootstrap as the image builds it (static,
# ARM64), with its size checked against the 25 MB budget.
LAMBDA_BIN ?= build/bootstrap

.PHONY: lambda-binary
lambda-binary:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -trimpath -ldflags='-s -w' -o $(LAMBDA_BIN) ./cmd/txpipe-lambda
	@stat -c %s $(LAMBDA_BIN) | awk '{ printf "$(LAMBDA_BIN): %d bytes (%.1f MB)\n", $$1, $$1 / 1e6; if ($$1 > 25e6) { print "over the 25 MB budget"; exit 1 } }'

# make image: the Lambda container image (needs Docker with BuildKit).
IMAGE ?= txpipe-lambda:latest

.PHONY: image
image:
	docker build --platform linux/arm64 -t $(IMAGE) .
