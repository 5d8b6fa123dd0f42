#!/usr/bin/env bash
# Makes a fixture data dir with an old txpipe binary: serve on a new data
# dir, upload a.csv, then b.csv (3 rows of a again, 2 of them changed, 2 new),
# then bad.csv (rejected), wait for each run, save what the old server
# answered (status of each file, every transaction) as expected.json, and
# stop it gracefully (each SQLite file checkpointed into one file).
#   gen.sh OLD_TXPIPE_BINARY OUT_DIR
set -euo pipefail
bin=$1 out=$2 here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$out" && mkdir -p "$out"
log=$(mktemp)
"$bin" serve --addr 127.0.0.1:0 --data-dir "$out/data" >"$log" 2>"$log.err" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 200); do grep -q listening "$log" && break; sleep 0.1; done
url=$(grep -o 'http://[^ ]*' "$log" | head -1)
key=$(grep -o 'shown only once): [^ ]*' "$log" | awk '{print $4}')
ids=()
for f in a.csv b.csv bad.csv; do
	id=$(curl -sf -H "x-api-key: $key" -H 'Content-Type: text/csv' --data-binary @"$here/$f" "$url/upload?filename=$f" -o /dev/stdout -w '' 2>/dev/null \
		|| curl -s -H "x-api-key: $key" -H 'Content-Type: text/csv' --data-binary @"$here/$f" "$url/upload?filename=$f")
	id=$(printf '%s' "$id" | sed -n 's/.*"file_id": *"\([^"]*\)".*/\1/p')
	for _ in $(seq 300); do
		st=$(curl -s -H "x-api-key: $key" "$url/status/$id")
		case "$st" in *'"COMPLETED"'*|*'"REJECTED"'*|*'"FAILED"'*) break ;; esac
		sleep 0.1
	done
	ids+=("$id")
done
{
	echo '{"statuses": ['
	sep=
	for id in "${ids[@]}"; do printf '%s' "$sep"; curl -s -H "x-api-key: $key" "$url/status/$id"; sep=,; done
	echo '], "transactions":'
	curl -s -H "x-api-key: $key" "$url/transactions?from=1970-01-01T00:00:00Z&to=3000-01-01T00:00:00Z&limit=1000"
	echo '}'
} >"$out/expected.json"
kill -TERM $pid
wait $pid || true
trap - EXIT
rm -rf "$out/data/spool"
rm -f "$log" "$log.err"
