# parley-asr (services/asr): unit suite of segmentation, audio input and Recognize on a
# random-weight model (no NATS), and the end-to-end tests (nats-server + parley-asr (+
# parley-nlu for punctuation) + gateway on free ports, Python gRPC client).
pl_add_unit_test(NAME asrsvc SOURCES unit/test_asrsvc.c LIBS parley_asr_svc TIMEOUT 300)

set(_pl_asr_env
  "PL_NLU=$<TARGET_FILE:parley-nlu>"
  "PL_ASR=$<TARGET_FILE:parley-asr>"
  "PL_PARLEY=$<TARGET_FILE:parley>"
  "PL_GATEWAY=$<TARGET_FILE:parley-gateway>"
  "PL_TRANSCRIBE=$<TARGET_FILE:parley-transcribe>"
  "PL_PYTHON_STUBS=${CMAKE_BINARY_DIR}/python"
  "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
  "PARLEY_DATA_DIR=${PARLEY_DATA_DIR}"
  "PYTHONPATH=${CMAKE_SOURCE_DIR}"
  "PYTHONDONTWRITEBYTECODE=1")
add_test(NAME integration_asr_service
  COMMAND ${PL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/asr_test_service.py
  WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
set_tests_properties(integration_asr_service PROPERTIES
  LABELS integration TIMEOUT 300 ENVIRONMENT "${_pl_asr_env}")

# The shipped acoustic model as `parley up` serves it.
add_test(NAME integration_asr_real_model
  COMMAND ${PL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/asr_test_real_model.py
  WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
set_tests_properties(integration_asr_real_model PROPERTIES
  LABELS integration TIMEOUT 300 ENVIRONMENT "${_pl_asr_env}")
