# engine/tts (parley_tts_front): normalization table, sentence splitting, lexicons (the real
# CMU dictionary from ../shared/data: the suite fails when it is missing), SSML, hostile input.
pl_add_unit_test(NAME tts_front SOURCES unit/test_tts_front.c LIBS parley_tts_front)
target_compile_definitions(test_tts_front PRIVATE PARLEY_SHARED_DATA="${PARLEY_DATA_DIR}")

# Try the front end on a string (not a suite):
#   tts_front_dump -d ../shared/data/lexicon/cmudict.dict "Dr. Smith paid $3.50 on 2024-03-05."
add_executable(tts_front_dump tools/tts_front_dump.c)
target_link_libraries(tts_front_dump PRIVATE parley_tts_front)

# engine/tts/tts_g2p.c: a hand-made model (exact decoding, format errors, byte flips, OOM) and
# the shipped models/tts-g2p on made-up words, alone and through the front end's hook.
pl_add_unit_test(NAME tts_g2p SOURCES unit/test_tts_g2p.c LIBS parley_tts_front)
target_compile_definitions(test_tts_g2p PRIVATE PARLEY_SOURCE="${CMAKE_SOURCE_DIR}")

# G2P words or IPA lines -> ARPAbet (not a suite; train/tts/g2p_eval.py runs it):
#   tts_g2p -m models/tts-g2p/g2p.bin lamborghini bronzeville
add_executable(tts_g2p tools/tts_g2p.c)
target_link_libraries(tts_g2p PRIVATE parley_tts_front)

# The shipped G2P (models/tts-g2p, C decoder through tts_g2p) on 500 evenly spaced held-out
# test words of the CMU dictionary: fails above the floors (shipped: WER 33.2%, PER 9.45%).
add_test(NAME tts_g2p_floor
  COMMAND ${PL_PYTHON} -m train.tts.g2p_eval --build ${CMAKE_BINARY_DIR} --limit 500 --no-espeak
          --max-wer 0.36 --max-per 0.105
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(tts_g2p_floor PROPERTIES LABELS "unit" TIMEOUT 120
  ENVIRONMENT "PARLEY_DATA_DIR=${PARLEY_DATA_DIR};PYTHONPATH=${CMAKE_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1")

# engine/tts/tts_voice.c: the acoustic model and vocoder against the PyTorch recipe on random
# weights (tests/reference/tts_voice_ref.py), on every CPU kernel family and on CUDA when a GPU
# is present; block-size independence of the streaming vocoder; the sentence API; load errors.
pl_add_unit_test(NAME tts_voice_ref SOURCES unit/test_tts_voice_ref.c LIBS parley_tts_voice
                 LABELS reference TIMEOUT 300)

# Speak text with the voice without the service (not a suite; train/tts/eval_service.py --direct
# and the RTF benchmark run it):
#   tts_say -o out.wav "Hello world."          tts_say -l list.tsv -O outdir
add_executable(tts_say tools/tts_say.c)
target_link_libraries(tts_say PRIVATE parley_tts_voice parley_common)

# The shipped voice (models/tts-voice) on 15 held-out LJ Speech sentences through tts_say and
# pocketsphinx: fails above WER 30% (the shipped voice: 18.48%; the full evaluation
# with the peers is `python3 -m train.tts.eval_service`).
add_test(NAME tts_voice_floor
  COMMAND ${PL_PYTHON} -m train.tts.eval_service --build ${CMAKE_BINARY_DIR} --direct --no-peers
          --no-rtf --limit 15 --max-wer 0.30
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(tts_voice_floor PROPERTIES LABELS "unit;reference" TIMEOUT 300
  ENVIRONMENT "PARLEY_DATA_DIR=${PARLEY_DATA_DIR};PYTHONPATH=${CMAKE_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1")
