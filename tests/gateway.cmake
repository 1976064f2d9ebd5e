# parley-gateway, parley up/status: unit suites here; integration tests (real nats-server,
# gateway, echo worker) in tests/integration/.
# The tests' gRPC C core client (tests/support/test_grpc.h): unit suites and the
# integration client share it.
add_library(parley_test_grpc STATIC ${CMAKE_CURRENT_SOURCE_DIR}/support/test_grpc.c)
target_include_directories(parley_test_grpc PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/support)
target_link_libraries(parley_test_grpc PUBLIC PkgConfig::GRPC)
pl_add_unit_test(NAME gateway SOURCES unit/test_gateway.c LIBS parley_gateway_core parley_test_grpc)
pl_add_unit_test(NAME gateway_nats SOURCES unit/test_gateway_nats.c
                 LIBS parley_gateway_core parley_test_support parley_test_grpc)
target_compile_definitions(test_gateway_nats PRIVATE
  PL_ECHO_WORKER_PATH="$<TARGET_FILE:pl_echo_worker>")
add_dependencies(test_gateway_nats pl_echo_worker)
pl_add_unit_test(NAME up SOURCES unit/test_up.c LIBS parley_up_core)
include(${CMAKE_CURRENT_SOURCE_DIR}/integration/integration.cmake)
# Security (docs/security.md): no request text or API key in any service's log at the default
# level, and every side port on loopback when no bind address is given; real nlu, qa, tts (the
# fake voice), dialog and gateway on free 127.0.0.1 ports.
pl_add_py_test(NAME integration_log_hygiene SCRIPT test_log_hygiene.py TIMEOUT 120
               ENV "PL_DIALOG=$<TARGET_FILE:parley-dialog>" "PL_NLU=$<TARGET_FILE:parley-nlu>"
                   "PL_QA=$<TARGET_FILE:parley-qa>" "PL_TTS=$<TARGET_FILE:parley-tts-fake>"
                   "PL_TTS_FAKE=1" "PL_GATEWAY=$<TARGET_FILE:parley-gateway>"
                   "PL_PARLEY=$<TARGET_FILE:parley>" "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
