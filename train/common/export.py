"""Write a Parley model directory: config.json, model.safetensors, vocab.txt.

config.json holds the Hugging Face BERT keys (hidden_size, num_hidden_layers,
num_attention_heads, intermediate_size, max_position_embeddings,
type_vocab_size, vocab_size, layer_norm_eps, hidden_act, ...) so that the
engine's BERT loader reads it unchanged, plus Parley's keys:
    task        "joint_intent_slot", "token_classification", ...
    labels      the label lists of the heads, e.g. {"intent": [...], "slot": [...]}
    max_length  tokens per input, [CLS] and [SEP] included
    tokenizer   {"type": "wordpiece", "vocab": "vocab.txt", "do_lower_case": true,
                 "max_input_chars_per_word": 100}
    heads       how each head is read (tensor prefix, input, alignment)
"""
import hashlib
import json
import os

import numpy as np

from . import safetensors_io


def export_model(out_dir, model, bert_config, vocab, parley, dtype="F32", metadata=None):
    """model: a torch module whose state_dict has HF names; bert_config: BertConfig;
    vocab: list of pieces (written to vocab.txt); parley: dict of Parley keys
    merged into config.json. dtype: "F32" or "F16" for the stored weights.
    Returns the path of model.safetensors."""
    os.makedirs(out_dir, exist_ok=True)
    if len(vocab) != bert_config.vocab_size:
        raise ValueError("vocab has %d pieces, config says %d" % (len(vocab), bert_config.vocab_size))
    tensors = {}
    for name, t in model.state_dict().items():
        a = t.detach().cpu().numpy()
        if a.dtype == np.float32 and dtype == "F16":
            a = a.astype(np.float16)
        tensors[name] = a
    st_path = os.path.join(out_dir, "model.safetensors")
    meta = {"format": "pt", "producer": "parley train"}
    meta.update(metadata or {})
    safetensors_io.save(st_path, tensors, meta)
    with open(os.path.join(out_dir, "vocab.txt"), "w", encoding="utf-8") as f:
        for p in vocab:
            f.write(p + "\n")
    cfg = bert_config.to_hf()
    cfg["torch_dtype"] = "float16" if dtype == "F16" else "float32"
    cfg.update(parley)
    with open(os.path.join(out_dir, "config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return st_path


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
