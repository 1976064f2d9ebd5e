# The engine proper, in two libraries (included from engine/CMakeLists.txt after the tokenizer
# and cuda subdirs):
#   parley_engine_core: tensors and graphs, the backend registry, the CPU backend (scalar
#                       reference + kernel families). Needs parley_base only (and
#                       parley_engine_cuda when the CUDA backend is built).
#   parley_engine:      parley_engine_core plus safetensors loading and the models (BERT, the ASR
#                       acoustic model and its states, the VAD), which read JSON with jansson.
set(_pl_engine_dir ${CMAKE_CURRENT_LIST_DIR})

add_library(parley_engine_core STATIC
  ${_pl_engine_dir}/tensor.c
  ${_pl_engine_dir}/backend.c
  ${_pl_engine_dir}/cpu/cpu_backend.c
  ${_pl_engine_dir}/cpu/threadpool.c
  ${_pl_engine_dir}/cpu/ops_ref.c
  ${_pl_engine_dir}/cpu/ops_fast.c
  ${_pl_engine_dir}/cpu/kern_generic.c
  ${_pl_engine_dir}/cpu/kern_avx2.c
  ${_pl_engine_dir}/cpu/kern_avx512.c)

# SIMD kernel families: per-file flags so the rest of the build stays generic;
# cpu_backend.c picks one at run time with __builtin_cpu_supports.
set_source_files_properties(${_pl_engine_dir}/cpu/kern_avx2.c PROPERTIES
  COMPILE_OPTIONS "-mavx2;-mfma;-O3")
set_source_files_properties(${_pl_engine_dir}/cpu/kern_avx512.c PROPERTIES
  COMPILE_OPTIONS "-mavx512f;-mavx512bw;-mavx512vl;-mavx2;-mfma;-O3")
set_source_files_properties(${_pl_engine_dir}/cpu/ops_fast.c PROPERTIES
  COMPILE_OPTIONS "-O3")

target_include_directories(parley_engine_core PUBLIC ${_pl_engine_dir}
  PRIVATE ${_pl_engine_dir}/cpu)
target_link_libraries(parley_engine_core PUBLIC parley_base Threads::Threads m)
if(PL_HAVE_CUDA)
  target_link_libraries(parley_engine_core PUBLIC parley_engine_cuda)
  # backend.c registers "cuda" (the one engine file outside engine/cuda/ that tests PL_CUDA)
  set_source_files_properties(${_pl_engine_dir}/backend.c PROPERTIES COMPILE_DEFINITIONS PL_CUDA)
endif()

# The peak-FLOP probes per instruction set (used by `parley bench` too) and cpu_selfcheck:
# every CPU kernel family against the scalar reference and the measured FMA peak, with
# nothing but parley_engine_core (engine/cpu/selfcheck.sh builds it with PARLEY_ENGINE_ONLY).
add_library(parley_peak_avx2 OBJECT ${CMAKE_SOURCE_DIR}/clients/bench/peak.c)
target_compile_options(parley_peak_avx2 PRIVATE -mavx2 -mfma -O2)
target_link_libraries(parley_peak_avx2 PRIVATE parley_base)
add_library(parley_peak_avx512 OBJECT ${CMAKE_SOURCE_DIR}/clients/bench/peak.c)
target_compile_options(parley_peak_avx512 PRIVATE -mavx512f -mfma -O2)
target_compile_definitions(parley_peak_avx512 PRIVATE PL_PEAK_AVX512)
target_link_libraries(parley_peak_avx512 PRIVATE parley_base)
add_executable(cpu_selfcheck ${_pl_engine_dir}/cpu/cpu_selfcheck.c
  $<TARGET_OBJECTS:parley_peak_avx2> $<TARGET_OBJECTS:parley_peak_avx512>)
target_link_libraries(cpu_selfcheck PRIVATE parley_engine_core)

if(PARLEY_ENGINE_ONLY)
  return()
endif()

add_library(parley_engine STATIC
  ${_pl_engine_dir}/safetensors.c
  ${_pl_engine_dir}/models/bert.c
  ${_pl_engine_dir}/models/asr_model.c
  ${_pl_engine_dir}/models/asr_state.c
  ${_pl_engine_dir}/models/vad.c)
target_link_libraries(parley_engine PUBLIC parley_engine_core parley_common
  PRIVATE PkgConfig::JANSSON)
