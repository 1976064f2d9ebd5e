# `parley perf --stream` (clients/perf/perf_stream.c): the measurement definitions (unit), and
# the C client against nats-server + parley-asr (shipped model) + parley-gateway (integration).
pl_add_unit_test(NAME perf_stream SOURCES unit/test_perf_stream.c LIBS parley_perf_stats TIMEOUT 60)
add_test(NAME integration_perf_stream
  COMMAND ${PL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/perf_stream_test.py
  WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
set_tests_properties(integration_perf_stream PROPERTIES
  LABELS integration TIMEOUT 180
  ENVIRONMENT "PL_PARLEY=$<TARGET_FILE:parley>;PL_ASR=$<TARGET_FILE:parley-asr>;PL_GATEWAY=$<TARGET_FILE:parley-gateway>;PL_PYTHON_STUBS=${CMAKE_BINARY_DIR}/python;PL_SOURCE_DIR=${CMAKE_SOURCE_DIR};PARLEY_DATA_DIR=${PARLEY_DATA_DIR};PYTHONDONTWRITEBYTECODE=1")
