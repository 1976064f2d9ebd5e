# ASR acoustic model in the engine (engine/models/asr_model.c): parity with the
# PyTorch reference (tests/reference/asr_model_ref.py), streaming == full forward,
# broken model directories.
pl_add_unit_test(NAME asr_model SOURCES unit/test_asr_model.c LIBS parley_engine
                 LABELS reference TIMEOUT 300)

# Real-time factor on one thread (a tool, not a test):
#   test_asr_model_bench MODEL_DIR [SECONDS=10] [CHUNK=16] [REPEATS=5]
add_executable(test_asr_model_bench unit/test_asr_model_bench.c)
target_link_libraries(test_asr_model_bench PRIVATE parley_engine)
