#!/usr/bin/env bash
# Dynamic batching against max_batch_size 1, AnalyzeIntent through the gateway, in one command.
# Starts two stacks (nats-server + parley-nlu + parley-gateway each, free 127.0.0.1 ports):
# "batching" (the settings below) and "batch1" (nlu.max_batch_size 1, delay 0). Then, for each
# concurrency level, runs `parley perf` on one stack and right after on the other (the order
# alternates by level), so both see the same background load on a shared machine; an idle
# stack costs nothing. Prints both tables, the throughput ratio at the highest concurrency and
# the "same p99" comparison (what max_batch_size 1 serves at most within the p99 that batching
# shows at each level), with the load average of every level.
#
#   services/nlu/perf_nlu.sh <build dir> <model repository> [concurrency list] [seconds]
#   e.g. services/nlu/perf_nlu.sh build models              # 1,2,4,8,16,32,64 x 5 s
# Environment (each printed with the results, so a run can be repeated exactly):
#   MAX_BATCH   batching stack's nlu.max_batch_size (default: the model's config, else parley-nlu's)
#   DELAY_US    batching stack's nlu.max_queue_delay_us (default: the model's / parley-nlu's)
#   THREADS     nlu.threads, engine threads per model instance (default: parley-nlu's), both stacks
#   INSTANCES   nlu.instances, parallel forward instances per model (default: parley-nlu's), both
#   HANDLERS    nlu.handler_threads (default: parley-nlu's), both stacks
#   MODEL       the model directory to serve alone (default nlu-intent-slot-snips)
#   QUERY       the utterance (default the 12-word restaurant query)
#   QUERIES     a file of utterances, one a line (e.g. ../shared/data/nlu/snips/test/seq.in): the
#               calls send its first QUERIES_N lines (default 64) in turn, instead of QUERY, so
#               that batches mix lengths (what padding and batching by length are about)
#   WARMUP      seconds of warm-up per level (default 1)
#   PROFILE=1   then, per stack at the highest concurrency: CPU time per request of parley-nlu,
#               the gateway, nats-server and the client; and `perf record` of the batching
#               stack's parley-nlu and gateway (top symbols printed, data in OUT_DIR)
#   OUT_DIR     CSVs, logs, profiles (default a new temp dir)
set -u
BUILD=$1
MODELS=$2
CONC=${3:-1,2,4,8,16,32,64}
SECS=${4:-5}
QUERY=${QUERY:-book a table for two at an italian restaurant in boston tomorrow}
MODEL=${MODEL:-nlu-intent-slot-snips}
WARMUP=${WARMUP:-1}
OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/pl_nlu_perf_XXXXXX)}
PY=${PL_PYTHON:-/usr/bin/python3}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
trap 'exit 130' INT TERM
port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# user+system CPU seconds of each pid (0 when gone)
cpu_of() { local t; t=$(getconf CLK_TCK); for p in "$@"; do
  awk -v t="$t" '{print ($14 + $15) / t}' "/proc/$p/stat" 2>/dev/null || echo 0; done | tr '\n' ' '; }
NATS_SERVER=$(command -v nats-server || echo /usr/sbin/nats-server)
mkdir -p "$OUT_DIR"
[[ -f "$MODELS/$MODEL/config.json" ]] || { echo "no model $MODELS/$MODEL"; exit 1; }
# serve the one model alone (a repository of one link: no copy of the weights)
mkdir -p "$OUT_DIR/models"
ln -sfn "$(cd "$MODELS/$MODEL" && pwd)" "$OUT_DIR/models/$MODEL"

# the AnalyzeIntentRequest bytes: field 1 (query), length-delimited; one file per query
REQ_ARGS=()
if [[ -n "${QUERIES:-}" ]]; then
  $PY - "$QUERIES" "${QUERIES_N:-64}" "$OUT_DIR" <<'PYQ' || exit 1
import sys
qs = [l.strip() for l in open(sys.argv[1], encoding="utf-8") if 0 < len(l.strip().encode()) < 128]
for i, q in enumerate(qs[: int(sys.argv[2])]):
    b = q.encode()
    open("%s/req%03d.bin" % (sys.argv[3], i), "wb").write(bytes([0x0a, len(b)]) + b)
