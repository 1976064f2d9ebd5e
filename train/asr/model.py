"""Parley's CTC acoustic model: a QuartzNet-style 1-D time-channel separable CNN.

docs/asr-model.md is the specification (shapes, padding, tensor names, config.json);
this module is its PyTorch definition, used by train.py and export.py.

Input  feats [B, n_mels, T] log-mel (train/asr/feats.py, per_feature
       normalization), lengths [B] (valid frames).
Output log-probabilities [B, T', vocab] with T' = ceil((T + tail_frames) / stride), and
       out lengths. tail_frames (config, default 0 when absent) zero frames follow each
       utterance's last valid frame: a model that looks ahead learns to emit characters
       late, and without a tail a short clip that ends on speech has no output frames
       left to emit its last characters into.

Every depthwise convolution pads pad_left = dilation*(K-1) - right zeros on the left and
`right` zeros on the right (its right context, in its input frames), so the model
looks ahead a bounded number of frames (streaming in chunks). Time steps at or beyond
an utterance's length are zeroed before every convolution, so a padded batch computes
exactly what one utterance alone computes (the C engine sees zeros past the end).

Training graph: conv (no bias) -> BatchNorm -> ReLU -> dropout. Export folds each
BatchNorm into the pointwise conv before it (weight * g/sqrt(v+eps), bias
b - m*g/sqrt(v+eps)), so the exported graph has only convolutions with bias.
"""
import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# blank = 0, space = 1, a..z = 2..27, apostrophe = 28
VOCAB = ["<blank>", " "] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["'"]
CHAR_TO_ID = {c: i for i, c in enumerate(VOCAB) if i > 0}

DEFAULT_CONFIG = {
    "model_type": "parley_quartznet_ctc",
    "n_mels": 80,
    "sample_rate": 16000,
    "features": {"win_length": 400, "hop_length": 160, "n_fft": 512, "preemph": 0.97,
                 "log_guard": 2.0 ** -24, "mel_scale": "slaney", "mel_norm": "slaney",
                 "normalize": "per_feature"},
    "vocab": VOCAB,
    "blank": 0,
    # separable conv: in -> out channels, kernel, stride, dilation, right context
    "prologue": {"channels": 256, "kernel": 11, "stride": 2, "dilation": 1, "right": 5},
    # blocks: R sub-blocks each; the residual 1x1 conv adds to the last sub-block
    "blocks": [
        {"channels": 256, "kernel": 13, "repeat": 2, "dilation": 1, "right": 3},
        {"channels": 256, "kernel": 15, "repeat": 2, "dilation": 1, "right": 3},
        {"channels": 256, "kernel": 17, "repeat": 2, "dilation": 1, "right": 3},
        {"channels": 256, "kernel": 21, "repeat": 2, "dilation": 1, "right": 3},
        {"channels": 256, "kernel": 25, "repeat": 2, "dilation": 1, "right": 3},
    ],
    "epilogue": {"channels": 384, "kernel": 29, "stride": 1, "dilation": 1, "right": 6},
    "bn_eps": 1e-3,
    "dropout": 0.1,
    # zero feature frames appended after every utterance's last frame (after
    # normalization), so the look-ahead has output frames to emit late characters into
    "tail_frames": 80,
}


def text_to_ids(text):
    """Normalized text (lower case a-z, space, apostrophe) -> ids; other chars dropped."""
    return [CHAR_TO_ID[c] for c in text if c in CHAR_TO_ID]


def ids_to_text(ids):
    return "".join(VOCAB[i] for i in ids if i > 0)


def greedy_ids(logp, lengths):
    """logp [B, T, V] -> list of id lists (best per frame, repeats collapsed, blanks dropped)."""
    best = logp.argmax(dim=-1).cpu().numpy()
    out = []
    for b in range(best.shape[0]):
        prev, ids = -1, []
        for t in range(int(lengths[b])):
            k = int(best[b, t])
            if k != prev and k != 0:
                ids.append(k)
            prev = k
        out.append(ids)
    return out


def greedy_decode(logp, lengths):
    """logp [B, T, V] -> list of strings (repeats collapsed, blanks dropped)."""
    return [" ".join(ids_to_text(ids).split()) for ids in greedy_ids(logp, lengths)]


def _mask(x, lengths):
    t = torch.arange(x.shape[2], device=x.device)[None, :]
    return x * (t < lengths[:, None]).to(x.dtype)[:, None, :]


