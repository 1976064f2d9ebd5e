# Silero VAD in the engine (engine/models/vad.c) and the endpointing state
# machine (engine/asr/endpoint.c). docs/vad.md.
if(TARGET parley_engine AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_vad_ref.c)
  # Parity with the PyTorch reference (tests/reference/vad_ref.py) on real audio.
  pl_add_unit_test(NAME vad_ref SOURCES unit/test_vad_ref.c LIBS parley_engine
                   LABELS reference TIMEOUT 120)
endif()

# Weight-file errors, call errors, state independence, OOM, speed.
if(TARGET parley_engine AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_vad.c)
  pl_add_unit_test(NAME vad SOURCES unit/test_vad.c LIBS parley_engine TIMEOUT 120)
endif()

# Endpointing: synthetic event sequences and real audio through the VAD.
if(TARGET parley_engine AND TARGET parley_asr_dsp
   AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_endpoint.c)
  pl_add_unit_test(NAME endpoint SOURCES unit/test_endpoint.c
                   LIBS parley_asr_dsp parley_engine TIMEOUT 120)
endif()
