"""The official Riva `punctuation_client.py --run-tests` en-US cases against the shipped
punctuation model: nats-server + parley-nlu (serving a copy of models/nlu-punct-capit) + gateway
on free 127.0.0.1 ports, a Python gRPC client.

Each case goes through PunctuateText exactly as the script sends it
(TextTransformRequest{text=[query], model{language_code "en-US"}}, no model name) and is compared
with the script's expected output by exact string match, as the script does. The count that
matches must stay at least PASS_AT_LEAST (so a regression fails). Independent of the model, the
reconstruction rules (docs/nlu.md) are checked on every answer: the same whitespace words come
back; a word typed with punctuation at its end or with an upper-case letter comes back exactly
as typed; any other word comes back as the typed word, possibly raised in case, plus at most one
mark of `, . ?`.
Environment: PL_NLU, PL_GATEWAY, PL_PYTHON_STUBS, PL_MODELS (see tests/nlu.cmake).
"""
import os
import shutil
import sys
import unicodedata

import gwtest as g  # noqa: E402
from gwtest import check, riva_nlp_pb2, riva_nlp_pb2_grpc  # noqa: E402
from nlu_variants import start_nlu  # noqa: E402

NLP = riva_nlp_pb2
MODEL = "nlu-punct-capit"
PASS_AT_LEAST = 3

# punctuation_client.py --run-tests, language en-US: (input, expected output)
CASES = [
    ("can you prove that you are self aware", "Can you prove that you are self aware?"),
    ("will you have $103 and \u20a9111 at 12:45 pm", "Will you have $103 and \u20a9111 at 12:45 pm?"),
    ("the train leaves station by 09:45 A.M. and reaches destination in 3 hours",
     "The train leaves station by 09:45 A.M. and reaches destination in 3 hours."),
    ("Loona (stylized as LOO\u03a0\u0394, Korean: \uc774\ub2ec\uc758 \uc18c\ub140; Hanja: Idarui Sonyeo; "
     "lit. ''Girl of the Month'') is a South Korean girl group formed by Blockberry Creative",
     "Loona (stylized as LOO\u03a0\u0394, Korean: \uc774\ub2ec\uc758 \uc18c\ub140; Hanja: Idarui Sonyeo; "
     "lit. ''Girl of the Month'') is a South Korean girl group formed by Blockberry Creative."),
    ("i just want to start with a little bit of a word of warning and that is my job here tonight is to "
     "be a little bit of a doctor bring me down so bear with me for a few minutes and know that after "
     "this things will get lighter and brighter so let's start i know that many of you have heard the "
     "traveler's adage take nothing but pictures leave nothing but footprints well i'm going to say "
     "i don't think that's either as benign nor as simple as it sounds particularly for those of us in "
     "industries who are portraying people in poor countries in developing countries and portraying the "
     "poor and those of us in those industries are reporters researchers and people working for ngos i "
     "suspect there are a lot of us in those industries in the audience",
     "I just want to start with a little bit of a word of warning, and that is my job here tonight is "
     "to be a little bit of a doctor. Bring me down, so bear with me for a few minutes and know that "
     "after this things will get lighter and brighter. So let's start. I know that many of you have "
     "heard the traveler's adage Take nothing but pictures, leave nothing but footprints. Well, I'm "
     "going to say, I don't think that's either as benign nor as simple as it sounds, particularly for "
     "those of us in industries who are portraying people in poor countries in developing countries and "
     "portraying the poor and those of us in those industries are reporters, researchers and people "
     "working for ngos. I suspect there are a lot of us in those industries in the audience."),
    ("if water is held at 100 \u00b0C [212 \u00b0F] for one minute most micro-organisms and viruses are "
     "inactivated",
     "If water is held at 100 \u00b0C [212 \u00b0F] for one minute, most micro-organisms and viruses are "
     "inactivated."),
]


def word_char(c):
    return unicodedata.category(c)[0] in "LMN"


def word_kept_or_marked(typed, got):
    """Whether `got` is what the reconstruction may make of the typed word `typed`: typed
    punctuation or symbols around it or an upper-case letter keep it as typed (a mark only
    after a word character that ends it); a bare lower-case word may be raised in case and
    take a mark."""
    marked = got[:-1] if got[-1] in ",.?" and len(got) == len(typed) + 1 else None
    ends_bare = word_char(typed[-1])
    if not word_char(typed[0]) or not ends_bare or any(unicodedata.category(c) in ("Lu", "Lt") for c in typed):
        return got == typed or (ends_bare and marked == typed)
    return (marked or got).lower() == typed

def main():
    shipped = os.path.join(os.environ.get("PL_MODELS", ""), MODEL)
    if not os.path.isfile(os.path.join(shipped, "config.json")):
        print("note: %s not in the tree; skipped" % shipped)
        sys.exit(0)
    models = os.path.join(g.TMP, "models")
    os.makedirs(models)
    shutil.copytree(shipped, os.path.join(models, MODEL))
    _, nats_url = g.start_nats()
    start_nlu(nats_url, models)
    _, grpc_port, _ = g.start_gateway(nats_url)
    stub = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(g.channel(grpc_port))

    passed = 0
    for query, want in CASES:
        req = NLP.TextTransformRequest(text=[query], model=NLP.NLPModelParams(language_code="en-US"))
        got = stub.PunctuateText(req, timeout=20).text[0]
        ok = got == want
        passed += ok
        print("%s  %s\n      -> %s" % ("PASS" if ok else "FAIL", query[:100], got[:300]), flush=True)
        typed, words = query.split(), got.split()
        check(len(words) == len(typed), "the %d typed words come back as %d words" % (len(typed), len(words)))
        bad = [(t, w) for t, w in zip(typed, words) if not word_kept_or_marked(t, w)]
        check(not bad, "words with punctuation or capitals kept as typed, others only raised/marked: %s"
              % (bad[:5] or "all %d" % len(typed)))
    print("official punctuation_client.py en-US cases passed: %d of %d" % (passed, len(CASES)))
    check(passed >= PASS_AT_LEAST, "at least %d of %d official cases match exactly (%d)"
          % (PASS_AT_LEAST, len(CASES), passed))
    print("all official punctuation checks passed")


if __name__ == "__main__":
    main()
