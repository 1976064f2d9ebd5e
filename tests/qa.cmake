# parley-qa (services/qa): the knowledge base on real SQLite files (unit), and the service end
# to end with a Hugging Face QA checkpoint written by tests/reference/bert_ref.py, the knowledge
# base through `parley kb`, a 100-page context (integration).
pl_add_unit_test(NAME qa SOURCES unit/test_qa.c LIBS parley_qa_core)
pl_add_py_test(NAME integration_qa_service SCRIPT qa_test_service.py TIMEOUT 300
               ENV "PL_QA=$<TARGET_FILE:parley-qa>" "PL_GATEWAY=$<TARGET_FILE:parley-gateway>"
                   "PL_PARLEY=$<TARGET_FILE:parley>" "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
                   "PARLEY_DATA_DIR=${PARLEY_DATA_DIR}")
add_dependencies(parley-qa parley-kb)
# recall@k of the knowledge base's search on the dev questions (train/qa/kb_recall.py)
pl_add_py_test(NAME integration_qa_kb_recall SCRIPT qa_kb_recall_test.py TIMEOUT 300
               ENV "PL_PARLEY=$<TARGET_FILE:parley>" "PARLEY_DATA_DIR=${PARLEY_DATA_DIR}")
# a reader trained with the question-match token types (tokenizer.token_type_ids
# "question_match"): the service's answers are the recipe's PyTorch ones, and the types matter
pl_add_py_test(NAME integration_qa_question_match SCRIPT qa_match_test.py TIMEOUT 300
               ENV "PL_QA=$<TARGET_FILE:parley-qa>" "PL_GATEWAY=$<TARGET_FILE:parley-gateway>"
                   "PL_PARLEY=$<TARGET_FILE:parley>" "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}" "PARLEY_DATA_DIR=${PARLEY_DATA_DIR}")
# the no-answer verifier (config.json no_answer_verifier): the service refuses the questions
# that train/qa/verifier.py's score refuses
pl_add_py_test(NAME integration_qa_verifier SCRIPT qa_verifier_test.py TIMEOUT 300
               ENV "PL_QA=$<TARGET_FILE:parley-qa>" "PL_GATEWAY=$<TARGET_FILE:parley-gateway>"
                   "PL_PARLEY=$<TARGET_FILE:parley>" "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}" "PARLEY_DATA_DIR=${PARLEY_DATA_DIR}")
