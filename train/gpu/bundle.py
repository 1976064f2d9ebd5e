"""The GPU bundle's files (written by train/gpu/pack.py, read by the recipes on the GPU machine).

    <bundle>/manifest.json        what was packed: sizes, token counts, sources, QA settings
    <bundle>/vocab.txt            the vocabulary of every token id below
    <bundle>/corpus.u16.xz        the pretraining stream: uint16 little-endian piece ids, lzma
                                  (xz); documents separated by one [SEP]
    <bundle>/heldout.u16.xz       held-out segments of the same sources, [n, length] uint16
    <bundle>/qa/squad11.npz.xz      train/qa's features of the SQuAD 1.1 training set (compact)
    <bundle>/qa/v2train.npz.xz      ... of the training part of the SQuAD 2.0 dev half
    <bundle>/qa/other.npz.xz        for each SQuAD 1.1 question, the squad11 context it is asked
                                    again of when made unanswerable (squad.other_paragraphs):
                                    other_ctx, int32, -1 none, -2 an unanswerable question
    <bundle>/qa/swapped.npz.xz      for each SQuAD 1.1 question, the ids of its text with a name
                                    swapped (squad.swapped_texts; none: no ids), and which
                                    questions are answerable
    <bundle>/qa/squad-v2-dev-half.json.xz   the SQuAD 2.0 dev half (dev split and scoring)

Compact features (save_features/load_features) hold exactly what training reads from
train.qa.features.Features: each context's token ids, each question's ids, context and
answer tokens; no texts or offsets (the dev set is tokenized from its json, a second's work).
"""
import hashlib
import io
import json
import lzma
import os

import numpy as np

from train.qa import squad
from train.qa.features import Encoded, Features


def vocab_key(vocab):
    return hashlib.sha1("\n".join(vocab).encode("utf-8")).hexdigest()[:12]


def write_u16(path, a, preset=9):
    a = np.ascontiguousarray(a, dtype="<u2")
    with open(path + ".tmp", "wb") as f:
        f.write(lzma.compress(a.tobytes(), preset=preset))
    os.replace(path + ".tmp", path)


def read_u16(path):
    with open(path, "rb") as f:
        return np.frombuffer(lzma.decompress(f.read()), dtype="<u2").astype(np.uint16)


def read_manifest(bundle):
    with open(os.path.join(bundle, "manifest.json")) as f:
        return json.load(f)


def read_vocab(bundle):
    with open(os.path.join(bundle, "vocab.txt"), encoding="utf-8") as f:
        return [line.strip() for line in f]


def _concat(arrays):
    off = np.zeros(len(arrays) + 1, dtype=np.int64)
    off[1:] = np.cumsum([len(a) for a in arrays])
    data = np.concatenate([np.asarray(a) for a in arrays]) if arrays else np.zeros(0)
    return data.astype(np.uint16), off


