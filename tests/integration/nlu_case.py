"""Case token types end to end: the recipe's rule (train/nlu/ner_conll2003.py) and parley-nlu's
(pl_nlu_word_case_class, pl_nlu_word_starts_upper) must give every piece the same token type.

Tiny random-weight NER models (nlu_tiny.py) whose config.json sets tokenizer.token_type_ids
("word_case" with type_vocab_size 4, "word_starts_upper" with 2) and whose token-type rows
differ strongly; cased sentences go through ClassifyTokens, and each word's label and score
must equal the NumPy reference fed with the types the Python rule computes. The reference with
all types 0 must differ (else the check could not fail). A "word_case" model whose
type_vocab_size is 2 must be refused at load.
Environment: PL_NLU, PL_GATEWAY, PL_PYTHON_STUBS, PYTHONPATH with the source root.
"""
import json
import os
import unicodedata

import numpy as np

import gwtest as g  # noqa: E402
import nlu_tiny  # noqa: E402
from gwtest import check, riva_nlp_pb2, riva_nlp_pb2_grpc  # noqa: E402
from nlu_test_service import start_nlu  # noqa: E402
from train.nlu.ner_conll2003 import case_types_of  # noqa: E402

NLP = riva_nlp_pb2
# each at most 14 pieces (one window of nlu_tiny.MAX_LENGTH)
SENTENCES = ["John met SMITH in Paris , iPhone",
             "BOOK a Table for TWO at 1996 (Boston)",
             "U.S. McDonald a x2",
             "\u00c9vora \u00c9TAT play Music by john",
             "what is the weather in LONDON I"]


def pieces_of(word):
    """The tiny vocabulary's pieces of one whitespace word: lower case, accents stripped,
    punctuation split off, greedy longest-match WordPiece, [UNK] for a word it cannot cover."""
    w = "".join(c for c in unicodedata.normalize("NFD", word.lower()) if unicodedata.category(c) != "Mn")
    runs, cur = [], ""
    for c in w:
        if unicodedata.category(c)[0] in "PS":
            runs += [cur] if cur else []
            runs.append(c)
            cur = ""
        else:
            cur += c
    runs += [cur] if cur else []
    out = []
    for r in runs:
        got, start = [], 0
        while start < len(r):
            end = len(r)
            while end > start and (("##" if start else "") + r[start:end]) not in nlu_tiny.VOCAB:
                end -= 1
            if end == start:
                got = ["[UNK]"]
                break
            got.append(("##" if start else "") + r[start:end])
            start = end
        out += got
    return out


def write_case_model(root, name, scheme, n_types, seed):
    d = os.path.join(root, name)
    nlu_tiny.write_model(d, seed, "token_classification", {"token": nlu_tiny.NER},
                         {"token": {"tensor_prefix": "classifier", "input": "tokens", "labels": "token",
                                    "scheme": "BIO", "alignment": "first_subtoken_of_each_whitespace_word"}},
                         "BertForTokenClassification")
    t = nlu_tiny.load_safetensors(os.path.join(d, "model.safetensors"))
    rng = np.random.default_rng(seed + 100)
    t["bert.embeddings.token_type_embeddings.weight"] = rng.normal(0, 1.0, (n_types, nlu_tiny.HIDDEN)).astype(
        np.float32)
    nlu_tiny.save_safetensors(os.path.join(d, "model.safetensors"), t)
    cfg = json.load(open(os.path.join(d, "config.json")))
    cfg["type_vocab_size"] = n_types
    cfg["tokenizer"]["token_type_ids"] = scheme
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=2)
    return d


def main():
    models = os.path.join(g.TMP, "models")
    dirs = {"word_case": write_case_model(models, "case4", "word_case", 4, 11),
            "word_starts_upper": write_case_model(models, "upper2", "word_starts_upper", 2, 12)}
    write_case_model(models, "case_short", "word_case", 2, 13)  # too few token types
    _, nats_url = g.start_nats()
    _, _, n_models = start_nlu(nats_url, models)
    check(n_models == 2, "the word_case model with type_vocab_size 2 is refused, 2 models load (%d)" % n_models)
    _, grpc_port, _ = g.start_gateway(nats_url)
    stub = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(g.channel(grpc_port))
    for scheme, d in dirs.items():
        name = os.path.basename(d)
        differs = 0
        for text in SENTENCES:
            words = text.split(" ")
            pieces, types, first = [], [], []
            for w, c in zip(words, case_types_of(words, scheme)):
                p = pieces_of(w)
                first.append(len(pieces))
                pieces += p
                types += [c] * len(p)
            assert len(pieces) <= nlu_tiny.MAX_LENGTH - 2, text
            ref = nlu_tiny.forward(d, pieces, types)["token"]
            zero = nlu_tiny.forward(d, pieces)["token"]
            r = stub.ClassifyTokens(NLP.TokenClassRequest(text=[text], top_n=1,
                                                          model=NLP.NLPModelParams(model_name=name)), timeout=10)
            seq = r.results[0].results
            got = [(v.token, v.label[0].class_name, round(v.label[0].score, 3)) for v in seq]
            want = [(w, nlu_tiny.NER[int(np.argmax(ref[f]))], round(float(ref[f].max()), 3))
                    for w, f in zip(words, first)]
            ok = len(seq) == len(words) and all(
                v.token == w and v.label[0].class_name == nlu_tiny.NER[int(np.argmax(ref[f]))] and
                abs(v.label[0].score - ref[f].max()) < 2e-3 for v, w, f in zip(seq, words, first))
            check(ok, "%s: %r: the service's labels and scores equal the reference with the recipe's token "
                      "types %s\n  got  %s\n  want %s" % (scheme, text, case_types_of(words, scheme), got, want))
            differs += sum(abs(float(zero[f].max()) - float(ref[f].max())) > 1e-2 for f in first)
        check(differs > 0, "%s: the token types change the scores (%d words)" % (scheme, differs))
    print("all nlu case-type checks passed")


if __name__ == "__main__":
    main()