PYQ
  for f in "$OUT_DIR"/req[0-9][0-9][0-9].bin; do REQ_ARGS+=(--request-file "$f"); done
  QUERY="$(( ${#REQ_ARGS[@]} / 2 )) lines of $QUERIES in turn"
else
  $PY -c 'import sys; q=sys.argv[1].encode(); n=len(q); assert n < 128
sys.stdout.buffer.write(bytes([0x0a, n]) + q)' "$QUERY" > "$OUT_DIR/req.bin"
  REQ_ARGS=(--request-file "$OUT_DIR/req.bin")
fi

echo "# $(date -u +%FT%TZ) $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1);" \
     "commit $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo ?)"
echo "# settings: MAX_BATCH=${MAX_BATCH:-} DELAY_US=${DELAY_US:-} THREADS=${THREADS:-} INSTANCES=${INSTANCES:-} HANDLERS=${HANDLERS:-} (empty: parley-nlu's defaults)"
echo "# model $MODEL, query \"$QUERY\", concurrency $CONC, $SECS s each (+$WARMUP s warm-up)"

declare -A NLU_PID GW_PID NATS_PID GW_PORT
start() { # <label> <extra env...>
  local label=$1; shift
  local np gp
  np=$(port); gp=$(port)
  "$NATS_SERVER" -a 127.0.0.1 -p "$np" > "$OUT_DIR/nats-$label.log" 2>&1 & PIDS+=($!)
  NATS_PID[$label]=$!
  sleep 0.5
  env PARLEY_NLU_LOG_LEVEL=info ${THREADS:+PARLEY_NLU_THREADS=$THREADS} \
    ${HANDLERS:+PARLEY_NLU_HANDLER_THREADS=$HANDLERS} ${INSTANCES:+PARLEY_NLU_INSTANCES=$INSTANCES} \
    "$@" "$BUILD/services/nlu/parley-nlu" --nats "nats://127.0.0.1:$np" --http-port -1 \
    --model-dir "$OUT_DIR/models" > "$OUT_DIR/nlu-$label.out" 2> "$OUT_DIR/nlu-$label.log" & PIDS+=($!)
  NLU_PID[$label]=$!
  PARLEY_GATEWAY_LOG_LEVEL=warn "$BUILD/services/gateway/parley-gateway" --listen "127.0.0.1:$gp" \
    --http 127.0.0.1:0 --nats "nats://127.0.0.1:$np" > "$OUT_DIR/gw-$label.out" 2> "$OUT_DIR/gw-$label.log" & PIDS+=($!)
  GW_PID[$label]=$!
  GW_PORT[$label]=$gp
  for _ in $(seq 300); do grep -q "models=" "$OUT_DIR/nlu-$label.out" 2>/dev/null && break; sleep 0.1; done
  grep -q "models=[1-9]" "$OUT_DIR/nlu-$label.out" || { echo "parley-nlu did not start with a model"; cat "$OUT_DIR/nlu-$label.log"; exit 1; }
  for _ in $(seq 100); do grep -q "grpc_port=" "$OUT_DIR/gw-$label.out" 2>/dev/null && break; sleep 0.1; done
  echo "# $label: $(sed -n 's/.*"msg":"model \([^"]*\) loaded: \([^"]*\)".*/\1: \2/p' "$OUT_DIR/nlu-$label.log" | head -1); env: ${*:-none}"
}
perf_run() { # <label> <concurrency> <seconds> <warmup> <csv>
  "$BUILD/clients/parley-perf" --target "127.0.0.1:${GW_PORT[$1]}" --rpc analyze_intent \
    "${REQ_ARGS[@]}" --concurrency "$2" --duration "$3" --warmup "$4" --label "$1" --csv "$5"
}

