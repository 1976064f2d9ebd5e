#!/usr/bin/env bash
# Accuracy of the int8 variants next to f32, through the service: copies every NLU model of a
# repository into a temp dir, declares "variants": {"int8": {"precision": "int8"}} and
# {"bf16": {"precision": "bf16"}} in each copy (kept when already there), starts nats-server + parley-nlu + parley-gateway on free 127.0.0.1
# ports and runs `python3 -m train.nlu.eval_service --variants base,int8` (SNIPS intent/slots, CoNLL-2003
# entities, held-out punctuation), which prints both and the difference.
#
#   services/nlu/eval_int8.sh <build dir> <model repository> [eval_service.py args...]
#   e.g. services/nlu/eval_int8.sh /work/build models --limit 200
# Environment: PL_PYTHON (default /usr/bin/python3), OUT_DIR (default a temp dir; logs there),
# VARIANTS (default base,int8; e.g. f32,bf16,int8; empty: no --variants, so entities go through AnalyzeEntities with
# its BIO-constrained decoding instead of ClassifyTokens' per-word argmax).
set -u
BUILD=$(cd "$1" && pwd)
MODELS=$2
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
PY=${PL_PYTHON:-/usr/bin/python3}
OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/pl_nlu_int8_XXXXXX)}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
trap 'exit 130' INT TERM
port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
NATS_SERVER=$(command -v nats-server || echo /usr/sbin/nats-server)

REPO="$OUT_DIR/models"
mkdir -p "$REPO"
$PY - "$MODELS" "$REPO" <<'EOF' || exit 1
import json, os, shutil, sys
src, dst = sys.argv[1], sys.argv[2]
tasks = {"joint_intent_slot", "token_classification", "text_classification", "punctuation_capitalization"}
for d in sorted(os.listdir(src)):
    p = os.path.join(src, d, "config.json")
    if not os.path.isfile(p):
        continue
    cfg = json.load(open(p))
    if cfg.get("task") not in tasks:
        continue
    os.makedirs(os.path.join(dst, d))
    for f in os.listdir(os.path.join(src, d)):  # links: no copy of the weights
        if f != "config.json":
            os.symlink(os.path.abspath(os.path.join(src, d, f)), os.path.join(dst, d, f))
    cfg.setdefault("variants", {}).setdefault("int8", {"precision": "int8"})
    cfg["variants"].setdefault("bf16", {"precision": "bf16"})
    json.dump(cfg, open(os.path.join(dst, d, "config.json"), "w"), indent=1)
    print("model %s: variants %s" % (d, sorted(cfg["variants"])))
EOF

np=$(port); gp=$(port)
"$NATS_SERVER" -a 127.0.0.1 -p "$np" > "$OUT_DIR/nats.log" 2>&1 & PIDS+=($!)
sleep 0.5
PARLEY_NLU_LOG_LEVEL=info "$BUILD/services/nlu/parley-nlu" --nats "nats://127.0.0.1:$np" --http-port -1 \
  --model-dir "$REPO" > "$OUT_DIR/nlu.out" 2> "$OUT_DIR/nlu.log" & PIDS+=($!)
PARLEY_GATEWAY_LOG_LEVEL=warn "$BUILD/services/gateway/parley-gateway" --listen "127.0.0.1:$gp" \
  --http 127.0.0.1:0 --nats "nats://127.0.0.1:$np" > "$OUT_DIR/gw.out" 2> "$OUT_DIR/gw.log" & PIDS+=($!)
for _ in $(seq 600); do grep -q "models=" "$OUT_DIR/nlu.out" 2>/dev/null && break; sleep 0.1; done
grep -q "models=[1-9]" "$OUT_DIR/nlu.out" || { echo "parley-nlu did not start with a model"; cat "$OUT_DIR/nlu.log"; exit 1; }
echo "parley-nlu: $(cat "$OUT_DIR/nlu.out"); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
VARIANTS=${VARIANTS-base,int8}
VARGS=()
[ -n "$VARIANTS" ] && VARGS=(--variants "$VARIANTS")
PYTHONPATH="$SRC${PYTHONPATH:+:$PYTHONPATH}" $PY -m train.nlu.eval_service --server "127.0.0.1:$gp" --stubs "$BUILD/python" \
  ${VARGS[@]+"${VARGS[@]}"} --json "$OUT_DIR/eval.json" "$@"
rc=$?
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); JSON and logs in $OUT_DIR"
exit $rc
