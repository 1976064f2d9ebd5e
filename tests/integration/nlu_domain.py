"""The shipped domain classifier (models/nlu-domain) through the gateway, as the legacy Riva
text_classify_client.py asks for it: ClassifyText with model_name
"riva_text_classification_domain" (the default alias in nlu.model_aliases). nats-server +
parley-nlu (serving links to the shipped nlu-domain and nlu-intent-slot-snips) + gateway on free
127.0.0.1 ports, a Python gRPC client.

1. GetRivaNLPConfig lists the alias with alias_of nlu-domain.
2. One request per text, as the script sends it: requests of the seven domains written for this
   test (not in SNIPS) get their domain, and sentences that are no request get "nomatch".
3. One request with all the texts and top_n 3: the same top labels, three labels per text with
   scores in descending order, and the scores equal (1e-3) to the softmax of the recipe's
   PyTorch model (train/nlu/domain.py) on the exported weights.
4. The int8 variant (nlu-domain-int8) gives the same labels. Without a model name ClassifyText
   answers from nlu-domain (the first text-classification model, ahead of the joint intent model).
5. No texts: INVALID_ARGUMENT; an unknown model: NOT_FOUND naming the loaded models.
Fails when models/nlu-domain (shipped) is missing.
Environment: PL_NLU, PL_GATEWAY, PL_PYTHON_STUBS, PL_MODELS (see tests/nlu.cmake).
"""
import json
import os

import gwtest as g  # noqa: E402
from gwtest import check, code_of, grpc, riva_nlp_pb2, riva_nlp_pb2_grpc  # noqa: E402
from nlu_variants import start_nlu  # noqa: E402

NLP = riva_nlp_pb2
ALIAS = "riva_text_classification_domain"
IN_DOMAIN = [
    ("put the new coldplay single on my sunday morning playlist", "AddToPlaylist"),
    ("reserve a table for six at a thai place in chicago on friday night", "BookRestaurant"),
    ("is it going to be windy in seattle this weekend", "GetWeather"),
    ("play something by miles davis", "PlayMusic"),
    ("give the novel dune four out of five points", "RateBook"),
    ("find me the video game called halo", "SearchCreativeWork"),
    ("what time is the new batman film showing at the closest cinema", "SearchScreeningEvent"),
]
OUT_OF_DOMAIN = [
    "the committee approved the budget after a long debate",
    "photosynthesis converts light energy into chemical energy",
    "i think we should move the meeting to after lunch",
    "the old bridge was rebuilt in stone after the war",
    "she studied law in edinburgh before joining the ministry",
]


def reference_probs(model_dir, texts):
    """Softmax of the recipe's PyTorch model on the exported files, per text."""
    import numpy as np
    import torch
    from train.common import safetensors_io
    from train.common.bert import BertConfig
    from train.common.wordpiece import WordPiece, load_vocab
    from train.nlu.domain import SequenceClassifier, encode_text
    c = json.load(open(os.path.join(model_dir, "config.json")))
    model = SequenceClassifier(BertConfig(**{k: c[k] for k in BertConfig.__dataclass_fields__ if k in c}),
                               len(c["labels"]["domain"]))
    tensors, _ = safetensors_io.load(os.path.join(model_dir, "model.safetensors"))
    model.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items()})
    model.eval()
    tok = WordPiece(load_vocab(os.path.join(model_dir, "vocab.txt")))
    out = []
    with torch.no_grad():
        for t in texts:
            ids = torch.tensor([encode_text(tok, t, c["max_length"])])
            out.append(torch.softmax(model(ids, torch.ones_like(ids)), -1)[0].tolist())
    return c["labels"]["domain"], out


