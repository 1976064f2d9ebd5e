#!/bin/sh
# selfcheck.sh [OUT_DIR [--encoder]] - build and run cpu_selfcheck (engine/cpu/cpu_selfcheck.c:
# every CPU kernel family against the scalar reference, and the measured FMA peak) on a machine
# that lacks Parley's service libraries, e.g. a GPU machine's AVX-512 host. It configures the
# one CMake build with -DPARLEY_ENGINE_ONLY=ON and the CUDA part off, so it needs only CMake,
# gcc, libm and pthreads. Run from the repository root. Exit status is the self-check's.
set -e
OUT=${1:-/tmp/pl-selfcheck}
mkdir -p "$OUT"
cmake -S . -B "$OUT/build" -DCMAKE_BUILD_TYPE=Release -DPARLEY_ENGINE_ONLY=ON \
  -DPARLEY_ENABLE_CUDA=OFF > "$OUT/configure.log"
cmake --build "$OUT/build" --target cpu_selfcheck -j "$(nproc)" > "$OUT/build.log"
grep -o -m1 'avx512[a-z_]*' /proc/cpuinfo >/dev/null && echo "cpu has AVX-512" || echo "cpu lacks AVX-512"
grep -m1 'model name' /proc/cpuinfo || true
"$OUT/build/engine/cpu_selfcheck" "$2"
