#!/bin/sh
# The parley dispatcher: the overview names every built command, `parley help CMD` shows the
# command's own usage, unknown commands fail with a hint, and the bash completion script
# completes command names and a command's options (read from its --help).
set -u
BUILD=${1:?usage: test_cli_help.sh BUILD_DIR}
P="$BUILD/clients/parley"
fail() { echo "FAIL: $*"; exit 1; }
# the executable of a command (`parley nlu` runs parley-nlu-cli: parley-nlu is the service)
exe() { case $1 in nlu) echo "$BUILD/clients/parley-nlu-cli" ;; *) echo "$BUILD/clients/parley-$1" ;; esac; }
out=$("$P" --help) || fail "parley --help exited $?"
for c in up status transcribe synthesize chat ask nlu kb model bench perf; do
    echo "$out" | grep -q "^  $c " || fail "overview does not describe $c"
    [ -x "$(exe "$c")" ] || continue
    "$P" help "$c" 2>&1 | grep -q "usage: parley $c" || fail "parley help $c shows no usage"
done
# every command that calls the gateway takes the same connection flags, and those that print
# results take --json (parley help CMD lists them)
for c in transcribe synthesize chat ask nlu perf status; do
    [ -x "$(exe "$c")" ] || continue
    h=$("$P" help "$c" 2>&1)
    for f in --server --api-key --tls-ca; do
        echo "$h" | grep -q -- "$f" || fail "parley help $c does not list $f"
    done
done
for c in transcribe synthesize chat ask nlu status; do
    [ -x "$(exe "$c")" ] || continue
    "$P" help "$c" 2>&1 | grep -q -- --json || fail "parley help $c does not list --json"
done
x="${TMPDIR:-/tmp}/pl_cli_x.$$"
printf 'RIFF' > "$x"
for c in "transcribe $x" "synthesize hello -o $x.wav" chat "ask why" "nlu intent hi" status \
         "synthesize --list-voices"; do
    [ -x "$(exe "${c%% *}")" ] || continue
    err=$("$P" $c --tls-ca /nonexistent/ca.pem 2>&1 < /dev/null); code=$?
    [ $code -eq 2 ] && echo "$err" | grep -q "/nonexistent/ca.pem" ||
        fail "parley $c --tls-ca MISSING: want exit 2 naming the file (got $code: $err)"
done
rm -f "$x" "$x.wav"
"$P" > /dev/null 2>&1; [ $? -eq 2 ] || fail "no command: want exit 2"
err=$("$P" no-such-command 2>&1); [ $? -eq 127 ] || fail "unknown command: want exit 127"
echo "$err" | grep -q "parley help" || fail "unknown command: no hint ($err)"
"$P" 'bad;name' > /dev/null 2>&1; [ $? -eq 2 ] || fail "invalid name: want exit 2"
"$P" completion bash > "${TMPDIR:-/tmp}/pl_compl.$$" || fail "completion bash"
got=$(bash -c ". '${TMPDIR:-/tmp}/pl_compl.$$'; COMP_WORDS=('$P' synth); COMP_CWORD=1; _parley; echo \${COMPREPLY[*]}")
[ "$got" = synthesize ] || fail "completion of 'synth': '$got'"
got=$(bash -c ". '${TMPDIR:-/tmp}/pl_compl.$$'; COMP_WORDS=('$P' ask --top); COMP_CWORD=2; _parley; echo \${COMPREPLY[*]}")
[ "$got" = --top-n ] || fail "completion of 'ask --top': '$got'"
got=$(bash -c ". '${TMPDIR:-/tmp}/pl_compl.$$'; COMP_WORDS=('$P' transcribe --tls); COMP_CWORD=2; _parley; echo \${COMPREPLY[*]}")
[ "$got" = --tls-ca ] || fail "completion of 'transcribe --tls': '$got'"
got=$(bash -c ". '${TMPDIR:-/tmp}/pl_compl.$$'; COMP_WORDS=('$P' chat --js); COMP_CWORD=2; _parley; echo \${COMPREPLY[*]}")
[ "$got" = --json ] || fail "completion of 'chat --js': '$got'"
got=$(bash -c ". '${TMPDIR:-/tmp}/pl_compl.$$'; COMP_WORDS=('$P' nlu ''); COMP_CWORD=2; _parley; echo \${COMPREPLY[*]}")
[ "$got" = "intent entities tokens punctuate train" ] || fail "completion of 'nlu ': '$got'"
got=$(bash -c ". '${TMPDIR:-/tmp}/pl_compl.$$'; COMP_WORDS=('$P' nlu pu); COMP_CWORD=2; _parley; echo \${COMPREPLY[*]}")
[ "$got" = punctuate ] || fail "completion of 'nlu pu': '$got'"
got=$(bash -c ". '${TMPDIR:-/tmp}/pl_compl.$$'; COMP_WORDS=('$P' nlu intent --mo); COMP_CWORD=3; _parley; echo \${COMPREPLY[*]}")
[ "$got" = --model ] || fail "completion of 'nlu intent --mo': '$got'"
got=$(bash -c ". '${TMPDIR:-/tmp}/pl_compl.$$'; COMP_WORDS=('$P' status --se); COMP_CWORD=2; _parley; echo \${COMPREPLY[*]}")
[ "$got" = --server ] || fail "completion of 'status --se': '$got'"
got=$(bash -c ". '${TMPDIR:-/tmp}/pl_compl.$$'; COMP_WORDS=('$P' status --timeout); COMP_CWORD=2; _parley; echo \${COMPREPLY[*]}")
[ "$got" = --timeout-ms ] || fail "completion of 'status --timeout': '$got'"
"$P" help synthesize 2>&1 | grep -q -- "--list-voices \[--json\]" ||
    fail "parley help synthesize: --list-voices does not show --json"
rm -f "${TMPDIR:-/tmp}/pl_compl.$$"
echo "PASS"
