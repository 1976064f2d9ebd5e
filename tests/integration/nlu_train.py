"""`parley nlu train`: a model for a made-up domain, trained from its examples, served by a
running parley-nlu after SIGHUP. nats-server + parley-nlu + gateway on free 127.0.0.1 ports,
a Python gRPC client, the real `parley` command and training recipe.

1. Bad files (empty, an intent with one example, an annotation without its ']', a slot name
   with bad characters): each exits 1 with a message naming the file and line, and writes
   nothing.
2. parley-nlu starts on a model repository with a tiny model (nlu_tiny.py); "coffee" is not
   served (NOT_FOUND).
3. `parley nlu train tests/data/nlu/coffee.yml --out REPO --minutes M --folds 2`: a coffee
   shop (order_drink with size and drink, ask_hours, cancel_order; 38 examples), 150 steps
   per fit (about half a minute in all on a quiet 2-core machine); it prints the
   cross-validated intent accuracy and slot F1 and writes REPO/coffee.
4. SIGHUP: parley-nlu reports the added model; AnalyzeIntent with domain "coffee" on
   utterances that are not in the file gives the right intent every time and the right slots
   (exact words and names) for at least all but one of them; GetRivaNLPConfig lists coffee.
5. A dialog on its own model: parley-dialog with the coffee-shop spec
   (tests/data/nlu/coffee_dialog.yaml, `settings.nlu_model` naming the trained model) takes an
   order in one turn; the same spec naming the tiny random model instead does not (so the
   spec's model, not parley-nlu's default, understood the turn).
Environment: PL_NLU, PL_GATEWAY, PL_PARLEY, PL_DIALOG, PL_SOURCE_DIR, PL_PYTHON_STUBS (tests/nlu.cmake);
PL_TRAIN_MINUTES overrides the training budget (4).
"""
import os
import re
import shutil
import signal
import subprocess
import time

import gwtest as g  # noqa: E402
import nlu_tiny  # noqa: E402
from gwtest import check, code_of, grpc, riva_nlp_pb2, riva_nlp_pb2_grpc  # noqa: E402
from nlu_reload import log_size, wait_log  # noqa: E402
from nlu_variants import start_nlu  # noqa: E402
from dialog_stories import start  # noqa: E402
from parley.dialog.v1 import dialog_pb2 as D, dialog_pb2_grpc  # noqa: E402