def main():
    shipped = os.environ["PL_MODELS"]
    if not os.path.isfile(os.path.join(shipped, "nlu-domain", "config.json")):
        raise AssertionError("%s/nlu-domain is missing (it is shipped)" % shipped)
    models = os.path.join(g.TMP, "models")
    os.makedirs(models)
    for d in ("nlu-domain", "nlu-intent-slot-snips"):
        os.symlink(os.path.join(shipped, d), os.path.join(models, d))
    _, nats_url = g.start_nats()
    start_nlu(nats_url, models)
    _, grpc_port, _ = g.start_gateway(nats_url)
    stub = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(g.channel(grpc_port))

    cfg = stub.GetRivaNLPConfig(NLP.RivaNLPConfigRequest(), timeout=20)
    params = {c.model_name: dict(c.parameters) for c in cfg.model_config}
    check(params.get(ALIAS, {}).get("alias_of") == "nlu-domain",
          "GetRivaNLPConfig: %s is an alias of nlu-domain" % ALIAS)

    texts = [t for t, _ in IN_DOMAIN] + OUT_OF_DOMAIN
    want = [d for _, d in IN_DOMAIN] + ["nomatch"] * len(OUT_OF_DOMAIN)
    got = []
    for t in texts:  # text_classify_client.py: one text per request, the alias as model_name
        r = stub.ClassifyText(NLP.TextClassRequest(text=[t], model=NLP.NLPModelParams(model_name=ALIAS)), timeout=20)
        if len(r.results) != 1 or not r.results[0].labels:
            raise AssertionError("not one result with a label: %s" % r)
        got.append(r.results[0].labels[0].class_name)
        print("     %-70s %s %.3f" % (t, got[-1], r.results[0].labels[0].score))
    wrong = [(t, w, x) for t, w, x in zip(texts, want, got) if w != x]
    if wrong:
        raise AssertionError("wrong domains (text, want, got): %s" % wrong)
    check(True, "%d requests of the seven domains and %d other sentences, one per request: all right"
          % (len(IN_DOMAIN), len(OUT_OF_DOMAIN)))

    r = stub.ClassifyText(NLP.TextClassRequest(text=texts, top_n=3, model=NLP.NLPModelParams(model_name=ALIAS)),
                          timeout=20)
    check(len(r.results) == len(texts), "%d texts in one request: one result each" % len(texts))
    labels, ref = reference_probs(os.path.join(shipped, "nlu-domain"), texts)
    worst = 0.0
    for i, res in enumerate(r.results):
        if len(res.labels) != 3 or res.labels[0].class_name != got[i] or \
                any(a.score < b.score for a, b in zip(res.labels, res.labels[1:])):
            raise AssertionError("top_n 3 of %r: %s (alone: %s)" % (texts[i], res.labels, got[i]))
        for lab in res.labels:
            worst = max(worst, abs(lab.score - ref[i][labels.index(lab.class_name)]))
    check(worst < 1e-3, "top_n 3: three labels each, scores in order, the same top labels; scores equal "
                        "the PyTorch model's (max diff %.1e)" % worst)

    r = stub.ClassifyText(NLP.TextClassRequest(text=texts, model=NLP.NLPModelParams(model_name="nlu-domain-int8")),
                          timeout=20)
    check([res.labels[0].class_name for res in r.results] == got,
          "the int8 variant nlu-domain-int8: the same labels")

    r = stub.ClassifyText(NLP.TextClassRequest(text=["play something by miles davis"]), timeout=20)
    check(r.results[0].labels[0].class_name == "PlayMusic" and
          all(lab.class_name in labels for lab in r.results[0].labels), "no model name: answered by nlu-domain")

    code, _ = code_of(lambda: stub.ClassifyText(NLP.TextClassRequest(model=NLP.NLPModelParams(model_name=ALIAS)),
                                                timeout=20))
    check(code == grpc.StatusCode.INVALID_ARGUMENT, "no texts: INVALID_ARGUMENT")
    code, details = code_of(lambda: stub.ClassifyText(
        NLP.TextClassRequest(text=["hi"], model=NLP.NLPModelParams(model_name="riva_domain_nope")), timeout=20))
    check(code == grpc.StatusCode.NOT_FOUND and "nlu-domain" in details,
          "unknown model: NOT_FOUND naming the loaded models (%s)" % details)


if __name__ == "__main__":
    main()
