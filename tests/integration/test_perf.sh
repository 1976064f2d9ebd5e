#!/usr/bin/env bash
# `parley perf` against parley-perf-server: both concurrency levels measured, no errors,
# CSV written; several request files sent in turn; a bad argument is refused. Usage: test_perf.sh <build dir>
set -u
BUILD=$1
T=$(mktemp -d /tmp/pl_perf_test_XXXXXX)
SRV=
cleanup() { [[ -n "$SRV" ]] && kill -TERM "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "FAIL: $*"; cat "$T"/* 2>/dev/null; exit 1; }

"$BUILD/clients/parley-perf-server" > "$T/srv.out" & SRV=$!
for _ in $(seq 600); do grep -q port= "$T/srv.out" && break; sleep 0.05; done  # up to 30 s on a loaded box
PORT=$(sed -n 's/.*port=\([0-9]*\).*/\1/p' "$T/srv.out")
[[ -n "$PORT" ]] || fail "perf server did not start"
"$BUILD/clients/parley" perf --target "127.0.0.1:$PORT" --concurrency 1,4 --duration 0.5 \
  --warmup 0.2 --label t --csv "$T/out.csv" > "$T/perf.out" || fail "parley perf failed"
cat "$T/perf.out"
[[ $(wc -l < "$T/out.csv") -eq 3 ]] || fail "CSV should have a header and 2 rows"
awk -F, 'NR>1 && ($4 <= 0 || $5 != 0 || $7 <= 0) {bad=1} END {exit bad}' "$T/out.csv" \
  || fail "a level has no requests, errors, or no latency"
awk -F, 'NR==2 && $3 != 1 {bad=1} NR==3 && $3 != 4 {bad=1} END {exit bad}' "$T/out.csv" \
  || fail "concurrency column"
# several --request-file: sent in turn (two TextTransformRequests of 7 and 5 bytes)
printf '\x0a\x05hello' > "$T/a.bin"; printf '\x0a\x03bye' > "$T/b.bin"
"$BUILD/clients/parley" perf --target "127.0.0.1:$PORT" --concurrency 2 --duration 0.3 --warmup 0.1 \
  --request-file "$T/a.bin" --request-file "$T/b.bin" --csv "$T/two.csv" > "$T/two.out" \
  || fail "parley perf with two request files failed"
grep -q "request 6 bytes on average, in turn" "$T/two.out" || fail "two request files not both read"
awk -F, 'NR==2 && ($4 <= 0 || $5 != 0) {bad=1} END {exit bad}' "$T/two.csv" \
  || fail "two request files: no requests or errors"
"$BUILD/clients/parley" perf --target "127.0.0.1:$PORT" --duration 0.2 \
  $(for _ in $(seq 257); do printf -- '--request-file %s ' "$T/a.bin"; done) > "$T/many.out" 2>&1 \
  && fail "257 request files accepted"
grep -q "more than 256" "$T/many.out" || fail "257 request files: no message"
"$BUILD/clients/parley" perf --target "127.0.0.1:$PORT" --concurrency 0 --duration 0.2 > /dev/null 2>&1 \
  && fail "--concurrency 0 accepted"
"$BUILD/clients/parley" perf --rpc no_such_rpc > /dev/null 2>&1 && fail "unknown rpc accepted"
kill -TERM "$SRV"; wait "$SRV"; rc=$?; SRV=
[[ $rc -eq 0 ]] || fail "perf server exit $rc on SIGTERM"
echo PASS
