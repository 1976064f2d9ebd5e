"""A BERT encoder (post-LayerNorm, as in the original BERT) written in plain torch.

Module attributes are laid out so that state_dict() keys are exactly Hugging
Face's names, which Parley's C engine loads:
    bert.embeddings.{word,position,token_type}_embeddings.weight
    bert.embeddings.LayerNorm.{weight,bias}
    bert.encoder.layer.N.attention.self.{query,key,value}.{weight,bias}
    bert.encoder.layer.N.attention.output.dense / .LayerNorm
    bert.encoder.layer.N.intermediate.dense
    bert.encoder.layer.N.output.dense / .LayerNorm
    bert.pooler.dense
Linear weights are [out, in] as torch stores them. GELU is the exact (erf)
form ("gelu"); padded positions are masked with -10000 before the softmax.
"""
import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
import torch.nn.functional as F


@dataclass
class BertConfig:
    vocab_size: int
    hidden_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    max_position_embeddings: int = 128
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    initializer_range: float = 0.02
    pad_token_id: int = 0

    def to_hf(self):
        """The Hugging Face BertConfig keys (config.json)."""
        d = asdict(self)
        d["model_type"] = "bert"
        return d


def _act(name):
    if name == "gelu":
        return F.gelu
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return lambda x: F.gelu(x, approximate="tanh")
    if name == "relu":
        return F.relu
    raise ValueError("unsupported hidden_act %r" % name)


class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, ids, type_ids):
        pos = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        x = self.word_embeddings(ids) + self.position_embeddings(pos) + self.token_type_embeddings(type_ids)
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        if c.hidden_size % c.num_attention_heads:
            raise ValueError("hidden_size %d not divisible by %d heads" % (c.hidden_size, c.num_attention_heads))
        self.heads = c.num_attention_heads
        self.head_dim = c.hidden_size // c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)
        self.dropout = nn.Dropout(c.attention_probs_dropout_prob)

    def forward(self, x, add_mask):
        b, t, h = x.shape

        def split(y):
            return y.view(b, t, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + add_mask
        p = self.dropout(scores.softmax(-1))
        return (p @ v).transpose(1, 2).reshape(b, t, h)


class BertSelfOutput(nn.Module):
    """dense -> dropout -> LayerNorm(residual + .); also the FFN's output."""

    def __init__(self, c, d_in):
        super().__init__()
        self.dense = nn.Linear(d_in, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, x, residual):
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class BertAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c, c.hidden_size)

    def forward(self, x, add_mask):
        return self.output(self.self(x, add_mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
        self.act = _act(c.hidden_act)

    def forward(self, x):
        return self.act(self.dense(x))


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertSelfOutput(c, c.intermediate_size)

    def forward(self, x, add_mask):
        a = self.attention(x, add_mask)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(c) for _ in range(c.num_hidden_layers))

    def forward(self, x, add_mask):
        for layer in self.layer:
            x = layer(x, add_mask)
        return x


class BertPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, h):
        return torch.tanh(self.dense(h[:, 0]))


class BertModel(nn.Module):
    def __init__(self, c, add_pooler=True):
        super().__init__()
        self.config = c
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)
        self.pooler = BertPooler(c) if add_pooler else None

    def forward(self, ids, mask, type_ids=None):
        """ids, mask (1 = token, 0 = padding), type_ids: [batch, seq] int64.
        Returns (last hidden state [b, t, h], pooled [b, h] or None)."""
        if type_ids is None:
            type_ids = torch.zeros_like(ids)
        add_mask = (1.0 - mask[:, None, None, :].float()) * -10000.0
        h = self.encoder(self.embeddings(ids, type_ids), add_mask)
        return h, self.pooler(h) if self.pooler is not None else None


