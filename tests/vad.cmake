# Silero VAD in the engine (engine/models/vad.c) and the endpointing state
# machine (engine/asr/endpoint.c). docs/vad.md.
# Parity with the PyTorch reference (tests/reference/vad_ref.py) on real audio.
pl_add_unit_test(NAME vad_ref SOURCES unit/test_vad_ref.c LIBS parley_engine
                 LABELS reference TIMEOUT 120)
# Weight-file errors, call errors, state independence, OOM, speed.
pl_add_unit_test(NAME vad SOURCES unit/test_vad.c LIBS parley_engine TIMEOUT 120)
# Endpointing: synthetic event sequences and real audio through the VAD.
pl_add_unit_test(NAME endpoint SOURCES unit/test_endpoint.c
                 LIBS parley_asr_dsp parley_engine TIMEOUT 120)