class SepConv(nn.Module):
    """Depthwise conv (K, stride, dilation, limited right context, no bias) ->
    pointwise 1x1 conv (no bias) -> BatchNorm. Names: dw, pw, bn."""

    def __init__(self, cin, cout, kernel, stride=1, dilation=1, right=None, eps=1e-3):
        super().__init__()
        span = dilation * (kernel - 1)
        if right is None:
            right = span // 2
        if right < 0 or right > span:
            raise ValueError("right context %d outside 0..%d" % (right, span))
        self.pad_left, self.pad_right, self.stride = span - right, right, stride
        self.dw = nn.Conv1d(cin, cin, kernel, stride=stride, dilation=dilation,
                            groups=cin, bias=False)
        self.pw = nn.Conv1d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm1d(cout, eps=eps)

    def out_lengths(self, lengths):
        # stride s with pad_left + pad_right = dilation*(K-1): T' = ceil(T / s)
        return torch.div(lengths + self.stride - 1, self.stride, rounding_mode="floor")

    def forward(self, x, lengths):
        x = _mask(x, lengths)
        x = F.pad(x, (self.pad_left, self.pad_right))
        x = self.bn(self.pw(self.dw(x)))
        return x, self.out_lengths(lengths)


class Block(nn.Module):
    """R separable sub-blocks; the last one's BN output is added to res(x) (1x1 conv +
    BN) before its ReLU. Names: sub.{j}.{dw,pw,bn}, res.{conv,bn}."""

    def __init__(self, cin, cfg, eps, dropout):
        super().__init__()
        c = cfg["channels"]
        self.sub = nn.ModuleList()
        for j in range(cfg["repeat"]):
            self.sub.append(SepConv(cin if j == 0 else c, c, cfg["kernel"], 1,
                                    cfg.get("dilation", 1), cfg.get("right"), eps))
        self.res = nn.Module()
        self.res.conv = nn.Conv1d(cin, c, 1, bias=False)
        self.res.bn = nn.BatchNorm1d(c, eps=eps)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, lengths):
        y = x
        for j, s in enumerate(self.sub):
            y, _ = s(y, lengths)
            if j == len(self.sub) - 1:
                y = y + self.res.bn(self.res.conv(x))
            y = self.drop(F.relu(y))
        return y, lengths


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        eps, p = cfg["bn_eps"], cfg["dropout"]
        pc = cfg["prologue"]
        self.prologue = SepConv(cfg["n_mels"], pc["channels"], pc["kernel"], pc["stride"],
                                pc.get("dilation", 1), pc.get("right"), eps)
        cin = pc["channels"]
        self.blocks = nn.ModuleList()
        for b in cfg["blocks"]:
            self.blocks.append(Block(cin, b, eps, p))
            cin = b["channels"]
        ec = cfg["epilogue"]
        self.epilogue = SepConv(cin, ec["channels"], ec["kernel"], ec.get("stride", 1),
                                ec.get("dilation", 1), ec.get("right"), eps)
        self.drop = nn.Dropout(p)

    def forward(self, x, lengths):
        x, lengths = self.prologue(x, lengths)
        x = self.drop(F.relu(x))
        for b in self.blocks:
            x, lengths = b(x, lengths)
        x, lengths = self.epilogue(x, lengths)
        x = self.drop(F.relu(x))
        return x, lengths


class QuartzNetCTC(nn.Module):
    def __init__(self, cfg=None):
        super().__init__()
        self.cfg = json.loads(json.dumps(cfg or DEFAULT_CONFIG))
        self.encoder = Encoder(self.cfg)
        self.decoder = nn.Conv1d(self.cfg["epilogue"]["channels"], len(self.cfg["vocab"]), 1)

    def forward(self, feats, lengths):
        """feats [B, n_mels, T], lengths [B] -> (log-probs [B, T', V], lengths [B])."""
        tail = self.cfg.get("tail_frames", 0)
        if tail:
            feats = F.pad(_mask(feats, lengths), (0, tail))
            lengths = torch.where(lengths > 0, lengths + tail, lengths)
        x, lengths = self.encoder(feats, lengths)
        x = _mask(x, lengths)
        logits = self.decoder(x).transpose(1, 2)
        return F.log_softmax(logits, dim=-1), lengths

    def stride(self):
        return self.cfg["prologue"]["stride"] * self.cfg["epilogue"].get("stride", 1)

    def right_context_frames(self):
        """Look-ahead in input (10 ms) frames."""
        c = self.cfg
        r = c["prologue"]["right"]
        s = c["prologue"]["stride"]
        for b in c["blocks"]:
            r += b["right"] * b["repeat"] * s
        r += c["epilogue"]["right"] * s
        return r


