# proto: wire compatibility with Python protobuf both ways, the RPC table, malformed input.
# The test runs tests/proto/wire_vectors.py with PL_PYTHON and the stubs of parley_proto_python.
pl_add_unit_test(NAME proto
  SOURCES unit/test_proto.c unit/test_proto_c2py.c unit/test_proto_rpc.c
  LIBS parley_proto parley_common PkgConfig::JANSSON)
add_dependencies(test_proto parley_proto_python)
