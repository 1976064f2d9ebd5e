#!/usr/bin/env bash
# `parley up` end to end: starts NATS + gateway on free ports, `parley status` shows them
# ready, a gRPC health check answers SERVING, SIGTERM stops everything and leaves no process.
# Usage: test_up.sh <build dir>
set -u
BUILD=$1
PY=${PL_PYTHON:-/usr/bin/python3}
T=$(mktemp -d /tmp/pl_up_test_XXXXXX)
UP_PID=
PIDS=()
cleanup() {
  [[ -n "$UP_PID" ]] && kill -TERM "$UP_PID" 2>/dev/null && sleep 0.5
  # whatever the state file still names, by PID
  if [[ -f "$T/state/parley-up.state" ]]; then
    while read -r name pid _; do kill -KILL "$pid" 2>/dev/null; done < "$T/state/parley-up.state"
  fi
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  [[ -n "$UP_PID" ]] && kill -KILL "$UP_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "FAIL: $*"; echo "--- parley up output"; cat "$T/up.out"; tail -5 "$T"/state/logs/*.log 2>/dev/null; exit 1; }
ok() { echo "ok   $*"; }

read -r P1 P2 P3 < <($PY -c '
import socket
ss=[socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1",0))
print(*[s.getsockname()[1] for s in ss])')

"$BUILD/clients/parley" up --state-dir "$T/state" --nats-port "$P1" --grpc-port "$P2" \
  --http-port "$P3" --only none --ready-timeout 20 > "$T/up.out" 2>&1 &
UP_PID=$!
for _ in $(seq 200); do grep -q "all 2 ready" "$T/up.out" && break; sleep 0.1; done
grep -q "all 2 ready" "$T/up.out" || fail "parley up did not report ready"
ok "parley up: nats and gateway ready"
grep -q "demo page: http://127.0.0.1:$P3/" "$T/up.out" || fail "parley up did not print the demo page's URL"
curl -fsS "http://127.0.0.1:$P3/" | grep -q "<title>Parley" || fail "the demo page is not served at the printed URL"
ok "parley up: prints the demo page's URL, which serves the page"
mapfile -t PIDS < <(awk '{print $2}' "$T/state/parley-up.state")
[[ ${#PIDS[@]} -eq 3 ]] || fail "state file should list up, nats, gateway: ${PIDS[*]}"

"$BUILD/clients/parley" status --state-dir "$T/state" > "$T/status.out"; rc=$?
cat "$T/status.out"
[[ $rc -eq 0 ]] || fail "parley status exit $rc"
grep -Eq "^gateway +[0-9]+ +ready +127.0.0.1:$P2" "$T/status.out" || fail "status: gateway not ready"
grep -Eq "^nats +[0-9]+ +ready" "$T/status.out" || fail "status: nats not ready"
ok "parley status: all ready"

PYTHONPATH="$PL_PYTHON_STUBS" $PY - "$P2" <<'PYEOF' || fail "health check"
import sys, grpc
from riva.proto import health_pb2, health_pb2_grpc
ch = grpc.insecure_channel("127.0.0.1:" + sys.argv[1])
r = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
assert r.status == health_pb2.HealthCheckResponse.SERVING, r
print("ok   gRPC health check: SERVING")
PYEOF

# a dying gateway is restarted
GW_PID=$(awk '$1=="gateway"{print $2}' "$T/state/parley-up.state")
kill -KILL "$GW_PID"
for _ in $(seq 300); do
  NEW=$(awk '$1=="gateway"{print $2}' "$T/state/parley-up.state")
  [[ -n "$NEW" && "$NEW" != "$GW_PID" ]] && break; sleep 0.1
done
[[ "$NEW" != "$GW_PID" ]] || fail "gateway was not restarted"
PIDS+=("$NEW")
for _ in $(seq 300); do "$BUILD/clients/parley" status --state-dir "$T/state" >/dev/null && break; sleep 0.1; done
"$BUILD/clients/parley" status --state-dir "$T/state" > /dev/null || fail "not ready after restart"
ok "killed gateway restarted (pid $GW_PID -> $NEW) and ready"

kill -TERM "$UP_PID"
for _ in $(seq 200); do kill -0 "$UP_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$UP_PID" 2>/dev/null && fail "parley up did not exit on SIGTERM"
wait "$UP_PID"; rc=$?
UP_PID=
[[ $rc -eq 0 ]] || fail "parley up exit status $rc"
for p in "${PIDS[@]}"; do
  kill -0 "$p" 2>/dev/null && fail "process $p still alive after SIGTERM"
done
pgrep -f -- "-p $P1 " > /dev/null && fail "a nats-server on port $P1 is still running"
[[ -f "$T/state/parley-up.state" ]] && fail "state file left behind"
"$BUILD/clients/parley" status --state-dir "$T/state" > /dev/null; rc=$?
[[ $rc -eq 3 ]] || fail "parley status after stop: exit $rc, want 3"
ok "SIGTERM: parley up exited 0, no process left, status says not running"
echo PASS
