#!/usr/bin/env bash
# Brings docker-compose.yml up for real with podman-compose, on free loopback ports and under a
# project name of its own, waits until every container's health check passes, sends real
# requests through the containerized gateway (docker/smoke.py: health, Recognize,
# AnalyzeIntent, NaturalQuery, a dialog Converse turn), runs the `parley` CLI inside the
# containers, then tears everything down: containers, pods, the project's volumes and its
# <project>_default network, on failure too (trap). Exit 0 = all passed.
#
#   docker/compose_test.sh [BUILD_DIR]     (make compose-test; BUILD_DIR has python/ stubs)
#
# Builds the images first with docker/build.sh (seconds when nothing changed). With
# PARLEY_NO_BUILD=1 (the ctest) it installs nothing and goes through docker/ensure_images.sh
# instead: skipped (77) only when this machine cannot run containers at all, the image built
# when it is missing or stale, a failure otherwise. Also validates the file with Debian's
# docker-compose (config -q, with and without the gpu profile).
# PARLEY_COMPOSE_FAIL_AT=up|healthy|smoke makes the run fail at that point on purpose (the
# teardown check, ctest deploy_compose_teardown).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/docker/containers.conf}
PROJECT=${PARLEY_COMPOSE_PROJECT:-parleyct$$}
SERVICES=(nats gateway asr nlu qa tts dialog)
FAIL_AT=${PARLEY_COMPOSE_FAIL_AT:-}
T0=$(date +%s%N)
ms() { echo $(( ($(date +%s%N) - ${1:-$T0}) / 1000000 )); }
el() { local m; m=$(ms); printf '%d.%d' $((m / 1000)) $((m % 1000 / 100)); }
say() { echo "compose-test [$(el) s]: $*"; }
fail_here() { [[ $FAIL_AT != "$1" ]] || { say "failing on purpose at '$1' (PARLEY_COMPOSE_FAIL_AT)"; exit 1; }; }

[[ -d $BUILD/python/riva ]] || { echo "compose-test: no stubs in $BUILD/python (make build first)" >&2; exit 2; }
if [[ "${PARLEY_NO_BUILD:-0}" != 1 ]]; then docker/build.sh >/tmp/$PROJECT-build.log 2>&1 ||
  { tail -20 /tmp/$PROJECT-build.log; exit 1; }; rm -f /tmp/$PROJECT-build.log
  say "images ready (docker/build.sh)"
else
  # ctest mode: 77 only when containers cannot run here at all; a missing tool is a failure.
  docker/ensure_images.sh || exit $?
  for c in podman-compose docker-compose; do
    command -v $c >/dev/null || { echo "compose-test: FAILED: podman works but $c is not installed (scripts/deps.sh)"; exit 1; }
  done
  say "image current ($(docker/build.sh --digest))"
fi

# No webhooks in the test (the bot says none is configured); set, so docker-compose does not warn.
export PARLEY_WEBHOOK_WEATHER=${PARLEY_WEBHOOK_WEATHER:-} PARLEY_WEBHOOK_SCREENINGS=${PARLEY_WEBHOOK_SCREENINGS:-}
docker-compose -f docker-compose.yml config -q
docker-compose -f docker-compose.yml --profile gpu config -q
# The gpu profile: asr-gpu only under it, with parley-asr on cuda and an NVIDIA GPU reserved;
# every service restarts by itself, has CPU and memory limits and waits for what it needs.
docker-compose -f docker-compose.yml --profile gpu config | /usr/bin/python3 -c '
import sys, yaml
svc = yaml.safe_load(sys.stdin)["services"]
gpu = svc["asr-gpu"]
dev = gpu["deploy"]["resources"]["reservations"]["devices"]
assert gpu.get("profiles") == ["gpu"], "asr-gpu is not limited to the gpu profile"
assert dev and dev[0]["driver"] == "nvidia" and "gpu" in dev[0]["capabilities"], dev
assert gpu["environment"]["PARLEY_ASR_DEVICE"].startswith("cuda"), gpu["environment"]
for name, s in svc.items():
    assert name == "asr-gpu" or not s.get("profiles"), name + " has a profile"
    assert s.get("restart") == "unless-stopped", name + ": no restart policy"
    lim = s["deploy"]["resources"]["limits"]
    assert lim.get("cpus") and lim.get("memory"), name + ": no limits"
    dep = s.get("depends_on", {})
    assert name == "nats" or dep.get("nats", {}).get("condition") == "service_healthy", name
    assert all(d["condition"] == "service_healthy" for d in dep.values()), name
