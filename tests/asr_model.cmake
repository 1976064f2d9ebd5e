# ASR acoustic model in the engine (engine/models/asr_model.c): parity with the
# PyTorch reference (tests/reference/asr_model_ref.py), streaming == full forward,
# broken model directories.
pl_add_unit_test(NAME asr_model SOURCES unit/test_asr_model.c LIBS parley_engine
                 LABELS reference TIMEOUT 300)

# Real-time factor on one thread (a tool in tests/tools/, not a test):
#   bench_asr_model MODEL_DIR [SECONDS=10] [CHUNK=16] [REPEATS=5]
add_executable(bench_asr_model tools/bench_asr_model.c)
target_link_libraries(bench_asr_model PRIVATE parley_engine)
