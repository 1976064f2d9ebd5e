#!/usr/bin/python3
"""Named-entity recognition (PER, LOC, ORG, MISC) on CoNLL-2003, from scratch or the pretrained encoder.

A small BERT encoder (post-LN, Hugging Face names, no pooler) with Hugging
Face's token-classification head `classifier.*`; a word's BIO tag is read at
its first WordPiece sub-token. Uncased: BERT's uncased vocabulary pruned to
the pieces of the training set (shipped as vocab.txt), so capitalisation, the
strongest NER cue, is not seen by the pieces; --case-feature gives it back
through the token type ids, computed from the original (cased) text of each
piece's whitespace word (config.json `tokenizer.token_type_ids` says which;
parley-nlu computes the same ids from the raw text):
  word_starts_upper  1 when the word's first character is an upper-case letter, else 0
  word_case          4 classes (`type_vocab_size` 4), see word_case_class()

    /usr/bin/python3 -m train.nlu.ner_conll2003              # train (resumes), export
    /usr/bin/python3 -m train.nlu.ner_conll2003 --limit 300 --epochs 1 --work /tmp/ner-smoke --no-export

Checkpoints go to --work (train/work/ner_conll2003, git-ignored) after every
epoch; the same command resumes. The best dev epoch (span F1) is exported.
The options and the training loop are the NLU recipes' common skeleton
(train/nlu/finetune.py).
"""
import os
import unicodedata

import torch
import torch.nn.functional as F

from train.common.bert import TokenClassifier
from train.common.data import bio_labels, read_conll
from train.common.export import sha256
from train.common.loop import IGNORE, batches, pad_batch
from train.common.metrics import SpanF1
from train.common.paths import data_dir
from train.nlu.finetune import FineTune, hardware_of, pretrain_summary, pretrained_vocab


CASE_FEATURES = {"word_starts_upper": 2, "word_case": 4}   # token_type_ids scheme -> type_vocab_size


def word_case_type(word):
    """1 when the word's first character is an upper-case letter, else 0."""
    return 1 if word[:1] and unicodedata.category(word[0]) == "Lu" else 0


def word_case_class(word):
    """The "word_case" token type of a whitespace word (Unicode general categories):
    0 lower case or no letter/digit; 1 Title: the first letter-or-digit is upper-case (Lu) and the
    word has a lower-case letter (Ll) or a single letter ("John", "(Reuters)", "I", "McDonald");
    2 ALL-CAPS: the first letter-or-digit is Lu, no Ll, two letters or more ("EU", "U.S.",
    "SOCCER"); 3 digits or mixed: otherwise, a decimal digit (Nd) or an Lu anywhere ("1996",
    "iPhone", "0-1"). services/nlu/nlu_post.c pl_nlu_word_case_class is the same rule."""
    cats = [unicodedata.category(c) for c in word]
    first = next((c for c in cats if c[0] in "LN"), None)
    if first is None:
        return 0
    if first == "Lu":
        if "Ll" not in cats and sum(c[0] == "L" for c in cats) >= 2:
            return 2
        return 1
    if "Lu" in cats or "Nd" in cats:
        return 3
    return 0


def case_types_of(words, scheme):
    """The token type of each word under a token_type_ids scheme."""
    f = word_case_class if scheme == "word_case" else word_case_type
    return [f(w) for w in words]


def encode(examples, tok, labels, max_length, case_feature=None):
    """Per sentence: (ids, first sub-token positions, token targets, token types)."""
    lid = {t: i for i, t in enumerate(labels)}
    out = []
    for ex in examples:
        ids, first = tok.encode_words(ex.words, max_length)
        tgt = [IGNORE] * len(ids)
        for pos, tag in zip(first, ex.tags):
            if pos >= 0:
                tgt[pos] = lid.get(tag, 0)
        types = [0] * len(ids)
        if case_feature:
            ends = [p for p in first[1:] if p >= 0] + [len(ids) - 1]
            for c, pos, end in zip(case_types_of(ex.words, case_feature), first, ends):
                if pos >= 0 and c:
                    types[pos:end] = [c] * (end - pos)
        out.append((ids, first, tgt, types))
    return out