workers = {"asr", "nlu", "qa", "tts", "dialog"}
assert workers <= set(svc["gateway"]["depends_on"]), "the gateway does not wait for every worker"
print("compose-test: gpu profile (asr-gpu, nvidia device reserved), restart policies, limits, "
      "depends_on service_healthy: checked")'
say "docker-compose config -q: valid, with and without --profile gpu"

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
  podman pod rm -f $(podman pod ps -q --filter "name=$PROJECT") >/dev/null 2>&1
  podman volume rm -f $(podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT") >/dev/null 2>&1
  podman volume rm -f "${PROJECT}_nats-data" "${PROJECT}_qa-data" "${PROJECT}_dialog-data" >/dev/null 2>&1
  podman network rm -f "${PROJECT}_default" >/dev/null 2>&1
  left=$(podman ps -a --format '{{.Names}}' | grep -c "^${PROJECT}_" || true)
  leftn=$(podman network ls --format '{{.Name}}' | grep -c "^${PROJECT}_" || true)
  leftv=$(podman volume ls --format '{{.Name}}' | grep -c "^${PROJECT}_" || true)
  leftp=$(podman pod ps --format '{{.Name}}' | grep -c "$PROJECT" || true)
  say "left behind: $left containers, $leftp pods, $leftn networks, $leftv volumes"
  rm -rf "$TMP"
  if ((rc == 0 && left + leftp + leftn + leftv != 0)); then rc=1; fi
  say "$( ((rc == 0)) && echo PASSED || echo "FAILED (rc $rc)")"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# podman-compose 1.0.3 knows no profiles: name the services (not asr-gpu).
compose up -d "${SERVICES[@]}" >"$TMP/up.log" 2>&1 || { cat "$TMP/up.log"; exit 1; }
fail_here up
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
fail_here healthy

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
fail_here smoke

# The parley CLI inside the containers: the gateway's health and every service's, from the
# gateway's own container and from a worker's across the compose network.
podman exec "${PROJECT}_gateway_1" parley status --server 127.0.0.1:50051 | sed 's/^/    /'
st=$(podman exec "${PROJECT}_nlu_1" parley status --server gateway:50051 --json)
echo "$st" | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)
bad = [x for x in s["services"] if x["status"] != "SERVING"]
assert s["reachable"] and s["gateway"] == "SERVING" and len(s["services"]) >= 4 and not bad, s
print("compose-test: parley status --json in the nlu container: gateway and %d services SERVING"
      % len(s["services"]))'
podman exec "${PROJECT}_gateway_1" parley nlu intent --server 127.0.0.1:50051 "play some jazz" | sed 's/^/    /'
say "parley CLI in the image: status (gateway and worker containers), nlu intent"

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

# An online backup of the dialog store while parley-dialog runs (docs/deployment.md, "Backups"):
# SQLite's backup API from the host on the volume's directory; the copy passes an integrity
# check and holds the session's events.
mp=$(podman volume inspect -f '{{.Mountpoint}}' "${PROJECT}_dialog-data")
/usr/bin/python3 - "$mp/dialog.sqlite" "$TMP/dialog-backup.sqlite" "$sid" <<'PY'
import sqlite3, sys
src, dst = sqlite3.connect(sys.argv[1]), sqlite3.connect(sys.argv[2])
src.backup(dst)
src.close()
ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
n = dst.execute("SELECT count(*) FROM events WHERE session_id = ?", (sys.argv[3],)).fetchone()[0]
assert ok == "ok" and n >= 1, (ok, n)
print("compose-test: online backup of dialog.sqlite: integrity %s, %d events of the session" % (ok, n))
PY
user=$(podman exec "${PROJECT}_gateway_1" id -un)
[[ $user == parley ]] || { say "services run as $user, not parley"; exit 1; }
say "services run as user parley"
