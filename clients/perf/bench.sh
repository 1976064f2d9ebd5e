#!/usr/bin/env bash
# Gateway overhead benchmark: PunctuateText round trip
#   client -> parley-gateway -> NATS -> echo worker -> back
# against the same RPC answered directly by parley-perf-server (no NATS hop), in one run,
# at each concurrency level, and, at concurrency 1, the bare cnats request/reply round trip
# between two processes (parley-nats-rtt: no Parley code) on the same nats-server. Prints the
# tables, the ratio, the added microseconds and the share of them above the bare round trip.
# Usage: clients/perf/bench.sh [build dir] [duration s] [concurrency list]
# PROFILE=1 (environment): then, per concurrency level, one more gateway run that prints the CPU
# time per call of the gateway, the echo worker and nats-server (/proc/PID/stat utime+stime) and
# the gateway's and the worker's thread sleeps per call (voluntary context switches of all their
# threads: each is a wake-up later; steadier than the times on a loaded machine).
# WORKER_FLAGS (environment): more flags for the echo worker, e.g. "--inline-max-us -1" (every
# request through its handler queue; tests/support/README.md).
set -u
BUILD=${1:-build}
DUR=${2:-5}
CONC=${3:-1,64}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/pl_bench_XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for _ in $(seq 30); do
    alive=0; for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [[ $alive -eq 0 ]] && break; sleep 0.1
  done
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
read -r NP < <($PY -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
NATS=$(command -v nats-server || echo /usr/sbin/nats-server)
"$NATS" -a 127.0.0.1 -p "$NP" -l "$T/nats.log" & PIDS+=($!)
NPID=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$NP") 2>/dev/null && break; sleep 0.05; done
"$BUILD/tests/pl_echo_worker" --nats "nats://127.0.0.1:$NP" --service nlu --threads 2 --queue 1024 \
  --ready-file "$T/ready" --log-level warn ${WORKER_FLAGS:-} 2> "$T/worker.log" & PIDS+=($!)
WPID=$!
PARLEY_GATEWAY_LOG_LEVEL=warn "$BUILD/services/gateway/parley-gateway" --listen 127.0.0.1:0 \
  --http 127.0.0.1:0 --nats "nats://127.0.0.1:$NP" > "$T/gw.out" 2> "$T/gw.log" & PIDS+=($!)
GPID=$!
"$BUILD/clients/parley-perf-server" > "$T/direct.out" & PIDS+=($!)
"$BUILD/clients/parley-nats-rtt" --serve --nats "nats://127.0.0.1:$NP" > "$T/rtt.out" & PIDS+=($!)
for _ in $(seq 100); do
  [[ -s "$T/ready" ]] && grep -q serving "$T/rtt.out" && grep -q grpc_port "$T/gw.out" && grep -q port= "$T/direct.out" && break
  sleep 0.05
done
GP=$(sed -n 's/.*grpc_port=\([0-9]*\).*/\1/p' "$T/gw.out")
DP=$(sed -n 's/.*port=\([0-9]*\).*/\1/p' "$T/direct.out")
[[ -n "$GP" && -n "$DP" ]] || { echo "bench: servers did not start"; exit 1; }
echo "# $(date -u +%FT%TZ) $(nproc) CPUs; duration ${DUR}s per level; request: PunctuateText, 1 short text"
"$BUILD/clients/parley" perf --target "127.0.0.1:$DP" --concurrency "$CONC" --duration "$DUR" \
  --warmup 1 --label direct --csv "$T/direct.csv" || exit 1
"$BUILD/clients/parley" perf --target "127.0.0.1:$GP" --concurrency "$CONC" --duration "$DUR" \
  --warmup 1 --label gateway --csv "$T/gateway.csv" || exit 1
RTT=$("$BUILD/clients/parley-nats-rtt" --nats "nats://127.0.0.1:$NP" --duration "$DUR" --warmup 1) || exit 1
echo
echo "bare cnats request/reply, 2 processes, c=1: $RTT"
echo "conc  direct_p50_us  gateway_p50_us  added_p50_us  p50_ratio  direct_thru/s  gateway_thru/s"
paste -d, <(tail -n +2 "$T/direct.csv") <(tail -n +2 "$T/gateway.csv") | \
  awk -F, '{printf "%4d  %13d  %14d  %12d  %9.2f  %13.0f  %14.0f\n", $3, $7, $17, $17-$7, $17/$7, $6, $16}'
NP50=$(sed -n 's/.* p50_us=\([0-9]*\).*/\1/p' <<< "$RTT")
paste -d, <(tail -n +2 "$T/direct.csv") <(tail -n +2 "$T/gateway.csv") | awk -F, -v n="$NP50" \
  '$3 == 1 {printf "c=1: the hop adds %d us p50 (p99 %d -> %d us); the bare round trip is %d us, so Parley'"'"'s forwarding and worker cost %d us above it\n", $17-$7, $9, $19, n, $17-$7-n}'
[[ "${PROFILE:-0}" == 1 ]] || exit 0
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sleeps() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ {n += $2} END {print n}'; }
HZ=$(getconf CLK_TCK)
for c in ${CONC//,/ }; do
  g0=$(ticks "$GPID"); w0=$(ticks "$WPID"); n0=$(ticks "$NPID"); gs0=$(sleeps "$GPID"); ws0=$(sleeps "$WPID")
  "$BUILD/clients/parley" perf --target "127.0.0.1:$GP" --concurrency "$c" --duration "$DUR" \
    --warmup 0 --label cpu --csv "$T/cpu.csv" > /dev/null || exit 1
  g1=$(ticks "$GPID"); w1=$(ticks "$WPID"); n1=$(ticks "$NPID"); gs1=$(sleeps "$GPID"); ws1=$(sleeps "$WPID")
  tail -n 1 "$T/cpu.csv" | awk -F, -v hz="$HZ" -v g=$((g1 - g0)) -v w=$((w1 - w0)) -v n=$((n1 - n0)) \
    -v gs=$((gs1 - gs0)) -v ws=$((ws1 - ws0)) \
    '{k = 1e6 / hz / $4; printf "CPU per call, c=%d (%d calls, p50 %d us): gateway %.0f us, echo worker %.0f us, nats-server %.0f us; thread sleeps per call: gateway %.2f, echo worker %.2f\n", $3, $4, $7, g * k, w * k, n * k, gs / $4, ws / $4}'
done