def init_weights(module, std=0.02):
    """BERT's initialisation: N(0, std) weights, zero biases, LayerNorm 1/0."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, std)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, std)
            if m.padding_idx is not None:
                with torch.no_grad():
                    m.weight[m.padding_idx].zero_()
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class JointIntentSlot(nn.Module):
    """BERT + two heads: the intent from the pooled [CLS] (HF's sequence
    classification path) and a BIO slot tag for every token (read at the first
    sub-token of each word)."""

    def __init__(self, c, n_intents, n_slots, head_dropout=0.1):
        super().__init__()
        self.bert = BertModel(c)
        self.dropout = nn.Dropout(head_dropout)
        self.intent_classifier = nn.Linear(c.hidden_size, n_intents)
        self.slot_classifier = nn.Linear(c.hidden_size, n_slots)
        init_weights(self, c.initializer_range)

    def forward(self, ids, mask, type_ids=None):
        h, pooled = self.bert(ids, mask, type_ids)
        return self.intent_classifier(self.dropout(pooled)), self.slot_classifier(self.dropout(h))


class TokenClassifier(nn.Module):
    """Hugging Face's BertForTokenClassification: BERT without pooler, then
    `classifier.{weight,bias}` on every token (NER: read at each word's first
    sub-token)."""

    def __init__(self, c, n_labels, head_dropout=0.1):
        super().__init__()
        self.bert = BertModel(c, add_pooler=False)
        self.dropout = nn.Dropout(head_dropout)
        self.classifier = nn.Linear(c.hidden_size, n_labels)
        init_weights(self, c.initializer_range)

    def forward(self, ids, mask, type_ids=None):
        h, _ = self.bert(ids, mask, type_ids)
        return self.classifier(self.dropout(h))


def read_model_dir(path):
    """(config.json as a dict, BertConfig, every tensor of model.safetensors as float32, vocab) of
    a Parley model directory (config.json, model.safetensors, vocab.txt)."""
    import json
    import os

    import numpy as np

    from train.common import safetensors_io
    from train.common.wordpiece import load_vocab
    with open(os.path.join(path, "config.json")) as f:
        c = json.load(f)
    cfg = BertConfig(**{k: c[k] for k in BertConfig.__dataclass_fields__ if k in c})
    tensors, _ = safetensors_io.load(os.path.join(path, "model.safetensors"))
    tensors = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items()}
    return c, cfg, tensors, load_vocab(os.path.join(path, "vocab.txt"))


def load_model_dir(path):
    """(vocab, BertConfig, encoder state without the "bert." prefix and without the pooler) of
    a Parley model directory."""
    _, cfg, tensors, vocab = read_model_dir(path)
    state = {k[len("bert."):]: v for k, v in tensors.items()
             if k.startswith("bert.") and not k.startswith("bert.pooler.")}
    return vocab, cfg, state


def load_pretrained(path):
    """(vocab, BertConfig, encoder state) of an encoder.pt written by
    train/nlu/pretrain.py; the state's keys are BertModel's (no "bert." prefix)."""
    blob = torch.load(path, map_location="cpu", weights_only=False)
    return blob["vocab"], BertConfig(**blob["bert_config"]), blob["encoder"], blob.get("result", {})


def finetune_config(cfg, dropout):
    """The pretrained encoder's BertConfig with the fine-tuning run's dropout."""
    return BertConfig(**dict(cfg.__dict__, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout))


def init_encoder(bert, state):
    """Load a pretrained encoder state into `bert` (a BertModel). Every encoder
    and embedding tensor must be present with the right shape; the pooler may
    be missing (it then keeps its fresh initialisation)."""
    own = bert.state_dict()
    missing = [k for k in own if k not in state and not k.startswith("pooler.")]
    extra = [k for k in state if k not in own and not k.startswith("pooler.")]
    if missing or extra:
        raise ValueError("pretrained encoder does not fit: missing %s, unexpected %s" % (missing[:4], extra[:4]))
    for k, v in state.items():
        if k in own and own[k].shape != v.shape:
            raise ValueError("pretrained %s has shape %s, model wants %s" % (k, tuple(v.shape), tuple(own[k].shape)))
    bert.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
