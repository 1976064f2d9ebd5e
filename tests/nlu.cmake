# parley-nlu: unit suite of the pre/post-processing (no model needed) and integration tests
# (nats-server + parley-nlu + gateway on free ports, Python gRPC client): tiny random-weight
# models made by tests/integration/nlu_tiny.py, the shipped models as `parley up` starts
# them, and model variants ("variants" in config.json: "<model>-int8" next to "<model>").
pl_add_unit_test(NAME nlu SOURCES unit/test_nlu.c LIBS parley_nlu_core)

add_test(NAME integration_nlu_service
  COMMAND ${PL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/nlu_test_service.py
  WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
set_tests_properties(integration_nlu_service PROPERTIES
  LABELS integration TIMEOUT 180
  ENVIRONMENT "PL_NLU=$<TARGET_FILE:parley-nlu>;PL_GATEWAY=$<TARGET_FILE:parley-gateway>;PL_PYTHON_STUBS=${CMAKE_BINARY_DIR}/python;PYTHONDONTWRITEBYTECODE=1")

add_test(NAME integration_nlu_up_snips
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/nlu_up_snips.sh ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
set_tests_properties(integration_nlu_up_snips PROPERTIES
  LABELS integration TIMEOUT 180
  ENVIRONMENT "PL_PYTHON=${PL_PYTHON};PL_PYTHON_STUBS=${CMAKE_BINARY_DIR}/python;PYTHONDONTWRITEBYTECODE=1")

# int8 against f32: tiny models, and a copy of the shipped SNIPS model.
add_test(NAME integration_nlu_variants
  COMMAND ${PL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/nlu_variants.py
  WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
set_tests_properties(integration_nlu_variants PROPERTIES
  LABELS integration TIMEOUT 120
  ENVIRONMENT "PL_NLU=$<TARGET_FILE:parley-nlu>;PL_GATEWAY=$<TARGET_FILE:parley-gateway>;PL_PYTHON_STUBS=${CMAKE_BINARY_DIR}/python;PL_MODELS=${CMAKE_SOURCE_DIR}/models;PYTHONDONTWRITEBYTECODE=1")

# SIGHUP reloads the model repository: a request in flight completes, an added model is
# served, a changed one serves in its new form, a broken one is refused and the old one kept.
add_test(NAME integration_nlu_reload
  COMMAND ${PL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/nlu_reload.py
  WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
set_tests_properties(integration_nlu_reload PROPERTIES
  LABELS integration TIMEOUT 180
  ENVIRONMENT "PL_NLU=$<TARGET_FILE:parley-nlu>;PL_GATEWAY=$<TARGET_FILE:parley-gateway>;PL_PYTHON_STUBS=${CMAKE_BINARY_DIR}/python;PYTHONDONTWRITEBYTECODE=1")
