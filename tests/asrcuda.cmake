# The ASR acoustic model's CUDA path (engine/cuda/asr_*.cu): kernels vs C
# references and the CPU model's depthwise kernel, the whole model vs the CPU
# forward. Label gpu; prints "skipped: no CUDA device" (reported as skipped)
# where there is no GPU.
if(PL_HAVE_CUDA)
  pl_add_unit_test(NAME asrcuda SOURCES unit/test_asrcuda.c LIBS parley_engine parley_engine_cuda
                   parley_common LABELS gpu TIMEOUT 300)
  set_tests_properties(unit_asrcuda PROPERTIES SKIP_REGULAR_EXPRESSION "skipped: no CUDA device")
endif()

# The model view the CUDA path is built from, checked on the CPU (runs everywhere):
# a plain-C forward from the view alone vs pl_asr_model_forward on the shipped model.
pl_add_unit_test(NAME asr_view SOURCES unit/test_asr_view.c LIBS parley_engine parley_common
                 TIMEOUT 120)