NLP = riva_nlp_pb2
SRC = os.environ.get("PL_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
COFFEE = os.path.join(SRC, "tests", "data", "nlu", "coffee.yml")
# utterances that are not in coffee.yml: (text, intent, {slot: words})
UNSEEN = [
    ("could i get a large cappuccino", "order_drink", {"size": "large", "drink": "cappuccino"}),
    ("a small latte for me please", "order_drink", {"size": "small", "drink": "latte"}),
    ("one medium americano to go please", "order_drink", {"size": "medium", "drink": "americano"}),
    ("i would like an espresso", "order_drink", {"drink": "espresso"}),
    ("what time do you close on friday", "ask_hours", {}),
    ("when are you open tomorrow morning", "ask_hours", {}),
    ("please cancel my mocha", "cancel_order", {"drink": "mocha"}),
    ("cancel the order please", "cancel_order", {}),
]
BAD = [
    ("empty", "", ":1: (top): the file is empty"),
    ("one example", "nlu:\n- intent: a\n  examples: |\n    - hi\n- intent: b\n  examples: |\n"
     "    - yo\n    - hey\n", ":4: intent 'a': has 1 example"),
    ("no ']'", "nlu:\n- intent: a\n  examples: |\n    - hi\n    - a [large(size) latte\n"
     "- intent: b\n  examples: |\n    - yo\n    - hey\n", ":5: nlu[0].examples (a): annotation "
     "'[large(size) latte' has no closing ']'"),
    ("bad slot name", "nlu:\n- intent: a\n  examples: |\n    - hi\n    - a [large](si ze!) "
     "latte\n- intent: b\n  examples: |\n    - yo\n    - hey\n", ":5: nlu[0].examples (a): "
     "slot name 'si ze!'"),
]


def train(args):
    t0 = time.time()
    p = subprocess.run([os.environ["PL_PARLEY"], "nlu", "train"] + args, capture_output=True,
                       text=True, timeout=300)
    return p, time.time() - t0


def bad_files(repo):
    for what, text, want in BAD:
        path = os.path.join(g.TMP, "bad.yml")
        with open(path, "w") as f:
            f.write(text)
        p, _ = train([path, "--out", repo, "--name", "bad"])
        check(p.returncode == 1 and (path + want) in p.stderr,
              "%s: exit 1 naming file and line: %s" % (what, p.stderr.strip()))
        check(not os.path.exists(os.path.join(repo, "bad")), "%s: nothing written" % what)


def slots_of(r):
    return {s.label[0].class_name: s.token for s in r.slots}


def order_turn(stub, dialog, text):
    reqs = [D.ConverseRequest(config=D.ConverseConfig(user_id="u-" + dialog, dialog=dialog,
                                                      include_nlu=True)),
            D.ConverseRequest(text=D.TextInput(text=text))]
    out = list(stub.Converse(iter(reqs), timeout=60))
    said = " ".join(r.bot_text.text for r in out if r.WhichOneof("response") == "bot_text")
    nlu = [r.nlu.intent.name for r in out if r.WhichOneof("response") == "nlu"]
    return said, nlu[0] if nlu else ""


def dialog_on_own_model(nats_url, grpc_port):
    spec = open(os.path.join(SRC, "tests", "data", "nlu", "coffee_dialog.yaml")).read()
    check("nlu_model: coffee_shop" in spec, "the coffee-shop spec names its own model")
    specs = os.path.join(g.TMP, "specs")
    os.makedirs(specs, exist_ok=True)
    with open(os.path.join(specs, "coffee.yaml"), "w") as f:  # the model this test trained
        f.write(spec.replace("nlu_model: coffee_shop", "nlu_model: coffee"))
    with open(os.path.join(specs, "tiny.yaml"), "w") as f:  # the same spec on the random model
        f.write(spec.replace("dialog: coffee_shop", "dialog: coffee_tiny")
                .replace("nlu_model: coffee_shop", "nlu_model: intent"))
    start([os.environ["PL_DIALOG"], "--nats", nats_url, "--http-port", "-1", "--model-dir", specs],
          "dialog", {"PARLEY_DIALOG_STORE_PATH": os.path.join(g.TMP, "dialog.sqlite"),
                     "PARLEY_DIALOG_DEFAULT_DIALOG": "coffee_shop"}, r"specs=2")
    stub = dialog_pb2_grpc.DialogStub(g.channel(grpc_port))
    text = "could i get a large cappuccino"
    said, intent = order_turn(stub, "coffee_shop", text)
    check(intent == "order_drink" and re.search(r"(?i)cappuccino, coming up", said),
          "coffee_shop on its own model: %r -> %s: %r" % (text, intent, said))
    said, intent = order_turn(stub, "coffee_tiny", text)
    check("coming up" not in said, "the same spec on the random model: %r -> %r: %r"
          % (text, intent, said))


def main():
    repo = os.path.join(g.TMP, "models")
    nlu_tiny.write_models(repo)
    for d in ("ner", "punct", "textcls", "broken", "notnlu"):
        shutil.rmtree(os.path.join(repo, d), ignore_errors=True)
    bad_files(repo)

    _, nats_url = g.start_nats()
    nlu, n_models = start_nlu(nats_url, repo)
    _, grpc_port, _ = g.start_gateway(nats_url)
    stub = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(g.channel(grpc_port))
    req = NLP.AnalyzeIntentRequest(query=UNSEEN[0][0], options=NLP.AnalyzeIntentOptions(domain="coffee"))
    check(code_of(lambda: stub.AnalyzeIntent(req, timeout=10))[0] == grpc.StatusCode.NOT_FOUND,
          "before training, 'coffee' is not served (NOT_FOUND; %d model(s) loaded)" % n_models)

    # 150 steps per fit (the default's least): on a quiet 2-core machine about 10 s each; the
    # time budget only guards a machine so loaded that it would stop the fits early
    minutes = os.environ.get("PL_TRAIN_MINUTES", "4")
    p, took = train([COFFEE, "--out", repo, "--minutes", minutes, "--folds", "2", "--steps", "150"])
    print(p.stdout.strip())
    check(p.returncode == 0, "parley nlu train exits 0 (%s)" % p.stderr.strip()[-600:])
    cv = re.search(r"cross-validation \(2 folds, 38 held-out utterances\): intent accuracy "
                   r"([\d.]+)%, slot F1 ([\d.]+)", p.stdout)
    check(cv is not None, "it prints the cross-validated intent accuracy and slot F1")
    check(float(cv.group(1)) >= 60.0, "cross-validated intent accuracy %s%% (at least 60; chance is 33)"
          % cv.group(1))
    check(took < float(minutes) * 60 + 15, "training took %.0f s (budget %s min)" % (took, minutes))
    out = os.path.join(repo, "coffee")
    check(all(os.path.isfile(os.path.join(out, f)) for f in
              ("config.json", "model.safetensors", "vocab.txt", "README.md")),
          "it wrote %s with config.json, model.safetensors, vocab.txt and a card" % out)

    mark = log_size()
    os.kill(nlu.pid, signal.SIGHUP)
    line = wait_log(r"NLU model repository \S+ reloaded: [^\"]*", mark)
    check("added" in line and "failed" not in line.replace("0 failed", ""),
          "SIGHUP: parley-nlu loads it: %s" % line)
    cfg = stub.GetRivaNLPConfig(NLP.RivaNLPConfigRequest(), timeout=10)
    names = [c.model_name for c in cfg.model_config]
    check("coffee" in names, "GetRivaNLPConfig lists coffee (%s)" % names)

    wrong_slots = 0
    for text, intent, slots in UNSEEN:
        r = stub.AnalyzeIntent(NLP.AnalyzeIntentRequest(
            query=text, options=NLP.AnalyzeIntentOptions(domain="coffee")), timeout=20)
        got = slots_of(r)
        check(r.intent.class_name == intent,
              "%r: intent %s (%.2f), want %s" % (text, r.intent.class_name, r.intent.score, intent))
        wrong_slots += got != slots
        print("  %r: %s %.2f slots %s%s" % (text, r.intent.class_name, r.intent.score, got,
                                            "" if got == slots else "  (want %s)" % slots))
    check(wrong_slots <= 1, "slots right on %d of %d unseen utterances"
          % (len(UNSEEN) - wrong_slots, len(UNSEEN)))
    dialog_on_own_model(nats_url, grpc_port)
    check(nlu.poll() is None, "parley-nlu is still running")
    print("PASS")


if __name__ == "__main__":
    main()
