# engine/tokenizer tests: Check suite (unit), reference parity with a Python
# implementation of BERT's tokenization.py on the shared text corpora.
pl_add_unit_test(NAME wordpiece SOURCES unit/test_wordpiece.c LIBS parley_tokenizer)

# Driver for the reference test and the speed measurement (not a suite).
add_executable(wordpiece_dump tools/wordpiece_dump.c)
target_link_libraries(wordpiece_dump PRIVATE parley_tokenizer)

set(PL_WP_VOCAB ${PARLEY_DATA_DIR}/vocab/bert-base-uncased-vocab.txt)
add_test(NAME reference_wordpiece
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/reference/test_wordpiece_ref.sh
          $<TARGET_FILE:wordpiece_dump> ${PL_PYTHON}
          ${CMAKE_CURRENT_SOURCE_DIR}/reference/wordpiece_ref.py
          ${PARLEY_DATA_DIR} ${CMAKE_CURRENT_BINARY_DIR}/wordpiece_ref)
set_tests_properties(reference_wordpiece PROPERTIES LABELS reference TIMEOUT 300)

# The Python offset tokenizer against a literal whole-string transcription
# of BERT's BasicTokenizer (token ids equal, spans spell their tokens).
add_test(NAME reference_wordpiece_selfcheck
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/reference/test_wordpiece_ref.sh
          $<TARGET_FILE:wordpiece_dump> ${PL_PYTHON}
          ${CMAKE_CURRENT_SOURCE_DIR}/reference/wordpiece_ref.py
          ${PARLEY_DATA_DIR} ${CMAKE_CURRENT_BINARY_DIR}/wordpiece_selfcheck --selfcheck)
set_tests_properties(reference_wordpiece_selfcheck PROPERTIES LABELS reference TIMEOUT 300)

# utf8proc's Unicode tables against Python's, code point by code point.
add_test(NAME reference_wordpiece_unicode
  COMMAND ${PL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/test_wordpiece_unicode.py
          $<TARGET_FILE:wordpiece_dump> ${CMAKE_CURRENT_BINARY_DIR}/wordpiece_unicode)
set_tests_properties(reference_wordpiece_unicode PROPERTIES LABELS reference TIMEOUT 300)
