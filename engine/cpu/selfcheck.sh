#!/bin/sh
# selfcheck.sh [OUT_DIR [--encoder]] - build and run engine/cpu/cpu_selfcheck.c with plain
# gcc (no CMake, no dependencies beyond libc/libm/pthreads), e.g. on a GPU
# machine with AVX-512 that lacks Parley's other build dependencies.
# Run from the repository root. Exit status is the self-check's.
set -e
OUT=${1:-/tmp/pl-selfcheck}
mkdir -p "$OUT"
CF="-std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Icommon -Iengine -Iengine/cpu"
for f in common/status.c common/alloc.c common/log.c common/util.c common/strbuf.c \
         engine/tensor.c engine/backend.c engine/cpu/cpu_backend.c engine/cpu/threadpool.c \
         engine/cpu/ops_ref.c engine/cpu/kern_generic.c engine/cpu/cpu_selfcheck.c; do
  gcc $CF -c "$f" -o "$OUT/$(basename "$f" .c).o" &
done
gcc $CF -O3 -c engine/cpu/ops_fast.c -o "$OUT/ops_fast.o" &
gcc $CF -O3 -mavx2 -mfma -c engine/cpu/kern_avx2.c -o "$OUT/kern_avx2.o" &
gcc $CF -O3 -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx2 -mfma -c engine/cpu/kern_avx512.c \
  -o "$OUT/kern_avx512.o" &
gcc $CF -O2 -mavx2 -mfma -c clients/bench/peak.c -o "$OUT/peak_avx2.o" &
gcc $CF -O2 -mavx512f -mfma -DPL_PEAK_AVX512 -c clients/bench/peak.c -o "$OUT/peak_avx512.o" &
wait
gcc -o "$OUT/cpu_selfcheck" "$OUT"/*.o -lm -lpthread
grep -o -m1 'avx512[a-z_]*' /proc/cpuinfo >/dev/null && echo "cpu has AVX-512" || echo "cpu lacks AVX-512"
grep -m1 'model name' /proc/cpuinfo || true
"$OUT/cpu_selfcheck" "$2"
