#!/usr/bin/env bash
# Measures what the SDK costs over hand-written net/http, and the bulk
# engine's figures. Prints one table; takes about 3 minutes.
#
#   bash scripts/bench.sh            # 6 interleaved rounds
#   ROUNDS=10 bash scripts/bench.sh
#
# The last section (about 75 more seconds) runs scripts/ratebench: the
# adaptive rate against fixed rates on a fake that throttles (README,
# "Adaptive rate"); run it alone with `go run ./scripts/ratebench`.
#
# Each round runs every benchmark once, the raw baseline and the SDK back
# to back for each case, raw first in odd rounds and the SDK first in even
# ones, so machine noise and ordering hit both alike; the ratios are
# medians of the per-round ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(go env GOPATH)/bin:$PATH"
rounds=${ROUNDS:-6}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

command -v benchstat >/dev/null || go install golang.org/x/perf/cmd/benchstat@latest

echo "== $rounds interleaved rounds of the client benchmarks" >&2
for i in $(seq "$rounds"); do
  order=raw-first; [ $((i % 2)) -eq 0 ] && order=sdk-first
  BLUESHIFT_BENCH_ORDER=$order go test -run '^$' -bench 'BenchmarkStartTracking|BenchmarkErrorPath' -benchmem -count 1 -benchtime 1s . \
    | tee -a "$out/client.txt" | grep -c '^Benchmark' | sed "s/^/round $i: benchmarks: /" >&2
done

echo
echo "## SDK vs raw net/http (benchstat, $rounds rounds)"
benchstat -col /impl "$out/client.txt"

echo
echo "## Medians of per-round ratios (sdk / raw)"
printf "%-52s %9s %10s %10s %12s %12s\n" "benchmark" "ns ratio" "raw B/op" "sdk B/op" "raw allocs" "sdk allocs"
awk '
  /^Benchmark/ {
    name = $1; sub(/-[0-9]+$/, "", name)
    impl = name; sub(/.*impl=/, "", impl); key = name; sub(/\/impl=.*/, "", key)
    n[key, impl]++
    for (f = 3; f < NF; f++) {
      if ($(f+1) == "ns/op")     ns[key, impl, n[key, impl]] = $f
      if ($(f+1) == "B/op")      by[key, impl, n[key, impl]] = $f
      if ($(f+1) == "allocs/op") al[key, impl, n[key, impl]] = $f
    }
    keys[key] = 1
  }
  function median(a, cnt,   i, j, t) {
    for (i = 1; i <= cnt; i++) for (j = i + 1; j <= cnt; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return cnt % 2 ? a[(cnt + 1) / 2] : (a[cnt / 2] + a[cnt / 2 + 1]) / 2
  }
  END {
    for (key in keys) {
      cnt = n[key, "sdk"]; delete r
      for (i = 1; i <= cnt; i++) r[i] = ns[key, "sdk", i] / ns[key, "raw", i]
      printf "%-52s %8.3fx %10d %10d %12d %12d\n", key, median(r, cnt), by[key, "raw", 1], by[key, "sdk", 1], al[key, "raw", 1], al[key, "sdk", 1]
    }
  }' "$out/client.txt" | sort

echo
echo "## Bulk engine (cmd/blueshift against the in-process fake)"
go test -run '^$' -bench 'BenchmarkBulk' -benchtime 1x ./cmd/blueshift | grep '^Benchmark'

echo
echo "## Peak memory of a 1,000,000-record CSV run (fake in another process)"
go build -o "$out/blueshift" ./cmd/blueshift
awk 'BEGIN { print "email,customer_id"; for (i = 0; i < 1000000; i++) printf "user%d@example.com,C%d\n", i, i }' > "$out/big.csv"
port=$((20000 + RANDOM % 20000))
"$out/blueshift" fake-server --listen "127.0.0.1:$port" > /dev/null &
fake=$!
sleep 0.5
BLUESHIFT_API_KEY=test-api-key /usr/bin/time -v "$out/blueshift" start-tracking --base-url "http://127.0.0.1:$port" \
  --file "$out/big.csv" --rate 100000 --concurrency 32 --progress-every 1h 2> "$out/time.txt" || true
kill "$fake"
grep 'summary' "$out/time.txt"
grep 'Maximum resident set size' "$out/time.txt" | awk '{ printf "peak RSS: %.1f MiB\n", $NF / 1024 }'

echo
echo "## Adaptive rate vs fixed rates against a throttling fake (scripts/ratebench, ~75 s)"
go run ./scripts/ratebench
