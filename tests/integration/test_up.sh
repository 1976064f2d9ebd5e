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

# gateway.http_tls: the HTTP port serves TLS, so the demo page is https:// and readiness is
# probed by TCP connect (a plain GET /readyz gets no answer there). Once from the config file
# `parley up --config` passes, once from PARLEY_GATEWAY_HTTP_TLS over a file that says false.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 1 \
  -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1" > /dev/null 2>&1 \
  || fail "openssl could not make a throwaway certificate"
tls_config() { # $1: http_tls (true/false)
  printf '{"gateway": {"tls_cert": "%s", "tls_key": "%s", "http_tls": %s}}\n' \
    "$T/cert.pem" "$T/key.pem" "$1" > "$T/tls.json"
}
up_tls() { # $1: label; runs parley up with $T/tls.json, checks https and stops it
  rm -rf "$T/state"
  : > "$T/up.out" # before the start: the wait below must not read the last run's output
  "$BUILD/clients/parley" up --state-dir "$T/state" --nats-port "$P1" --grpc-port "$P2" \
    --http-port "$P3" --only none --ready-timeout 20 --config "$T/tls.json" > "$T/up.out" 2>&1 &
  UP_PID=$!
  for _ in $(seq 200); do grep -q "all 2 ready" "$T/up.out" && break; sleep 0.1; done
  grep -q "all 2 ready" "$T/up.out" || fail "$1: parley up did not report ready"
  grep -q "demo page: https://127.0.0.1:$P3/" "$T/up.out" || fail "$1: demo page URL not https"
  grep -q "metrics https://127.0.0.1:$P3/metrics" "$T/up.out" || fail "$1: metrics URL not https"
  curl -fsSk "https://127.0.0.1:$P3/" | grep -q "<title>Parley" \
    || fail "$1: the demo page is not served at the printed https URL"
  curl -fsS "http://127.0.0.1:$P3/readyz" > /dev/null 2>&1 && fail "$1: the port answers plain HTTP"
  "$BUILD/clients/parley" status --state-dir "$T/state" > "$T/status.out" \
    || { cat "$T/status.out"; fail "$1: parley status not all ready"; }
  grep -Eq "^gateway +[0-9]+ +ready +.*metrics https://127.0.0.1:$P3/metrics" "$T/status.out" \
    || { cat "$T/status.out"; fail "$1: status: gateway not ready over https"; }
  kill -TERM "$UP_PID"
  wait "$UP_PID"; rc=$?
  UP_PID=
  [[ $rc -eq 0 ]] || fail "$1: parley up exit status $rc"
  ok "$1: ready, demo page and metrics at https://127.0.0.1:$P3/, parley status ready"
}
tls_config true
up_tls "gateway.http_tls true in --config"
tls_config false
PARLEY_GATEWAY_HTTP_TLS=true up_tls "PARLEY_GATEWAY_HTTP_TLS=true"

# a setting the gateway would refuse stops parley up at once, named
PARLEY_GATEWAY_HTTP_TLS=maybe "$BUILD/clients/parley" up --state-dir "$T/state" --only none \
  --config "$T/tls.json" > "$T/bad.out" 2>&1; rc=$?
[[ $rc -eq 2 ]] || { cat "$T/bad.out"; fail "bad PARLEY_GATEWAY_HTTP_TLS: exit $rc, want 2"; }
grep -q "PARLEY_GATEWAY_HTTP_TLS" "$T/bad.out" || { cat "$T/bad.out"; fail "error does not name it"; }
echo '{"gateway": {"http_tls": true}}' > "$T/notls.json"
"$BUILD/clients/parley" up --state-dir "$T/state" --only none --config "$T/notls.json" \
  > "$T/bad.out" 2>&1; rc=$?
[[ $rc -eq 2 ]] && grep -q "http_tls needs gateway.tls_cert" "$T/bad.out" \
  || { cat "$T/bad.out"; fail "http_tls without a certificate: exit $rc"; }
ok "a bad gateway setting: parley up exits 2 naming it"
echo PASS
