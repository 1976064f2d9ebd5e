#!/usr/bin/env bash
# The container tests' precondition (make test, docker/compose_test.sh and helm/kube_play_test.sh
# as ctests): localhost/parley:latest built from the sources as they are now.
#   exit 0   the image is current (built here when it was missing or older than the sources,
#            docker/build.sh; about 3.5 min from nothing on 2 cores, a second when current)
#   exit 77  this machine cannot run containers at all: podman is not installed, or
#            `podman info` fails (no user namespaces, no storage); said loudly, with the reason
#   exit 1   anything else: podman works here but the build failed (its log's tail is printed)
# Installs nothing (scripts/deps.sh does, in make test).
set -uo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/docker/containers.conf}
IMAGE=localhost/parley:latest

skip() {
  {
    echo "##########################################################################"
    echo "## SKIP: this machine cannot run containers: $1"
    echo "## The container tests (deploy_compose, deploy_kube_play) did not run."
    echo "##########################################################################"
  } >&2
  exit 77
}
command -v podman >/dev/null || skip "podman is not installed (scripts/deps.sh installs it)"
info=$(podman info --format '{{.Host.OCIRuntime.Name}}' 2>&1) ||
  skip "\`podman info\` fails: $(echo "$info" | tail -1)"

have=$(podman image inspect -f '{{index .Labels "org.parley.src-digest"}}' "$IMAGE" 2>/dev/null)
want=$(docker/build.sh --digest)
[[ -n $have && $have == "$want" ]] && exit 0

echo "ensure-images: $IMAGE is $([[ -n $have ]] && echo "older than the sources ($have, now $want)" || echo missing); building it (docker/build.sh)"
log=$(mktemp)
t0=$(date +%s)
if ! PARLEY_NO_DEPS=1 docker/build.sh >"$log" 2>&1; then
  tail -30 "$log" >&2
  rm -f "$log"
  echo "ensure-images: FAILED: docker/build.sh (podman works here, so this is a failure, not a skip)" >&2
  exit 1
fi
grep -E '^build: base|^localhost/parley' "$log"
rm -f "$log"
have=$(podman image inspect -f '{{index .Labels "org.parley.src-digest"}}' "$IMAGE" 2>/dev/null)
[[ -n $have ]] || { echo "ensure-images: FAILED: no $IMAGE with a source digest after the build" >&2; exit 1; }
echo "ensure-images: $IMAGE built in $(($(date +%s) - t0)) s"
