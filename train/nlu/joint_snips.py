#!/usr/bin/python3
"""Joint intent + slot model on SNIPS, from scratch or from the pretrained encoder, exported for Parley.

One small BERT encoder (post-LN, Hugging Face tensor names) with two heads:
the intent from the pooled [CLS] token and a BIO slot tag per word, read at
the word's first WordPiece sub-token (the other sub-tokens are not trained).
The vocabulary is BERT's uncased WordPiece vocabulary pruned to the pieces the
SNIPS training set uses (plus single characters), shipped as vocab.txt.

    /usr/bin/python3 -m train.nlu.joint_snips                 # train (resumes), export
    /usr/bin/python3 -m train.nlu.joint_snips --limit 500 --epochs 1 --work /tmp/smoke --no-export

Checkpoints go to --work (train/work/joint_snips by default, git-ignored) after
every epoch; running the same command again resumes from the last one. The
model with the best dev score (semantic-frame accuracy, then slot F1) is
exported to --out with a model card. The options and the training loop are
the NLU recipes' common skeleton (train/nlu/finetune.py).
"""
import os
import random

import torch
import torch.nn.functional as F

from train.common.bert import JointIntentSlot
from train.common.data import Example, bio_labels, label_list, read_snips
from train.nlu import outliers
from train.nlu.gazetteer import refill_cities, wordnet_cities
from train.common.export import sha256
from train.common.loop import IGNORE, batches, log, pad_batch
from train.common.metrics import SpanF1, spans
from train.nlu.finetune import FineTune, hardware_of, pretrain_summary, pretrained_vocab


OUTLIER_ID = -2  # the intent id of an out-of-domain training example (train.nlu.outliers)
FRAGMENT = "<fragment>"  # the intent of a slot-value fragment (value_fragments): not trained


def value_fragments(examples, share, seed=1):
    """Answers to a form's question as users give them ("tomorrow at 7 pm", "in boston"): for a
    `share` of the examples with slots, the words of one slot span, with the next span too when
    at most two untagged words lie between them ("tonight" "at" "eight"), tags as they are;
    their intent is FRAGMENT, which trains no intent (only the slots)."""
    rng = random.Random(seed)
    out = []
    for e in examples:
        cuts = sorted((i, j) for i, j, _ in spans(e.tags))
        if not cuts or rng.random() >= share:
            continue
        k = rng.randrange(len(cuts))
        i, j = cuts[k]
        if k + 1 < len(cuts) and cuts[k + 1][0] - j <= 2 and rng.random() < 0.5:
            j = cuts[k + 1][1]
        out.append(Example(words=e.words[i:j], tags=e.tags[i:j], intent=FRAGMENT))
    return out


def encode_split(examples, tok, intents, slots, max_length):
    """Per example: (ids, first sub-token positions, slot targets per token, intent id)."""
    slot_id = {s: i for i, s in enumerate(slots)}
    intent_id = {s: i for i, s in enumerate(intents)}
    out = []
    for ex in examples:
        ids, first = tok.encode_words(ex.words, max_length)
        target = [IGNORE] * len(ids)
        for pos, tag in zip(first, ex.tags):
            if pos >= 0:
                target[pos] = slot_id.get(tag, 0)  # a tag unseen in train trains as O
        if ex.intent == outliers.OUTLIER:    # out-of-domain: no slot targets, a uniform intent
            out.append((ids, first, [IGNORE] * len(ids), OUTLIER_ID))
            continue
        if ex.intent == FRAGMENT:            # a slot-value fragment: slot targets, no intent
            out.append((ids, first, target, IGNORE))
            continue
        out.append((ids, first, target, intent_id.get(ex.intent, -1)))
    return out


def collate(data, bidx, pad_id):
    """Padded ids, mask and slot targets plus the intent ids of a batch."""
    ids, mask, slot = pad_batch([data[i][0] for i in bidx], [data[i][2] for i in bidx], pad_id)
    return ids, mask, slot, torch.tensor([data[i][3] for i in bidx], dtype=torch.long)


