#!/usr/bin/env bash
# gpu-check.sh - build and run Parley's CUDA tests and GPU benchmark on a GPU machine.
#
#   scripts/gpu-check.sh            (OUT=dir to choose where results go; default ./gpu-out)
#   BENCH_ARGS=--quick SKIP_TORCH=1 SKIP_MEMCHECK=1 MEMCHECK_TIMEOUT=s JOBS=n CUDA_ARCH=90 tune it.
#
# Needs no network. Tries the whole project's CMake build (Release, only the
# CUDA targets); where the machine lacks Parley's other dependencies (gRPC,
# NATS, jansson, Check, ...) it configures the same project with
# -DPARLEY_ENGINE_ONLY=ON instead (engine core, CUDA backend, the CUDA unit
# tests with their own main instead of Check's, bench_cuda). Then it runs:
#   1. the CUDA unit tests (every op x f32/f16 x shapes vs CPU references),
#   2. bench_cuda (GEMM TFLOP/s, BERT-base encoder stack latency),
#   3. the PyTorch peer benchmark, if python3 has torch with CUDA,
#   4. the unit tests under compute-sanitizer memcheck, if it is installed,
#   5. the ASR acoustic model on the cuda backend: unit_asrcuda (the model
#      on cuda vs the same model on cpu) and `parley bench asr`
#      (RTF cpu vs cuda). They need the whole-project build (jansson, Check);
#      on a machine without it, ASR_TEST=/path/test_asrcuda and
#      ASR_BENCH=/path/parley-bench (default: build-gpu-bin/ in the tree, if
#      there) run binaries built elsewhere (docs/gpu.md).
# Files in $OUT: gpu-check.log (everything), env.txt, test.log, bench.txt,
# torch.txt, memcheck.log, asr-test.log, asr-bench.txt. Exit status: that of
# the unit tests (the ASR test's failure included).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUTDIR=${OUT:-$PWD/gpu-out}
JOBS=${JOBS:-16}
BUILD=${GPU_BUILD:-/tmp/parley-gpu-build}
ARCH=${CUDA_ARCH:-90}
mkdir -p "$OUTDIR" "$BUILD"
exec > >(tee "$OUTDIR/gpu-check.log") 2>&1
T0=$(date +%s)
stamp() { echo "=== [$(( $(date +%s) - T0 ))s] $*"; }

stamp "environment"
{
  date -u
  uname -a
  nvidia-smi 2>&1 || echo "nvidia-smi: not available"
  command -v nvcc >/dev/null && nvcc --version || echo "nvcc: not on PATH"
  cmake --version | head -1
  nproc
} > "$OUTDIR/env.txt" 2>&1
cat "$OUTDIR/env.txt"
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
GEN=() KEEP=(-- -k)
command -v ninja >/dev/null && GEN=(-G Ninja) KEEP=(-- -k 0)

stamp "build: whole project, CUDA targets only"
B="" MODE=""
if cmake -S "$ROOT" -B "$BUILD/full" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release \
     -DCMAKE_CUDA_ARCHITECTURES="$ARCH" > "$BUILD/full-configure.log" 2>&1 &&
   cmake --build "$BUILD/full" --target test_cuda test_cuda_backend bench_cuda -j "$JOBS" > "$BUILD/full-build.log" 2>&1; then
  B="$BUILD/full" MODE=full
  # the ASR CUDA test and bench: built separately so that a failure here does
  # not cost the kernel tests above
  if cmake --build "$BUILD/full" --target test_asrcuda parley-bench -j "$JOBS" \
       > "$BUILD/full-build-asr.log" 2>&1; then
    ASR_TEST=${ASR_TEST:-$BUILD/full/tests/test_asrcuda}
    ASR_BENCH=${ASR_BENCH:-$BUILD/full/clients/parley-bench}
  else
    echo "ASR CUDA targets failed to build (last lines follow)"
    tail -15 "$BUILD/full-build-asr.log"
  fi
else
  echo "whole-project build not possible here (last lines follow); building with -DPARLEY_ENGINE_ONLY=ON"
  tail -n 5 "$BUILD/full-configure.log" "$BUILD/full-build.log" 2>/dev/null
  stamp "build: engine only (-DPARLEY_ENGINE_ONLY=ON)"
  # keep going past a target that fails: run whatever was built
  cmake -S "$ROOT" -B "$BUILD/engine" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DPARLEY_ENGINE_ONLY=ON &&
    { cmake --build "$BUILD/engine" -j "$JOBS" "${KEEP[@]}" || echo "SOME TARGETS FAILED TO BUILD"; }
  B="$BUILD/engine" MODE=engine-only
fi
# the same target names in both builds
TEST="$B/tests/test_cuda" TEST2="$B/tests/test_cuda_backend" BENCH="$B/tests/bench_cuda"
if [ ! -x "$TEST" ]; then
  stamp "BUILD FAILED"
  exit 2
fi
stamp "built ($MODE): $TEST $BENCH"

