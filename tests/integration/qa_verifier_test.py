"""parley-qa's no-answer verifier (config.json "no_answer_verifier", train/qa/verifier.py): the
service says "no answer" to exactly the questions the recipe's verifier refuses.

A small random reader (train.qa.model.QuestionAnswering) is exported with a verifier that
weighs all five features; its threshold is put halfway between two of the recipe's scores of
the questions below, so about half of them are refused, with a margin that the engine's
rounding cannot cross. The service's answers ("" or a span) must match the recipe's decisions
on every question (negations with ' and ’, names the passage lacks, non-ASCII words). A
verifier naming an unknown feature is refused at load, the log naming it.
Environment: PL_QA, PL_GATEWAY, PL_PARLEY (read by qa_test_service), PL_PYTHON_STUBS, PL_SOURCE_DIR.
"""
import os
import re
import time

import torch

import gwtest as g
from gwtest import check, riva_nlp_pb2_grpc
from qa_test_service import ask, start_qa

from train.common.bert import BertConfig
from train.common.export import export_model
from train.common.wordpiece import load_vocab
from train.qa import squad, verifier
from train.qa.export import config_keys
from train.qa.features import Features
from train.qa.model import QuestionAnswering, decode, run_windows
from train.qa.windows import OffsetTokenizer

SRC = os.environ["PL_SOURCE_DIR"]
ARGS = {"max_length": 48, "doc_stride": 16, "max_question": 16, "max_answer_tokens": 30, "question_match": False}
PASSAGES = [
    "The Amazon rainforest covers much of the Amazon basin of South America. The basin encompasses "
    "seven million square kilometres, of which five and a half million are covered by the rainforest. "
    "The region includes territory belonging to nine nations, and Brazil holds the largest share.",
    "Johann Bernoulli taught mathematics at Groningen before he returned to Basel, where his brother "
    "Jakob had held the chair. Their rivalry over the brachistochrone problem became famous; "
    "Leibniz, Newton and l'Hôpital all sent solutions in 1697 from Zürich and elsewhere.",
]
QUESTIONS = [
    (0, "How many nations does the region include?"), (0, "What covers the Amazon basin?"),
    (0, "Which nation doesn't hold the largest share?"), (0, "How large is the Congo basin?"),
    (0, "Which nation holds no share of the rainforest?"), (0, "What did Peru cover in 1990?"),
    (0, "Where is the rainforest?"), (0, "What isn\u2019t covered by the rainforest?"),
    (1, "Where did Johann Bernoulli teach mathematics?"), (1, "Who never held the chair in Basel?"),
    (1, "When did Leibniz and Newton send solutions?"), (1, "What did l'Hôpital send from ZÜRICH?"),
    (1, "Who taught at Uppsala in 1697?"), (1, "What problem made their rivalry famous?"),
    (1, "Why did Euler return to Basel?"), (1, "Where did the brothers not teach?"),
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


def margins(model, tok):
    """The recipe's (null - best span score) of each question."""
    qs = [squad.Question(qid=str(i), title="t", context=PASSAGES[p], question=q)
          for i, (p, q) in enumerate(QUESTIONS)]
    feats = Features(qs, tok, ARGS["max_length"], ARGS["doc_stride"], ARGS["max_question"], with_targets=False)
    out = []
    for i in range(len(qs)):
        win = feats.windows(i)
        logits = run_windows(model, feats.inputs(i, win), tok.wp.pad_id)
        ctx, _, st, en = feats.contexts[feats.items[i].ctx]
        out.append(decode(win, logits, st, en, ctx, ARGS["max_answer_tokens"])[1])
    return out


def export(d, model, cfg, vocab, v):
    keys = dict(config_keys(ARGS, 1e6), no_answer_verifier=v)  # the plain rule alone: never "no answer"
    export_model(d, model, cfg, vocab, keys, "F32", {"recipe": "tests/integration/qa_verifier_test.py"})


def main():
    vocab = load_vocab(os.path.join(SRC, "models", "qa-squad", "vocab.txt"))
    tok = OffsetTokenizer(vocab)
    model, cfg = make_reader(vocab)
    diff = margins(model, tok)
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
