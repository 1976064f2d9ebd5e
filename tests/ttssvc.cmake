# parley-tts (services/tts) end to end: nats-server + gateway + parley-tts on free 127.0.0.1
# ports, a Python gRPC client behaving as the official talk.py (offline, --stream with one
# request per line, --list-voices), every bad input of issue 15, `parley synthesize`.
# parley-tts-fake is the same service with a tone generator as its voice
# (tests/support/fake_tts_voice.c): the service's own behaviour (chunks streamed as the voice
# makes them, errors, rates, encodings) is tested whether or not the neural voice is built;
# integration_tts_service runs the same script against the real voice when it is.
# the streaming Ogg/Opus writer of SynthesizeOnline (services/tts/tts_opus.c), decoded back
pl_add_unit_test(NAME ttssvc SOURCES unit/test_ttssvc.c LIBS parley_tts_core)

add_executable(parley-tts-fake ${CMAKE_SOURCE_DIR}/services/tts/main.c
               ${CMAKE_CURRENT_LIST_DIR}/support/fake_tts_voice.c)
target_link_libraries(parley-tts-fake PRIVATE parley_tts_core)

set(pl_tts_env "PL_GATEWAY=$<TARGET_FILE:parley-gateway>" "PL_PARLEY=$<TARGET_FILE:parley>"
    "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}" "PARLEY_DATA_DIR=${PARLEY_DATA_DIR}")
pl_add_py_test(NAME integration_tts_fake SCRIPT tts_test_service.py TIMEOUT 300
               ENV "PL_TTS=$<TARGET_FILE:parley-tts-fake>" "PL_TTS_FAKE=1" ${pl_tts_env})
if(TARGET parley-tts)
  pl_add_py_test(NAME integration_tts_service SCRIPT tts_test_service.py TIMEOUT 600
                 ENV "PL_TTS=$<TARGET_FILE:parley-tts>" ${pl_tts_env})
endif()
