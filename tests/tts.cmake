# engine/tts (parley_tts_front): normalization table, sentence splitting, lexicons (the real
# CMU dictionary from ../shared/data: the suite fails when it is missing), SSML, hostile input.
pl_add_unit_test(NAME tts_front SOURCES unit/test_tts_front.c LIBS parley_tts_front)
target_compile_definitions(test_tts_front PRIVATE PARLEY_SHARED_DATA="${PARLEY_DATA_DIR}")

# Try the front end on a string (not a suite):
#   tts_front_dump -d ../shared/data/lexicon/cmudict.dict "Dr. Smith paid $3.50 on 2024-03-05."
add_executable(tts_front_dump tools/tts_front_dump.c)
target_link_libraries(tts_front_dump PRIVATE parley_tts_front)
