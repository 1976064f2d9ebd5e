# libparley-client, the C SDK (clients/c): its unit suite without a server (linked against the
# shared library, as an application is), and the examples of clients/c/examples run against a
# real stack (nats-server, parley-asr, parley-nlu, parley-qa, parley-tts-fake, parley-dialog
# and the gateway on free 127.0.0.1 ports; a second gateway with TLS and API keys), an install
# into a temporary prefix with an example compiled there through pkg-config, and the latency
# benchmark against raw gRPC (tests/integration/sdk_examples.py).
pl_add_unit_test(NAME client_sdk SOURCES unit/test_client_sdk.c LIBS parley-client TIMEOUT 60)
pl_add_py_test(NAME integration_sdk_examples SCRIPT sdk_examples.py TIMEOUT 300
               ENV "PL_DIALOG=$<TARGET_FILE:parley-dialog>" "PL_NLU=$<TARGET_FILE:parley-nlu>"
                   "PL_QA=$<TARGET_FILE:parley-qa>" "PL_GATEWAY=$<TARGET_FILE:parley-gateway>"
                   "PL_PARLEY=$<TARGET_FILE:parley>" "PL_ASR=$<TARGET_FILE:parley-asr>"
                   "PL_TTS=$<TARGET_FILE:parley-tts-fake>" "PL_TTS_FAKE=1"
                   "PL_SDK_EXAMPLES=${CMAKE_BINARY_DIR}/clients/c/examples"
                   "PL_SDK_BENCH=$<TARGET_FILE:pl-sdk-bench>"
                   "PL_BUILD_DIR=${CMAKE_BINARY_DIR}" "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
                   "PARLEY_DATA_DIR=${PARLEY_DATA_DIR}")

# The Python SDK (clients/python): a venv with Debian's grpcio, the package pip-installed
# offline (stubs generated from proto/ at install), every call against the same kind of stack,
# compared with raw grpcio stubs; TLS and API keys; SDK vs raw latency
# (tests/integration/sdk_python.py).
pl_add_py_test(NAME integration_sdk_python SCRIPT sdk_python.py TIMEOUT 300
               ENV "PL_DIALOG=$<TARGET_FILE:parley-dialog>" "PL_NLU=$<TARGET_FILE:parley-nlu>"
                   "PL_QA=$<TARGET_FILE:parley-qa>" "PL_GATEWAY=$<TARGET_FILE:parley-gateway>"
                   "PL_PARLEY=$<TARGET_FILE:parley>" "PL_ASR=$<TARGET_FILE:parley-asr>"
                   "PL_TTS=$<TARGET_FILE:parley-tts-fake>" "PL_TTS_FAKE=1"
                   "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}" "PARLEY_DATA_DIR=${PARLEY_DATA_DIR}")

# `parley ask|transcribe|synthesize [--list-voices]|chat|status --server --json` against a real
# stack, parsed and compared with raw grpcio; --tls-ca and --api-key against a TLS gateway (a
# wrong key: status exits 4); status where nothing listens (3), with parley-tts stopped (1), then
# parley-qa (1: parley.qa NOT_SERVING)
# (tests/integration/cli_json.py).
pl_add_py_test(NAME integration_parley_cli_json SCRIPT cli_json.py TIMEOUT 240
               ENV "PL_DIALOG=$<TARGET_FILE:parley-dialog>" "PL_NLU=$<TARGET_FILE:parley-nlu>"
                   "PL_QA=$<TARGET_FILE:parley-qa>" "PL_GATEWAY=$<TARGET_FILE:parley-gateway>"
                   "PL_PARLEY=$<TARGET_FILE:parley>" "PL_ASR=$<TARGET_FILE:parley-asr>"
                   "PL_TTS=$<TARGET_FILE:parley-tts-fake>" "PL_TTS_FAKE=1"
                   "PL_CLIENTS_DIR=${CMAKE_BINARY_DIR}/clients"
                   "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}" "PARLEY_DATA_DIR=${PARLEY_DATA_DIR}")

# `parley nlu intent|entities|tokens|punctuate` (clients/nlu, through libparley-client) against
# nats-server, parley-nlu and the gateway: --json compared with raw grpcio, stdin, plain output,
# an unknown --model (exit 1, NOT_FOUND), TLS + API key, no gateway (tests/integration/cli_nlu.py).
pl_add_py_test(NAME integration_parley_cli_nlu SCRIPT cli_nlu.py TIMEOUT 120
               ENV "PL_NLU=$<TARGET_FILE:parley-nlu>" "PL_GATEWAY=$<TARGET_FILE:parley-gateway>"
                   "PL_CLIENTS_DIR=${CMAKE_BINARY_DIR}/clients" "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
