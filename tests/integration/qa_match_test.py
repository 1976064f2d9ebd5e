"""parley-qa with a reader trained with the question-match token types (config.json
tokenizer.token_type_ids = "question_match"; train/qa/windows.py question_match): the passage's
words that are also words of the question get token type 2.

A small random reader of the recipe's own classes (train.qa.model.QuestionAnswering, 3 token
types, the type-2 row made large so that the types decide the answers) is exported twice: with
the key, and without it (types 0 and 1 only). The best answer the service gives for each
question must be the one the recipe's PyTorch windows and decoding give with the types on, on
passages long enough for several windows, with words cut by a window's edge. The same
questions decoded with the types off must answer differently often enough that the check
could fail. A config with the key and 2 token types is refused at load, naming the problem.
Environment: PL_QA, PL_GATEWAY, PL_PARLEY (read by qa_test_service), PL_PYTHON_STUBS, PL_SOURCE_DIR.
"""
import json
import os
import re
import shutil
import time

import numpy as np
import torch

import gwtest as g
from gwtest import check, riva_nlp_pb2, riva_nlp_pb2_grpc
from qa_test_service import ask, start_qa

from train.common.bert import BertConfig
from train.common.export import export_model
from train.common.wordpiece import load_vocab
from train.qa import squad
from train.qa.export import config_keys
from train.qa.features import Features
from train.qa.model import QuestionAnswering, decode, run_windows
from train.qa.windows import OffsetTokenizer, match_tables

SRC = os.environ["PL_SOURCE_DIR"]
ARGS = {"max_length": 40, "doc_stride": 12, "max_question": 12, "max_answer_tokens": 30}  # 30: qa.max_answer_tokens
PASSAGES = [
    "The Amazon rainforest covers much of the Amazon basin of South America. The basin encompasses "
    "seven million square kilometres, of which five and a half million are covered by the rainforest. "
    "The region includes territory belonging to nine nations, and Brazil holds the largest share.",
    "Johann Bernoulli taught mathematics at Groningen before he returned to Basel, where his brother "
    "Jakob had held the chair. Their rivalry over the brachistochrone problem became famous; "
    "Leibniz, Newton and l'Hopital all sent solutions in 1697.",
    "Photosynthesis converts light energy into chemical energy stored in glucose. In plants it takes "
    "place in chloroplasts, which contain chlorophyll; the oxygen released comes from water molecules "
    "split during the light-dependent reactions.",
]
QUESTIONS = [
    (0, "How many nations does the region include?"), (0, "What covers the Amazon basin?"),
    (0, "Which nation holds the largest share of the rainforest?"), (0, "How large is the basin?"),
    (1, "Where did Johann Bernoulli teach mathematics?"), (1, "Who held the chair in Basel?"),
    (1, "When did Leibniz and Newton send solutions?"), (1, "What problem made their rivalry famous?"),
    (2, "What does photosynthesis convert light energy into?"), (2, "Where does photosynthesis take place in plants?"),
    (2, "What do chloroplasts contain?"), (2, "Where does the released oxygen come from?"),
]


def make_reader(vocab):
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64, type_vocab_size=3)
    torch.manual_seed(7)
    m = QuestionAnswering(cfg)
    with torch.no_grad():  # the types must decide: type 2 far from type 1
        te = m.bert.embeddings.token_type_embeddings.weight
        te[2] = te[1] + torch.randn(32) * 2.0
        m.qa_outputs.weight.mul_(20.0)
    m.eval()
    return m, cfg


def export(d, model, cfg, vocab, match):
    keys = config_keys(dict(ARGS, question_match=match), 1e6)  # never "no answer"
    export_model(d, model, cfg, vocab, keys, "F32", {"recipe": "tests/integration/qa_match_test.py"})


