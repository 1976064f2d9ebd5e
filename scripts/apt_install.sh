#!/usr/bin/env bash
# Installs the Debian packages named after LABEL that are not installed yet; apt is not
# touched when nothing is missing. Shared by scripts/deps.sh and docker/deps.sh.
# Usage: scripts/apt_install.sh LABEL PACKAGE...     (as root, or with sudo available)
set -euo pipefail

label=$1
shift
missing=()
for p in "$@"; do
  st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ "$st" == ii* ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "$label: all $# packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "$label: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
