# ASR front end and decoding (engine/asr -> parley_asr_dsp).
if(TARGET parley_asr_dsp)
  foreach(suite asr_features asr_ctc asr_itn)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_${suite}.c)
      pl_add_unit_test(NAME ${suite} SOURCES unit/test_${suite}.c LIBS parley_asr_dsp)
    endif()
  endforeach()

  # Front end vs the NumPy reference (train/asr/feats.py) on real clips (max |diff| <= 1e-4).
  add_executable(test_asr_feat_dump unit/test_asr_feat_dump.c)
  target_link_libraries(test_asr_feat_dump PRIVATE parley_asr_dsp)
  add_test(NAME reference_asr_features
    COMMAND ${PL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/asr_features.py --check
            $<TARGET_FILE:test_asr_feat_dump> ${PARLEY_DATA_DIR}
            ${CMAKE_CURRENT_BINARY_DIR}/asr_features_ref)
  set_tests_properties(reference_asr_features PROPERTIES LABELS reference TIMEOUT 300
    ENVIRONMENT "PYTHONPATH=${CMAKE_SOURCE_DIR}")
endif()

# Prefix beam search (LM, boosting, n-best, chunked feeding) vs the Python reference.
if(TARGET parley_asr_dsp)
  add_executable(test_asr_beam_dump unit/test_asr_beam_dump.c)
  target_link_libraries(test_asr_beam_dump PRIVATE parley_asr_dsp)
  add_test(NAME reference_asr_ctc_beam
    COMMAND ${PL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/asr_ctc_beam.py --check
            $<TARGET_FILE:test_asr_beam_dump> ${CMAKE_CURRENT_BINARY_DIR}/asr_ctc_beam_ref)
  set_tests_properties(reference_asr_ctc_beam PROPERTIES LABELS reference TIMEOUT 300)
endif()

# Speed of the front end and decoders; LM effect on simulated posteriors (a tool:
#   test_asr_bench ../shared/data models/asr-lm/lm.arpa.gz [BEAM]).
if(TARGET parley_asr_dsp)
  add_executable(test_asr_bench unit/test_asr_bench.c)
  target_link_libraries(test_asr_bench PRIVATE parley_asr_dsp)
endif()

# The LM recipe: text normalization, held-out sentences, distributions summing to 1
# after pruning, the C loader reading its gzip ARPA (a small made-up corpus; seconds).
if(TARGET parley_asr_dsp)
  add_test(NAME reference_asr_lm_recipe
    COMMAND ${PL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/asr_lm_recipe.py
            ${CMAKE_SOURCE_DIR} $<TARGET_FILE:test_asr_beam_dump>
            ${CMAKE_CURRENT_BINARY_DIR}/asr_lm_recipe)
  set_tests_properties(reference_asr_lm_recipe PROPERTIES LABELS reference TIMEOUT 120
    ENVIRONMENT "PYTHONPATH=${CMAKE_SOURCE_DIR}")
endif()
