# The web demo (web/, the gateway's parley.converse.v1 socket, docs/web-protocol.md) in a real
# browser: headless Chromium driven by Selenium (scripts/deps.sh installs chromium,
# chromium-driver, python3-selenium; without them the test is skipped), against nats-server,
# parley-asr, parley-nlu, parley-tts, parley-dialog and the gateway on free ports. The fake
# microphone is a WAV file; see tests/integration/web_browser.py for what is checked.
# web_browser uses the tone-generator voice (parley-tts-fake); web_browser_tts the real
# parley-tts when models/tts-voice exists.
set(pl_web_env "PL_DIALOG=$<TARGET_FILE:parley-dialog>" "PL_NLU=$<TARGET_FILE:parley-nlu>"
    "PL_ASR=$<TARGET_FILE:parley-asr>" "PL_GATEWAY=$<TARGET_FILE:parley-gateway>"
    "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
pl_add_py_test(NAME integration_web_browser SCRIPT web_browser.py TIMEOUT 240
               LABELS integration browser
               ENV ${pl_web_env} "PL_TTS=$<TARGET_FILE:parley-tts-fake>" "PL_TTS_FAKE=1")
set_tests_properties(integration_web_browser PROPERTIES SKIP_RETURN_CODE 77)
# the page's error states (microphone denied, the gateway killed and back, a refused API key)
# and keyboard-only use; see tests/integration/web_browser_errors.py
pl_add_py_test(NAME integration_web_browser_errors SCRIPT web_browser_errors.py TIMEOUT 180
               LABELS integration browser
               ENV ${pl_web_env} "PL_TTS=$<TARGET_FILE:parley-tts-fake>" "PL_TTS_FAKE=1")
set_tests_properties(integration_web_browser_errors PROPERTIES SKIP_RETURN_CODE 77)
if(TARGET parley-tts AND EXISTS ${CMAKE_SOURCE_DIR}/models/tts-voice/config.json)
  pl_add_py_test(NAME integration_web_browser_tts SCRIPT web_browser.py TIMEOUT 300
                 LABELS integration browser ENV ${pl_web_env} "PL_TTS=$<TARGET_FILE:parley-tts>")
  set_tests_properties(integration_web_browser_tts PROPERTIES SKIP_RETURN_CODE 77)
endif()

# Riva's realtime API on the gateway's HTTP port (docs/realtime-api.md): a client that speaks
# as the official realtime_asr_client.py / realtime_tts_client.py do (python3-websockets),
# against parley-asr, parley-tts (the trained voice when models/tts-voice exists, else the
# tone-generator voice) and the gateway; see tests/integration/realtime_api.py.
set(pl_rt_env "PL_ASR=$<TARGET_FILE:parley-asr>" "PL_GATEWAY=$<TARGET_FILE:parley-gateway>"
    "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
if(TARGET parley-tts AND EXISTS ${CMAKE_SOURCE_DIR}/models/tts-voice/config.json)
  pl_add_py_test(NAME integration_realtime_api SCRIPT realtime_api.py TIMEOUT 240
                 ENV ${pl_rt_env} "PL_TTS=$<TARGET_FILE:parley-tts>")
else()
  pl_add_py_test(NAME integration_realtime_api SCRIPT realtime_api.py TIMEOUT 240
                 ENV ${pl_rt_env} "PL_TTS=$<TARGET_FILE:parley-tts-fake>" "PL_TTS_FAKE=1")
endif()
set_tests_properties(integration_realtime_api PROPERTIES SKIP_RETURN_CODE 77)

# The realtime API with API keys, per-key and per-address limits, and TLS on the HTTP port
# (gateway.http_tls): nats-server, parley-tts-fake and two gateways; see realtime_auth.py.
pl_add_py_test(NAME integration_realtime_auth SCRIPT realtime_auth.py TIMEOUT 60
               ENV "PL_TTS=$<TARGET_FILE:parley-tts-fake>" "PL_TTS_FAKE=1"
                   "PL_GATEWAY=$<TARGET_FILE:parley-gateway>" "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
set_tests_properties(integration_realtime_auth PROPERTIES SKIP_RETURN_CODE 77)

# Mutual TLS on the HTTP port (gateway.http_tls_client_ca; web_mtls.py): certificates made by
# openssl in the test; a client certificate of the CA gets the page, /healthz and the WebSocket,
# none or another CA's fails the handshake; the key without http_tls stops the gateway.
pl_add_py_test(NAME integration_web_mtls SCRIPT web_mtls.py TIMEOUT 60
               ENV "PL_GATEWAY=$<TARGET_FILE:parley-gateway>" "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
set_tests_properties(integration_web_mtls PROPERTIES SKIP_RETURN_CODE 77)

# The browser socket's protocol errors as a raw client (web_protocol.py, python3-websockets):
# bad frames before start, audio with no conversation open told once (not once per frame), a
# second start on the socket, parley-dialog killed while a microphone streams.
pl_add_py_test(NAME integration_web_protocol SCRIPT web_protocol.py TIMEOUT 90
               ENV "PL_DIALOG=$<TARGET_FILE:parley-dialog>" "PL_GATEWAY=$<TARGET_FILE:parley-gateway>"
                   "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
set_tests_properties(integration_web_protocol PROPERTIES SKIP_RETURN_CODE 77)
