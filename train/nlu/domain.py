#!/usr/bin/python3
"""Domain classifier for Riva ClassifyText (`riva_text_classification_domain`): the seven SNIPS
intents as domains plus "nomatch", text that belongs to none of them.

A BERT sequence classifier in Hugging Face's layout (`bert.*` with the tanh pooler, then
`classifier.{weight,bias}` on the pooled [CLS]), task "text_classification", which parley-nlu
serves for ClassifyText. It starts from models/nlu-intent-slot-snips (--init-model): its
vocabulary, encoder and pooler, and its intent head as the seven domain rows of the classifier
(the nomatch row starts at zero), then fine-tunes on:

  in domain   the SNIPS utterances of each split, labelled with their intent; a quarter of the
              training ones get a first capital and a final "?" or "." so that punctuation
              alone does not say "not a command"
  nomatch     sentences of ../shared/data/text/pretrain/*.txt.xz (Wikipedia, books, UN speeches,
              meeting transcripts, WordNet glosses) drawn to SNIPS's distribution of word counts;
              per source the first documents give the held-out sentences (the same documents the
              GPU bundle holds out of pretraining, train/gpu/pack.py), the next ones the dev
              sentences, later ones the training sentences; half the training sentences and all
              dev/held-out ones are written like SNIPS (lower case, no punctuation)

Evaluation ("test"): SNIPS test + the held-out prose sentences: accuracy over the eight labels,
domain accuracy on SNIPS, nomatch precision/recall/F1; and the share labelled nomatch of sets
never trained on: the held-out prose as written, SQuAD 2.0 dev questions, CoNLL-2003 test
sentences, LJ Speech sentences (--extra-n of each).

    /usr/bin/python3 -m train.nlu.domain                  # train (resumes), export: 11 min on 1 thread
    /usr/bin/python3 -m train.nlu.domain --limit 300 --ood-train 300 --ood-dev 60 --ood-heldout 60 \\
        --extra-n 20 --epochs 1 --work /tmp/dom-smoke --no-export --fresh

The options and the training loop are the NLU recipes' common skeleton (train/nlu/finetune.py);
train/nlu/domain_eval.py scores the served model on the same sets through ClassifyText.
"""
import json
import os
import random
import re

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from train.common import safetensors_io
from train.common.bert import BertConfig, BertModel, init_weights
from train.common.data import read_conll, read_snips
from train.common.export import sha256
from train.common.loop import batches
from train.common.paths import models_dir
from train.common.wordpiece import load_vocab
from train.gpu.pack import documents
from train.nlu.finetune import FineTune, hardware_of

NOMATCH = "nomatch"
SOURCES = ("wiki2018", "wiki2015", "gutenberg", "un", "ami", "wordnet")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_NOT_WORD = re.compile(r"[^\w']+")


# ---- data ------------------------------------------------------------------------------------

def snips_style(text):
    """Lower case, punctuation dropped (apostrophes inside words kept), single spaces."""
    words = [w.strip("'") for w in _NOT_WORD.split(text.lower())]
    return " ".join(w for w in words if w)


def source_splits(data_dir, source, quotas):
    """{split: [sentence, ...]} of one pretraining source, whole documents per split, in the
    order of quotas (e.g. heldout, dev, train: the first documents go to the first split),
    each split filled to at least its quota of sentences of 2-40 words."""
    out = {k: [] for k, _ in quotas}
    order = list(quotas)
    k = 0
    for doc in documents(os.path.join(data_dir, "text", "pretrain", source + ".txt.xz")):
        name, quota = order[k]
        for line in doc:
            for s in _SENTENCE_END.split(line):
                if 2 <= len(s.split()) <= 40 and snips_style(s):
                    out[name].append(s)
        if len(out[name]) >= quota:
            k += 1
            if k == len(order):
                break
    return out


def length_matched(sentences, lengths, n, rng):
    """n sentences drawn so that their word counts follow the distribution of `lengths`
    (a bucket short of sentences gives what it has)."""
    by_len = {}
    for s in sentences:
        by_len.setdefault(min(len(snips_style(s).split()), 30), []).append(s)
    for v in by_len.values():
        rng.shuffle(v)
    want = {}
    for L in lengths:
        want[min(L, 30)] = want.get(min(L, 30), 0) + 1
    out = []
    for L, c in sorted(want.items()):
        out += by_len.get(L, [])[:int(round(c * n / len(lengths)))]
    rng.shuffle(out)
    return out[:n]


