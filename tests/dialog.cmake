# The dialog manager: the core library's unit suite (spec validation, templates, the form state
# machine and context stack driven with NLU results, the SQLite store), and the story test of
# parley-dialog through the gateway with the real parley-nlu (shipped SNIPS model) and
# parley-qa (integration).
pl_add_unit_test(NAME dialog SOURCES unit/test_dialog.c LIBS parley_dialog_core)
pl_add_py_test(NAME integration_dialog_stories SCRIPT dialog_stories.py TIMEOUT 300
               ENV "PL_DIALOG=$<TARGET_FILE:parley-dialog>" "PL_NLU=$<TARGET_FILE:parley-nlu>"
                   "PL_QA=$<TARGET_FILE:parley-qa>" "PL_GATEWAY=$<TARGET_FILE:parley-gateway>"
                   "PL_PARLEY=$<TARGET_FILE:parley>" "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
# `parley chat` piped through the same stack: a new session, /contexts, /switch, --session in a
# second process, /history, another user's session, parley-dialog down.
pl_add_py_test(NAME integration_dialog_chat SCRIPT dialog_chat.py TIMEOUT 240
               ENV "PL_DIALOG=$<TARGET_FILE:parley-dialog>" "PL_NLU=$<TARGET_FILE:parley-nlu>"
                   "PL_QA=$<TARGET_FILE:parley-qa>" "PL_GATEWAY=$<TARGET_FILE:parley-gateway>"
                   "PL_PARLEY=$<TARGET_FILE:parley>" "PL_CHAT=$<TARGET_FILE:parley-chat>"
                   "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
# Crash durability under load: `parley perf --dialog` (16 users) while parley-dialog is killed
# with kill -9 and restarted 20 times at random moments; every answered turn must be stored.
pl_add_py_test(NAME integration_dialog_crash SCRIPT dialog_crash.py TIMEOUT 240
               ENV "PL_DIALOG=$<TARGET_FILE:parley-dialog>" "PL_NLU=$<TARGET_FILE:parley-nlu>"
                   "PL_QA=$<TARGET_FILE:parley-qa>" "PL_GATEWAY=$<TARGET_FILE:parley-gateway>"
                   "PL_PARLEY=$<TARGET_FILE:parley>" "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