def fold_bn(conv_w, bn):
    """conv_w [Cout, Cin, 1] (no bias) followed by BatchNorm -> (weight, bias)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return conv_w * scale[:, None, None], bn.bias - bn.running_mean * scale


def export_tensors(model):
    """Inference tensors with BatchNorm folded: {name: float32 tensor}.

    encoder.prologue.{dw.weight [C_in,1,K], pw.weight [C,C_in,1], pw.bias [C]}
    encoder.blocks.{i}.sub.{j}.{dw.weight, pw.weight, pw.bias}
    encoder.blocks.{i}.res.{weight [C,C_in,1], bias [C]}
    encoder.epilogue.{dw.weight, pw.weight, pw.bias}
    decoder.{weight [V,C,1], bias [V]}
    """
    out = {}
    with torch.no_grad():
        def sep(prefix, s):
            out[prefix + ".dw.weight"] = s.dw.weight.clone()
            w, b = fold_bn(s.pw.weight, s.bn)
            out[prefix + ".pw.weight"], out[prefix + ".pw.bias"] = w, b
        enc = model.encoder
        sep("encoder.prologue", enc.prologue)
        for i, blk in enumerate(enc.blocks):
            for j, s in enumerate(blk.sub):
                sep("encoder.blocks.%d.sub.%d" % (i, j), s)
            w, b = fold_bn(blk.res.conv.weight, blk.res.bn)
            out["encoder.blocks.%d.res.weight" % i] = w
            out["encoder.blocks.%d.res.bias" % i] = b
        sep("encoder.epilogue", enc.epilogue)
        out["decoder.weight"] = model.decoder.weight.clone()
        out["decoder.bias"] = model.decoder.bias.clone()
    return {k: v.float().contiguous() for k, v in out.items()}


def reference_forward(tensors, cfg, feats):
    """Inference from exported (folded) tensors for ONE utterance, feats [n_mels, T]
    -> log-probs [T', V]. Plain functional ops: the C engine's specification."""
    x = feats[None]
    if cfg.get("tail_frames", 0) and x.shape[2] > 0:
        x = F.pad(x, (0, cfg["tail_frames"]))

    def sep(prefix, x, c):
        k, d, s = c["kernel"], c.get("dilation", 1), c.get("stride", 1)
        span = d * (k - 1)
        r = c.get("right", span // 2)
        x = F.pad(x, (span - r, r))
        x = F.conv1d(x, tensors[prefix + ".dw.weight"], stride=s, dilation=d, groups=x.shape[1])
        return F.conv1d(x, tensors[prefix + ".pw.weight"], tensors[prefix + ".pw.bias"])

    x = F.relu(sep("encoder.prologue", x, cfg["prologue"]))
    for i, b in enumerate(cfg["blocks"]):
        y = x
        for j in range(b["repeat"]):
            y = sep("encoder.blocks.%d.sub.%d" % (i, j), y, b)
            if j == b["repeat"] - 1:
                y = y + F.conv1d(x, tensors["encoder.blocks.%d.res.weight" % i],
                                 tensors["encoder.blocks.%d.res.bias" % i])
            y = F.relu(y)
        x = y
    x = F.relu(sep("encoder.epilogue", x, cfg["epilogue"]))
    logits = F.conv1d(x, tensors["decoder.weight"], tensors["decoder.bias"])
    return F.log_softmax(logits[0].transpose(0, 1), dim=-1)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


if __name__ == "__main__":
    torch.manual_seed(0)
    m = QuartzNetCTC()
    print("params %d (%.2f MB f32), stride %d, right context %d frames (%.0f ms)" %
          (n_params(m), 4 * n_params(m) / 1e6, m.stride(), m.right_context_frames(),
           10 * m.right_context_frames()))
    m.eval()
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm1d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)
    f = torch.randn(2, 80, 123)
    lens = torch.tensor([123, 77])
    lp, ol = m(f, lens)
    t = export_tensors(m)
    for b in range(2):
        ref = reference_forward(t, m.cfg, f[b, :, :int(lens[b])])
        d = (ref - lp[b, :int(ol[b])]).abs().max().item()
        print("utt %d T'=%d max|train - folded ref| %.3g" % (b, int(ol[b]), d))
        assert d < 1e-4
    print("ok")
