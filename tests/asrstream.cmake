# StreamingRecognize of parley-asr (services/asr/asr_stream.c): sessions without NATS on a tiny
# random-weight model, a real LJ Speech recording and the Silero VAD from PARLEY_DATA_DIR.
if(TARGET parley_asr_svc AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_asrstream.c)
  pl_add_unit_test(NAME asrstream SOURCES unit/test_asrstream.c LIBS parley_asr_svc TIMEOUT 300)
endif()
# Through the gateway: nats-server + parley-asr + parley-gateway on free ports, Python gRPC client.
if(TARGET parley-asr AND TARGET parley-gateway AND TARGET parley_proto_python)
  set(_pl_asrs_nlu_env "")
  if(TARGET parley-nlu) # punctuation of finals through parley-nlu is tested when it is built
    set(_pl_asrs_nlu_env "PL_NLU=$<TARGET_FILE:parley-nlu>;")
  endif()
  add_test(NAME integration_asr_stream
    COMMAND ${PL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/asr_stream_test.py
    WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
  set_tests_properties(integration_asr_stream PROPERTIES
    LABELS integration TIMEOUT 300
    ENVIRONMENT "${_pl_asrs_nlu_env}PL_TRANSCRIBE=$<$<TARGET_EXISTS:parley-transcribe>:$<TARGET_FILE:parley-transcribe>>;PL_ASR=$<TARGET_FILE:parley-asr>;PL_GATEWAY=$<TARGET_FILE:parley-gateway>;PL_PYTHON_STUBS=${CMAKE_BINARY_DIR}/python;PL_SOURCE_DIR=${CMAKE_SOURCE_DIR};PARLEY_DATA_DIR=${PARLEY_DATA_DIR};PYTHONDONTWRITEBYTECODE=1")
endif()
