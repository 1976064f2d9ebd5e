# Engine tests: kernels vs the scalar reference, safetensors hostile files,
# BERT parity against PyTorch (label `reference`).
if(TARGET parley_engine)
  pl_add_unit_test(NAME engine_ops SOURCES unit/test_engine_ops.c LIBS parley_engine)
endif()
if(TARGET parley_engine AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_safetensors.c)
  pl_add_unit_test(NAME safetensors SOURCES unit/test_safetensors.c LIBS parley_engine)
endif()
if(TARGET parley_engine AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_bert.c)
  pl_add_unit_test(NAME bert SOURCES unit/test_bert.c LIBS parley_engine PkgConfig::JANSSON
                   LABELS reference TIMEOUT 600)
endif()
