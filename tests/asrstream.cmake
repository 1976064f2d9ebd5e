# StreamingRecognize of parley-asr (services/asr/asr_stream.c): sessions without NATS on a tiny
# random-weight model, a real LJ Speech recording and the shipped Silero VAD.
pl_add_unit_test(NAME asrstream SOURCES unit/test_asrstream.c unit/test_asrstream_util.c
                 LIBS parley_asr_svc TIMEOUT 300)

# Through the gateway: nats-server + parley-asr (+ parley-nlu) + parley-gateway on free ports,
# Python gRPC client. _pl_asr_env comes from asrsvc.cmake.
pl_add_py_test(NAME integration_asr_stream SCRIPT asr_stream_test.py TIMEOUT 300
               ENV ${_pl_asr_env})

# Streamed == Recognize on the shipped model (per-utterance feature normalization: finals are
# recomputed per utterance) for FSDD and speech-commands clips the running statistics got
# wrong, streamed as parley-dialog does (< 30 s).
pl_add_unit_test(NAME asrstream_real SOURCES unit/test_asrstream_real.c unit/test_asrstream_util.c
                 LIBS parley_asr_svc TIMEOUT 120)
