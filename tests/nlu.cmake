# parley-nlu: unit suite of the pre/post-processing (no model needed) and integration tests
# (nats-server + parley-nlu + gateway on free ports, Python gRPC client).
pl_add_unit_test(NAME nlu SOURCES unit/test_nlu.c LIBS parley_nlu_core)

set(_pl_nlu_env "PL_NLU=$<TARGET_FILE:parley-nlu>" "PL_GATEWAY=$<TARGET_FILE:parley-gateway>")
# tiny random-weight models made by tests/integration/nlu_tiny.py
pl_add_py_test(NAME integration_nlu_service SCRIPT nlu_test_service.py ENV ${_pl_nlu_env})
# case token types ("token_type_ids": "word_case" / "word_starts_upper"): the recipe's rule
# (train/nlu/ner_conll2003.py) and parley-nlu's agree piece by piece on cased sentences
pl_add_py_test(NAME integration_nlu_case SCRIPT nlu_case.py ENV ${_pl_nlu_env})
# model variants ("variants" in config.json: "<model>-int8" next to "<model>"): tiny models and
# a copy of the shipped SNIPS model (int8 against f32 on a few utterances)
pl_add_py_test(NAME integration_nlu_variants SCRIPT nlu_variants.py TIMEOUT 120
               ENV ${_pl_nlu_env} "PL_MODELS=${CMAKE_SOURCE_DIR}/models")
# SIGHUP reloads the model repository: a request in flight completes, an added model is
# served, a changed one serves in its new form, a broken one is refused and the old one kept
pl_add_py_test(NAME integration_nlu_reload SCRIPT nlu_reload.py ENV ${_pl_nlu_env})
# `parley nlu train`: bad example files refused naming file and line; a made-up coffee-shop
# domain (tests/data/nlu/coffee.yml) trained (150 steps per fit), served after SIGHUP, and
# right on utterances it has not seen; a dialog spec naming it (settings.nlu_model) runs on it
pl_add_py_test(NAME integration_nlu_train SCRIPT nlu_train.py TIMEOUT 400
               ENV ${_pl_nlu_env} "PL_PARLEY=$<TARGET_FILE:parley>" "PL_DIALOG=$<TARGET_FILE:parley-dialog>"
                   "PL_SOURCE_DIR=${CMAKE_SOURCE_DIR}")

# the shipped domain classifier (models/nlu-domain) through the gateway as text_classify_client.py
# asks for it (ClassifyText, model riva_text_classification_domain): domains of unseen requests,
# nomatch for other sentences, scores equal to the recipe's PyTorch model
pl_add_py_test(NAME integration_nlu_domain SCRIPT nlu_domain.py TIMEOUT 60
               ENV ${_pl_nlu_env} "PL_MODELS=${CMAKE_SOURCE_DIR}/models")

# The shipped models as `parley up` starts them.
add_test(NAME integration_nlu_up_snips
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/nlu_up_snips.sh ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
set_tests_properties(integration_nlu_up_snips PROPERTIES
  LABELS integration TIMEOUT 180
  ENVIRONMENT "PL_PYTHON=${PL_PYTHON};PL_PYTHON_STUBS=${CMAKE_BINARY_DIR}/python;PYTHONDONTWRITEBYTECODE=1")
# the official punctuation_client.py --run-tests en-US cases through PunctuateText with a copy of
# the shipped models/nlu-punct-capit: how many match exactly (at least the count reached), and
# the reconstruction rules (typed punctuation and capitals kept) on every answer
pl_add_py_test(NAME integration_nlu_punct_official SCRIPT nlu_punct_official.py TIMEOUT 60
               ENV ${_pl_nlu_env} "PL_MODELS=${CMAKE_SOURCE_DIR}/models")
