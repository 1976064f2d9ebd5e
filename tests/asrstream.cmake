# StreamingRecognize of parley-asr (services/asr/asr_stream.c): sessions without NATS on a tiny
# random-weight model, a real LJ Speech recording and the shipped Silero VAD.
pl_add_unit_test(NAME asrstream SOURCES unit/test_asrstream.c LIBS parley_asr_svc TIMEOUT 300)

# Through the gateway: nats-server + parley-asr (+ parley-nlu) + parley-gateway on free ports,
# Python gRPC client. _pl_asr_env comes from asrsvc.cmake.
add_test(NAME integration_asr_stream
  COMMAND ${PL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/asr_stream_test.py
  WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
set_tests_properties(integration_asr_stream PROPERTIES
  LABELS integration TIMEOUT 300 ENVIRONMENT "${_pl_asr_env}")
