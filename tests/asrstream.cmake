# StreamingRecognize of parley-asr (services/asr/asr_stream.c): sessions without NATS on a tiny
# random-weight model, a real LJ Speech recording and the Silero VAD from PARLEY_DATA_DIR.
if(TARGET parley_asr_svc AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_asrstream.c)
  pl_add_unit_test(NAME asrstream SOURCES unit/test_asrstream.c LIBS parley_asr_svc TIMEOUT 300)
endif()