@torch.no_grad()
def evaluate(model, data, examples, intents, slots, pad_id, batch_size=64, spans=None):
    """Intent accuracy, slot span P/R/F1 and semantic-frame accuracy (intent and
    every word's tag right), all in percent. spans: a SpanF1 to count into (the P/R/F1
    are then its totals, e.g. over the folds of a cross-validation); default a new one."""
    model.eval()
    f1, right_intent, right_frame = spans if spans is not None else SpanF1(), 0, 0
    for bidx in batches(len(data), None, batch_size):
        ids, mask, _, _ = collate(data, bidx, pad_id)
        il, sl = model(ids, mask)
        ip, sp = il.argmax(-1).tolist(), sl.argmax(-1).tolist()
        for r, i in enumerate(bidx):
            ex, first = examples[i], data[i][1]
            pred = [slots[sp[r][p]] if p >= 0 else "O" for p in first]
            f1.add(ex.tags, pred)
            ok = intents[ip[r]] == ex.intent
            right_intent += ok
            right_frame += ok and pred == ex.tags
    n = len(data)
    p, r, f = f1.result()
    return {"intent_acc": 100.0 * right_intent / n, "slot_p": p, "slot_r": r, "slot_f1": f,
            "frame_acc": 100.0 * right_frame / n, "n": n}


def fmt(m):
    return "intent acc %.2f  slot F1 %.2f (P %.2f R %.2f)  frame acc %.2f  [n=%d]" % (
        m["intent_acc"], m["slot_f1"], m["slot_p"], m["slot_r"], m["frame_acc"], m["n"])


