#!/usr/bin/python3
"""End-of-turn classifier: whether the words a speaker has said so far make a complete turn
(`complete`) or the speech goes on (`incomplete`). parley-dialog asks it at a short pause in
hands-free Converse (`dialog.end_of_turn_model`, docs/dialog.md "End of turn").

A BERT sequence classifier in Hugging Face's layout (`bert.*` with the tanh pooler, then
`classifier.{weight,bias}` on the pooled [CLS]), task "text_classification", served by
parley-nlu for ClassifyText. It starts from models/nlu-intent-slot-snips (--init-model): its
vocabulary, encoder and pooler (the two classifier rows start at zero). Every text is written
as the recognizer writes it: lower case, no punctuation, numbers as words
(train/asr/lm/build_lm.py's normalize).

  complete    SNIPS utterances; sentences of ../shared/data/text/pretrain/*.txt.xz (split by
              document as train/nlu/domain.py does: per source the first documents give the
              held-out sentences, the next ones the dev sentences, later ones the training
              sentences); short answers to a prompt (SNIPS slot values, numbers, yes / no: a number
              alone is a whole turn, the answer to "how many" or "which one")
  incomplete  SNIPS utterances cut before their first slot ("book a table for", "play"; half
              of them), never between slots ("what's the weather" of "... for tomorrow" is a
              whole request) nor inside one (--slot-cuts: it reads as a whole request with a
              shorter value);
              the prose sentences cut inside: at a comma, semicolon, colon or dash ("according
              to lawson" of "According to Lawson, the chosen route ..."), before a
              conjunction, relative word or preposition (a cut that ends on a content word),
              and at random word positions. Cuts after a word on which the service's words
              rule already waits (an article, a preposition, "and", "um", ...: dialog_eot.c)
              are the easy case and kept at --easy-share; the others are all kept.

Evaluation ("test"): the held-out prose (its sentences and their cuts) with SNIPS test and its
cuts: accuracy, precision / recall of `complete`; and the LJ Speech sentences (never trained
on: the latency bench reads them aloud) whole against cut at their commas.

    /usr/bin/python3 -m train.nlu.eot                  # train, export models/nlu-eot: 14 min on 1 thread
    /usr/bin/python3 -m train.nlu.eot --limit 300 --prose-train 300 --prose-dev 60 \\
        --prose-heldout 60 --epochs 1 --work /tmp/eot-smoke --no-export --fresh
"""
import os
import random
import re

from train.asr.lm.build_lm import ONES, cardinal, normalize
from train.common.data import read_snips
from train.common.export import sha256
from train.nlu import domain
from train.nlu.domain import Domain, collate, prose_sets
from train.nlu.finetune import hardware_of

import torch

LABELS = ["complete", "incomplete"]
# the words after which dialog_eot.c's words rule waits (pl_dlg_eot_words_complete)
OPEN_WORDS = set("""a an the my your our their its every to of for from with at by into onto than
via toward towards per until till during between among and or but nor because if unless whether
although i i'm i'd i'll i've we're you're they're it's let's what's um umm uh uhh uhm er erm ah
eh""".split())
# a cut just before one of these ends on the word before it: a phrase boundary
BOUNDARY_BEFORE = set("""and or but because which that who whom whose when where while although
though since as if so then in on at with for of to from by about after before during into
through under over than like""".split())
NUMBER_WORDS = set(ONES + ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
                            "ninety", "hundred", "thousand", "million", "billion"])
_PUNCT_END = re.compile(r"[,;:\u2014\u2013]$|^--$|--$")


def asr_words(text):
    """The recognizer's words of `text`: lower case, no punctuation, numbers as words."""
    return normalize(text)


def snips_cuts(e, rng, slot_cuts=False):
    """Cuts of a SNIPS utterance that leave it unfinished: after the words before its first
    slot ("book a table for", "play"), and with slot_cuts inside a slot value of several words
    ("play a song by the rolling"). A cut between slots is not taken: "what's the weather
    forecast" of "... for tomorrow" is a whole request. Nor is one inside a slot by default: it
    reads as a whole request with a shorter value ("book a table in boston" of "... in boston
    harbor"), and a first model trained with them gave "book a table for four in boston" 0.16."""
    out = []
    inside = [k for k in range(1, len(e.words)) if e.tags[k].startswith("I-")]
    if inside and slot_cuts:  # one of them
        out.append((asr_words(" ".join(e.words[:rng.choice(inside)])), "slot"))
    first = next((k for k, t in enumerate(e.tags) if t != "O"), 0)
    if 0 < first < len(e.words) and rng.random() < 0.5:
        out.append((asr_words(" ".join(e.words[:first])), "carrier"))
    return [(w, kind) for w, kind in out if w]