def save_npz_xz(path, **arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    with open(path + ".tmp", "wb") as f:
        f.write(lzma.compress(buf.getvalue(), preset=9))
    os.replace(path + ".tmp", path)


def load_npz_xz(path):
    with open(path, "rb") as f:
        return np.load(io.BytesIO(lzma.decompress(f.read())))


def save_other(path, questions, feats):
    """qa/other.npz.xz of `questions` (those `feats` were made from, in order)."""
    index = {c[0]: i for i, c in enumerate(feats.contexts)}
    other = squad.other_paragraphs(questions)
    ctx = np.array([-2 if q.impossible else -1 if o is None else index[o[0]] for q, o in zip(questions, other)],
                   dtype=np.int32)
    save_npz_xz(path, other_ctx=ctx)
    return int((ctx >= 0).sum())


def _same_questions(path, n, f11):
    """A made-question file describes f11's questions, n of them, or the bundle is stale."""
    if n != len(f11.items):
        raise SystemExit("%s has %d questions, the SQuAD 1.1 features %d: pack again" % (path, n, len(f11.items)))


def _made(f11, items):
    """Features of questions made unanswerable (`items`, Encoded without targets) that share
    f11's contexts."""
    f = Features([], f11.tok, f11.max_len, f11.doc_stride, f11.max_question)
    f.contexts, f.items, f.questions = f11.contexts, items, [None] * len(items)
    return f


def load_other(path, f11, share, seed):
    """The questions made unanswerable (train.qa.train --negatives share, --seed seed) as
    Features sharing f11's contexts: the same draw as squad.unanswerable_pairs on the texts."""
    ctx = load_npz_xz(path)["other_ctx"]
    _same_questions(path, len(ctx), f11)
    return _made(f11, [Encoded(f11.items[i].q_ids, int(ctx[i])) for i in squad.drawn(ctx != -2, share, seed)
                       if ctx[i] >= 0 and f11.items[i] is not None])


def save_swapped(path, questions, tok):
    """qa/swapped.npz.xz of `questions` (the SQuAD 1.1 features' questions, in order)."""
    texts = squad.swapped_texts(questions)
    ids, off = _concat([tok.tokenize(t)[0] if t is not None else np.zeros(0, np.int32) for t in texts])
    save_npz_xz(path, q_ids=ids, q_off=off, has=np.array([t is not None for t in texts]),
                answerable=np.array([not q.impossible for q in questions]))
    return sum(t is not None for t in texts)


def load_swapped(path, f11, share, seed):
    """The questions made unanswerable by train.qa.train --swapped share (--seed seed), as
    Features sharing f11's contexts: the same draw as squad.swapped_names on the texts."""
    z = load_npz_xz(path)
    ids, off, has = z["q_ids"].astype(np.int32), z["q_off"], z["has"]
    _same_questions(path, len(has), f11)
    return _made(f11, [Encoded(ids[off[i]:off[i + 1]], f11.items[i].ctx)
                       for i in squad.swapped_drawn(z["answerable"], share, seed) if has[i] and f11.items[i] is not None])


def save_features(path, f, vocab):
    """Features (with targets) -> an .npz.xz (an .npz, xz-compressed: a fifth smaller than
    the .npz's own zlib on these token ids)."""
    if len(vocab) > 65535:
        raise ValueError("vocabulary too large for uint16 ids")
    ctx_ids, ctx_off = _concat([c[1] for c in f.contexts])
    items = f.items
    q_ids, q_off = _concat([e.q_ids if e is not None else np.zeros(0, np.int32) for e in items])
    q_ctx = np.array([e.ctx if e is not None else -1 for e in items], dtype=np.int32)
    st = np.array([e.tok_start if e is not None else -1 for e in items], dtype=np.int32)
    en = np.array([e.tok_end if e is not None else -1 for e in items], dtype=np.int32)
    save_npz_xz(path, ctx_ids=ctx_ids, ctx_off=ctx_off, q_ids=q_ids, q_off=q_off, q_ctx=q_ctx,
                        tok_start=st, tok_end=en, unlocated=np.array(f.unlocated),
                        settings=np.array([f.max_len, f.doc_stride, f.max_question]),
                        vocab_key=np.array(vocab_key(vocab)))


def load_features(path, tok, vocab, max_len, doc_stride, max_question):
    """Features of a compact .npz.xz: contexts are ("", ids, None, None), questions are None
    (training reads neither texts nor offsets). The vocabulary and window settings must be
    those the file was written with."""
    z = load_npz_xz(path)
    if str(z["vocab_key"]) != vocab_key(vocab):
        raise SystemExit("%s was packed with another vocabulary (%s, the model's is %s)" % (
            path, z["vocab_key"], vocab_key(vocab)))
    if tuple(int(x) for x in z["settings"]) != (max_len, doc_stride, max_question):
        raise SystemExit("%s was packed with max_length/doc_stride/max_question %s, not %s" % (
            path, tuple(z["settings"]), (max_len, doc_stride, max_question)))
    f = Features([], tok, max_len, doc_stride, max_question)
    ci, co = z["ctx_ids"].astype(np.int32), z["ctx_off"]
    f.contexts = [("", ci[co[i]:co[i + 1]], None, None) for i in range(len(co) - 1)]
    qi, qo, qc = z["q_ids"].astype(np.int32), z["q_off"], z["q_ctx"]
    st, en = z["tok_start"], z["tok_end"]
    f.items = [Encoded(qi[qo[i]:qo[i + 1]], int(qc[i]), int(st[i]), int(en[i])) if qc[i] >= 0 else None
               for i in range(len(qc))]
    f.questions = [None] * len(f.items)
    f.unlocated = int(z["unlocated"])
    return f


def qa_context_tokens(bundle, sep_id=3):
    """The SQuAD training contexts' ids (both training sets), one [SEP] after each."""
    parts = []
    for name in ("squad11", "v2train"):
        z = load_npz_xz(os.path.join(bundle, "qa", name + ".npz.xz"))
        ci, co = z["ctx_ids"], z["ctx_off"]
        seps = np.full(len(co) - 1, sep_id, dtype=np.uint16)
        parts.append(np.insert(ci, co[1:], seps))
    return np.concatenate(parts)


def load_corpus(bundle, extra_qa=False, heldout_segments=0):
    """What train.nlu.pretrain's build() gives, from a bundle: the vocabulary, the training
    stream (numpy uint16) and the held-out segments (lists of ids)."""
    m = read_manifest(bundle)
    vocab = read_vocab(bundle)
    if vocab_key(vocab) != m["vocab_key"]:
        raise SystemExit("%s/vocab.txt is not the vocabulary the bundle was packed with" % bundle)
    train = read_u16(os.path.join(bundle, "corpus.u16.xz"))
    sources = dict(m["corpus"]["sources"])
    if extra_qa:
        extra = qa_context_tokens(bundle, vocab.index("[SEP]"))
        train = np.concatenate([train, extra])
        sources["squad-train-contexts"] = int(len(extra))
    held = read_u16(os.path.join(bundle, "heldout.u16.xz")).reshape(-1, m["heldout"]["length"])
    if heldout_segments:
        held = held[:heldout_segments]
    return {"vocab": vocab, "min_count": m["vocab_name"], "train": train,
            "heldout": [[int(x) for x in row] for row in held], "sources": sources}