def doc_chunks(examples, tok, budget, offset=0):
    """Runs of consecutive sentences of one document ("-DOCSTART-" to the next) joined into one
    example while their word pieces (without [CLS]/[SEP]) stay within `budget`; a sentence longer
    than that is a chunk of its own. Each document's first chunk holds its first `offset`
    sentences only (a second chunking with other boundaries). Every word keeps its tag, so a
    chunk trains (and scores) all its words, each with the sentences around it as context."""
    out, cur, n, k = [], None, 0, 0
    for ex in examples:
        p = len(tok.encode_words(ex.words, 1 << 30)[0]) - 2
        doc = ex.meta.get("doc")
        new_doc = cur is None or doc != cur.meta["doc"]
        k = 0 if new_doc else k + 1
        if new_doc or n + p > budget or (offset and k == offset):
            if cur is not None:
                out.append(cur)
            cur, n = type(ex)(list(ex.words), list(ex.tags), meta={"doc": doc}), p
        else:
            cur.words += ex.words
            cur.tags += ex.tags
            n += p
    if cur is not None:
        out.append(cur)
    return out


def type_batch(data, bidx, t):
    types = torch.zeros((len(bidx), t), dtype=torch.long)
    for r, i in enumerate(bidx):
        types[r, :len(data[i][3])] = torch.tensor(data[i][3])
    return types


@torch.no_grad()
def evaluate(model, data, examples, labels, pad_id, batch_size=64):
    model.eval()
    f1, right, words = SpanF1(), 0, 0
    for bidx in batches(len(data), None, batch_size):
        ids, mask, _ = pad_batch([data[i][0] for i in bidx], [data[i][2] for i in bidx], pad_id)
        pred_ids = model(ids, mask, type_batch(data, bidx, ids.shape[1])).argmax(-1).tolist()
        for r, i in enumerate(bidx):
            pred = [labels[pred_ids[r][p]] if p >= 0 else "O" for p in data[i][1]]
            f1.add(examples[i].tags, pred)
            right += sum(a == b for a, b in zip(pred, examples[i].tags))
            words += len(pred)
    p, r, f = f1.result()
    return {"f1": f, "p": p, "r": r, "word_acc": 100.0 * right / words, "n": len(data),
            "per_type": {t: round(v[2], 2) for t, v in f1.per_type_result().items()}}


def fmt(m):
    return "span F1 %.2f (P %.2f R %.2f)  word acc %.2f  %s [n=%d]%s" % (
        m["f1"], m["p"], m["r"], m["word_acc"], " ".join("%s %.1f" % kv for kv in m["per_type"].items()), m["n"],
        "  in document chunks %.2f [n=%d]" % (m["doc_f1"], m["doc_n"]) if "doc_f1" in m else "")