class JointSnips(FineTune):
    name, model_dir = "joint_snips", "nlu-intent-slot-snips"
    doc = __doc__
    data_subdir, data_help = os.path.join("nlu", "snips"), "SNIPS dir with train/valid/test"
    defaults = {"epochs": 15, "max_length": 64}
    label_keys = ("intents", "slots")
    positions_arg = "max_positions"
    # served in int8 (as accurate as f32 on SNIPS and faster with the AVX2 and VNNI int8
    # kernels: docs/nlu.md), with "<name>-f32" from the same files; None: served in f32
    served_precision = "int8"

    def add_args(self, ap):
        ap.add_argument("--max-positions", type=int, default=128)
        ap.add_argument("--city-gazetteer", action="store_true",
                        help="add a copy of every training utterance with a city slot, the city drawn from "
                             "WordNet's cities (train/nlu/gazetteer.py): SNIPS's cities are small towns")
        ap.add_argument("--outliers", type=int, default=0,
                        help="add about N out-of-domain sentences (train/nlu/outliers.py: the domain "
                             "classifier's prose, a third cut to fragments) trained towards a uniform intent "
                             "distribution, so that the intent score of what no intent covers stays low")
        ap.add_argument("--outlier-weight", type=float, default=0.5,
                        help="weight of the out-of-domain sentences' uniform-intent loss")
        ap.add_argument("--value-fragments", type=float, default=0.0,
                        help="add, for this share of the training utterances with slots, one slot value "
                             "alone (sometimes two with the words between) as a slots-only example: the "
                             "bare answers a dialog's questions get (\"tomorrow at 7 pm\")")

    def read_data(self, args):
        self.read_splits(args, read_snips, {"train": "train", "dev": "valid", "test": "test"})
        if args.city_gazetteer:
            cities = wordnet_cities(os.path.join(args.data, "..", "..", "text", "pretrain", "wordnet.txt.xz"))
            extra = refill_cities(self.examples["train"], cities, args.seed)
            self.examples["train"] = self.examples["train"] + extra
            print("city gazetteer: %d WordNet cities, %d training utterances added" % (len(cities), len(extra)))
        if args.value_fragments:
            extra = value_fragments(self.examples["train"], args.value_fragments, args.seed)
            self.fragments_added = len(extra)
            self.examples["train"] = self.examples["train"] + extra
            print("value fragments: %d slots-only utterances added" % len(extra))
        if args.outliers:
            extra = outliers.examples(os.path.join(args.data, "..", ".."), args.outliers, args.seed)
            self.examples["train"] = self.examples["train"] + extra
            self.outliers_added = len(extra)
            print("outlier exposure: %d out-of-domain sentences added (weight %g)" % (len(extra), args.outlier_weight))

    def new_labels(self, args):
        train = self.examples["train"]
        return {"intents": label_list(e.intent for e in train if e.intent not in (outliers.OUTLIER, FRAGMENT)),
                "slots": bio_labels(train)}

    def encode(self, args, tok):
        self.data = {k: encode_split(v, tok, self.labels["intents"], self.labels["slots"], args.max_length)
                     for k, v in self.examples.items()}

    def build_model(self, cfg, args):
        return JointIntentSlot(cfg, len(self.labels["intents"]), len(self.labels["slots"]), args.dropout)

    def describe(self):
        return "%d intents, %d slot tags, %s" % (len(self.labels["intents"]), len(self.labels["slots"]),
                                                 self.split_sizes())

    def batch(self, split, bidx):
        return collate(self.data[split], bidx, self.tok.pad_id)

    def loss(self, model, batch):
        ids, mask, slot, intent = batch
        il, sl = model(ids, mask)
        slot_loss = (F.cross_entropy(sl.reshape(-1, sl.shape[-1]), slot.reshape(-1), ignore_index=IGNORE)
                     if (slot != IGNORE).any() else sl.sum() * 0)   # a batch of outliers only: no slot term
        # labelled rows: cross-entropy to the label; out-of-domain rows: to the uniform
        # distribution; fragments (IGNORE): no intent term; the mean over the rows that have one
        out, labelled = intent == OUTLIER_ID, intent >= 0
        per_row = F.cross_entropy(il, intent.clamp(min=0), reduction="none")
        if out.any():
            per_row = torch.where(out, self.args.outlier_weight * outliers.uniform_loss(il), per_row)
        per_row = torch.where(labelled | out, per_row, torch.zeros_like(per_row))
        return per_row.sum() / (labelled | out).sum().clamp(min=1) + slot_loss

    def train_epochs(self, model, *rest):
        result = super().train_epochs(model, *rest)
        # how the best epoch's intent scores separate what SNIPS covers from what it does not
        result["outliers_added"] = getattr(self, "outliers_added", 0)
        result["fragments_added"] = getattr(self, "fragments_added", 0)
        result["out_of_domain"] = outliers.measure(model, self.tok, os.path.join(self.args.data, "..", ".."),
                                                   self.args.max_length)
        if result["out_of_domain"]:
            log(self.args.work, outliers.fmt(result["out_of_domain"]))
        return result

    def evaluate(self, model, split):
        return evaluate(model, self.data[split], self.examples[split], self.labels["intents"],
                        self.labels["slots"], self.tok.pad_id)

    def score(self, m):
        return (m["frame_acc"], m["slot_f1"], m["intent_acc"])

    def fmt(self, m):
        return fmt(m)

    def config_keys(self, args):
        keys = {
            # No Hugging Face class has these two heads: the engine loads the
            # encoder (and pooler) and the NLU service applies the heads.
            "architectures": ["BertForJointIntentSlot"],
            "task": "joint_intent_slot",
            "labels": {"intent": self.labels["intents"], "slot": self.labels["slots"]},
            "max_length": args.max_length,
            "tokenizer": {"type": "wordpiece", "vocab": "vocab.txt", "do_lower_case": True,
                          "max_input_chars_per_word": 100},
            "heads": {
                "intent": {"tensor_prefix": "intent_classifier", "input": "pooler",
                           "labels": "intent"},
                "slot": {"tensor_prefix": "slot_classifier", "input": "tokens", "labels": "slot",
                         "scheme": "BIO", "alignment": "first_subtoken_of_each_whitespace_word"},
            },
        }
        # parley-nlu also serves "<name>-<variant>" from the same files (docs/nlu.md)
        if self.served_precision == "int8":  # "<name>-int8" stays a name for the base
            keys["precision"] = "int8"
            keys["variants"] = {"f32": {"precision": "f32"}, "int8": {"precision": "int8"}}
        else:
            keys["variants"] = {"int8": {"precision": "int8"}}
        return keys

    def check_inputs(self):
        ids, mask, _, _ = collate(self.data["dev"], list(range(min(64, len(self.data["dev"])))), self.tok.pad_id)
        return ids, mask

    def write_card(self, result, st_path, cfg, vocab_size):
        write_card(self.args, result, st_path, cfg, vocab_size, self.card_command())


def main(argv=None):
    return JointSnips().main(argv)


