#!/bin/sh
# The parley dispatcher: the overview names every built command, `parley help CMD` shows the
# command's own usage, unknown commands fail with a hint, and the bash completion script
# completes command names and a command's options (read from its --help).
set -u
BUILD=${1:?usage: test_cli_help.sh BUILD_DIR}
P="$BUILD/clients/parley"
fail() { echo "FAIL: $*"; exit 1; }
out=$("$P" --help) || fail "parley --help exited $?"
for c in up status transcribe synthesize chat ask kb model bench perf; do
    echo "$out" | grep -q "^  $c " || fail "overview does not describe $c"
    [ -x "$BUILD/clients/parley-$c" ] || continue
    "$P" help "$c" 2>&1 | grep -q "usage: parley $c" || fail "parley help $c shows no usage"
done
"$P" > /dev/null 2>&1; [ $? -eq 2 ] || fail "no command: want exit 2"
err=$("$P" no-such-command 2>&1); [ $? -eq 127 ] || fail "unknown command: want exit 127"
echo "$err" | grep -q "parley help" || fail "unknown command: no hint ($err)"
"$P" 'bad;name' > /dev/null 2>&1; [ $? -eq 2 ] || fail "invalid name: want exit 2"
"$P" completion bash > "${TMPDIR:-/tmp}/pl_compl.$$" || fail "completion bash"
got=$(bash -c ". '${TMPDIR:-/tmp}/pl_compl.$$'; COMP_WORDS=('$P' synth); COMP_CWORD=1; _parley; echo \${COMPREPLY[*]}")
[ "$got" = synthesize ] || fail "completion of 'synth': '$got'"
got=$(bash -c ". '${TMPDIR:-/tmp}/pl_compl.$$'; COMP_WORDS=('$P' ask --top); COMP_CWORD=2; _parley; echo \${COMPREPLY[*]}")
[ "$got" = --top-n ] || fail "completion of 'ask --top': '$got'"
rm -f "${TMPDIR:-/tmp}/pl_compl.$$"
echo "PASS"