class NerConll2003(FineTune):
    name, model_dir = "ner_conll2003", "ner-conll2003"
    doc = __doc__
    data_subdir, data_help = os.path.join("ner", "conll2003"), "dir with train/valid/test.txt"
    label_keys = ("labels",)

    def add_args(self, ap):
        ap.add_argument("--case-feature", nargs="?", const="word_starts_upper", default=None,
                        choices=sorted(CASE_FEATURES),
                        help="case as token type ids from the cased words: word_starts_upper (the default "
                             "when given without a value: 1 for the pieces of words that start with an "
                             "upper-case letter) or word_case (4 classes: lower, Title, ALL-CAPS, digits/mixed)")
        ap.add_argument("--doc-context", type=int, default=0, metavar="PIECES",
                        help="also train on runs of consecutive sentences of a document (at most PIECES "
                             "word pieces each, two chunkings with different boundaries) besides the "
                             "sentences alone, so that a word sees the sentences around it; dev reports "
                             "the chunks' span F1 as doc_f1 (the choice stays on the sentences')")
        ap.add_argument("--corpus", choices=("conll2003", "wikiann"), default="conll2003",
                        help="wikiann: WikiANN English (PER, ORG, LOC; <data>/ner/wikiann-en unless --data "
                             "is given): an intermediate task whose encoder (train.nlu.encoder_from_model "
                             "--token-types 4) a CoNLL-2003 run then starts from")

    def read_data(self, args):
        if args.corpus == "wikiann":
            if args.data == os.path.join(data_dir(), self.data_subdir):
                args.data = os.path.join(data_dir(), "ner", "wikiann-en")
            self.read_splits(args, read_wikiann, {"train": "train", "dev": "dev", "test": "test"})
        else:
            self.read_splits(args, read_conll, {"train": "train.txt", "dev": "valid.txt", "test": "test.txt"})

    def new_labels(self, args):
        return {"labels": bio_labels(self.examples["train"])}

    def encode(self, args, tok):
        if args.doc_context:
            if args.doc_context > args.max_length - 2:
                raise SystemExit("--doc-context %d: at most --max-length - 2 (%d)" % (args.doc_context,
                                                                                   args.max_length - 2))
            ex = self.examples
            chunks = doc_chunks(ex["train"], tok, args.doc_context) + \
                doc_chunks(ex["train"], tok, args.doc_context, offset=1)
            self.train_parts = (len(ex["train"]), len(chunks))
            ex["train"] = ex["train"] + chunks
            ex["dev_doc"] = doc_chunks(ex["dev"], tok, args.doc_context)
            ex["test_doc"] = doc_chunks(ex["test"], tok, args.doc_context)
        self.data = {k: encode(v, tok, self.labels["labels"], args.max_length, args.case_feature)
                     for k, v in self.examples.items()}

    def build_model(self, cfg, args):
        return TokenClassifier(cfg, len(self.labels["labels"]), args.dropout)

    def bert_config(self, args, pre, state):
        cfg = super().bert_config(args, pre, state)
        self.case_rows_pretrained = False
        if state is None and args.case_feature:
            need = CASE_FEATURES[args.case_feature]
            # an encoder taken from a model trained with the same case classes keeps its rows
            self.case_rows_pretrained = pre is not None and cfg.type_vocab_size >= need
            cfg.type_vocab_size = max(cfg.type_vocab_size, need)
            if pre is not None:
                # the pretrained token-type table has fewer rows: the new rows start as type 0
                key = "embeddings.token_type_embeddings.weight"
                old = pre[2][key]
                if old.shape[0] < cfg.type_vocab_size:
                    pre[2][key] = torch.cat([old, old[:1].expand(cfg.type_vocab_size - old.shape[0], -1)])
        return cfg

    def after_init_encoder(self, model, args):
        if args.case_feature and not self.case_rows_pretrained:
            # pretraining saw type 0 only: the case types start as type 0 (the model
            # learns the difference) rather than as noise
            with torch.no_grad():
                emb = model.bert.embeddings.token_type_embeddings.weight
                emb[1:] = emb[0]

    def describe(self):
        parts = getattr(self, "train_parts", None)
        return "%d labels, %s sentences%s" % (
            len(self.labels["labels"]), self.split_sizes(),
            " (train: %d sentences + %d document chunks)" % parts if parts else "")

    def batch(self, split, bidx):
        data = self.data[split]
        ids, mask, tgt = pad_batch([data[i][0] for i in bidx], [data[i][2] for i in bidx], self.tok.pad_id)
        return ids, mask, type_batch(data, bidx, ids.shape[1]), tgt

    def loss(self, model, batch):
        ids, mask, types, tgt = batch
        logits = model(ids, mask, types)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=IGNORE)

    def evaluate(self, model, split):
        m = evaluate(model, self.data[split], self.examples[split], self.labels["labels"], self.tok.pad_id)
        if split + "_doc" in self.data:
            d = evaluate(model, self.data[split + "_doc"], self.examples[split + "_doc"], self.labels["labels"],
                         self.tok.pad_id)
            m["doc_f1"], m["doc_n"] = d["f1"], d["n"]
        return m

    def score(self, m):
        return (m["f1"],)

    def fmt(self, m):
        return fmt(m)

    def config_keys(self, args):
        labels = self.labels["labels"]
        return {
            "architectures": ["BertForTokenClassification"],  # the engine's token-classification head
            "task": "token_classification",
            "labels": {"token": labels},
            "id2label": {str(i): t for i, t in enumerate(labels)},
            # parley-nlu also serves "<name>-int8" from the same files (docs/nlu.md)
            "variants": {"int8": {"precision": "int8"}},
            "max_length": args.max_length,
            "tokenizer": dict({"type": "wordpiece", "vocab": "vocab.txt", "do_lower_case": True,
                               "max_input_chars_per_word": 100},
                              **({"token_type_ids": args.case_feature} if args.case_feature else {})),
            "heads": {"token": {"tensor_prefix": "classifier", "input": "tokens", "labels": "token",
                                "scheme": "BIO", "alignment": "first_subtoken_of_each_whitespace_word"}},
        }

    def check_inputs(self):
        ids, mask, types, _ = self.batch("dev", list(range(min(64, len(self.data["dev"])))))
        return ids, mask, types

    def write_card(self, result, st_path, cfg, vocab_size):
        write_card(self.args, result, st_path, cfg, self.card_command())


