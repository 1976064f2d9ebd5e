#!/usr/bin/env bash
# Brings docker-compose.yml up for real with podman-compose, on free loopback ports and under a
# project name of its own, waits until every container's health check passes, sends real
# requests through the containerized gateway (docker/smoke.py: health, Recognize,
# AnalyzeIntent, NaturalQuery, a dialog Converse turn), then tears everything down: containers,
# the project's volumes and its <project>_default network. Exit 0 = all passed.
#
#   docker/compose_test.sh [BUILD_DIR]     (make compose-test; BUILD_DIR has python/ stubs)
#
# Builds the images first with docker/build.sh (seconds when nothing changed; PARLEY_NO_BUILD=1
# skips it). Also validates the file with Debian's docker-compose (config -q).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/docker/containers.conf}
PROJECT=${PARLEY_COMPOSE_PROJECT:-parleyct$$}
SERVICES=(nats gateway asr nlu qa tts dialog)
T0=$(date +%s%N)
ms() { echo $(( ($(date +%s%N) - ${1:-$T0}) / 1000000 )); }
el() { local m; m=$(ms); printf '%d.%d' $((m / 1000)) $((m % 1000 / 100)); }
say() { echo "compose-test [$(el) s]: $*"; }

[[ -d $BUILD/python/riva ]] || { echo "compose-test: no stubs in $BUILD/python (make build first)" >&2; exit 2; }
if [[ "${PARLEY_NO_BUILD:-0}" != 1 ]]; then docker/build.sh >/tmp/$PROJECT-build.log 2>&1 ||
  { tail -20 /tmp/$PROJECT-build.log; exit 1; }; rm -f /tmp/$PROJECT-build.log
  say "images ready (docker/build.sh)"
else
  # ctest mode: no package installs, no image build; skip (77) unless the image exists and was
  # built from the sources as they are now.
  for c in podman podman-compose docker-compose; do
    command -v $c >/dev/null || { echo "compose-test: SKIP, $c not installed (make compose-test)"; exit 77; }
  done
  have=$(podman image inspect -f '{{index .Labels "org.parley.src-digest"}}' "${PARLEY_IMAGE:-localhost/parley:latest}" 2>/dev/null || true)
  [[ -n $have ]] || { echo "compose-test: SKIP, no image (docker/build.sh)"; exit 77; }
  [[ $have == "$(docker/build.sh --digest)" ]] ||
    { echo "compose-test: SKIP, the image is older than the sources (docker/build.sh)"; exit 77; }
fi

docker-compose -f docker-compose.yml config -q
say "docker-compose config -q: valid"

