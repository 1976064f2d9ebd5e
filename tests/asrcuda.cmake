# The ASR acoustic model on the "cuda" backend against "cpu" (random-weight models and the
# shipped one; whole utterances, batches, chunked feeding with the state in device buffers).
# Label gpu; prints "skipped: no CUDA device" (reported as skipped) where there is no GPU.
if(PL_HAVE_CUDA)
  pl_add_unit_test(NAME asrcuda SOURCES unit/test_asrcuda.c LIBS parley_engine parley_common
                   LABELS gpu TIMEOUT 300)
  set_tests_properties(unit_asrcuda PROPERTIES SKIP_REGULAR_EXPRESSION "skipped: no CUDA device")
endif()
