# Engine tests: kernels vs the scalar reference, safetensors hostile files,
# BERT parity against PyTorch (label `reference`).
if(TARGET parley_engine)
  pl_add_unit_test(NAME engine_ops SOURCES unit/test_engine_ops.c LIBS parley_engine)
endif()