free_port() { /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
export PARLEY_GRPC_PORT=$(free_port) PARLEY_HTTP_PORT=$(free_port) PARLEY_BIND=127.0.0.1
TMP=$(mktemp -d)

compose() { podman-compose -p "$PROJECT" -f docker-compose.yml "$@"; }
cleanup() {
  local rc=$?
  set +e
  if ((rc != 0)); then
    for s in "${SERVICES[@]}"; do echo "--- logs of ${PROJECT}_${s}_1"; podman logs --tail 20 "${PROJECT}_${s}_1" 2>&1; done
  fi
  local t; t=$(date +%s%N)
  compose down -t 20 >"$TMP/down.log" 2>&1
  say "down in $(ms "$t") ms"
  podman rm -f $(podman ps -aq --filter "label=io.podman.compose.project=$PROJECT") >/dev/null 2>&1
  podman volume rm -f $(podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT") >/dev/null 2>&1
  podman volume rm -f "${PROJECT}_nats-data" "${PROJECT}_qa-data" "${PROJECT}_dialog-data" >/dev/null 2>&1
  podman network rm -f "${PROJECT}_default" >/dev/null 2>&1
  left=$(podman ps -a --format '{{.Names}}' | grep -c "^${PROJECT}_" || true)
  leftn=$(podman network ls --format '{{.Name}}' | grep -c "^${PROJECT}_" || true)
  leftv=$(podman volume ls --format '{{.Name}}' | grep -c "^${PROJECT}_" || true)
  say "left behind: $left containers, $leftn networks, $leftv volumes"
  rm -rf "$TMP"
  if ((rc == 0 && left + leftn + leftv != 0)); then rc=1; fi
  say "$( ((rc == 0)) && echo PASSED || echo "FAILED (rc $rc)")"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

compose up -d >"$TMP/up.log" 2>&1 || { cat "$TMP/up.log"; exit 1; }
say "up -d: ${#SERVICES[@]} containers started (gRPC 127.0.0.1:$PARLEY_GRPC_PORT, HTTP 127.0.0.1:$PARLEY_HTTP_PORT)"

# podman runs health checks from systemd timers, which this machine does not have: run each
# container's check on demand until all pass.
deadline=$(($(date +%s) + ${PARLEY_READY_TIMEOUT:-180}))
for s in "${SERVICES[@]}"; do
  until podman healthcheck run "${PROJECT}_${s}_1" >/dev/null 2>&1; do
    if (($(date +%s) > deadline)); then say "$s not healthy in time"; exit 1; fi
    state=$(podman inspect -f '{{.State.Status}}' "${PROJECT}_${s}_1" 2>/dev/null || echo missing)
    [[ $state == running ]] || { say "$s is $state"; exit 1; }
    sleep 1
  done
  say "$s healthy"
done

# Published ports: only the gateway's, only on loopback.
pub=$(podman ps --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}} {{.Ports}}' | grep -- '->' || true)
echo "$pub" | sed 's/^/    /'
if echo "$pub" | grep -v "^${PROJECT}_gateway_1 " | grep -q -- '->'; then say "a service other than the gateway publishes a port"; exit 1; fi
if echo "$pub" | grep -- '->' | grep -qv '127.0.0.1:'; then say "a port is published beyond loopback"; exit 1; fi
curl -fsS "http://127.0.0.1:$PARLEY_HTTP_PORT/readyz" >/dev/null
metrics=$(curl -fsS "http://127.0.0.1:$PARLEY_HTTP_PORT/metrics")
[[ $metrics == *parley_gateway_active_calls* ]] || { say "no gateway metrics"; exit 1; }
say "gateway /readyz and /metrics answer on 127.0.0.1:$PARLEY_HTTP_PORT"

# Speech for Recognize: flite's voice, 16 kHz mono; the test tone when flite is missing.
if command -v flite >/dev/null && command -v sox >/dev/null; then
  flite -t "book a table for two in boston" -o "$TMP/raw.wav"
  sox "$TMP/raw.wav" -r 16000 -c 1 -b 16 "$TMP/speech.wav"
else
  tests/audio/gen_test_audio.sh "$TMP/audio" >/dev/null; cp "$TMP/audio/tone16k.wav" "$TMP/speech.wav"
fi
PYTHONPATH=$BUILD/python /usr/bin/python3 docker/smoke.py "127.0.0.1:$PARLEY_GRPC_PORT" "$TMP/speech.wav" | tee "$TMP/smoke.out"
sid=$(awk '/^session /{print $2}' "$TMP/smoke.out")

# parley-dialog is PID 1 of its container: SIGTERM must stop it at once (not after the 20 s
# grace period); its SQLite file on the dialog-data volume keeps the session.
t=$(date +%s%N)
podman stop -t 20 "${PROJECT}_dialog_1" >/dev/null 2>&1
stop_ms=$(ms "$t")
((stop_ms < 10000)) || { say "parley-dialog took $stop_ms ms to stop on SIGTERM"; exit 1; }
say "parley-dialog stopped on SIGTERM in $stop_ms ms"
podman start "${PROJECT}_dialog_1" >/dev/null 2>&1
until podman healthcheck run "${PROJECT}_dialog_1" >/dev/null 2>&1; do
  (($(date +%s) > deadline + 60)) && { say "dialog not healthy after restart"; exit 1; }; sleep 0.5
done
PYTHONPATH=$BUILD/python /usr/bin/python3 docker/smoke.py "127.0.0.1:$PARLEY_GRPC_PORT" --session "$sid"

# State survives a restart of parley-dialog: its SQLite file is on the dialog-data volume.
podman exec "${PROJECT}_dialog_1" ls -l /var/lib/parley/dialog.sqlite >/dev/null
podman exec "${PROJECT}_qa_1" ls -l /var/lib/parley/kb.sqlite >/dev/null
say "SQLite state on the volumes: dialog.sqlite, kb.sqlite"
user=$(podman exec "${PROJECT}_gateway_1" id -un)
[[ $user == parley ]] || { say "services run as $user, not parley"; exit 1; }
say "services run as user parley"