def cuts(text, rng, n_random=1, n_phrase=1):
    """Prefixes of `text` that stop inside it, as word lists with their kind: "punct" (at a
    comma, semicolon, colon or dash), "phrase" (before a conjunction, relative word or
    preposition) and "random"; each cut is taken from the text as written, then normalized."""
    toks = text.split()
    out, seen = [], set()

    def add(k, kind):
        ws = asr_words(" ".join(toks[:k]))
        full = asr_words(text)
        if ws and len(ws) < len(full) and tuple(ws) not in seen:
            seen.add(tuple(ws))
            out.append((ws, kind))

    for k in range(1, len(toks)):
        if _PUNCT_END.search(toks[k - 1]):
            add(k, "punct")
    phr = [k for k in range(1, len(toks)) if toks[k].lower().strip("\"'(") in BOUNDARY_BEFORE]
    rng.shuffle(phr)
    for k in phr[:n_phrase]:
        add(k, "phrase")
    for _ in range(n_random):
        if len(toks) > 1:
            add(rng.randrange(1, len(toks)), "random")
    return out


def slot_answers(examples, rng, n):
    """Short answers to a prompt: slot values of SNIPS utterances, numbers, yes / no."""
    vals = set()
    for e in examples:
        cur = []
        for w, t in zip(e.words + ["<end>"], e.tags + ["O"]):
            if t.startswith("I-") and cur:
                cur.append(w)
                continue
            if cur:
                vals.add(" ".join(cur))
            cur = [w] if t.startswith("B-") else []
    vals = sorted(vals)
    rng.shuffle(vals)
    # a number alone answers "how many" or "which one": 0-99 four times each, larger ones
    extra = [cardinal(k) for k in range(100)] * 4 + [cardinal(rng.randrange(100, 2000)) for _ in range(40)] + [
        "yes", "no", "yeah", "yes please", "no thanks", "sure", "okay", "that's right",
        "not really", "nope", "correct", "tomorrow", "tonight", "today"]
    out = [" ".join(asr_words(v)) for v in vals[:n]] + extra
    return [t for t in out if t]


def labelled(sentences, rng, easy_share, n_random=1, snips=None, slot_cuts=False):
    """(text, label, kind) of whole sentences and of their cuts (of SNIPS examples: snips_cuts)."""
    items = []
    for i, s in enumerate(sentences):
        ws = asr_words(s)
        if not ws:
            continue
        items.append((" ".join(ws), "complete", "whole"))
        for cw, kind in (snips_cuts(snips[i], rng, slot_cuts) if snips else cuts(s, rng, n_random)):
            if cw[-1] in OPEN_WORDS and rng.random() >= easy_share:
                continue
            if all(w in NUMBER_WORDS for w in cw):  # a number alone is an answer (slot_answers)
                continue
            items.append((" ".join(cw), "incomplete", kind if cw[-1] not in OPEN_WORDS else "easy"))
    return items


def lj_sentences(data_dir, every=10):
    """(whole, [cuts at commas]) of every `every`-th LJ Speech sentence with a comma."""
    path = os.path.join(data_dir, "text", "ljspeech-sentences.csv")
    out = []
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split("|")
            if len(parts) < 3 or "," not in parts[1]:
                continue
            s = parts[1].strip()
            c = [" ".join(w) for w, kind in cuts(s, random.Random(0), 0) if kind == "punct"]
            out.append((" ".join(asr_words(s)), c))
    return out[::every]


