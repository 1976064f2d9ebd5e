#!/usr/bin/env bash
# Builds Parley's container images with podman from this machine's own apt sources, no
# registry needed (docs/deployment.md):
#   localhost/parley-base:bookworm   mmdebstrap --variant=minbase of bookworm, podman import
#   localhost/parley-build:latest    the compiler stage of docker/Containerfile
#   localhost/parley:latest          the runtime image: every service, nats-server, the models
# Idempotent: the base is made only when missing (PARLEY_REBASE=1 remakes it), from the tarball
# cached in build-deploy/ when there is one (so a podman image store reset costs an import, not
# a bootstrap); podman's layer cache skips the stages whose inputs did not change. Prints the
# image sizes at the end.
# Usage: docker/build.sh            (as root; installs docker/deps.sh's packages when missing,
#                                   not with PARLEY_NO_DEPS=1, as docker/ensure_images.sh runs it)
#        docker/build.sh --digest   prints the digest of what goes into the images (the image
#                                   label org.parley.src-digest) and exits
set -euo pipefail
cd "$(dirname "$0")/.."
digest() {
  find CMakeLists.txt common runtime proto engine dialog services clients config models \
       docker/Containerfile -type f ! -name '*.pyc' ! -path '*/__pycache__/*' \
       ! -name README.md -print0 | sort -z | xargs -0 sha1sum | sha1sum | cut -c1-16
}
if [[ "${1:-}" == --digest ]]; then digest; exit 0; fi
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/docker/containers.conf}
BASE=localhost/parley-base:bookworm
TAG=${PARLEY_IMAGE_TAG:-latest}
JOBS=${JOBS:-$(nproc)}
t0=$(date +%s)

[[ "${PARLEY_NO_DEPS:-0}" == 1 ]] || docker/deps.sh

BASE_TAR=build-deploy/parley-base-bookworm.tar
if [[ "${PARLEY_REBASE:-0}" != 1 ]] && ! podman image exists "$BASE" && [[ -s $BASE_TAR ]]; then
  echo "build: base image $BASE from $BASE_TAR"
  podman import --change 'CMD ["/bin/bash"]' "$BASE_TAR" "$BASE" >/dev/null
fi
if [[ "${PARLEY_REBASE:-0}" == 1 ]] || ! podman image exists "$BASE"; then
  echo "build: base image $BASE (mmdebstrap minbase of bookworm)"
  mkdir -p build-deploy
  tmp=$(mktemp -d build-deploy/base.XXXXXX)
  trap 'rm -rf "$tmp"' EXIT
  # The machine's Debian sources (deb822), else the default mirror.
  src=()
  for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list; do
    [[ -f $f ]] && grep -q 'debian' "$f" && grep -qv '^#' "$f" && src+=("$f")
  done
  ((${#src[@]})) || src=(http://deb.debian.org/debian)
  nice mmdebstrap --variant=minbase --quiet \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --aptopt='APT::Install-Recommends "false"' \
    bookworm "$tmp/base.tar" "${src[@]}"
  podman import --change 'CMD ["/bin/bash"]' "$tmp/base.tar" "$BASE" >/dev/null
  mv "$tmp/base.tar" "$BASE_TAR"
  rm -rf "$tmp"; trap - EXIT
fi
tb=$(date +%s)

common=(--pull=never --ignorefile docker/containerignore -f docker/Containerfile
        --build-arg JOBS="$JOBS" --network=host --format docker)
SRC_DIGEST=$(digest)
# The images these tags name now: once retagged, they would stay behind untagged (about 1.2 GB a
# rebuild), so they are removed after the build unless a container still uses them.
old_ids=$(podman image inspect -f '{{.Id}}' "localhost/parley-build:$TAG" "localhost/parley:$TAG" 2>/dev/null || true)
echo "build: localhost/parley-build:$TAG"
nice podman build "${common[@]}" --target build -t "localhost/parley-build:$TAG" . 
echo "build: localhost/parley:$TAG"
nice podman build "${common[@]}" --target runtime --label org.parley.src-digest="$SRC_DIGEST" \
  -t "localhost/parley:$TAG" .
t1=$(date +%s)
for id in $old_ids; do
  [[ -z $(podman image inspect -f '{{.RepoTags}}' "$id" 2>/dev/null | tr -d '[]') ]] &&
    podman rmi "$id" >/dev/null 2>&1 || true
done

echo "build: base $((tb - t0)) s, images $((t1 - tb)) s"
podman images --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E '^localhost/parley' || true
