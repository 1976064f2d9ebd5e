"""Tiny random-weight NLU models in Parley's export format (tests only; never shipped).

write_models(root) creates, under root:
  intent/   joint_intent_slot (heads intent <- pooler, slot <- tokens)
  ner/      token_classification (head token <- tokens)
  punct/    punctuation_capitalization (heads punct, capit <- tokens)
  textcls/  text_classification (head label <- pooler)
  notnlu/   a config.json without an NLU task (must be skipped)
  broken/   an NLU config whose slot head tensors are missing (must be skipped)
Each has config.json (Hugging Face BERT keys + Parley's task/labels/heads/max_length/tokenizer,
as train/common/export.py writes them), model.safetensors and vocab.txt.

forward(model_dir, pieces) is a NumPy reference of the encoder + heads (f32) on vocabulary
pieces (whitespace-separated in-vocabulary words are their own pieces), for checking the
service's scores.
"""
import json
import math
import os
import struct

import numpy as np

WORDS = ("book a table for two at an italian restaurant in boston tomorrow what is the weather "
         "play some music by john how are you doing today paris london met smith").split()
VOCAB = list(dict.fromkeys(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS +
                           list("abcdefghijklmnopqrstuvwxyz,.?'") +
                           ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"]))  # no duplicates
HIDDEN, LAYERS, HEADS, FFN, MAXPOS = 32, 2, 2, 64, 64
MAX_LENGTH = 16  # small, so that ordinary sentences need several windows

INTENTS = ["BookRestaurant", "GetWeather", "PlayMusic"]
SLOTS = ["O", "B-city", "I-city", "B-cuisine", "B-party_size_number", "B-timeRange", "I-timeRange"]
NER = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
PUNCT = ["O", ",", ".", "?"]
CAPIT = ["lower", "Capitalized", "UPPER"]
CLASSES = ["positive", "negative"]


def save_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a, dtype=np.float32)
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt", "producer": "parley tests"}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def encoder_tensors(rng):
    t = {}

    def lin(name, o, i, std=0.2):
        t[name + ".weight"] = rng.normal(0, std, (o, i)).astype(np.float32)
        t[name + ".bias"] = rng.normal(0, 0.05, (o,)).astype(np.float32)

    def ln(name):
        t[name + ".weight"] = (1 + rng.normal(0, 0.05, HIDDEN)).astype(np.float32)
        t[name + ".bias"] = rng.normal(0, 0.05, HIDDEN).astype(np.float32)

    t["bert.embeddings.word_embeddings.weight"] = rng.normal(0, 0.5, (len(VOCAB), HIDDEN)).astype(np.float32)
    t["bert.embeddings.position_embeddings.weight"] = rng.normal(0, 0.2, (MAXPOS, HIDDEN)).astype(np.float32)
    t["bert.embeddings.token_type_embeddings.weight"] = rng.normal(0, 0.2, (2, HIDDEN)).astype(np.float32)
    ln("bert.embeddings.LayerNorm")
    for i in range(LAYERS):
        p = "bert.encoder.layer.%d." % i
        for q in ("query", "key", "value"):
            lin(p + "attention.self." + q, HIDDEN, HIDDEN)
        lin(p + "attention.output.dense", HIDDEN, HIDDEN)
        ln(p + "attention.output.LayerNorm")
        lin(p + "intermediate.dense", FFN, HIDDEN)
        lin(p + "output.dense", HIDDEN, FFN)
        ln(p + "output.LayerNorm")
    lin("bert.pooler.dense", HIDDEN, HIDDEN)
    return t


def hf_config():
    return {"vocab_size": len(VOCAB), "hidden_size": HIDDEN, "num_hidden_layers": LAYERS,
            "num_attention_heads": HEADS, "intermediate_size": FFN, "max_position_embeddings": MAXPOS,
            "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
            "initializer_range": 0.02, "pad_token_id": 0, "model_type": "bert",
            "torch_dtype": "float32"}


def write_model(d, seed, task, labels, heads, arch, extra=None, drop=()):
    rng = np.random.default_rng(seed)
    os.makedirs(d, exist_ok=True)
    t = encoder_tensors(rng)
    for hname, h in heads.items():
        n = len(labels[h["labels"]])
        t[h["tensor_prefix"] + ".weight"] = rng.normal(0, 1.0, (n, HIDDEN)).astype(np.float32)
        t[h["tensor_prefix"] + ".bias"] = rng.normal(0, 0.5, (n,)).astype(np.float32)
    for name in drop:
        del t[name]
    save_safetensors(os.path.join(d, "model.safetensors"), t)
    with open(os.path.join(d, "vocab.txt"), "w") as f:
        f.write("\n".join(VOCAB) + "\n")
    cfg = hf_config()
    cfg.update({"architectures": [arch], "task": task, "labels": labels, "max_length": MAX_LENGTH,
                "tokenizer": {"type": "wordpiece", "vocab": "vocab.txt", "do_lower_case": True,
                              "max_input_chars_per_word": 100},
                "heads": heads})
    cfg.update(extra or {})
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def write_models(root):
    tok = lambda p, l: {"tensor_prefix": p, "input": "tokens", "labels": l, "scheme": "BIO",  # noqa: E731
                        "alignment": "first_subtoken_of_each_whitespace_word"}
    intent_heads = {"intent": {"tensor_prefix": "intent_classifier", "input": "pooler", "labels": "intent"},
                    "slot": tok("slot_classifier", "slot")}
    write_model(os.path.join(root, "intent"), 1, "joint_intent_slot",
                {"intent": INTENTS, "slot": SLOTS}, intent_heads, "BertForJointIntentSlot",
                {"domain": "snips", "batching": {"max_batch_size": 4, "max_queue_delay_us": 2000}})
    write_model(os.path.join(root, "ner"), 2, "token_classification", {"token": NER},
                {"token": tok("classifier", "token")}, "BertForTokenClassification",
                {"id2label": {str(i): t for i, t in enumerate(NER)}})
    write_model(os.path.join(root, "punct"), 3, "punctuation_capitalization",
                {"punct": PUNCT, "capit": CAPIT},
                {"punct": dict(tok("punct_classifier", "punct"),
                               alignment="last_subtoken_of_each_whitespace_word"),
                 "capit": tok("capit_classifier", "capit")},
                "BertForPunctuationCapitalization")
    write_model(os.path.join(root, "textcls"), 4, "text_classification", {"label": CLASSES},
                {"label": {"tensor_prefix": "classifier", "input": "pooler", "labels": "label"}},
                "BertForSequenceClassification")
    write_model(os.path.join(root, "broken"), 5, "joint_intent_slot",
                {"intent": INTENTS, "slot": SLOTS}, intent_heads, "BertForJointIntentSlot",
                drop=("slot_classifier.weight",))
    os.makedirs(os.path.join(root, "notnlu"), exist_ok=True)
    with open(os.path.join(root, "notnlu", "config.json"), "w") as f:
        json.dump({"model_type": "bert", "hidden_size": 8}, f)


# ---- NumPy reference ---------------------------------------------------------------------

def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(data[b:end], dtype=np.float32).reshape(e["shape"])
    return out


def _ln(x, w, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


_erf = np.vectorize(math.erf)


def forward(model_dir, words, types=None):
    """Head probabilities for one window [CLS] pieces [SEP]: {head: probs} where pooled heads
    give [n_labels] and token heads [n_tokens, n_labels] (rows of the pieces, no specials).
    types: the token type of each piece (default all 0; the specials' are 0)."""
    t = load_safetensors(os.path.join(model_dir, "model.safetensors"))
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    ids = [VOCAB.index("[CLS]")] + [VOCAB.index(w) for w in words] + [VOCAB.index("[SEP]")]
    n = len(ids)
    tt = [0] + list(types or [0] * len(words)) + [0]
    x = t["bert.embeddings.word_embeddings.weight"][ids] + t["bert.embeddings.position_embeddings.weight"][:n] \
        + t["bert.embeddings.token_type_embeddings.weight"][tt]
    x = _ln(x, t["bert.embeddings.LayerNorm.weight"], t["bert.embeddings.LayerNorm.bias"])
    lin = lambda x, p: x @ t[p + ".weight"].T + t[p + ".bias"]  # noqa: E731
    dh = HIDDEN // HEADS
    for i in range(LAYERS):
        p = "bert.encoder.layer.%d." % i
        q, k, v = (lin(x, p + "attention.self." + s).reshape(n, HEADS, dh).transpose(1, 0, 2)
                   for s in ("query", "key", "value"))
        a = q @ k.transpose(0, 2, 1) / math.sqrt(dh)
        a = np.exp(a - a.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        c = (a @ v).transpose(1, 0, 2).reshape(n, HIDDEN)
        x = _ln(lin(c, p + "attention.output.dense") + x, t[p + "attention.output.LayerNorm.weight"],
                t[p + "attention.output.LayerNorm.bias"])
        h = lin(x, p + "intermediate.dense")
        h = 0.5 * h * (1 + _erf(h / math.sqrt(2)))
        x = _ln(lin(h, p + "output.dense") + x, t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"])

    def softmax(z):
        z = np.exp(z - z.max(-1, keepdims=True))
        return z / z.sum(-1, keepdims=True)

    out = {}
    for name, h in cfg["heads"].items():
        if h["input"] == "tokens":
            out[name] = softmax(lin(x[1:-1], h["tensor_prefix"]))
        else:
            pooled = np.tanh(lin(x[0], "bert.pooler.dense"))
            out[name] = softmax(lin(pooled, h["tensor_prefix"]))
    return out


if __name__ == "__main__":
    import sys
    write_models(sys.argv[1])
