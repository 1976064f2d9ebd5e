#!/usr/bin/env python3
"""End of turn on the dev set: the measurements that chose parley-dialog's tone rule
(docs/dialog.md, "Choosing the tone rule on a dev set").

    /usr/bin/python3 services/dialog/eot_dev.py rules LOG...
    /usr/bin/python3 services/dialog/eot_dev.py punct
    /usr/bin/python3 services/dialog/eot_dev.py model LOG...

rules: reads the output of bench_voice_latency.py (--set dev, a configuration that logs the
tone and asks the NLU at every check: --silence 400/120/tone --fall-slope -200 --rise-slope
200: every tone level) and scores candidate rules on its checks. A check whose words can end (not "wait: the
words go on") is at the end when its words are the recording's last final, else inside (a
pause the speech went on after). For each rule: how many checks at the end it would end early
and how many inside (a cut). A check answering a prompt ends in every rule.

model: the end-of-turn classifier (models/nlu-eot, $PL_EOT_MODEL for another export, run with
the training code's PyTorch model) on the words of every check whose words can end in the logs
of bench_voice_latency.py (any configuration; the tone need not be logged): P(complete) of each,
and per threshold how many checks at a recording's end it would end early against how many
inside (cuts), beside the intent rule's counts on the same checks.

punct: the text signal. The shipped punctuation model (models/nlu-punct-capit, run with the
training code's PyTorch model) on the true text of the dev LJ Speech sentences: P("." or "?")
after the last word at the sentence's end, and after the word before each comma with the text
cut there.
"""
import ast
import collections
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECK = re.compile(
    r"\s+(\S+)\s+(\S+)\s+check after \d+ ms: \"(.*)\" (intent|complete) (\S+)"
    r"(?: tone (\w+) \(end ([-+\d.]+) st from (\d+) Hz, slope ([-+\d.]+) st/s, (\d+) voiced, "
    r"energy ([-+\d.]+) dB/s, pause (\d+) ms\))?: (.*?)(, but the speech went on)? \(")
FINALS = re.compile(r"\s+(\S+)\s+(\S+)\s+finals (\[.*\])$")
ONE = re.compile(r"\s+(\S+)\s+(\S+)\s+eos->final .* (?:early|     ) ('.*'|\".*\")$")


def checks(paths, need_tone=True):
    recs = collections.OrderedDict()
    for path in paths:
        for ln in open(path, encoding="utf-8", errors="replace"):
            m = CHECK.match(ln)
            if m:
                r = recs.setdefault((path, m.group(1), m.group(2)), {"checks": [], "finals": []})
                score = float(m.group(5))
                r["checks"].append({"text": m.group(3),
                                    "intent": score if m.group(4) == "intent" else None,
                                    "tone": m.group(6), "slope": float(m.group(9) or 0),
                                    "verdict": m.group(13)})
                continue
            m = FINALS.match(ln) or ONE.match(ln)
            if m:
                r = recs.setdefault((path, m.group(1), m.group(2)), {"checks": [], "finals": []})
                v = ast.literal_eval(m.group(3))
                r["finals"] = v if isinstance(v, list) else [v]
    out = []
    for r in recs.values():
        last = r["finals"][-1] if r["finals"] else None
        for c in r["checks"]:
            if c["verdict"].startswith("wait: the words") or (need_tone and c["tone"] is None):
                continue
            c["end"] = c["text"] == last
            out.append(c)
    return out


def rules_cmd(paths):
    cs = checks(paths)
    known = lambda c: c["tone"] != "unknown"
    sure = lambda c: c["intent"] >= 0.99
    rules = [("intent >= 0.99 (the rule before)", sure)]
    for s in (-5, -10, -15, -20):
        rules.append(("the tone alone: slope <= %d ends, else wait (unknown: intent)" % s,
                      lambda c, s=s: c["slope"] <= s if known(c) else sure(c)))
        rules.append(("intent >= 0.99 or slope <= %d" % s,
                      lambda c, s=s: sure(c) or (known(c) and c["slope"] <= s)))
        for rise in (0, 10):
            rules.append(("slope <= %d ends, > %d waits, between or unknown: intent" % (s, rise),
                          lambda c, s=s, rise=rise: (known(c) and c["slope"] <= s) or
                          (sure(c) and (not known(c) or c["slope"] <= rise))))
    ne = sum(c["end"] for c in cs)
    print("%d checks whose words can end: %d at a recording's end, %d inside"
          % (len(cs), ne, len(cs) - ne))
    print("| rule (a prompt waiting ends the turn in all) | ended at the end (of %d) | "
          "ended inside (of %d) |\n|---|---:|---:|" % (ne, len(cs) - ne))
    for name, f in rules:
        ends = lambda c: "prompt" in c["verdict"] or f(c)
        print("| %s | %d | %d |" % (name, sum(1 for c in cs if c["end"] and ends(c)),
                                    sum(1 for c in cs if not c["end"] and ends(c))))