def read_wikiann(path):
    """WikiANN's CoNLL-style file: words prefixed with their language ("en:")."""
    ex = read_conll(path)
    for e in ex:
        e.words = [w.split(":", 1)[1] if w.startswith("en:") else w for w in e.words]
    return ex


def main(argv=None):
    return NerConll2003().main(argv)


def write_card(args, r, st_path, cfg, cmd):
    d, t = r["dev"], r["test"]
    per_type = " | ".join("%s %.1f" % kv for kv in t["per_type"].items())
    text = """# ner-conll2003

English named-entity recognition ({types}; BIO tags) {origin}
by Parley's recipe `train/nlu/ner_conll2003.py`.

## Model

- Encoder: BERT (post-LayerNorm), {layers} layers, hidden {hidden}, {heads} heads,
  FFN {ffn}, GELU (erf), {pos} positions, no pooler; {params:,} parameters.
  Hugging Face tensor names (`bert.embeddings.*`, `bert.encoder.layer.N.*`).
- Head: `classifier.{{weight,bias}}` on every token (Hugging Face's
  BertForTokenClassification); a word's tag is read at its **first WordPiece
  sub-token** (words: whitespace-separated). Labels: `config.json`
  `labels.token` (`O` first) and `id2label`.
- Tokenizer: BERT uncased WordPiece over `vocab.txt`, BERT's uncased vocabulary
  pruned to {vocab} pieces ({vocab_rule}, characters seen there, single-character
  pieces up to U+052F); ids are dense in that list. {case_text}
- Inputs: `[CLS] tokens [SEP]`, at most {maxlen} tokens (longer sentences are
  cut; cut words count as `O`). Weights: `model.safetensors`, {dtype},
  {mb:.1f} MB, sha256 `{sha}`.

## Data

{data_text}

## Metrics (conlleval-style span F1)

| split | span F1 | P / R | word accuracy |
|---|---|---|---|
| valid | {d_f1:.2f} | {d_p:.2f} / {d_r:.2f} | {d_wa:.2f} |
| test | {t_f1:.2f} | {t_p:.2f} / {t_r:.2f} | {t_wa:.2f} |

Test F1 per type: {per_type}.
Best epoch {best} of {epochs}; {secs} s of training on {hardware}.
A pretrained, cased BERT-base reaches 92.4 test F1; {pretrain_note}

## Reproduce

    {cmd}

Checkpoints in `train/work/ner_conll2003/`; the same command resumes. Seed {seed}.
""".format(layers=cfg.num_hidden_layers, hidden=cfg.hidden_size, heads=cfg.num_attention_heads,
           ffn=cfg.intermediate_size, pos=cfg.max_position_embeddings, params=r["parameters"], vocab=r["vocab_size"],
           minc=args.min_piece_count, maxlen=args.max_length, mb=os.path.getsize(st_path) / 1e6, sha=sha256(st_path),
           d_f1=d["f1"], d_p=d["p"], d_r=d["r"], d_wa=d["word_acc"], t_f1=t["f1"], t_p=t["p"], t_r=t["r"],
           t_wa=t["word_acc"], per_type=per_type, best=r["best_epoch"], epochs=r["epochs"], secs=r["train_seconds"],
           hardware=hardware_of(r), cmd=cmd, seed=args.seed, dtype="float32" if args.export_dtype == "F32" else "float16",
           types="PER, LOC, ORG" if args.corpus == "wikiann" else "PER, LOC, ORG, MISC",
           data_text=DATA_TEXT[args.corpus],
           case_text=CASE_TEXT.get(args.case_feature, "Uncased input loses capitalisation, a strong NER cue."),
           **dict(zip(("origin", "vocab_rule", "pretrain_note"), card_origin(args, r))))
    with open(os.path.join(args.out, "README.md"), "w", encoding="utf-8") as f:
        f.write(text)


