# Fuzz targets (tests/fuzz/README.md). One fuzz_<name>.c per parser, each defining
# LLVMFuzzerTestOneInput, built two ways:
#   PARLEY_FUZZ=ON (clang, `make fuzz`): fuzz_<name> linked with libFuzzer, the project built
#     with -fsanitize=fuzzer-no-link,address,undefined (top-level CMakeLists.txt);
#   otherwise: replay_<name> (fuzz_<name>.c + replay_main.c), and a ctest fuzz_<name>
#     (label `fuzz`) that feeds it tests/fuzz/corpus/<name>/ and tests/fuzz/regress/<name>/.
# pl_add_fuzz(<name> <libs...>)
set(PL_FUZZ_DIR ${CMAKE_SOURCE_DIR}/tests/fuzz)
if(PARLEY_FUZZ)
  set(PL_FUZZ_PREFIX fuzz_)
else()
  set(PL_FUZZ_PREFIX replay_)
endif()
set(PL_FUZZ_NAMES "")

function(pl_add_fuzz name)
  set(libs ${ARGN})
  if(PARLEY_FUZZ)
    add_executable(fuzz_${name} ${PL_FUZZ_DIR}/fuzz_${name}.c)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    set(exe fuzz_${name})
  else()
    add_executable(replay_${name} ${PL_FUZZ_DIR}/fuzz_${name}.c ${PL_FUZZ_DIR}/replay_main.c)
    set(exe replay_${name})
    add_test(NAME fuzz_${name}
      COMMAND replay_${name} ${PL_FUZZ_DIR}/corpus/${name} ${PL_FUZZ_DIR}/regress/${name})
    set_tests_properties(fuzz_${name} PROPERTIES LABELS "fuzz" TIMEOUT 120
      ENVIRONMENT "TMPDIR=${CMAKE_BINARY_DIR};ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  endif()
  target_include_directories(${exe} PRIVATE ${PL_FUZZ_DIR})
  target_link_libraries(${exe} PRIVATE ${libs})
  set(PL_FUZZ_NAMES ${PL_FUZZ_NAMES} ${name} PARENT_SCOPE)
endfunction()

pl_add_fuzz(audio parley_common)
pl_add_fuzz(asr_request parley_asr_svc)
pl_add_fuzz(nlu_request parley_nlu_core)
pl_add_fuzz(qa_request parley_qa_core)
pl_add_fuzz(gateway_md parley_gateway_core)
pl_add_fuzz(safetensors parley_engine)
pl_add_fuzz(model_config parley_nlu_core parley_engine)
pl_add_fuzz(arpa parley_asr_dsp)
pl_add_fuzz(itn parley_asr_dsp)
pl_add_fuzz(wordpiece parley_tokenizer)
pl_add_fuzz(qa_kb parley_qa_core)
pl_add_fuzz(nats_msg parley_runtime)
pl_add_fuzz(config parley_gateway_core parley_common)
pl_add_fuzz(tts_front parley_tts_front)
target_compile_definitions(${PL_FUZZ_PREFIX}tts_front PRIVATE
  PL_FUZZ_G2P="${CMAKE_SOURCE_DIR}/models/tts-g2p/g2p.bin")
pl_add_fuzz(dialog_spec parley_dialog_core)
pl_add_fuzz(pipeline parley_dialog_core)
pl_add_fuzz(ws parley_gateway_core)

if(PARLEY_FUZZ)
  set(t "")
  foreach(n ${PL_FUZZ_NAMES})
    list(APPEND t fuzz_${n})
  endforeach()
  add_custom_target(parley_fuzz DEPENDS ${t})
else()
  # fuzz_nlu_request replays with tiny random-weight NLU models when they can be made
  # (tests/integration/nlu_tiny.py needs numpy), so the corpus reaches tokenization and the
  # post-processing; without them it still replays, ending at the model pick.
  add_test(NAME fuzz_nlu_models
    COMMAND sh -c "rm -rf '${CMAKE_BINARY_DIR}/fuzz-nlu-models' && ${PL_PYTHON} '${CMAKE_SOURCE_DIR}/tests/integration/nlu_tiny.py' '${CMAKE_BINARY_DIR}/fuzz-nlu-models' && rm -rf '${CMAKE_BINARY_DIR}/fuzz-nlu-models/broken' || true")
  set_tests_properties(fuzz_nlu_models PROPERTIES LABELS "fuzz" TIMEOUT 120
    FIXTURES_SETUP fuzz_nlu_models)
  set_tests_properties(fuzz_nlu_request PROPERTIES FIXTURES_REQUIRED fuzz_nlu_models)
  set_property(TEST fuzz_nlu_request APPEND PROPERTY ENVIRONMENT
    "PARLEY_FUZZ_NLU_MODELS=${CMAKE_BINARY_DIR}/fuzz-nlu-models")
endif()
