# parley-nlu: unit suite of the pre/post-processing (no model needed) and an integration
# test (nats-server + parley-nlu + gateway on free ports, tiny random-weight models made by
# tests/integration/nlu_tiny.py, Python gRPC client).
if(TARGET parley_nlu_core)
  pl_add_unit_test(NAME nlu SOURCES unit/test_nlu.c LIBS parley_nlu_core)
endif()
if(TARGET parley-nlu AND TARGET parley-gateway AND TARGET parley_proto_python)
  add_test(NAME integration_nlu_service
    COMMAND ${PL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/nlu_test_service.py
    WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
  set_tests_properties(integration_nlu_service PROPERTIES
    LABELS integration TIMEOUT 180
    ENVIRONMENT "PL_NLU=$<TARGET_FILE:parley-nlu>;PL_GATEWAY=$<TARGET_FILE:parley-gateway>;PL_PYTHON_STUBS=${CMAKE_BINARY_DIR}/python;PYTHONDONTWRITEBYTECODE=1")
endif()
# The shipped models as `parley up` starts them (skipped until models/nlu-intent-slot-snips exists).
if(TARGET parley-nlu AND TARGET parley-gateway AND TARGET parley-up AND TARGET parley_proto_python)
  add_test(NAME integration_nlu_up_snips
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/nlu_up_snips.sh ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
  set_tests_properties(integration_nlu_up_snips PROPERTIES
    LABELS integration TIMEOUT 180 SKIP_RETURN_CODE 77
    ENVIRONMENT "PL_PYTHON=${PL_PYTHON};PL_PYTHON_STUBS=${CMAKE_BINARY_DIR}/python;PYTHONDONTWRITEBYTECODE=1")
endif()
# Model variants ("variants" in config.json: "<model>-int8" next to "<model>"): tiny models, and a
# copy of the shipped SNIPS model when it is in the tree (int8 against f32 on a few utterances).
if(TARGET parley-nlu AND TARGET parley-gateway AND TARGET parley_proto_python)
  add_test(NAME integration_nlu_variants
    COMMAND ${PL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/nlu_variants.py
    WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
  set_tests_properties(integration_nlu_variants PROPERTIES
    LABELS integration TIMEOUT 120
    ENVIRONMENT "PL_NLU=$<TARGET_FILE:parley-nlu>;PL_GATEWAY=$<TARGET_FILE:parley-gateway>;PL_PYTHON_STUBS=${CMAKE_BINARY_DIR}/python;PL_MODELS=${CMAKE_SOURCE_DIR}/models;PYTHONDONTWRITEBYTECODE=1")
endif()