DATA_TEXT = {
    "conll2003": "CoNLL-2003 English from `../shared/data/ner/conll2003` (Reuters RCV1; research\n"
                 "use): 14,041 / 3,250 / 3,453 sentences (train / valid / test, `-DOCSTART-`\n"
                 "lines skipped). Trained on train, best epoch chosen on valid.",
    "wikiann": "WikiANN English from `../shared/data/ner/wikiann-en` (Wikipedia-derived, PER / ORG / LOC,\n"
               "no MISC): 20,000 / 10,000 / 10,000 sentences (train / dev / test). Trained on train, best\n"
               "epoch chosen on dev: an intermediate task, whose encoder a CoNLL-2003 run starts from.",
}


CASE_TEXT = {
    "word_starts_upper": "Uncased pieces lose capitalisation, a strong NER cue; it comes back as the token "
                         "type id: 1 for every piece of a word that starts with an upper-case letter "
                         "(`tokenizer.token_type_ids` = `word_starts_upper` in config.json).",
    "word_case": "Uncased pieces lose capitalisation, a strong NER cue; it comes back as the token type id "
                 "of every piece, the case class of its whitespace word in the original text "
                 "(`tokenizer.token_type_ids` = `word_case` in config.json, `type_vocab_size` 4): 0 lower "
                 "case or no letter/digit, 1 Title (first letter-or-digit upper case, a lower-case letter "
                 "or a single letter), 2 ALL-CAPS (two letters or more, none lower case), 3 digits or "
                 "mixed (`iPhone`, `1996`).",
}


CORPUS_NAME = {"conll2003": "CoNLL-2003", "wikiann": "WikiANN English"}


def card_origin(args, r):
    """(origin phrase, vocabulary rule, pretraining note) of the model card."""
    pre = r.get("pretrained")
    if not pre:
        return ("trained from scratch on %s" % CORPUS_NAME[args.corpus],
                "pieces used at least %d times on the training set" % args.min_piece_count,
                "this model has no pretraining and had a short schedule: a working default, not a strong "
                "NER model.")
    return ("fine-tuned on %s from Parley's pretrained encoder" % CORPUS_NAME[args.corpus],
            "the pretrained encoder's vocabulary: " + pretrained_vocab(pre),
            "this model's encoder was pretrained by `python3 -m train.nlu.pretrain` (%s) and then fine-tuned "
            "here." % pretrain_summary(pre))


if __name__ == "__main__":
    main()