def prose_sets(data_dir, lengths, n_train, n_dev, n_held, seed=1):
    """The nomatch sentences: {"train", "dev", "heldout"} drawn over the six sources."""
    per = {"heldout": -(-n_held // len(SOURCES)), "dev": -(-n_dev // len(SOURCES)),
           "train": -(-n_train // len(SOURCES))}
    pools = {k: [] for k in per}
    for src in SOURCES:
        if not os.path.exists(os.path.join(data_dir, "text", "pretrain", src + ".txt.xz")):
            continue
        # five times the quota as candidates, so the length match has some to choose from
        got = source_splits(data_dir, src, [(k, 5 * per[k]) for k in ("heldout", "dev", "train")])
        for k in per:
            pools[k] += length_matched(got[k], lengths, per[k], random.Random("%s/%s/%d" % (src, k, seed)))
    rng = random.Random(seed)
    want = {"train": n_train, "dev": n_dev, "heldout": n_held}
    for k in pools:
        rng.shuffle(pools[k])
        pools[k] = pools[k][:want[k]]
    return pools


def squad_questions(data_dir, n):
    """Every k-th question of the SQuAD 2.0 dev half (n in all)."""
    with open(os.path.join(data_dir, "qa", "squad-v2-dev-half.json"), encoding="utf-8") as f:
        qs = [qa["question"].strip() for art in json.load(f)["data"] for p in art["paragraphs"]
              for qa in p["qas"]]
    return qs[::max(1, len(qs) // n)][:n]


def conll_sentences(data_dir, n):
    """Every k-th CoNLL-2003 test sentence of at least 4 words (n in all)."""
    ss = [" ".join(e.words) for e in read_conll(os.path.join(data_dir, "ner", "conll2003", "test.txt"))
          if len(e.words) >= 4]
    return ss[::max(1, len(ss) // n)][:n]


def lj_sentences(data_dir, n):
    """Every k-th LJ Speech sentence (the written text; n in all)."""
    with open(os.path.join(data_dir, "text", "ljspeech-sentences.csv"), encoding="utf-8") as f:
        ss = [line.split("|")[1].strip() for line in f if line.count("|") >= 2]
    return ss[::max(1, len(ss) // n)][:n]


def build_sets(data_dir, limit=0, n_train=10000, n_dev=700, n_held=2000, n_extra=300, seed=1):
    """{split: [(text, label), ...]} for train / dev / test, and {name: [text, ...]} of the
    extra out-of-domain sets (never trained on). Deterministic for given arguments."""
    snips = {k: read_snips(os.path.join(data_dir, "nlu", "snips", d))
             for k, d in (("train", "train"), ("dev", "valid"), ("test", "test"))}
    if limit:
        snips["train"] = snips["train"][:limit]
    prose = prose_sets(data_dir, [len(e.words) for e in snips["train"]], n_train, n_dev, n_held, seed)
    rng = random.Random(seed)
    sets = {}
    for k, pk in (("train", "train"), ("dev", "dev"), ("test", "heldout")):
        items = []
        for e in snips[k]:
            text = " ".join(e.words)
            if k == "train" and rng.random() < 0.25:
                text = text[:1].upper() + text[1:] + rng.choice(("?", "."))
            items.append((text, e.intent))
        for s in prose[pk]:
            items.append((s if k == "train" and rng.random() < 0.5 else snips_style(s), NOMATCH))
        sets[k] = items
    extra = {"prose_as_written": prose["heldout"][:n_extra]}
    for name, fn, need in (("squad_questions", squad_questions, ("qa", "squad-v2-dev-half.json")),
                           ("conll_test", conll_sentences, ("ner", "conll2003", "test.txt")),
                           ("ljspeech", lj_sentences, ("text", "ljspeech-sentences.csv"))):
        if os.path.exists(os.path.join(data_dir, *need)):
            extra[name] = fn(data_dir, n_extra)
    return sets, extra


# ---- model -----------------------------------------------------------------------------------

class SequenceClassifier(nn.Module):
    """Hugging Face's BertForSequenceClassification: BERT with the tanh pooler, then
    `classifier.{weight,bias}` on the pooled [CLS]."""

    def __init__(self, c, n_labels, head_dropout=0.1):
        super().__init__()
        self.bert = BertModel(c)
        self.dropout = nn.Dropout(head_dropout)
        self.classifier = nn.Linear(c.hidden_size, n_labels)
        init_weights(self, c.initializer_range)

    def forward(self, ids, mask, type_ids=None):
        _, pooled = self.bert(ids, mask, type_ids)
        return self.classifier(self.dropout(pooled))


def load_init_model(model, path, labels):
    """Encoder and pooler of the joint model in `path`, and the rows of its intent head whose
    names are domain labels; the other rows (nomatch) start at zero."""
    tensors, _ = safetensors_io.load(os.path.join(path, "model.safetensors"))
    t = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items()}
    model.bert.load_state_dict({k[len("bert."):]: v for k, v in t.items() if k.startswith("bert.")},
                               strict=True)
    with open(os.path.join(path, "config.json")) as f:
        intents = json.load(f)["labels"]["intent"]
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
        for i, lab in enumerate(labels):
            if lab in intents:
                model.classifier.weight[i] = t["intent_classifier.weight"][intents.index(lab)]
                model.classifier.bias[i] = t["intent_classifier.bias"][intents.index(lab)]


# ---- the recipe ------------------------------------------------------------------------------

def collate(data, bidx, pad_id):
    t = max(len(data[i][0]) for i in bidx)
    ids = torch.full((len(bidx), t), pad_id, dtype=torch.long)
    mask = torch.zeros((len(bidx), t), dtype=torch.long)
    for r, i in enumerate(bidx):
        ids[r, :len(data[i][0])] = torch.tensor(data[i][0])
        mask[r, :len(data[i][0])] = 1
    return ids, mask, torch.tensor([data[i][1] for i in bidx], dtype=torch.long)


def encode_text(tok, text, max_length):
    return [tok.cls_id] + tok.encode(text)[:max_length - 2] + [tok.sep_id]


@torch.no_grad()
def predict(model, tok, texts, max_length, batch_size=64):
    model.eval()
    data = [(encode_text(tok, t, max_length), 0) for t in texts]
    out = []
    for bidx in batches(len(data), None, batch_size):
        ids, mask, _ = collate(data, bidx, tok.pad_id)
        out += model(ids, mask).argmax(-1).tolist()
    return out


def scores(gold, pred):
    """Accuracy over all labels, domain accuracy on the in-domain items, nomatch P/R/F1 (%)."""
    n = len(gold)
    tp = sum(g == p == NOMATCH for g, p in zip(gold, pred))
    n_pred, n_gold = sum(p == NOMATCH for p in pred), sum(g == NOMATCH for g in gold)
    ind = [(g, p) for g, p in zip(gold, pred) if g != NOMATCH]
    prec = 100.0 * tp / n_pred if n_pred else 0.0
    rec = 100.0 * tp / n_gold if n_gold else 0.0
    return {"acc": 100.0 * sum(g == p for g, p in zip(gold, pred)) / n,
            "domain_acc": 100.0 * sum(g == p for g, p in ind) / max(1, len(ind)),
            "nomatch_p": prec, "nomatch_r": rec,
            "nomatch_f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0,
            "n": n, "n_in_domain": len(ind), "n_nomatch": n_gold}


def fmt(m):
    return "acc %.2f  domain acc %.2f  nomatch P %.2f R %.2f F1 %.2f  [n=%d: %d in domain, %d nomatch]" % (
        m["acc"], m["domain_acc"], m["nomatch_p"], m["nomatch_r"], m["nomatch_f1"], m["n"],
        m["n_in_domain"], m["n_nomatch"])


class Domain(FineTune):
    name, model_dir = "domain", "nlu-domain"
    doc = __doc__
    data_help = "the shared data dir (nlu/snips, text/pretrain, qa, ner, text)"
    defaults = {"epochs": 2, "max_length": 64, "lr": 2e-4, "export_dtype": "F16"}  # the shipped run's
    label_keys = ("labels",)
    head = "domain"  # the classifier head's name in config.json (labels, heads)
    int8_variant = True  # config.json offers "<name>-int8" (docs/nlu.md)

    def add_args(self, ap):
        ap.add_argument("--init-model", default=models_dir("nlu-intent-slot-snips"),
                        help="joint intent/slot model directory to start from ('' = from scratch)")
        ap.add_argument("--ood-train", type=int, default=10000, help="nomatch training sentences")
        ap.add_argument("--ood-dev", type=int, default=700)
        ap.add_argument("--ood-heldout", type=int, default=2000)
        ap.add_argument("--extra-n", type=int, default=300, help="sentences of each extra set")

    def read_data(self, args):
        self.sets, self.extra = build_sets(args.data, args.limit, args.ood_train, args.ood_dev,
                                           args.ood_heldout, args.extra_n, args.seed)

    def fresh_vocab(self, args, full):
        if args.init_model:
            return load_vocab(os.path.join(args.init_model, "vocab.txt"))
        return super().fresh_vocab(args, full)

    def new_labels(self, args):
        domains = sorted({lab for _, lab in self.sets["train"]} - {NOMATCH})
        return {"labels": domains + [NOMATCH]}

    def bert_config(self, args, pre, state):
        if state is None and args.init_model:
            with open(os.path.join(args.init_model, "config.json")) as f:
                c = json.load(f)
            c = {k: c[k] for k in BertConfig.__dataclass_fields__ if k in c}
            c.update(hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout)
            if args.max_length > c["max_position_embeddings"]:
                raise SystemExit("--max-length %d exceeds %s's %d positions" % (
                    args.max_length, args.init_model, c["max_position_embeddings"]))
            return BertConfig(**c)
        return super().bert_config(args, pre, state)

    def encode(self, args, tok):
        lid = {lab: i for i, lab in enumerate(self.labels["labels"])}
        self.data = {k: [(encode_text(tok, t, args.max_length), lid[lab]) for t, lab in v]
                     for k, v in self.sets.items()}

    def build_model(self, cfg, args):
        model = SequenceClassifier(cfg, len(self.labels["labels"]), args.dropout)
        if args.init_model:
            load_init_model(model, args.init_model, self.labels["labels"])
        return model

    def describe(self):
        return "%d labels, %s" % (len(self.labels["labels"]), self.split_sizes())

    def batch(self, split, bidx):
        return collate(self.data[split], bidx, self.tok.pad_id)

    def loss(self, model, batch):
        ids, mask, y = batch
        return F.cross_entropy(model(ids, mask), y)

    def evaluate(self, model, split):
        labels = self.labels["labels"]
        pred = predict(model, self.tok, [t for t, _ in self.sets[split]], self.args.max_length)
        m = scores([lab for _, lab in self.sets[split]], [labels[p] for p in pred])
        if split == "test":
            m["extra"] = {}
            for name, texts in self.extra.items():
                p = [labels[i] for i in predict(model, self.tok, texts, self.args.max_length)]
                m["extra"][name] = {"n": len(texts), "nomatch": 100.0 * p.count(NOMATCH) / max(1, len(p))}
        return m

    def score(self, m):
        return (m["acc"], m["nomatch_f1"])

    def fmt(self, m):
        s = fmt(m)
        for name, e in m.get("extra", {}).items():
            s += "\n      %s: %.2f%% nomatch (n=%d)" % (name, e["nomatch"], e["n"])
        return s

    def config_keys(self, args):
        labels = self.labels["labels"]
        keys = {
            "architectures": ["BertForSequenceClassification"],
            "task": "text_classification",
            "labels": {self.head: labels},
            "id2label": {str(i): lab for i, lab in enumerate(labels)},
            "label2id": {lab: i for i, lab in enumerate(labels)},
            "max_length": args.max_length,
            "tokenizer": {"type": "wordpiece", "vocab": "vocab.txt", "do_lower_case": True,
                          "max_input_chars_per_word": 100},
            "heads": {self.head: {"tensor_prefix": "classifier", "input": "pooler", "labels": self.head}},
        }
        if self.int8_variant:  # parley-nlu also serves "<name>-int8" from the same files (docs/nlu.md)
            keys["variants"] = {"int8": {"precision": "int8"}}
        return keys

    def check_inputs(self):
        ids, mask, _ = collate(self.data["dev"], list(range(min(64, len(self.data["dev"])))), self.tok.pad_id)
        return ids, mask

    def write_card(self, result, st_path, cfg, vocab_size):
        write_card(self.args, result, st_path, cfg, vocab_size, self.card_command(), self.labels["labels"],
                   {k: len(v) for k, v in self.sets.items()})


def main(argv=None):
    return Domain().main(argv)


def write_card(args, r, st_path, cfg, vocab_size, cmd, labels, sizes):
    d, t = r["dev"], r["test"]
    extra_rows = "\n".join("| %s | %d | %.2f |" % (k.replace("_", " "), e["n"], e["nomatch"])
                           for k, e in t.get("extra", {}).items())
    text = """# nlu-domain

Domain classifier for English requests: which of the seven SNIPS domains a text belongs to,
or `nomatch`. Fine-tuned by Parley's recipe `train/nlu/domain.py` from
`models/nlu-intent-slot-snips`. Served by parley-nlu for Riva `ClassifyText`; the Riva default
name `riva_text_classification_domain` (the legacy `text_classify_client.py`) is an alias of it.

## Labels

{labels}

The seven SNIPS intents are kept as seven domains rather than grouped (for example
AddToPlaylist with PlayMusic as "music", SearchCreativeWork with SearchScreeningEvent as
"media"): each SNIPS intent is a separate service area with its own slots, so a caller that
routes on the domain can still merge labels, while a grouped model could not split them
again; and the starting point, the intent head of `nlu-intent-slot-snips`, already separates
exactly these seven. `nomatch` is text that belongs to none of them.

## Model

- BERT (post-LayerNorm), {layers} layers, hidden {hidden}, {heads} heads, FFN {ffn}, GELU,
  {params:,} parameters; Hugging Face's `BertForSequenceClassification` layout:
  `bert.*` with the tanh pooler, `classifier.{{weight,bias}}` on the pooled `[CLS]`
  (config.json `heads.domain`, input `pooler`; also `id2label`).
- Started from `nlu-intent-slot-snips`: its encoder, pooler and {vocab}-piece `vocab.txt`, and its
  intent head as the seven domain rows of the classifier (the `nomatch` row started at zero).
- Inputs: `[CLS] pieces [SEP]`, at most {maxlen} tokens; BERT uncased WordPiece.
- Weights: `model.safetensors`, {dtype} ({mb:.1f} MB), sha256 `{sha}`.

## Data

- In domain: SNIPS (CC0) train / valid / test utterances labelled with their intent; a quarter
  of the training utterances get a first capital and a final `?` or `.`, so that punctuation
  alone does not mark text as `nomatch`.
- `nomatch`: sentences of `../shared/data/text/pretrain/` (Wikipedia 2018 and 2015, Gutenberg
  books, UN General Debate speeches, AMI meeting transcripts, WordNet glosses; the same number
  from each) drawn to the word-count distribution of the SNIPS training utterances. Per source,
  whole documents are split: the first documents give the held-out sentences (the documents
  the GPU bundle also keeps out of pretraining), the next ones the dev sentences, later ones
  the training sentences, so no held-out sentence's document was trained on. Half of the
  training sentences and every dev and held-out one are written like SNIPS (lower case, no
  punctuation), the hard case.
- Sizes: train {n_train:,}, dev {n_dev:,} (SNIPS valid + prose), test {n_test:,} (SNIPS test +
  held-out prose).

## Metrics (the recipe's forward pass)

| split | accuracy (8 labels) | domain accuracy (SNIPS) | nomatch P / R / F1 |
|---|---|---|---|
| dev | {d_acc:.2f} | {d_dacc:.2f} | {d_p:.2f} / {d_r:.2f} / {d_f:.2f} |
| test | {t_acc:.2f} | {t_dacc:.2f} | {t_p:.2f} / {t_r:.2f} / {t_f:.2f} |

Out-of-domain sets never trained on, share labelled `nomatch` (higher is better):

| set | n | nomatch % |
|---|---|---|
{extra_rows}

Best epoch {best} of {epochs}; {secs} s of training on {hardware}. Training time is wall-clock and depends on the machine's load.

## Reproduce

From the repository root, with `../shared/data` present:

    {cmd}

Checkpoints go to `train/work/domain/` after every epoch; the same command resumes. Seed {seed}.
The recipe ends by reloading the exported files and checking that they reproduce the trained
model's logits. `python3 -m train.nlu.domain_eval --server HOST:PORT` scores the served model on
the same test sets through ClassifyText.
""".format(labels=", ".join("`%s`" % lab for lab in labels), layers=cfg.num_hidden_layers,
           hidden=cfg.hidden_size, heads=cfg.num_attention_heads, ffn=cfg.intermediate_size,
           params=r["parameters"], vocab=vocab_size, maxlen=args.max_length,
           dtype="float32" if args.export_dtype == "F32" else "float16", mb=os.path.getsize(st_path) / 1e6,
           sha=sha256(st_path), n_train=sizes["train"], n_dev=sizes["dev"], n_test=sizes["test"],
           d_acc=d["acc"], d_dacc=d["domain_acc"], d_p=d["nomatch_p"], d_r=d["nomatch_r"], d_f=d["nomatch_f1"],
           t_acc=t["acc"], t_dacc=t["domain_acc"], t_p=t["nomatch_p"], t_r=t["nomatch_r"], t_f=t["nomatch_f1"],
           extra_rows=extra_rows, best=r["best_epoch"], epochs=r["epochs"], secs=r["train_seconds"],
           hardware=hardware_of(r), cmd=cmd, seed=args.seed)
    with open(os.path.join(args.out, "README.md"), "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
