#!/usr/bin/env bash
# Starts Parley on this machine: nats-server on loopback (JetStream on, data in
# state/), then every service that has been built. Ctrl-C or SIGTERM stops
# everything by PID and exits.
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
STATE=${PARLEY_STATE_DIR:-$PWD/state}
NATS_PORT=${PARLEY_NATS_PORT:-4222}
mkdir -p "$STATE/nats"

if [[ -x "$BUILD/clients/parley-up" ]]; then
  exec "$BUILD/clients/parley" up --state-dir "$STATE" --nats-port "$NATS_PORT"
fi

pids=()
stop() {
  trap - INT TERM
  echo "parley: stopping"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  echo "parley: stopped"
  exit 0
}
trap stop INT TERM

nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$STATE/nats" -l "$STATE/nats.log" &
pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT") 2>/dev/null && break; sleep 0.1; done
echo "parley: nats-server on nats://127.0.0.1:$NATS_PORT (pid ${pids[0]}, log $STATE/nats.log)"
echo "parley: press Ctrl-C to stop"
wait -n "${pids[@]}" || true
echo "parley: a process exited"
stop
