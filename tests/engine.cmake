# Engine tests: kernels vs the scalar reference, safetensors hostile files,
# BERT parity against PyTorch (label `reference`).
pl_add_unit_test(NAME engine_ops SOURCES unit/test_engine_ops.c LIBS parley_engine)
pl_add_unit_test(NAME safetensors SOURCES unit/test_safetensors.c LIBS parley_engine)
pl_add_unit_test(NAME bert SOURCES unit/test_bert.c LIBS parley_engine PkgConfig::JANSSON
                 LABELS reference TIMEOUT 600)
# `parley model forward` end to end against the PyTorch reference (padded batch).
add_test(NAME reference_model_forward_cli
  COMMAND ${PL_PYTHON} ${CMAKE_SOURCE_DIR}/tests/reference/bert_ref.py
          ${CMAKE_BINARY_DIR}/tests/ref_model_cli --arch bert --head qa --layers 3
          --cases "1;4,17,9;33" --cli $<TARGET_FILE:parley-model> --tol 1e-4)
set_tests_properties(reference_model_forward_cli PROPERTIES LABELS "reference;integration" TIMEOUT 120)
