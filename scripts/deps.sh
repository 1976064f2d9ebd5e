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
  libutf8proc-dev zlib1g-dev libyaml-dev
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
  # process tools used by scripts and tests
  procps psmisc iproute2 curl
)

missing=()
for p in "${PKGS[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ "$st" == ii* ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "deps: all ${#PKGS[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
