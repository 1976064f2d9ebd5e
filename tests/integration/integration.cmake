# Integration tests of the gateway and `parley up` (label `integration`): a real
# nats-server, the real gateway and the runtime's test-only echo worker, each on free
# 127.0.0.1 ports and stopped by PID however the test ends.
add_executable(pl_gw_c_client ${CMAKE_CURRENT_LIST_DIR}/gw_c_client.c)
target_link_libraries(pl_gw_c_client PRIVATE parley_proto parley_test_grpc)

set(pl_gw_env
  "PL_GATEWAY=$<TARGET_FILE:parley-gateway>"
  "PL_ECHO_WORKER=$<TARGET_FILE:pl_echo_worker>"
  "PL_C_CLIENT=$<TARGET_FILE:pl_gw_c_client>"
  "PL_CLIENTS_DIR=${CMAKE_BINARY_DIR}/clients"
  "PL_PYTHON_STUBS=${CMAKE_BINARY_DIR}/python"
  "PYTHONDONTWRITEBYTECODE=1")
foreach(t gateway_basic gateway_errors gateway_load gateway_tls gateway_limits)
  add_test(NAME integration_${t}
    COMMAND ${PL_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_${t}.py
    WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
  set_tests_properties(integration_${t} PROPERTIES
    LABELS integration TIMEOUT 120 ENVIRONMENT "${pl_gw_env}")
endforeach()

add_test(NAME integration_parley_perf
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_perf.sh ${CMAKE_BINARY_DIR})
set_tests_properties(integration_parley_perf PROPERTIES LABELS integration TIMEOUT 60)
# The dispatcher's overview, `parley help CMD`, errors and bash completion.
add_test(NAME integration_parley_cli_help
  COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/test_cli_help.sh ${CMAKE_BINARY_DIR})
set_tests_properties(integration_parley_cli_help PROPERTIES LABELS integration TIMEOUT 60
  ENVIRONMENT "TMPDIR=${CMAKE_BINARY_DIR}")
add_test(NAME integration_parley_up
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_up.sh ${CMAKE_BINARY_DIR}
  WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
set_tests_properties(integration_parley_up PROPERTIES
  LABELS integration TIMEOUT 120 ENVIRONMENT "${pl_gw_env};PL_PYTHON=${PL_PYTHON}")