def build_sets(data_dir, limit=0, n_train=6000, n_dev=700, n_held=2000, n_answers=1500,
               easy_share=0.15, seed=1, slot_cuts=False):
    """{split: [(text, label, kind), ...]} for train / dev / test. Deterministic."""
    snips = {k: read_snips(os.path.join(data_dir, "nlu", "snips", d))
             for k, d in (("train", "train"), ("dev", "valid"), ("test", "test"))}
    if limit:
        snips["train"] = snips["train"][:limit]
    prose = prose_sets(data_dir, [len(e.words) for e in snips["train"]], n_train, n_dev, n_held, seed)
    rng = random.Random(seed)
    sets = {}
    for k, pk in (("train", "train"), ("dev", "dev"), ("test", "heldout")):
        items = labelled([" ".join(e.words) for e in snips[k]], rng, easy_share, snips=snips[k],
                         slot_cuts=slot_cuts)
        items += labelled(prose[pk], rng, easy_share)
        ans = slot_answers(snips[k], rng, n_answers if k == "train" else n_answers // 5)
        items += [(a, "complete", "answer") for a in ans]
        rng.shuffle(items)
        sets[k] = items
    return sets, {"ljspeech": lj_sentences(data_dir)}


def read_asr_text(path):
    """(split, words, label, kind) rows of train/experiments/eot_asr.py's TSV."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) == 6 and p[5]:
                out.append((p[0], p[5], p[1], p[2]))
    return out


def rates(gold, pred, kinds):
    """Accuracy, precision / recall of complete, and accuracy per kind (%)."""
    n = len(gold)
    tp = sum(g == p == "complete" for g, p in zip(gold, pred))
    n_pred, n_gold = pred.count("complete"), gold.count("complete")
    m = {"acc": 100.0 * sum(g == p for g, p in zip(gold, pred)) / max(1, n),
         "complete_p": 100.0 * tp / n_pred if n_pred else 0.0,
         "complete_r": 100.0 * tp / n_gold if n_gold else 0.0, "n": n, "n_complete": n_gold,
         "kinds": {}}
    for kind in sorted(set(kinds)):
        ix = [i for i, k in enumerate(kinds) if k == kind]
        m["kinds"][kind] = {"n": len(ix), "acc": 100.0 * sum(gold[i] == pred[i] for i in ix) / len(ix)}
    return m


@torch.no_grad()
def p_complete(model, tok, texts, max_length, batch_size=64):
    model.eval()
    data = [(domain.encode_text(tok, t, max_length), 0) for t in texts]
    out = []
    for i in range(0, len(data), batch_size):
        ids, mask, _ = collate(data, list(range(i, min(len(data), i + batch_size))), tok.pad_id)
        out += torch.softmax(model(ids, mask), -1)[:, 0].tolist()
    return out


class Eot(Domain):
    name, model_dir = "eot", "nlu-eot"
    doc = __doc__
    data_help = "the shared data dir (nlu/snips, text/pretrain, text/ljspeech-sentences.csv)"
    defaults = {"epochs": 1, "max_length": 64, "lr": 2e-4, "export_dtype": "F16"}
    label_keys = ("labels",)
    head, int8_variant = "end_of_turn", False  # config.json: Domain.config_keys

    def add_args(self, ap):
        ap.add_argument("--init-model", default=domain.models_dir("nlu-intent-slot-snips"),
                        help="joint intent/slot model directory to start from ('' = from scratch)")
        ap.add_argument("--prose-train", type=int, default=6000, help="prose training sentences")
        ap.add_argument("--prose-dev", type=int, default=700)
        ap.add_argument("--prose-heldout", type=int, default=2000)
        ap.add_argument("--answers", type=int, default=1500, help="short prompt answers (train)")
        ap.add_argument("--easy-share", type=float, default=0.15,
                        help="share of the cuts after a word the words rule waits on that are kept")
        ap.add_argument("--slot-cuts", action="store_true",
                        help="also cut SNIPS utterances inside a slot value (incomplete)")
        ap.add_argument("--asr-text", default="",
                        help="the recognizer's words at recordings' ends and pauses "
                             "(train/experiments/eot_asr.py's TSV): its train rows join train, its dev rows dev")
        ap.add_argument("--asr-repeat", type=int, default=1,
                        help="times each --asr-text training row is taken")

    def read_data(self, args):
        self.sets, self.extra = build_sets(args.data, args.limit, args.prose_train, args.prose_dev,
                                           args.prose_heldout, args.answers, args.easy_share, args.seed,
                                           args.slot_cuts)
        if args.asr_text:
            rows = read_asr_text(args.asr_text)
            rng = random.Random(args.seed)
            for split, reps in (("train", args.asr_repeat), ("dev", 1)):
                add = [(t, lab, kind) for sp, t, lab, kind in rows if sp == split] * reps
                self.sets[split] = self.sets[split] + add
                rng.shuffle(self.sets[split])

    def new_labels(self, args):
        return {"labels": list(LABELS)}

    def encode(self, args, tok):
        lid = {lab: i for i, lab in enumerate(self.labels["labels"])}
        self.data = {k: [(domain.encode_text(tok, t, args.max_length), lid[lab]) for t, lab, _ in v]
                     for k, v in self.sets.items()}

    def describe(self):
        return "labels %s, %s" % ("/".join(self.labels["labels"]), self.split_sizes())

    def evaluate(self, model, split):
        items = self.sets[split]
        p = p_complete(model, self.tok, [t for t, _, _ in items], self.args.max_length)
        pred = ["complete" if x >= 0.5 else "incomplete" for x in p]
        m = rates([lab for _, lab, _ in items], pred, [k for _, _, k in items])
        if split == "test":
            at = {}
            for thr in (0.5, 0.7, 0.8, 0.9, 0.95):
                pr = ["complete" if x >= thr else "incomplete" for x in p]
                r = rates([lab for _, lab, _ in items], pr, [k for _, _, k in items])
                at["%.2f" % thr] = {"complete_p": r["complete_p"], "complete_r": r["complete_r"]}
            m["thresholds"] = at
            lj = self.extra.get("ljspeech", [])
            if lj:
                whole = p_complete(model, self.tok, [w for w, _ in lj], self.args.max_length)
                cut = p_complete(model, self.tok, [c for _, cs in lj for c in cs], self.args.max_length)
                m["lj"] = {"n_whole": len(whole), "n_cut": len(cut)}
                for thr in (0.5, 0.9):
                    m["lj"]["whole_%.1f" % thr] = 100.0 * sum(x >= thr for x in whole) / len(whole)
                    m["lj"]["cut_%.1f" % thr] = 100.0 * sum(x >= thr for x in cut) / max(1, len(cut))
        return m

    def score(self, m):
        return (m["acc"], m["complete_p"])

    def fmt(self, m):
        s = "acc %.2f  complete P %.2f R %.2f  [n=%d: %d complete]" % (
            m["acc"], m["complete_p"], m["complete_r"], m["n"], m["n_complete"])
        s += "\n      " + "  ".join("%s %.1f (n=%d)" % (k, v["acc"], v["n"]) for k, v in m["kinds"].items())
        for thr, v in m.get("thresholds", {}).items():
            s += "\n      P(complete) >= %s: complete P %.2f R %.2f" % (thr, v["complete_p"], v["complete_r"])
        if "lj" in m:
            lj = m["lj"]
            s += ("\n      LJ Speech (never trained on): whole sentences complete %.1f%% / %.1f%% "
                  "(>= 0.5 / 0.9, n=%d), cut at a comma %.1f%% / %.1f%% (n=%d)" % (
                      lj["whole_0.5"], lj["whole_0.9"], lj["n_whole"], lj["cut_0.5"], lj["cut_0.9"], lj["n_cut"]))
        return s

    def write_card(self, result, st_path, cfg, vocab_size):
        write_card(self.args, result, st_path, cfg, vocab_size, self.card_command(),
                   {k: len(v) for k, v in self.sets.items()})


def write_card(args, r, st_path, cfg, vocab_size, cmd, sizes):
    d, t = r["dev"], r["test"]
    kinds = "\n".join("| %s | %d | %.2f |" % (k, v["n"], v["acc"]) for k, v in t["kinds"].items())
    thr = "\n".join("| %s | %.2f | %.2f |" % (k, v["complete_p"], v["complete_r"])
                    for k, v in t.get("thresholds", {}).items())
    lj = t.get("lj", {})
    text = """# nlu-eot

End-of-turn classifier for hands-free speech: whether the words said so far make a complete
turn (`complete`) or the speaker goes on (`incomplete`). Fine-tuned by Parley's recipe
`train/nlu/eot.py` from `models/nlu-intent-slot-snips`; served by parley-nlu for
`ClassifyText` (the `end_of_turn` head); parley-dialog asks it at a short pause
(`dialog.end_of_turn_model`, docs/dialog.md "End of turn").

## Labels

`complete`, `incomplete`. Inputs are written as the recognizer writes them: lower case, no
punctuation, numbers as words.

## Model

- BERT (post-LayerNorm), {layers} layers, hidden {hidden}, {heads} heads, FFN {ffn}, GELU,
  {params:,} parameters; Hugging Face's `BertForSequenceClassification` layout: `bert.*` with
  the tanh pooler, `classifier.{{weight,bias}}` on the pooled `[CLS]`.
- Started from `nlu-intent-slot-snips`: its encoder, pooler and {vocab}-piece `vocab.txt`; the
  classifier rows started at zero.
- Inputs: `[CLS] pieces [SEP]`, at most {maxlen} tokens.
- Weights: `model.safetensors`, {dtype} ({mb:.1f} MB), sha256 `{sha}`.

## Data

- `complete`: SNIPS (CC0) utterances; sentences of `../shared/data/text/pretrain/` (Wikipedia
  2018 and 2015, Gutenberg books, UN General Debate speeches, AMI meeting transcripts, WordNet
  glosses, the same number from each, drawn to SNIPS's word counts; per source whole documents
  are split: the first ones held out, the next ones dev, later ones train, as for
  `nlu-domain`); short answers to a prompt (`answer`: SNIPS slot values, yes / no, and
  numbers alone, 0-99 four times each: the answer to "how many").
- `incomplete`: SNIPS utterances cut before their first slot ("book a table", "play":
  `carrier`, half of them; {slot}); the prose sentences cut inside them: at a comma,
  semicolon, colon or dash (`punct`), before a conjunction, relative word or preposition so
  that the cut ends on a content word (`phrase`), at a random word (`random`). Cuts ending on a
  word after which the dialog's words rule already waits (an article, a preposition, "and", a
  filler: `easy`) are kept at a share of {easy:.2f}; cuts that are a number alone are not
  taken.