def segments_note(runs):
    """A sentence on resumed runs whose --epochs differed (else "")."""
    if len({run["epochs"] for run in runs}) <= 1:
        return ""
    parts = []
    for i, run in enumerate(runs):
        end = runs[i + 1]["start_epoch"] - 1 if i + 1 < len(runs) else run["epochs"]
        parts.append("epochs %d-%d under the schedule of `--epochs %d`" % (run["start_epoch"], end, run["epochs"]))
    return (",\ntrained in %d runs: %s (resumed with a different --epochs, here to fit the time available, "
            "so the linear learning-rate decay changed at that point)" % (len(runs), "; ".join(parts)))


def write_card(args, r, st_path, cfg, vocab_size, cmd):
    d, t = r["dev"], r["test"]
    text = """# nlu-intent-slot-snips

Joint intent classification and slot filling for English voice-assistant
commands, {origin} by Parley's recipe
`train/nlu/joint_snips.py`. Served by parley-nlu (Riva `AnalyzeIntent`).

## Model

- Encoder: BERT (post-LayerNorm), {layers} layers, hidden {hidden}, {heads} heads,
  FFN {ffn}, GELU (erf), max {pos} positions; {params:,} parameters.
  Tensor names are Hugging Face's (`bert.embeddings.*`, `bert.encoder.layer.N.*`,
  `bert.pooler.dense.*`).
- Intent head: `intent_classifier.{{weight,bias}}` on the pooled `[CLS]`
  (tanh pooler, as in Hugging Face's sequence classification).
- Slot head: `slot_classifier.{{weight,bias}}` on every token; the tag of a word
  is read at the word's **first WordPiece sub-token** (words are the
  whitespace-separated words of the input). BIO tags, labels in
  `config.json` (`labels.slot`, `O` first).
- Tokenizer: BERT uncased WordPiece (lower-case, strip accents, split on
  punctuation, greedy longest match) over `vocab.txt`: BERT's 30,522-piece
  uncased vocabulary **pruned to {vocab} pieces**: {vocab_rule}, every
  single character seen there, and every single-character
  piece (with its `##` form) up to U+052F, so unseen words still split into
  pieces. Ids are renumbered densely in the original order (`[PAD]`=0,
  `[UNK]`=1, `[CLS]`=2, `[SEP]`=3, `[MASK]`=4). Pruning keeps the shipped
  weights at {mb:.1f} MB.
- Inputs: `[CLS] tokens [SEP]`, at most {maxlen} tokens; token_type_ids 0.
- Weights: `model.safetensors`, {dtype}, sha256 `{sha}`.

## Data

SNIPS NLU benchmark (CC0) from `../shared/data/nlu/snips`: 13,084 train /
700 valid / 700 test utterances, 7 intents, 39 slot types. Trained on train,
model selected on valid (best semantic-frame accuracy), reported on test.{extra_data}

## Metrics

Span-level slot F1 counted like conlleval (exact start, end and type);
semantic-frame accuracy: intent and every word's tag right.

| split | intent accuracy | slot F1 | slot P / R | frame accuracy |
|---|---|---|---|---|
| valid | {d_ia:.2f} | {d_f1:.2f} | {d_p:.2f} / {d_r:.2f} | {d_fa:.2f} |
| test | {t_ia:.2f} | {t_f1:.2f} | {t_p:.2f} / {t_r:.2f} | {t_fa:.2f} |

{ood}Best epoch {best} of {epochs}; {secs} s of training on {hardware}{segments}. For comparison, published results
with a pretrained BERT-base are about 98.6 intent accuracy and 97.0 slot F1;
{pretrain_note}
Training time is wall-clock and depends on the machine's load.

## Reproduce

From the repository root, with `../shared/data` present:

    {cmd}

Checkpoints go to `train/work/joint_snips/` after every epoch; running the
same command again resumes. Seed {seed}; results vary slightly with the
thread count and CPU. The recipe ends by reloading the exported files and
checking that they reproduce the trained model's logits.
""".format(layers=cfg.num_hidden_layers, hidden=cfg.hidden_size, heads=cfg.num_attention_heads,
           ffn=cfg.intermediate_size, pos=cfg.max_position_embeddings, params=r["parameters"], vocab=vocab_size,
           minc=args.min_piece_count, mb=os.path.getsize(st_path) / 1e6, maxlen=args.max_length,
           dtype="float32" if args.export_dtype == "F32" else "float16", sha=sha256(st_path),
           d_ia=d["intent_acc"], d_f1=d["slot_f1"], d_p=d["slot_p"], d_r=d["slot_r"], d_fa=d["frame_acc"],
           t_ia=t["intent_acc"], t_f1=t["slot_f1"], t_p=t["slot_p"], t_r=t["slot_r"], t_fa=t["frame_acc"],
           best=r["best_epoch"], epochs=r["epochs"], secs=r["train_seconds"], hardware=hardware_of(r), cmd=cmd,
           seed=args.seed, extra_data=extra_data_note(args, r), ood=ood_note(r),
           segments=segments_note(r.get("runs", [])),
           **dict(zip(("origin", "vocab_rule", "pretrain_note"), card_origin(args, r, "SNIPS"))))
    with open(os.path.join(args.out, "README.md"), "w", encoding="utf-8") as f:
        f.write(text)


