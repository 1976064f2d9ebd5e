#!/usr/bin/env bash
# model_forward_gpu.sh - a whole BERT model on the CUDA backend against the CPU:
# `parley-model forward` with --device cuda (f32 and f16 weights) vs --device cpu
# on a random-weight model made by tests/reference/bert_ref.py, padded batches.
#   model_forward_gpu.sh PARLEY_MODEL BENCH_CUDA PYTHON SOURCE_DIR
# Exit 77 (skipped) without a CUDA device.
set -eu
CLI=$1 BENCH=$2 PY=$3 SRC=$4
if ! "$BENCH" --probe >/dev/null 2>&1; then
  echo "skipped: no CUDA device"
  exit 77
fi
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
"$PY" "$SRC/tests/reference/bert_ref.py" "$DIR/m" --arch bert --head none --hidden 64 --layers 3 \
  --heads 4 --inter 256 --cases "1;4,17,9;33,128" > /dev/null
fail=0
for c in 0 1 2; do
  "$CLI" forward "$DIR/m" --input-ids "$DIR/m/c${c}_ids.json" --output "$DIR/cpu$c.f32" --device cpu-ref
  "$CLI" forward "$DIR/m" --input-ids "$DIR/m/c${c}_ids.json" --output "$DIR/gpu$c.f32" --device cuda
  "$CLI" forward "$DIR/m" --input-ids "$DIR/m/c${c}_ids.json" --output "$DIR/h$c.f32" --device cuda \
    --precision f16
  "$PY" - "$DIR/cpu$c.f32" "$DIR/gpu$c.f32" "$DIR/h$c.f32" <<'PYEOF' || fail=1
import sys
import numpy as np
ref, f32, f16 = (np.fromfile(p, dtype="<f4") for p in sys.argv[1:4])
assert ref.size == f32.size == f16.size and ref.size > 0, "output sizes differ"
d = float(np.max(np.abs(ref - f32)))
cos = float(np.dot(ref, f16) / (np.linalg.norm(ref) * np.linalg.norm(f16)))
ok = d <= 1e-4 and cos >= 0.999 and np.isfinite(f32).all() and np.isfinite(f16).all()
print(f"{sys.argv[1]}: f32 max|diff| {d:.3g} (<= 1e-4), f16 cosine {cos:.6f} (>= 0.999): {'ok' if ok else 'FAIL'}")
sys.exit(0 if ok else 1)
PYEOF
done
exit $fail
