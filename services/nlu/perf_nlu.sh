#!/usr/bin/env bash
# Load test of AnalyzeIntent through the gateway: nats-server + parley-nlu + parley-gateway on
# free 127.0.0.1 ports, `parley-perf` concurrency sweep with dynamic batching on (the model's
# settings, or MAX_BATCH) and with max_batch_size 1. Prints both tables; CSVs in OUT_DIR.
#
#   services/nlu/perf_nlu.sh <build dir> <model repository> [concurrency list] [seconds]
#   e.g. services/nlu/perf_nlu.sh build models 1,4,16,64 5
# Environment: MAX_BATCH (batching run's nlu.max_batch_size, default the model's),
# DELAY_US (nlu.max_queue_delay_us), OUT_DIR (default a temp dir), QUERY.
set -u
BUILD=$1
MODELS=$2
CONC=${3:-1,4,16,64}
SECS=${4:-5}
QUERY=${QUERY:-book a table for two at an italian restaurant in boston tomorrow}
OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/pl_nlu_perf_XXXXXX)}
PY=${PL_PYTHON:-/usr/bin/python3}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
trap 'exit 130' INT TERM
port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
NATS_SERVER=$(command -v nats-server || echo /usr/sbin/nats-server)

# the AnalyzeIntentRequest bytes: field 1 (query), length-delimited
$PY -c 'import sys; q=sys.argv[1].encode(); n=len(q); assert n < 128
sys.stdout.buffer.write(bytes([0x0a, n]) + q)' "$QUERY" > "$OUT_DIR/req.bin"

run() { # <label> <extra env...>
  local label=$1; shift
  local np gp
  np=$(port); gp=$(port)
  "$NATS_SERVER" -a 127.0.0.1 -p "$np" > "$OUT_DIR/nats-$label.log" 2>&1 & PIDS+=($!)
  sleep 0.5
  env PARLEY_NLU_LOG_LEVEL=warn "$@" "$BUILD/services/nlu/parley-nlu" --nats "nats://127.0.0.1:$np" \
    --http-port -1 --model-dir "$MODELS" > "$OUT_DIR/nlu-$label.out" 2> "$OUT_DIR/nlu-$label.log" & PIDS+=($!)
  PARLEY_GATEWAY_LOG_LEVEL=warn "$BUILD/services/gateway/parley-gateway" --listen "127.0.0.1:$gp" \
    --http 127.0.0.1:0 --nats "nats://127.0.0.1:$np" > "$OUT_DIR/gw-$label.out" 2> "$OUT_DIR/gw-$label.log" & PIDS+=($!)
  for _ in $(seq 300); do grep -q "models=" "$OUT_DIR/nlu-$label.out" 2>/dev/null && break; sleep 0.1; done
  grep -q "models=[1-9]" "$OUT_DIR/nlu-$label.out" || { echo "parley-nlu did not start with a model"; cat "$OUT_DIR/nlu-$label.log"; exit 1; }
  sleep 0.5
  echo "== $label ($*)"
  "$BUILD/clients/parley-perf" --target "127.0.0.1:$gp" --rpc analyze_intent \
    --request-file "$OUT_DIR/req.bin" --concurrency "$CONC" --duration "$SECS" --warmup 1 \
    --csv "$OUT_DIR/$label.csv"
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  wait 2>/dev/null
  PIDS=()
}

run batching ${MAX_BATCH:+PARLEY_NLU_MAX_BATCH_SIZE=$MAX_BATCH} ${DELAY_US:+PARLEY_NLU_MAX_QUEUE_DELAY_US=$DELAY_US} PL_RUN=batching
run batch1 PARLEY_NLU_MAX_BATCH_SIZE=1 PARLEY_NLU_MAX_QUEUE_DELAY_US=0
echo "CSV files in $OUT_DIR"
