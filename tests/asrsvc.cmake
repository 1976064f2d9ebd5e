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
  "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
  "PARLEY_DATA_DIR=${PARLEY_DATA_DIR}")
pl_add_py_test(NAME integration_asr_service SCRIPT asr_test_service.py TIMEOUT 300
               ENV ${_pl_asr_env})
# the shipped acoustic model as `parley up` serves it
pl_add_py_test(NAME integration_asr_real_model SCRIPT asr_test_real_model.py TIMEOUT 300
               ENV ${_pl_asr_env})