def model_cmd(paths):
    sys.path.insert(0, ROOT)
    import numpy as np
    import torch
    from train.common import safetensors_io
    from train.common.bert import BertConfig
    from train.common.wordpiece import WordPiece, load_vocab
    from train.nlu.domain import SequenceClassifier
    from train.nlu.eot import p_complete
    folder = os.environ.get("PL_EOT_MODEL") or os.path.join(ROOT, "models", "nlu-eot")
    c = json.load(open(os.path.join(folder, "config.json")))
    model = SequenceClassifier(BertConfig(**{k: c[k] for k in BertConfig.__dataclass_fields__ if k in c}),
                               len(c["labels"]["end_of_turn"]))
    tensors, _ = safetensors_io.load(os.path.join(folder, "model.safetensors"))
    model.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items()})
    tok = WordPiece(load_vocab(os.path.join(folder, "vocab.txt")))
    cs = [x for x in checks(paths, need_tone=False) if "prompt" not in x["verdict"]]
    ps = p_complete(model, tok, [x["text"] for x in cs], c.get("max_length", 64))
    for x, p in zip(cs, ps):
        x["p"] = p
        print("  %s %.3f %s %r" % ("end   " if x["end"] else "inside", p,
                                   "intent %.3f" % x["intent"] if x["intent"] is not None else "",
                                   x["text"]))
    ne = sum(x["end"] for x in cs)
    print("%d checks whose words can end, no prompt waiting: %d at a recording's end, %d inside"
          % (len(cs), ne, len(cs) - ne))
    print("| rule | ended at the end (of %d) | ended inside (of %d) |\n|---|---:|---:|"
          % (ne, len(cs) - ne))
    known = [x for x in cs if x["intent"] is not None]
    if len(known) == len(cs):
        sure = [x for x in cs if x["intent"] >= 0.99]
        print("| intent >= 0.99 | %d | %d |" % (sum(x["end"] for x in sure),
                                               sum(not x["end"] for x in sure)))
    for th in (0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.98):
        acc = [x for x in cs if x["p"] >= th]
        print("| P(complete) >= %.2f | %d | %d |" % (th, sum(x["end"] for x in acc),
                                                    sum(not x["end"] for x in acc)))


def punct_cmd():
    sys.path.insert(0, ROOT)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch
    from train.common.bert import BertConfig
    from train.common import wordpiece
    from train.nlu import punct_data
    from train.nlu.punct_capit import PunctCapit, Encoder, load_export
    import bench_voice_latency as b
    folder = os.path.join(ROOT, "models", "nlu-punct-capit")
    c = json.load(open(os.path.join(folder, "config.json")))
    cfg = BertConfig(**{k: c[k] for k in ("vocab_size", "hidden_size", "num_hidden_layers",
                                          "num_attention_heads", "intermediate_size",
                                          "max_position_embeddings")})
    model = PunctCapit(cfg)
    load_export(model, cfg, folder)
    model.eval()
    enc = Encoder(wordpiece.WordPiece(os.path.join(folder, "vocab.txt")), 128)

    def p_final(words):
        ids, _, last = enc.encode([(w, "O", "lower") for w in words])
        with torch.no_grad():
            logits, _ = model(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))
        p = torch.softmax(logits[0, last[-1]], -1).tolist()
        return p[punct_data.MARKS.index(".")] + p[punct_data.MARKS.index("?")]

    rows = b.lj_rows("ljspeech-real")
    taken = set(r[0] for r in rows[:4] + [r for r in rows if "," in r[1]][:8])
    dev = {}
    for r in rows + b.lj_rows("ljspeech-subset"):
        if r[0] not in taken:
            dev.setdefault(r[0], r)
    ends, commas = [], []
    for _, text, _ in sorted(dev.values()):
        ws = punct_data.words_of(text)
        words = [w for w, _, _ in ws]
        ends.append(p_final(words))
        commas += [p_final(words[:k + 1]) for k, (_, m, _) in enumerate(ws[:-1]) if m == ","]
    print("%d dev sentences, %d comma cuts" % (len(ends), len(commas)))
    for th in (0.5, 0.8, 0.9, 0.95, 0.99):
        print("P('.' or '?') >= %.2f: sentence ends %.2f, comma cuts %.2f" % (
            th, sum(p >= th for p in ends) / len(ends), sum(p >= th for p in commas) / len(commas)))


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "rules":
        rules_cmd(sys.argv[2:])
    elif len(sys.argv) >= 3 and sys.argv[1] == "model":
        model_cmd(sys.argv[2:])
    elif len(sys.argv) == 2 and sys.argv[1] == "punct":
        punct_cmd()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
