"""parley-qa's no-answer verifier (config.json "no_answer_verifier", train/qa/verifier.py): the
service says "no answer" to exactly the questions the recipe's verifier refuses.

A small random reader (train.qa.model.QuestionAnswering) is exported with a verifier that
weighs all five features; its threshold is put halfway between two of the recipe's scores of
the questions below, so about half of them are refused, with a margin that the engine's
rounding cannot cross. The service's answers ("" or a span) must match the recipe's decisions
on every question (negations with ' and ’, names the passage lacks, non-ASCII words, names in
upper case). A variant may set its own threshold, nothing else of the verifier. A verifier
naming an unknown feature is refused at load, the log naming it.
Environment: PL_QA, PL_GATEWAY, PL_PARLEY (read by qa_test_service), PL_PYTHON_STUBS, PL_SOURCE_DIR.
"""
import json
import os
import re
import time

import torch

import gwtest as g
from gwtest import check, riva_nlp_pb2_grpc
from qa_test_service import ask, start_qa
import qa_match_test

from train.common.bert import BertConfig
from train.common.export import export_model
from train.common.wordpiece import load_vocab
from train.qa import squad, verifier
from train.qa.export import config_keys
from train.qa.model import QuestionAnswering
from train.qa.windows import OffsetTokenizer

SRC = os.environ["PL_SOURCE_DIR"]
ARGS = {"max_length": 48, "doc_stride": 16, "max_question": 16, "max_answer_tokens": 30, "question_match": False}
# the question-match test's first two passages and one with non-ASCII words
PASSAGES = qa_match_test.PASSAGES[:2] + [
    "Zürich's Kunsthaus opened in 1910 with paintings lent by the city; l'Hôpital's letters are "
    "kept in Basel, and the museum bought none of them."]
QUESTIONS = [
    (0, "How many nations does the region include?"), (0, "What covers the Amazon basin?"),
    (0, "Which nation doesn't hold the largest share?"), (0, "How large is the Congo basin?"),
    (0, "Which nation holds no share of the rainforest?"), (0, "What did Peru cover in 1990?"),
    (0, "Where is the rainforest?"), (0, "What isn\u2019t covered by the rainforest?"),
    (1, "Where did Johann Bernoulli teach mathematics?"), (1, "Who never held the chair in Basel?"),
    (1, "When did Leibniz and Newton send solutions?"), (1, "Who taught at Uppsala in 1697?"),
    (2, "When did the Kunsthaus in ZÜRICH open?"), (2, "Where are l'Hôpital's letters kept?"),
    (2, "Why did the museum not buy the letters?"), (2, "Who lent the paintings to the Kunsthaus in Genève?"),
]
VERIFIER = {"function_words": sorted(squad._FUNCTION_WORDS), "negation_words": list(verifier.NEGATION_WORDS),
            "weights": {"null_minus_span": 0.05, "negation": 1.5, "missing_names": 0.8, "missing_words": 0.3,
                        "words_in_context": -1.0}, "bias": 0.0}


def make_reader(vocab):
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64, type_vocab_size=2)
    torch.manual_seed(11)
    m = QuestionAnswering(cfg)
    m.eval()
    return m, cfg


def export(d, model, cfg, vocab, v):
    keys = dict(config_keys(ARGS, 1e6), no_answer_verifier=v)  # the plain rule alone: never "no answer"
    export_model(d, model, cfg, vocab, keys, "F32", {"recipe": "tests/integration/qa_verifier_test.py"})


