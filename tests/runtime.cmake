# Runtime tests (runtime/). The nrpc suite starts real nats-server processes on free
# 127.0.0.1 ports (tests/support/test_nats.c) and a test-only echo worker.

# Test helpers others may reuse: start/stop nats-server, spawn/kill helper processes.
add_library(parley_test_support STATIC ${CMAKE_CURRENT_SOURCE_DIR}/support/test_nats.c)
target_include_directories(parley_test_support PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/support)
target_link_libraries(parley_test_support PUBLIC parley_common)

# Test-only worker (never installed): see tests/support/README.md.
add_executable(pl_echo_worker ${CMAKE_CURRENT_SOURCE_DIR}/support/echo_worker.c)
target_link_libraries(pl_echo_worker PRIVATE parley_runtime parley_proto)

pl_add_unit_test(NAME metrics SOURCES unit/test_metrics.c LIBS parley_runtime)
pl_add_unit_test(NAME service SOURCES unit/test_service.c LIBS parley_runtime)
pl_add_unit_test(NAME batcher SOURCES unit/test_batcher.c LIBS parley_runtime)
pl_add_unit_test(NAME nrpc SOURCES unit/test_nrpc.c LIBS parley_runtime parley_test_support
                 LABELS integration)
target_compile_definitions(test_nrpc PRIVATE PL_ECHO_WORKER_PATH="$<TARGET_FILE:pl_echo_worker>")
add_dependencies(test_nrpc pl_echo_worker)
pl_add_unit_test(NAME model_repo SOURCES unit/test_model_repo.c LIBS parley_runtime)
