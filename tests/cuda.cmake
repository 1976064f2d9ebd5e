# CUDA backend tests (label gpu; they print "skipped: no CUDA device" and are
# reported as skipped where there is no GPU) and the GPU benchmark program.
# The two unit tests and bench_cuda are also what PARLEY_ENGINE_ONLY builds: they
# have their own main for a build without Check (OWN_MAIN) and need no service library.
if(PL_HAVE_CUDA)
  pl_add_unit_test(NAME cuda SOURCES unit/test_cuda.c LIBS parley_engine_cuda parley_base
                   LABELS gpu TIMEOUT 600 OWN_MAIN)
  set_tests_properties(unit_cuda PROPERTIES SKIP_REGULAR_EXPRESSION "skipped: no CUDA device")
  # the "cuda" engine backend against "cpu-ref", through the graph API
  pl_add_unit_test(NAME cuda_backend SOURCES unit/test_cuda_backend.c LIBS parley_engine_core
                   LABELS gpu TIMEOUT 600 OWN_MAIN)
  set_tests_properties(unit_cuda_backend PROPERTIES
    SKIP_REGULAR_EXPRESSION "skipped: no CUDA device")
  add_executable(bench_cuda ${CMAKE_SOURCE_DIR}/engine/cuda/bench/bench_cuda.c)
  target_link_libraries(bench_cuda PRIVATE parley_engine_cuda parley_base m)
  # a whole model through `parley model forward --device cuda` vs the CPU
  if(NOT PARLEY_ENGINE_ONLY)
    add_test(NAME gpu_model_forward
      COMMAND bash ${CMAKE_SOURCE_DIR}/engine/cuda/tests/model_forward_gpu.sh
              $<TARGET_FILE:parley-model> $<TARGET_FILE:bench_cuda> ${PL_PYTHON}
              ${CMAKE_SOURCE_DIR})
    set_tests_properties(gpu_model_forward PROPERTIES LABELS "gpu;integration" TIMEOUT 300
      SKIP_RETURN_CODE 77)
  endif()
endif()