def main():
    vocab = load_vocab(os.path.join(SRC, "models", "qa-squad", "vocab.txt"))
    tok = OffsetTokenizer(vocab)
    model, cfg = make_reader(vocab)
    diff = [d for _, d, _ in qa_match_test.decoded(model, tok, PASSAGES, QUESTIONS, ARGS, False)[0]]
    scores = [verifier.score(dict(VERIFIER, threshold=0.0), q, PASSAGES[p], d)
              for (p, q), d in zip(QUESTIONS, diff)]
    ranked = sorted(scores)
    # the widest gap between neighbours in the middle half: the threshold goes there
    k = max(range(len(ranked) // 4, 3 * len(ranked) // 4), key=lambda i: ranked[i + 1] - ranked[i])
    threshold = (ranked[k] + ranked[k + 1]) / 2
    check(ranked[k + 1] - ranked[k] > 0.02, "the threshold %.4f lies %.4f from the nearest score"
          % (threshold, (ranked[k + 1] - ranked[k]) / 2))
    feats = [verifier.features(q, PASSAGES[p], 0.0, VERIFIER["function_words"], VERIFIER["negation_words"])
             for p, q in QUESTIONS]
    check(all(len({round(f[j], 3) for f in feats}) >= 2 for j in range(1, len(verifier.FEATURES))),
          "every lexical feature takes two values or more over the questions")
    refused = [s > threshold for s in scores]

    models = os.path.join(g.TMP, "models")
    export(os.path.join(models, "qa-verified"), model, cfg, vocab, dict(VERIFIER, threshold=threshold))
    _, nats_url = g.start_nats()
    qa_p, n = start_qa(nats_url, models, os.path.join(g.TMP, "kb.sqlite"))
    check(n == 2, "parley-qa loads the reader with a verifier (and its int8 variant)")
    _, grpc_port, _ = g.start_gateway(nats_url)
    stub = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(g.channel(grpc_port))
    got = [ask(stub, q, PASSAGES[p]).results[0].answer == "" for p, q in QUESTIONS]
    same = sum(a == b for a, b in zip(got, refused))
    check(same == len(QUESTIONS) and 0 < sum(refused) < len(QUESTIONS),
          "the service refuses the questions the recipe's verifier refuses: %d of %d agree (%d refused)"
          % (same, len(QUESTIONS), sum(refused)))
    g.stop(qa_p)

    # a variant with a threshold of its own (variants.<v>.no_answer_verifier.threshold): one
    # above every score refuses nothing; a variant may change nothing else of the verifier
    cpath = os.path.join(models, "qa-verified", "config.json")
    c = json.load(open(cpath))
    c["variants"]["loose"] = {"no_answer_verifier": {"threshold": ranked[-1] + 1.0}}
    json.dump(c, open(cpath, "w"))
    qa_p, n = start_qa(nats_url, models, os.path.join(g.TMP, "kb.sqlite"),
                       {"PARLEY_QA_MODEL": "qa-verified-loose"})
    got = [ask(stub, q, PASSAGES[p]).results[0].answer == "" for p, q in QUESTIONS]
    check(n == 3 and not any(got), "variant 'loose' (its own threshold above every score): loaded, "
          "refuses %d of %d" % (sum(got), len(QUESTIONS)))
    g.stop(qa_p)
    c["variants"]["loose"]["no_answer_verifier"]["bias"] = 1.0
    json.dump(c, open(cpath, "w"))
    qa_p, n = start_qa(nats_url, models, os.path.join(g.TMP, "kb3.sqlite"))
    time.sleep(0.2)
    text = open(os.path.join(g.TMP, "qa.log"), errors="replace").read()
    check(n == 1 and "variants.loose.no_answer_verifier: only" in text,
          "a variant that changes the verifier's bias: the variants are not loaded (the reader is), "
          "the log says why")
    g.stop(qa_p)

    # a verifier that names a feature the service does not compute: refused at load, named
    bad = os.path.join(g.TMP, "bad")
    v = dict(VERIFIER, threshold=threshold, weights=dict(VERIFIER["weights"], question_length=0.1))
    export(os.path.join(bad, "qa-bad-verifier"), model, cfg, vocab, v)
    qa_p, n = start_qa(nats_url, bad, os.path.join(g.TMP, "kb2.sqlite"))
    time.sleep(0.2)
    text = open(os.path.join(g.TMP, "qa.log"), errors="replace").read()
    check(n == 0 and re.search(r"no_answer_verifier.weights: 'question_length' is not a feature", text),
          "a verifier with an unknown feature: not loaded, the log names it (%s)"
          % [l for l in text.splitlines() if "verifier" in l][:1])
    g.stop(qa_p)
    print("PASS")


if __name__ == "__main__":
    main()
