# ASR front end and decoding (engine/asr -> parley_asr_dsp).
foreach(suite asr_features asr_ctc asr_itn)
  pl_add_unit_test(NAME ${suite} SOURCES unit/test_${suite}.c LIBS parley_asr_dsp)
endforeach()

# Drivers of the reference tests (tests/tools/, not suites).
add_executable(asr_feat_dump tools/asr_feat_dump.c)
target_link_libraries(asr_feat_dump PRIVATE parley_asr_dsp)
add_executable(asr_beam_dump tools/asr_beam_dump.c)
target_link_libraries(asr_beam_dump PRIVATE parley_asr_dsp)

# Front end vs the NumPy reference (train/asr/feats.py) on real clips (max |diff| <= 1e-4).
add_test(NAME reference_asr_features
  COMMAND ${PL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/asr_features.py --check
          $<TARGET_FILE:asr_feat_dump> ${PARLEY_DATA_DIR}
          ${CMAKE_CURRENT_BINARY_DIR}/asr_features_ref)
set_tests_properties(reference_asr_features PROPERTIES LABELS reference TIMEOUT 300
  ENVIRONMENT "PYTHONPATH=${CMAKE_SOURCE_DIR}")

# Prefix beam search (LM, boosting, n-best, chunked feeding) vs the Python reference.
add_test(NAME reference_asr_ctc_beam
  COMMAND ${PL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/asr_ctc_beam.py --check
          $<TARGET_FILE:asr_beam_dump> ${CMAKE_CURRENT_BINARY_DIR}/asr_ctc_beam_ref)
set_tests_properties(reference_asr_ctc_beam PROPERTIES LABELS reference TIMEOUT 300)

# Speed of the front end and decoders; LM effect on simulated posteriors (a tool:
#   bench_asr_dsp ../shared/data models/asr-lm/lm.arpa.gz [BEAM]).
add_executable(bench_asr_dsp tools/bench_asr_dsp.c)
target_link_libraries(bench_asr_dsp PRIVATE parley_asr_dsp)

# The LM recipe: text normalization, held-out sentences, distributions summing to 1
# after pruning, the C loader reading its gzip ARPA (a small made-up corpus; seconds).
add_test(NAME reference_asr_lm_recipe
  COMMAND ${PL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/asr_lm_recipe.py
          ${CMAKE_SOURCE_DIR} $<TARGET_FILE:asr_beam_dump>
          ${CMAKE_CURRENT_BINARY_DIR}/asr_lm_recipe)
set_tests_properties(reference_asr_lm_recipe PROPERTIES LABELS reference TIMEOUT 120
  ENVIRONMENT "PYTHONPATH=${CMAKE_SOURCE_DIR}")
