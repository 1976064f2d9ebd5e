#!/usr/bin/env bash
# Installs the Debian packages the container deployment needs (docker/build.sh,
# docker/compose_test.sh, make images / compose-test). Not part of make build or make test.
# Idempotent, like scripts/deps.sh: apt is not touched when nothing is missing.
set -euo pipefail

PKGS=(
  # rootful podman with runc (crun refuses this machine's hybrid cgroups), image builds
  podman buildah runc
  # container name resolution on CNI networks (compose service names: nats://nats:4222)
  golang-github-containernetworking-plugin-dnsname
  # the pause process of pods (podman kube play)
  catatonit
  # the base image from the machine's own apt sources
  mmdebstrap
  # compose: podman-compose runs it, Debian's docker-compose (1.29) validates it offline
  podman-compose docker-compose
  # the tests: gRPC stubs (build/python), HTTP probes
  python3-grpcio python3-protobuf curl
)

missing=()
for p in "${PKGS[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ "$st" == ii* ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "deploy deps: all ${#PKGS[@]} packages present"
  exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "deploy deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
