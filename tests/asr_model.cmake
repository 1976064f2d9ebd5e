# ASR acoustic model in the engine (engine/models/asr_model.c): parity with the
# PyTorch reference (tests/reference/asr_model_ref.py), streaming == full forward,
# broken model directories.
if(TARGET parley_engine AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_asr_model.c)
  pl_add_unit_test(NAME asr_model SOURCES unit/test_asr_model.c LIBS parley_engine
                   LABELS reference TIMEOUT 300)
endif()