- Every text lower case, without punctuation, numbers as words (the recognizer's form).
- Sizes: train {n_train:,}, dev {n_dev:,}, test {n_test:,} (SNIPS test and the held-out prose,
  with their cuts). A cut of a sentence can itself be a complete sentence ("play music" of
  "play music by ..."): the labels are those of the construction, so no accuracy reaches 100.

## Metrics (the recipe's forward pass, P(complete) >= 0.5)

| split | accuracy | complete precision / recall |
|---|---|---|
| dev | {d_acc:.2f} | {d_p:.2f} / {d_r:.2f} |
| test | {t_acc:.2f} | {t_p:.2f} / {t_r:.2f} |

Test accuracy by kind of item:

| kind | n | accuracy |
|---|---|---|
{kinds}

Test, `complete` by threshold:

| P(complete) at least | precision | recall |
|---|---|---|
{thr}

LJ Speech sentences with a comma (never trained on; the latency bench reads some of them
aloud): {lj_w5:.1f}% of the {lj_nw} whole sentences are `complete` at 0.5 ({lj_w9:.1f}% at 0.9), and
{lj_c5:.1f}% of their {lj_nc} cuts at a comma ({lj_c9:.1f}% at 0.9).

Best epoch {best} of {epochs}; {secs} s of training (about 10.5 min for the whole command with
the data and the evaluations) on {hardware}. Training time is wall-clock and depends on the machine's load.

## Reproduce

From the repository root, with `../shared/data` present:

    {cmd}

Checkpoints go to `train/work/eot/` after every epoch; the same command resumes. Seed {seed}.
The recipe ends by reloading the exported files and checking that they reproduce the trained
model's logits.
""".format(layers=cfg.num_hidden_layers, hidden=cfg.hidden_size, heads=cfg.num_attention_heads,
           ffn=cfg.intermediate_size, params=r["parameters"], vocab=vocab_size, maxlen=args.max_length,
           dtype="float32" if args.export_dtype == "F32" else "float16", mb=os.path.getsize(st_path) / 1e6,
           sha=sha256(st_path), easy=args.easy_share,
           slot="and inside a slot value of several words: `slot`" if args.slot_cuts else
           "not between slots nor inside a slot value: either reads as a whole request, and a "
           "first model trained with cuts inside slot values gave \"book a table for four in "
           "boston\" P(complete) 0.16", n_train=sizes["train"], n_dev=sizes["dev"],
           n_test=sizes["test"], d_acc=d["acc"], d_p=d["complete_p"], d_r=d["complete_r"],
           t_acc=t["acc"], t_p=t["complete_p"], t_r=t["complete_r"], kinds=kinds, thr=thr,
           lj_w5=lj.get("whole_0.5", 0), lj_w9=lj.get("whole_0.9", 0), lj_nw=lj.get("n_whole", 0),
           lj_c5=lj.get("cut_0.5", 0), lj_c9=lj.get("cut_0.9", 0), lj_nc=lj.get("n_cut", 0),
           best=r["best_epoch"], epochs=r["epochs"], secs=r["train_seconds"], hardware=hardware_of(r),
           cmd=cmd, seed=args.seed)
    with open(os.path.join(args.out, "README.md"), "w", encoding="utf-8") as f:
        f.write(text)


def main(argv=None):
    return Eot().main(argv)


if __name__ == "__main__":
    main()
