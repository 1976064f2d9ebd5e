#!/usr/bin/env bash
# With and without pretraining, through the service: evaluates two NLU model repositories
# with services/nlu/eval_int8.sh (each its own nats-server + parley-nlu + parley-gateway on free
# 127.0.0.1 ports; eval_service.py --variants base,int8) and prints one table.
#
#   train/nlu/eval_pretraining.sh <build dir> <pretrained models> <from-scratch models> [eval_service.py args]
#   e.g. train/nlu/eval_pretraining.sh build models train/work/models-scratch
#
# The from-scratch repository holds the models the recipes make without --init (docs/nlu-eval.md
# says how to make them). Environment: PL_PYTHON (default /usr/bin/python3).
set -u
[ $# -ge 3 ] || { sed -n 2,9p "$0"; exit 2; }
BUILD=$1 PRE=$2 SCRATCH=$3
shift 3
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
PY=${PL_PYTHON:-/usr/bin/python3}
OUT=$(mktemp -d /tmp/pl_nlu_pretrain_XXXXXX)
for name in pretrained scratch; do
  repo=$PRE; [ $name = scratch ] && repo=$SCRATCH
  echo "== $name: $repo"
  OUT_DIR="$OUT/$name" "$SRC/services/nlu/eval_int8.sh" "$BUILD" "$repo" "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  tail -n 25 "$OUT/$name.log"
  [ $rc -eq 0 ] || { echo "evaluation of $repo failed (rc $rc): $OUT/$name.log"; exit 1; }
done
$PY - "$OUT/pretrained/eval.json" "$OUT/scratch/eval.json" <<'PYEOF'
import json, sys
pre, scr = (json.load(open(p))["variants"] for p in sys.argv[1:3])
rows = [("SNIPS intent accuracy %", "snips_test", "intent_acc", 1),
        ("SNIPS slot F1", "snips_test", "slot_f1", 1),
        ("CoNLL-2003 entity F1", "conll2003_test", "f1", 1),
        ("punctuation macro F1 (, . ?)", "punct_heldout", "macro_f1", 1),
        ("comma F1", "punct_heldout", ",", "f1"),
        ("period F1", "punct_heldout", ".", "f1"),
        ("question mark F1", "punct_heldout", "?", "f1"),
        ("capitalization accuracy", "punct_heldout", "case_acc", 1)]
def val(d, s, k, sub):
    x = d.get(s, {}).get(k)
    if isinstance(x, dict):
        x = x.get(sub)
    return x
print("\n%-30s %12s %12s %12s %12s" % ("figure (through the service)", "pretrained", "pre. int8", "scratch", "scr. int8"))
for name, s, k, sub in rows:
    vals = [val(pre["base"], s, k, sub), val(pre.get("int8", {}), s, k, sub),
            val(scr["base"], s, k, sub), val(scr.get("int8", {}), s, k, sub)]
    print("%-30s %s" % (name, " ".join("%12s" % ("-" if v is None else "%.4g" % v) for v in vals)))
PYEOF
echo "logs and JSON in $OUT"
