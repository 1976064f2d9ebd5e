# `parley perf --stream` (clients/perf/perf_stream.c): the measurement definitions (unit), and
# the C client against nats-server + parley-asr (shipped model) + parley-gateway (integration).
pl_add_unit_test(NAME perf_stream SOURCES unit/test_perf_stream.c LIBS parley_perf_stats TIMEOUT 60)
pl_add_py_test(NAME integration_perf_stream SCRIPT perf_stream_test.py ENV ${_pl_asr_env})