start batching ${MAX_BATCH:+PARLEY_NLU_MAX_BATCH_SIZE=$MAX_BATCH} ${DELAY_US:+PARLEY_NLU_MAX_QUEUE_DELAY_US=$DELAY_US}
start batch1 PARLEY_NLU_MAX_BATCH_SIZE=1 PARLEY_NLU_MAX_QUEUE_DELAY_US=0
sleep 0.5

IFS=, read -r -a LEVELS <<< "$CONC"
i=0
for c in "${LEVELS[@]}"; do
  if (( i % 2 == 0 )); then order="batching batch1"; else order="batch1 batching"; fi
  for label in $order; do
    la=$(loadavg)
    perf_run "$label" "$c" "$SECS" "$WARMUP" "$OUT_DIR/$label-c$c.csv" > "$OUT_DIR/$label-c$c.txt" 2>&1 \
      || { echo "parley perf failed:"; cat "$OUT_DIR/$label-c$c.txt"; exit 1; }
    echo "$label,$c,$la" >> "$OUT_DIR/loadavg.csv"
  done
  i=$((i + 1))
done
for label in batching batch1; do  # one CSV per stack, the levels in order
  head -1 "$OUT_DIR/$label-c${LEVELS[0]}.csv" > "$OUT_DIR/$label.csv"
  for c in "${LEVELS[@]}"; do tail -n +2 "$OUT_DIR/$label-c$c.csv" >> "$OUT_DIR/$label.csv"; done
done

$PY - "$OUT_DIR" <<'EOF'
import csv, os, sys
d = sys.argv[1]
def rows(p):
    return [{k: float(v) if k not in ("label", "rpc") else v for k, v in r.items()} for r in csv.DictReader(open(p))]
b, one = rows(os.path.join(d, "batching.csv")), rows(os.path.join(d, "batch1.csv"))
load = {}
for l in open(os.path.join(d, "loadavg.csv")):
    lab, c, la = l.strip().split(",", 2)
    load[(lab, int(c))] = la.split()[0]
for name, rs in (("batching", b), ("max_batch_size 1", one)):
    lab = "batching" if rs is b else "batch1"
    print("\n== %s" % name)
    print("%6s %9s %9s %9s %9s %9s %9s  %s" % ("conc", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "avg ms", "load avg"))
    for r in rs:
        print("%6d %9d %9.1f %9.2f %9.2f %9.2f %9.2f  %s" % (
            r["concurrency"], r["requests"], r["throughput_per_s"], r["p50_us"] / 1e3, r["p90_us"] / 1e3,
            r["p99_us"] / 1e3, r["avg_us"] / 1e3, load.get((lab, int(r["concurrency"])), "?")))
if not b or not one:
    sys.exit("no results")
top = b[-1]
print("\n== summary")
top1 = [r for r in one if r["concurrency"] == top["concurrency"]]
if top1:
    t1 = top1[0]
    print("concurrency %d: batching %.0f req/s (p99 %.1f ms), max_batch_size 1 %.0f req/s (p99 %.1f ms): "
          "ratio %.2fx" % (top["concurrency"], top["throughput_per_s"], top["p99_us"] / 1e3,
                           t1["throughput_per_s"], t1["p99_us"] / 1e3,
                           top["throughput_per_s"] / max(t1["throughput_per_s"], 1e-9)))
# same p99: the most max_batch_size 1 serves at any concurrency with a p99 within batching's
for r in b:
    fit = [x for x in one if x["p99_us"] <= r["p99_us"]]
    if fit:
        best = max(fit, key=lambda x: x["throughput_per_s"])
        print("p99 <= %7.1f ms: batching %6.0f req/s (c=%d); max_batch_size 1 at most %6.0f req/s (c=%d, "
              "p99 %.1f ms): %.2fx" % (r["p99_us"] / 1e3, r["throughput_per_s"], r["concurrency"],
                                       best["throughput_per_s"], best["concurrency"], best["p99_us"] / 1e3,
                                       r["throughput_per_s"] / max(best["throughput_per_s"], 1e-9)))
    else:
        print("p99 <= %7.1f ms: batching %6.0f req/s (c=%d); max_batch_size 1 never gets its p99 that low"
              % (r["p99_us"] / 1e3, r["throughput_per_s"], r["concurrency"]))
