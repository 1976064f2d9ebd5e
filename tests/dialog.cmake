# The dialog manager: the core library's unit suite (spec validation, templates, the form state
# machine and context stack driven with NLU results, the SQLite store), and the story test of
# parley-dialog through the gateway with the real parley-nlu (shipped SNIPS model) and
# parley-qa (integration).
pl_add_unit_test(NAME dialog SOURCES unit/test_dialog.c LIBS parley_dialog_core)
# External actions: webhooks over real HTTP on 127.0.0.1 (a server thread in the test: good
# reply, garbage, 500 with retries, a server that never answers, a refused port), unconfigured
# webhooks, the nats action through its hook, spec errors of webhooks and subjects.
pl_add_unit_test(NAME dialog_actions SOURCES unit/test_dialog_actions.c LIBS parley_dialog_core)
# Pipelines (pipelines/*.json): the shipped ones load, broken ones fail naming file, line and
# key; slots filled from named entities with their source in the slot events.
pl_add_unit_test(NAME dialog_pipeline SOURCES unit/test_dialog_pipeline.c LIBS parley_dialog_core)
# End of turn (dialog/dialog_eot.c): the words that cannot end an utterance, the decision with
# the NLU's score and a pending prompt, the pipeline keys and their errors.
pl_add_unit_test(NAME dialog_eot SOURCES unit/test_dialog_eot.c LIBS parley_dialog_core)
# parley-dialog's action pool (services/dialog/dialog_pool.c): lanes run their jobs one at a
# time in order, a waiting lane holds up no other, close drops the queued and waits for the
# running job, the per-lane cap.
pl_add_unit_test(NAME dialog_pool SOURCES unit/test_dialog_pool.c LIBS parley_dialog_svc)
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
# Converse with voice (services/dialog/dialog_voice.c): parley-asr with the shipped model,
# parley-nlu, parley-tts, parley-dialog and the gateway on free ports; hands-free and
# push-to-talk turns from FSDD recordings, reply audio, latency, INTERRUPT and barge-in by
# speech, bad audio configs, `parley chat --audio`, parley-tts and parley-asr killed.
# integration_dialog_voice uses the tone-generator voice (parley-tts-fake, always built);
# integration_dialog_voice_tts the real parley-tts (models/tts-voice, else random weights).
set(pl_dlg_voice_env "PL_DIALOG=$<TARGET_FILE:parley-dialog>" "PL_NLU=$<TARGET_FILE:parley-nlu>"
    "PL_ASR=$<TARGET_FILE:parley-asr>" "PL_GATEWAY=$<TARGET_FILE:parley-gateway>"
    "PL_CHAT=$<TARGET_FILE:parley-chat>" "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    "PARLEY_DATA_DIR=${PARLEY_DATA_DIR}")
pl_add_py_test(NAME integration_dialog_voice SCRIPT dialog_voice.py TIMEOUT 180
               ENV ${pl_dlg_voice_env} "PL_TTS=$<TARGET_FILE:parley-tts-fake>" "PL_TTS_FAKE=1")
if(TARGET parley-tts)
  pl_add_py_test(NAME integration_dialog_voice_tts SCRIPT dialog_voice.py TIMEOUT 300
                 ENV ${pl_dlg_voice_env} "PL_TTS=$<TARGET_FILE:parley-tts>")
endif()
# Turns without words on the same stack: END_OF_UTTERANCE over a tone, zeros, low noise or no
# audio (push-to-talk) and over silence (hands-free) is answered within 5 s by an empty final
# Transcript, END_OF_UTTERANCE, NO_SPEECH and TURN_COMPLETE; nothing stored; the stream goes on.
pl_add_py_test(NAME integration_dialog_voice_nospeech SCRIPT dialog_voice_nospeech.py TIMEOUT 120
               ENV ${pl_dlg_voice_env} "PL_TTS=$<TARGET_FILE:parley-tts-fake>" "PL_TTS_FAKE=1")
# Pipelines (pipelines/*.json) through the real services: text_assistant (its spec for a new
# session, no tts), voice_assistant (asr -> punctuation -> nlu -> dialog -> tts from an FSDD
# clip), document_qa (typed and spoken questions to the knowledge base, spoken answers), an
# unknown pipeline (NOT_FOUND naming it).
pl_add_py_test(NAME integration_dialog_pipelines SCRIPT dialog_pipelines.py TIMEOUT 180
               ENV ${pl_dlg_voice_env} "PL_QA=$<TARGET_FILE:parley-qa>"
                   "PL_PARLEY=$<TARGET_FILE:parley>" "PL_TTS=$<TARGET_FILE:parley-tts-fake>"
                   "PL_TTS_FAKE=1")
# End of turn (docs/dialog.md): parley-dialog with a 2000 ms stop window and the end-of-turn
# check after 150 ms; FSDD recordings as spoken answers to the party-size prompt: "seven" ends
# at the short pause (END_OF_UTTERANCE "end of turn", well before the window); "to", a 450 ms
# pause, then "six" waits for the window and gives one final.
pl_add_py_test(NAME integration_dialog_voice_eot SCRIPT dialog_voice_eot.py TIMEOUT 120
               ENV ${pl_dlg_voice_env} "PL_TTS=$<TARGET_FILE:parley-tts-fake>" "PL_TTS_FAKE=1")
# The end-of-turn classifier (dialog.end_of_turn_model nlu-eot): ClassifyText says "book a
# table for four in boston" is complete and "book a table" / "according to lawson" are not; parley-dialog asks it at the pause and follows its P(complete) (a lone spoken digit
# in a new session); the prompt rule still comes first; a model not served: the check waits.
pl_add_py_test(NAME integration_dialog_voice_eot_model SCRIPT dialog_voice_eot_model.py TIMEOUT 150
               ENV ${pl_dlg_voice_env} "PL_TTS=$<TARGET_FILE:parley-tts-fake>" "PL_TTS_FAKE=1")
# Slow webhooks hold no thread (dialog/dialog_http.c): 100 users on open streams wait 1.5 s each
# on a webhook with dialog.action_threads 4, all answered within a few times 1.5 s; a webhook
# that never answers still ends its turn with the apology.
pl_add_py_test(NAME integration_dialog_webhook_load SCRIPT dialog_webhook_load.py TIMEOUT 180
               ENV "PL_DIALOG=$<TARGET_FILE:parley-dialog>" "PL_NLU=$<TARGET_FILE:parley-nlu>"
                   "PL_QA=$<TARGET_FILE:parley-qa>" "PL_GATEWAY=$<TARGET_FILE:parley-gateway>"
                   "PL_PARLEY=$<TARGET_FILE:parley>" "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
# Slow nats responders and a slow parley-qa hold no thread either (dialog_actions.c): 100 users
# wait 1.5 s each on a nats action, then on the knowledge base (a stand-in on parley-qa's
# subject), with dialog.action_threads 4: each round within a few times 1.5 s; the timeouts
# still give the apology; one stream's turns stay in order; SIGTERM with calls in flight.
pl_add_py_test(NAME integration_dialog_action_load SCRIPT dialog_action_load.py TIMEOUT 180
               ENV "PL_DIALOG=$<TARGET_FILE:parley-dialog>" "PL_NLU=$<TARGET_FILE:parley-nlu>"
                   "PL_QA=$<TARGET_FILE:parley-qa>" "PL_GATEWAY=$<TARGET_FILE:parley-gateway>"
                   "PL_PARLEY=$<TARGET_FILE:parley>" "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
# A cancelled turn's call out is cancelled with it (services/dialog/dialog_converse.c,
# conv_close): a webhook of 10 s (the server sees its connection closed, no retry) and a `nats`
# action of 10 s (its late answer ignored), cancelled after 300 ms or ended by the stream's
# deadline: the session's next turn within 1 s, the cancelled turn not stored; SIGTERM exits 0.
pl_add_py_test(NAME integration_dialog_cancel SCRIPT dialog_cancel.py TIMEOUT 120
               ENV "PL_DIALOG=$<TARGET_FILE:parley-dialog>" "PL_NLU=$<TARGET_FILE:parley-nlu>"
                   "PL_QA=$<TARGET_FILE:parley-qa>" "PL_GATEWAY=$<TARGET_FILE:parley-gateway>"
                   "PL_PARLEY=$<TARGET_FILE:parley>" "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
# Spoken turns that call out hold no thread, and a cancel while a turn waits frees its handler
# thread at once: 8 one-shot spoken turns (audio, half-close) on a 1.5 s nats action with 2
# handler threads within one turn's time plus one delay; cancelled spoken and typed streams
# whose calls wait let another user's turn through within 1 s; the cancelled sessions stay whole
# (the cancelled turns not stored) and take their next turn within 1 s, long before the calls' timeout.
pl_add_py_test(NAME integration_dialog_voice_action SCRIPT dialog_voice_action.py TIMEOUT 180
               ENV ${pl_dlg_voice_env} "PL_TTS=$<TARGET_FILE:parley-tts-fake>" "PL_TTS_FAKE=1")
