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

exec "$(dirname "$0")/../scripts/apt_install.sh" "deploy deps" "${PKGS[@]}"