print("goals: >= 1000 req/s at c=%d with batching: %s (%.0f); p50 <= 5 ms at c=1: %s" % (
    top["concurrency"], "met" if top["throughput_per_s"] >= 1000 else "missed", top["throughput_per_s"],
    ("met (%.2f ms)" if b[0]["p50_us"] <= 5000 else "missed (%.2f ms)") % (b[0]["p50_us"] / 1e3)
    if b[0]["concurrency"] == 1 else "not measured"))
EOF

if [[ "${PROFILE:-0}" == 1 ]]; then
  top=${LEVELS[${#LEVELS[@]}-1]}
  echo
  for label in batching batch1; do
    # CPU time of every process per request at the top concurrency
    /usr/bin/time -f "%U %S" -o "$OUT_DIR/cpu-client-$label.txt" \
      "$BUILD/clients/parley-perf" --target "127.0.0.1:${GW_PORT[$label]}" --rpc analyze_intent \
      "${REQ_ARGS[@]}" --concurrency "$top" --duration "$SECS" --warmup 1 \
      > "$OUT_DIR/cpu-load-$label.txt" 2>&1 &
    load_pid=$!
    sleep 1
    before=$(cpu_of "${NLU_PID[$label]}" "${GW_PID[$label]}" "${NATS_PID[$label]}")
    wait "$load_pid"
    after=$(cpu_of "${NLU_PID[$label]}" "${GW_PID[$label]}" "${NATS_PID[$label]}")
    $PY - "$before" "$after" "$OUT_DIR/cpu-load-$label.txt" "$SECS" "$OUT_DIR/cpu-client-$label.txt" "$label" <<'EOF'
import sys
b = [float(x) for x in sys.argv[1].split()]
a = [float(x) for x in sys.argv[2].split()]
rows = [l.split() for l in open(sys.argv[3]) if l.strip() and l.split()[0] == "-"]
req, secs = float(rows[-1][2]), float(sys.argv[4])
names = ["parley-nlu", "parley-gateway", "nats-server"]
per = [(a[i] - b[i]) / req * 1e3 for i in range(3)]
line = ", ".join("%s %.3f ms" % (n, x) for n, x in zip(names, per)) + "; servers %.3f ms" % sum(per)
try:  # the client: its whole run (warm-up included) over the measured requests, an upper bound
    u, s = (float(x) for x in open(sys.argv[5]).read().split()[-2:])
    line += "; client parley-perf <= %.3f ms" % ((u + s) / req * 1e3)
except (OSError, ValueError):
    pass
print("CPU per request, %s, c=%s, %.0f s (%d requests, %.0f req/s): %s" % (
    sys.argv[6], rows[-1][1], secs, req, req / secs, line))
EOF
  done
  # where parley-nlu and the gateway spend their CPU (batching stack)
  "$BUILD/clients/parley-perf" --target "127.0.0.1:${GW_PORT[batching]}" --rpc analyze_intent \
    "${REQ_ARGS[@]}" --concurrency "$top" --duration $((SECS + 2)) --warmup 0 \
    > "$OUT_DIR/profile-load.txt" 2>&1 &
  load_pid=$!
  sleep 1
  perf record -q -F 999 -g -p "${NLU_PID[batching]}" -o "$OUT_DIR/perf-nlu.data" -- sleep "$SECS" 2>/dev/null &
  perf record -q -F 999 -g -p "${GW_PID[batching]}" -o "$OUT_DIR/perf-gw.data" -- sleep "$SECS" 2>/dev/null
  wait "$load_pid"
  sleep 0.5
  for w in nlu gw; do
    echo "-- perf: $w of the batching stack at concurrency $top, self time (perf report --no-children)"
    perf report -q -i "$OUT_DIR/perf-$w.data" --no-children --sort dso,symbol --stdio -g none \
      2>/dev/null | grep -v '^$' | head -15 | cut -c1-100
  done
fi
echo "CSV files and logs in $OUT_DIR"
