# Fault injection (issue 23 item 2), real processes on free 127.0.0.1 ports, label integration:
# nats-server killed under load and restarted, a worker stopped with SIGSTOP, SQLite state on a
# read-only directory, disk full (text and spoken Converse turns), the state directory with
# JetStream's store on a real full and read-only file system (tmpfs, ext4; root, else skipped),
# allocation failures, idle connections, an hour of audio sent faster than real time
# (docs/operations.md "Fault tests").
set(pl_fault_env "PL_NLU=$<TARGET_FILE:parley-nlu>" "PL_TTS=$<TARGET_FILE:parley-tts-fake>"
    "PL_TTS_FAKE=1" "PL_GATEWAY=$<TARGET_FILE:parley-gateway>" "PL_PARLEY=$<TARGET_FILE:parley>"
    "PL_DIALOG=$<TARGET_FILE:parley-dialog>" "PL_QA=$<TARGET_FILE:parley-qa>"
    "PL_ASR=$<TARGET_FILE:parley-asr>" "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    "PARLEY_DATA_DIR=${PARLEY_DATA_DIR}")
pl_add_py_test(NAME integration_fault_nats_restart SCRIPT fault_nats_restart.py TIMEOUT 90
               ENV ${pl_fault_env})
pl_add_py_test(NAME integration_fault_sigstop SCRIPT fault_sigstop.py TIMEOUT 90
               ENV ${pl_fault_env})
pl_add_py_test(NAME integration_fault_readonly SCRIPT fault_readonly.py TIMEOUT 90
               ENV ${pl_fault_env})
pl_add_py_test(NAME integration_fault_alloc SCRIPT fault_alloc.py TIMEOUT 120
               ENV ${pl_fault_env})
pl_add_py_test(NAME integration_fault_diskfull SCRIPT fault_diskfull.py TIMEOUT 90
               ENV ${pl_fault_env})
pl_add_py_test(NAME integration_fault_fullfs SCRIPT fault_fullfs.py TIMEOUT 150
               ENV ${pl_fault_env})
set_tests_properties(integration_fault_fullfs PROPERTIES SKIP_RETURN_CODE 77)
pl_add_py_test(NAME integration_fault_idle_conns SCRIPT fault_idle_conns.py TIMEOUT 120
               ENV ${pl_fault_env})
pl_add_py_test(NAME integration_fault_fast_audio SCRIPT fault_fast_audio.py TIMEOUT 120
               ENV ${pl_fault_env})