def extra_data_note(args, r):
    """The card's sentences on training data added to SNIPS's (else "")."""
    out = ""
    if getattr(args, "city_gazetteer", False):
        out += ("\nEvery training utterance with a `city` slot is also trained with that city replaced\n"
                "by one of 1,045 city names from WordNet's glosses (`train/nlu/gazetteer.py`;\n"
                "SNIPS's own cities are small towns, its well-known names states).")
    if getattr(args, "value_fragments", 0):
        out += ("\n%d slot values alone (one span of a training utterance, sometimes two with the words\n"
                "between: the bare answers a dialog's questions get) train the slot head only."
                % r.get("fragments_added", 0))
    if getattr(args, "outliers", 0):
        out += ("\n%d out-of-domain sentences (prose of Wikipedia, books, UN speeches, meetings and\n"
                "WordNet glosses, a third cut to fragments; `train/nlu/outliers.py`) are trained towards\n"
                "a uniform intent distribution (outlier exposure, weight %g), their slots untrained."
                % (r.get("outliers_added", args.outliers), args.outlier_weight))
    return out


def ood_note(r):
    """The card's paragraph on out-of-domain intent scores (else "")."""
    m = r.get("out_of_domain")
    if not m:
        return ""
    q = (" and %.1f%% of %d SQuAD 2.0 questions" % (m["questions"], m["n_questions"])) if "questions" in m else ""
    return ("Out of domain (`python3 -m train.nlu.outliers`): %.1f%% of %d held-out prose sentences\n"
            "(documents never trained on)%s get an intent score under %.2f (the shipped\n"
            "assistant's `nlu_threshold`; median score of the prose %.3f), while %.1f%% of the SNIPS\n"
            "test utterances score at or over it.\n\n"
            % (m["rejected"], m["n"], q, m["threshold"], m["ood_median"], m["kept"]))


def card_origin(args, r, task_words):
    """(origin phrase, vocabulary rule, pretraining note) of a model card."""
    pre = r.get("pretrained")
    share = 110e6 / max(1, r["parameters"])
    if not pre:
        return ("trained from scratch on %s" % task_words,
                "the pieces that occur at least %d times when the training set is tokenized with the full "
                "vocabulary" % args.min_piece_count,
                "this model has no pretraining and about 1/%.0f of BERT-base's 110M parameters." % share)
    vocab_rule = ("the vocabulary of the pretrained encoder (train/nlu/pretrain.py), the pieces that occur at "
                  "least %d times in its pretraining corpus (the training part of ../shared/data/text plus the "
                  "SNIPS and CoNLL-2003 training sentences)" % pre["min_piece_count"]
                  if isinstance(pre.get("min_piece_count"), int) else
                  "the vocabulary of the pretrained encoder (train/nlu/pretrain.py): " + pretrained_vocab(pre))
    if pre.get("description"):
        return ("fine-tuned on %s from the encoder of Parley's %s" % (task_words, pre["source_model"]),
                vocab_rule,
                "this model has about 1/%.0f of BERT-base's 110M parameters; its encoder is %s, and was then "
                "fine-tuned here." % (share, pre["description"]))
    return ("fine-tuned on %s from Parley's pretrained encoder" % task_words,
            vocab_rule,
            "this model has about 1/%.0f of BERT-base's 110M parameters; its encoder was pretrained by "
            "`python3 -m train.nlu.pretrain` (%s) and then fine-tuned here." % (share, pretrain_summary(pre)))


if __name__ == "__main__":
    main()
