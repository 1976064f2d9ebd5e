#!/usr/bin/env bash
# Run every libFuzzer target of a PARLEY_FUZZ build for a while (make fuzz does this).
#
# Usage: tests/fuzz/run.sh BUILD_DIR SECONDS [NAME...]   (no NAME: every target)
#
# Each target starts from its seeds (tests/fuzz/corpus/<name>/) and regression inputs
# (tests/fuzz/regress/<name>/), both read only: new inputs libFuzzer finds go to
# BUILD_DIR/fuzz-corpus/<name>/, which persists between runs. A crash, leak, sanitizer report
# or timeout stops that target (libFuzzer's exit status) and leaves the input in
# BUILD_DIR/fuzz-artifacts/<name>/; the script runs the other targets and fails at the end.
# The last line of each target's log (BUILD_DIR/fuzz-logs/<name>.log) gives runs and exec/s.
set -uo pipefail

build=${1:?usage: run.sh BUILD_DIR SECONDS [NAME...]}
secs=${2:?usage: run.sh BUILD_DIR SECONDS [NAME...]}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$build" && pwd)
names=("$@")
if ((${#names[@]} == 0)); then
  for f in "$here"/fuzz_*.c; do n=$(basename "$f" .c); names+=("${n#fuzz_}"); done
fi

# tiny random-weight NLU models for fuzz_nlu_request (skipped when numpy is missing)
models="$build/fuzz-nlu-models"
if [[ ! -d "$models/intent" ]]; then
  /usr/bin/python3 "$here/../integration/nlu_tiny.py" "$models" >/dev/null 2>&1 && rm -rf "$models/broken" \
    || echo "fuzz: no tiny NLU models (numpy missing?); fuzz_nlu_request runs without models"
fi
export PARLEY_FUZZ_NLU_MODELS="$models"
export TMPDIR="$build"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
mkdir -p "$build/fuzz-logs"
for n in "${names[@]}"; do
  exe="$build/tests/fuzz_$n"
  if [[ ! -x "$exe" ]]; then
    echo "fuzz: $exe is not built (make fuzz builds it)"
    failed+=("$n")
    continue
  fi
  work="$build/fuzz-corpus/$n"
  art="$build/fuzz-artifacts/$n"
  mkdir -p "$work" "$art"
  dirs=("$work" "$here/corpus/$n")
  [[ -d "$here/regress/$n" ]] && dirs+=("$here/regress/$n")
  dict=()
  [[ -f "$here/dict/$n.dict" ]] && dict=("-dict=$here/dict/$n.dict")
  log="$build/fuzz-logs/$n.log"
  # -timeout: one input running longer is a hang; -rss_limit_mb: a runaway allocation
  nice "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$art/" "${dict[@]}" "${dirs[@]}" >"$log" 2>&1
  rc=$?
  runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  eps=$(grep -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}')
  cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+' || true)
  if ((rc == 0)); then
    echo "fuzz_$n: ok, ${runs:-?} runs in ${secs} s, ${eps:-?} exec/s, ${cov:-cov: ?}"
  else
    echo "fuzz_$n: FAILED (exit $rc), see $log and $art/"
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -5
    failed+=("$n")
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: all ${#names[@]} targets ran ${secs} s without a finding"
