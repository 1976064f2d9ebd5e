# parley-asr (services/asr): unit suite of segmentation, audio input and Recognize on a
# random-weight model (no NATS), and the end-to-end tests (nats-server + parley-asr (+
# parley-nlu for punctuation) + gateway on free ports, Python gRPC client).
pl_add_unit_test(NAME asrsvc SOURCES unit/test_asrsvc.c LIBS parley_asr_svc TIMEOUT 300)
# Recognize with "device": "cuda" against the CPU on the shipped model (label gpu; skipped
# without a device).
if(PL_HAVE_CUDA)
  add_test(NAME gpu_asrsvc_device COMMAND test_asrsvc)
  set_tests_properties(gpu_asrsvc_device PROPERTIES
    LABELS gpu TIMEOUT 300 SKIP_REGULAR_EXPRESSION "skipped: no CUDA device"
    ENVIRONMENT "PL_ASRSVC_DEVICE=cuda;PARLEY_SOURCE_DIR=${CMAKE_SOURCE_DIR};PARLEY_DATA_DIR=${PARLEY_DATA_DIR};PL_PYTHON=${PL_PYTHON};CK_DEFAULT_TIMEOUT=120")
endif()

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
# The evaluation command (train/asr/eval/eval_service.py) on 2 clips of every set, offline,
# streamed and with pocketsphinx (skipped, 77, without the data, the shipped model or
# pocketsphinx).
pl_add_py_test(NAME integration_asr_eval_smoke SCRIPT asr_eval_smoke.py TIMEOUT 300
               ENV ${_pl_asr_env})
set_tests_properties(integration_asr_eval_smoke PROPERTIES SKIP_RETURN_CODE 77)