def decoded(model, tok, passages, questions, args, match):
    """The recipe's PyTorch windows and decoding of each (passage index, question): ([(best
    answer, null - best span score, best span score)], Features)."""
    qs = [squad.Question(qid=str(i), title="t", context=passages[p], question=q)
          for i, (p, q) in enumerate(questions)]
    feats = Features(qs, tok, args["max_length"], args["doc_stride"], args["max_question"], with_targets=False)
    if match:
        feats.match = match_tables(tok)
    out = []
    for i in range(len(qs)):
        win = feats.windows(i)
        logits = run_windows(model, feats.inputs(i, win), tok.wp.pad_id)
        ctx, _, st, en = feats.contexts[feats.items[i].ctx]
        out.append(decode(win, logits, st, en, ctx, args["max_answer_tokens"]))
    return out, feats


def reference(model, tok, match):
    """The recipe's best answer per question."""
    out, feats = decoded(model, tok, PASSAGES, QUESTIONS, ARGS, match)
    return [o[0] for o in out], feats


def main():
    vocab = load_vocab(os.path.join(SRC, "models", "qa-squad", "vocab.txt"))
    tok = OffsetTokenizer(vocab)
    model, cfg = make_reader(vocab)
    want, feats = reference(model, tok, True)
    plain, _ = reference(model, tok, False)
    windows = [len(feats.windows(i)) for i in range(len(QUESTIONS))]
    typed = sum(int((x[1] == 2).sum()) for i in range(len(QUESTIONS)) for x in feats.inputs(i))
    differ = sum(a != b for a, b in zip(want, plain))
    check(min(windows) >= 2 and typed > 0, "every passage takes %d-%d windows; %d window tokens get type 2"
          % (min(windows), max(windows), typed))
    check(differ >= 3, "the types change %d of %d reference answers (the check below can fail)"
          % (differ, len(QUESTIONS)))

    models = os.path.join(g.TMP, "models")
    export(os.path.join(models, "qa-match"), model, cfg, vocab, True)
    c = json.load(open(os.path.join(models, "qa-match", "config.json")))
    check(c["tokenizer"].get("token_type_ids") == "question_match" and c["type_vocab_size"] == 3,
          "the export names the types: tokenizer.token_type_ids question_match, type_vocab_size 3")
    _, nats_url = g.start_nats()
    qa_p, n = start_qa(nats_url, models, os.path.join(g.TMP, "kb.sqlite"))
    check(n == 2, "parley-qa loads the question-match reader (and its int8 variant)")
    _, grpc_port, _ = g.start_gateway(nats_url)
    stub = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(g.channel(grpc_port))
    got = [ask(stub, q, PASSAGES[p]).results[0].answer for p, q in QUESTIONS]
    same = sum(a == b for a, b in zip(got, want))
    check(same == len(QUESTIONS), "the service's best answers are the recipe's with the types on: %d of %d "
          "(service %s, recipe %s)" % (same, len(QUESTIONS), got, want))
    g.stop(qa_p)

    # a reader that asks for the types but has two: refused at load, naming why
    bad = os.path.join(g.TMP, "bad")
    shutil.copytree(os.path.join(models, "qa-match"), os.path.join(bad, "qa-two-types"))
    small = BertConfig(**dict(cfg.__dict__, type_vocab_size=2))
    m2 = QuestionAnswering(small)
    export(os.path.join(bad, "qa-two-types"), m2, small, vocab, True)
    log = os.path.join(g.TMP, "qa.log")
    qa_p, n = start_qa(nats_url, bad, os.path.join(g.TMP, "kb2.sqlite"))
    time.sleep(0.2)
    text = open(log, errors="replace").read()
    check(n == 0 and re.search(r"type_vocab_size >= 3", text),
          "question_match with type_vocab_size 2: not loaded, the log says it needs 3 (%s)"
          % [l for l in text.splitlines() if "type_vocab" in l][:1])
    g.stop(qa_p)
    print("PASS")


if __name__ == "__main__":
    main()