stamp "unit tests"
# CK_FORK=no: one process, so a CUDA failure shows its message in order
CK_FORK=no CK_VERBOSITY=verbose timeout 300 "$TEST" > "$OUTDIR/test.log" 2>&1
TEST_RC=$?
if [ -x "$TEST2" ]; then
  echo "--- engine backend (cuda vs cpu-ref) ---" >> "$OUTDIR/test.log"
  CK_FORK=no CK_VERBOSITY=verbose timeout 300 "$TEST2" >> "$OUTDIR/test.log" 2>&1
  rc2=$?
  [ $TEST_RC -eq 0 ] && TEST_RC=$rc2
else
  echo "no backend test binary" >> "$OUTDIR/test.log"
fi
cat "$OUTDIR/test.log"
stamp "unit tests exit status $TEST_RC"

stamp "ASR acoustic model on CUDA"
ASR_TEST=${ASR_TEST:-} ASR_BENCH=${ASR_BENCH:-}
# binaries built on another machine and carried in (an ignored path: /build*/)
[ -z "$ASR_TEST" ] && [ -x "$ROOT/build-gpu-bin/test_asrcuda" ] && ASR_TEST=$ROOT/build-gpu-bin/test_asrcuda
[ -z "$ASR_BENCH" ] && [ -x "$ROOT/build-gpu-bin/parley-bench" ] && ASR_BENCH=$ROOT/build-gpu-bin/parley-bench
if [ -n "$ASR_TEST" ] && [ -x "$ASR_TEST" ]; then
  CK_FORK=no CK_VERBOSITY=verbose PARLEY_SOURCE_DIR="$ROOT" timeout 300 "$ASR_TEST" \
    > "$OUTDIR/asr-test.log" 2>&1
  rc3=$?
  echo "test_asrcuda exit status $rc3" >> "$OUTDIR/asr-test.log"
  [ $TEST_RC -eq 0 ] && TEST_RC=$rc3
else
  echo "no test_asrcuda binary (needs the whole-project build or ASR_TEST=...)" > "$OUTDIR/asr-test.log"
fi
cat "$OUTDIR/asr-test.log"
if [ -n "$ASR_BENCH" ] && [ -x "$ASR_BENCH" ] && [ -f "$ROOT/models/asr-en-quartznet/config.json" ]; then
  timeout 240 "$ASR_BENCH" asr --model "$ROOT/models/asr-en-quartznet" --seconds 10 --iters 5 \
    --batches 1,8,32,128 > "$OUTDIR/asr-bench.txt" 2>&1
  echo "parley-bench asr exit status $?" >> "$OUTDIR/asr-bench.txt"
else
  echo "no parley-bench binary or no models/asr-en-quartznet: no ASR bench" > "$OUTDIR/asr-bench.txt"
fi
cat "$OUTDIR/asr-bench.txt"

stamp "benchmark"
timeout 240 "$BENCH" ${BENCH_ARGS:-} > "$OUTDIR/bench.txt" 2>&1
echo "bench_cuda exit status $?" >> "$OUTDIR/bench.txt"
cat "$OUTDIR/bench.txt"

if [ "${SKIP_TORCH:-0}" != 1 ] && python3 -c "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  stamp "PyTorch peer"
  timeout 180 python3 "$ROOT/engine/cuda/bench/bench_torch.py" ${BENCH_ARGS:-} > "$OUTDIR/torch.txt" 2>&1
  echo "bench_torch exit status $?" >> "$OUTDIR/torch.txt"
  cat "$OUTDIR/torch.txt"
else
  echo "no torch with CUDA: no PyTorch peer" | tee "$OUTDIR/torch.txt"
fi

SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
if [ -n "$SAN" ] && [ "${SKIP_MEMCHECK:-0}" != 1 ]; then
  stamp "compute-sanitizer memcheck on the unit tests"
  CK_FORK=no timeout "${MEMCHECK_TIMEOUT:-200}" "$SAN" --tool memcheck --error-exitcode 9 \
    "$TEST" > "$OUTDIR/memcheck.log" 2>&1
  echo "memcheck exit status $? (124 = stopped by the time limit)" >> "$OUTDIR/memcheck.log"
  [ -x "$TEST2" ] && CK_FORK=no timeout "${MEMCHECK_TIMEOUT:-200}" "$SAN" --tool memcheck \
    --error-exitcode 9 "$TEST2" >> "$OUTDIR/memcheck.log" 2>&1
  echo "memcheck exit status $? (124 = stopped by the time limit)" >> "$OUTDIR/memcheck.log"
  [ -n "$ASR_TEST" ] && [ -x "$ASR_TEST" ] && CK_FORK=no PARLEY_SOURCE_DIR="$ROOT" \
    timeout "${MEMCHECK_TIMEOUT:-200}" "$SAN" --tool memcheck --error-exitcode 9 "$ASR_TEST" \
    >> "$OUTDIR/memcheck.log" 2>&1
  echo "memcheck (test_asrcuda) exit status $? (124 = stopped by the time limit)" >> "$OUTDIR/memcheck.log"
  tail -25 "$OUTDIR/memcheck.log"
fi
stamp "done; unit tests exit status $TEST_RC"
exit $TEST_RC
