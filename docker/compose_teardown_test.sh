#!/usr/bin/env bash
# Teardown on failure (ctest deploy_compose_teardown): runs docker/compose_test.sh made to fail
# on purpose once the stack is up and healthy (PARLEY_COMPOSE_FAIL_AT=healthy), then checks
# from outside that its trap left no container, pod, network or volume of the project behind.
# Exit 0 = the run failed as asked and nothing is left; 77 when containers cannot run here.
#   docker/compose_teardown_test.sh [BUILD_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/docker/containers.conf}
docker/ensure_images.sh || exit $?
project=parleytd$$
PARLEY_NO_BUILD=1 PARLEY_COMPOSE_PROJECT=$project PARLEY_COMPOSE_FAIL_AT=${PARLEY_FAIL_AT:-healthy} \
  docker/compose_test.sh "$BUILD" > "/tmp/$project.log" 2>&1
rc=$?
grep -E '^compose-test' "/tmp/$project.log"
rm -f "/tmp/$project.log"
containers=$(podman ps -a --format '{{.Names}}' | grep -c "^${project}_")
pods=$(podman pod ps --format '{{.Name}}' | grep -c "$project")
networks=$(podman network ls --format '{{.Name}}' | grep -c "^${project}_")
volumes=$(podman volume ls --format '{{.Name}}' | grep -c "^${project}_")
echo "compose-teardown: the failing run exited $rc; left behind: $containers containers, $pods pods, $networks networks, $volumes volumes"
if ((rc == 0 || rc == 77)); then echo "compose-teardown: FAILED: the run did not fail as asked"; exit 1; fi
if ((containers + pods + networks + volumes != 0)); then echo "compose-teardown: FAILED: teardown left things behind"; exit 1; fi
echo "compose-teardown: PASSED"
