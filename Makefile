# make bench: the engine's benchmark figures on a generated 1M-row file
# (BENCH_ROWS=... to change it): a bare encoding/csv read, Validate (every
# rule and the duplicate check) and Decode, on one core and on all cores,
# then Validate's throughput as a share of the bare read.
BENCH_ROWS ?= 1000000

.PHONY: bench
bench:
	TXPIPE_BENCH_ROWS=$(BENCH_ROWS) go test ./csvschema -run '^$$' -bench . -benchtime 3x -count 1 -cpu 1,$$(nproc) | tee /tmp/txpipe-bench.txt
	@awk '/^Benchmark/ { for (i = 3; i < NF; i++) if ($$(i+1) == "rows/s") r[$$1] = $$i } \
	END { bare = r["BenchmarkBareCSV"]; if (!bare) exit 1; \
	  for (n in r) if (n ~ /Validate/) printf "%s: %.0f%% of the bare encoding/csv read on one core\n", n, 100 * r[n] / bare }' /tmp/txpipe-bench.txt
