#!/bin/bash
# One command for a GPU session (train/gpu/README.md): pretrain on the bundle, fine-tune QA,
# score on dev, export into $OUT (or --out). Options: python3 -m train.gpu.run --help.
#   train/gpu/run.sh --budget-minutes 8.5 --pretrain-minutes 4.5 --qa-minutes 2   (the defaults)
#   train/gpu/run.sh --device cpu --budget-minutes 5 --pretrain-minutes 1 --qa-minutes 1 ...   (CPU proof)
set -o pipefail
cd "$(dirname "$0")/../.." || exit 1
out="${OUT:-train/work/gpu-run/out}"
prev=""
for a in "$@"; do [ "$prev" = "--out" ] && out="$a"; prev="$a"; done
mkdir -p "$out"
# the python that has torch: the GPU image's python3 first, then Debian's
py=""
for c in ${PYTHON:-} python3 /usr/bin/python3; do
  if command -v "$c" >/dev/null 2>&1 && "$c" -c "import torch, numpy" >/dev/null 2>&1; then py="$c"; break; fi
done
[ -n "$py" ] || { echo "no python3 with torch and numpy found" | tee "$out/run.log"; exit 2; }
{
  echo "== $(date -u '+%Y-%m-%d %H:%M:%S') UTC, $(command -v "$py"), $("$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())')"
  command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  [ -f train/gpu/bundle/manifest.json ] || [ "$(printf '%s\n' "$@" | grep -c -- --bundle)" != 0 ] || echo "warning: no train/gpu/bundle (carry it: carry [\"train/gpu/bundle\"])"
  OUT="$out" PYTHONUNBUFFERED=1 "$py" -m train.gpu.run --out "$out" "$@"
} 2>&1 | tee -a "$out/run.log"
exit "${PIPESTATUS[0]}"
