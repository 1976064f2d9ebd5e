# parley-asr (services/asr): unit suite of segmentation, audio input and Recognize on a
# random-weight model (no NATS), and the end-to-end test (nats-server + parley-asr + gateway
# on free ports, Python gRPC client).
if(TARGET parley_asr_svc AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_asrsvc.c)
  pl_add_unit_test(NAME asrsvc SOURCES unit/test_asrsvc.c LIBS parley_asr_svc TIMEOUT 300)
endif()
if(TARGET parley-asr AND TARGET parley-gateway AND TARGET parley_proto_python AND TARGET parley-transcribe)
  set(_pl_asr_nlu_env "")
  if(TARGET parley-nlu) # punctuation through parley-nlu is tested when it is built
    set(_pl_asr_nlu_env "PL_NLU=$<TARGET_FILE:parley-nlu>;")
  endif()
  add_test(NAME integration_asr_service
    COMMAND ${PL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/asr_test_service.py
    WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
  set_tests_properties(integration_asr_service PROPERTIES
    LABELS integration TIMEOUT 300
    ENVIRONMENT "${_pl_asr_nlu_env}PL_ASR=$<TARGET_FILE:parley-asr>;PL_PARLEY=$<TARGET_FILE:parley>;PL_GATEWAY=$<TARGET_FILE:parley-gateway>;PL_PYTHON_STUBS=${CMAKE_BINARY_DIR}/python;PL_SOURCE_DIR=${CMAKE_SOURCE_DIR};PARLEY_DATA_DIR=${PARLEY_DATA_DIR};PYTHONDONTWRITEBYTECODE=1")

  # The shipped acoustic model, once it exists (skipped before: exit 77).
  add_test(NAME integration_asr_real_model
    COMMAND ${PL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/asr_test_real_model.py
    WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
  set_tests_properties(integration_asr_real_model PROPERTIES
    LABELS integration TIMEOUT 300 SKIP_RETURN_CODE 77
    ENVIRONMENT "PYTHONPATH=${CMAKE_SOURCE_DIR};PL_ASR=$<TARGET_FILE:parley-asr>;PL_PARLEY=$<TARGET_FILE:parley>;PL_GATEWAY=$<TARGET_FILE:parley-gateway>;PL_PYTHON_STUBS=${CMAKE_BINARY_DIR}/python;PL_SOURCE_DIR=${CMAKE_SOURCE_DIR};PARLEY_DATA_DIR=${PARLEY_DATA_DIR};PYTHONDONTWRITEBYTECODE=1")
endif()
