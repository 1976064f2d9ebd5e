"""The Parley voice: a FastSpeech-2-family acoustic model and a Vocos-style vocoder.

Both are built only from layers that Parley's engine runs as graph ops
(engine/tts/tts_voice.c mirrors this file; the parity test compares them):

ConvBlock(C, k, d)    post-LN residual block, used by the acoustic model:
                      y = relu(conv_k(x)); y = linear(y); x = layer_norm(x + y)
                      engine: IM2COL(k, pad k//2) -> LINEAR(relu) -> LINEAR
                      -> LAYER_NORM(with residual)
VocBlock(C, d)        pre-LN residual block of the vocoder:
                      h = gelu(conv_3,dil d(layer_norm(x))); x = x + linear(h)

Acoustic model (phones -> 80 log-mel frames at 16 kHz, hop 256):
    tokens -> embedding -> 4 ConvBlock(k5) = h
    log-duration, pitch, energy = three predictors on h (2 ConvBlock(k3) + linear)
    h += linear(pitch) + linear(energy)        (targets in training, predictions at run time)
    frames = h repeated by duration, + linear([position in phone / duration, log1p(duration)])
    -> 5 ConvBlock(k5) -> linear -> mel

Vocoder (mel -> samples): conv_7(80 -> C) -> 6 VocBlock (dilations 1 2 4 1 2 4) ->
    layer_norm -> linear(C -> 2 * 513): log-magnitude a and phase p of each STFT frame;
    S = exp(min(a, 6)) * (cos p + i sin p); samples = iSTFT(S, n_fft 1024, hop 256, Hann),
    the iSTFT done by the host (C code in the engine library), not a graph op.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

SAMPLE_RATE = 16000
N_FFT = 1024
HOP = 256
N_MELS = 80
FMAX = 8000.0

# Tokens: 0 pad; 1..69 the engine's phone ids + 1 (tts_front.h: AA0 AA1 AA2 .. UW2, then
# B CH D .. ZH); then the pause kinds.
N_PHONE_IDS = 69
TOK_PAU = 70    # a phrase break inside the sentence
TOK_BOS = 71    # the silence before a sentence
TOK_EOS = 72    # the end of a statement
TOK_EOSQ = 73   # the end of a question
TOK_EOSX = 74   # the end of an exclamation
N_TOKENS = 75

VOWELS = ["AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"]
CONSONANTS = ["B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S",
              "SH", "T", "TH", "V", "W", "Y", "Z", "ZH"]


def phone_token(base, stress=0):
    """Token of an ARPAbet base phone ("AH") with stress 0/1/2 (vowels only)."""
    base = base.upper()
    if base in VOWELS:
        return 1 + VOWELS.index(base) * 3 + stress
    return 1 + 3 * len(VOWELS) + CONSONANTS.index(base)


class ConvBlock(nn.Module):
    def __init__(self, c, k):
        super().__init__()
        self.conv = nn.Conv1d(c, c, k, padding=k // 2)
        self.lin = nn.Linear(c, c)
        self.ln = nn.LayerNorm(c)

    def forward(self, x, mask):  # x [B, T, C], mask [B, T, 1]
        y = F.relu(self.conv(x.transpose(1, 2)).transpose(1, 2))
        return self.ln(x + self.lin(y)) * mask


class Predictor(nn.Module):
    def __init__(self, c, n=2, k=3):
        super().__init__()
        self.blocks = nn.ModuleList([ConvBlock(c, k) for _ in range(n)])
        self.out = nn.Linear(c, 1)

    def forward(self, x, mask):
        for b in self.blocks:
            x = b(x, mask)
        return self.out(x).squeeze(-1) * mask.squeeze(-1)


class Acoustic(nn.Module):
    def __init__(self, channels=128, n_enc=4, n_dec=5):
        super().__init__()
        c = channels
        self.cfg = dict(channels=c, n_enc=n_enc, n_dec=n_dec)
        self.emb = nn.Embedding(N_TOKENS, c, padding_idx=0)
        self.enc = nn.ModuleList([ConvBlock(c, 5) for _ in range(n_enc)])
        self.dur = Predictor(c)
        self.pitch = Predictor(c)
        self.energy = Predictor(c)
        self.pitch_emb = nn.Linear(1, c)
        self.energy_emb = nn.Linear(1, c)
        self.frame_emb = nn.Linear(2, c)
        self.dec = nn.ModuleList([ConvBlock(c, 5) for _ in range(n_dec)])
        self.mel = nn.Linear(c, N_MELS)

    def encode(self, tokens):
        mask = (tokens != 0).float().unsqueeze(-1)
        h = self.emb(tokens) * mask
        for b in self.enc:
            h = b(h, mask)
        return h, mask

    def predict(self, h, mask):
        return self.dur(h, mask), self.pitch(h, mask), self.energy(h, mask)

    def decode(self, h, mask, durations, pitch, energy):
        """durations [B, N] int frames; pitch, energy [B, N] normalized values."""
        h = h + self.pitch_emb(pitch.unsqueeze(-1)) + self.energy_emb(energy.unsqueeze(-1))
        h = h * mask
        frames, fmask = expand(h, durations)
        feats = frame_features(durations, frames.shape[1]).to(h.dtype)
        x = (frames + self.frame_emb(feats)) * fmask
        for b in self.dec:
            x = b(x, fmask)
        return self.mel(x) * fmask, fmask

    def forward(self, tokens, durations, pitch, energy):
        h, mask = self.encode(tokens)
        logd, p, e = self.predict(h, mask)
        mel, fmask = self.decode(h, mask, durations, pitch, energy)
        return mel, fmask, logd, p, e


def expand(h, durations):
    """Repeat h[b, n] durations[b, n] times; pad to the longest. Returns frames, mask [B,T,1]."""
    B = h.shape[0]
    lens = durations.sum(1)
    T = max(int(lens.max()), 1)
    out = h.new_zeros(B, T, h.shape[2])
    for b in range(B):
        r = torch.repeat_interleave(h[b], durations[b], dim=0)
        out[b, :r.shape[0]] = r
    mask = (torch.arange(T, device=h.device)[None, :] < lens[:, None]).float().unsqueeze(-1)
    return out, mask


def frame_features(durations, T):
    """Per frame: (index within its phone + 0.5) / duration, and log1p(duration)."""
    B = durations.shape[0]
    out = torch.zeros(B, T, 2, device=durations.device)
    for b in range(B):
        d = durations[b][durations[b] > 0]
        if d.numel() == 0:
            continue
        starts = torch.cumsum(d, 0) - d
        idx = torch.repeat_interleave(torch.arange(d.numel(), device=d.device), d)
        pos = torch.arange(idx.numel(), device=d.device) - starts[idx]
        dd = d[idx].float()
        out[b, :idx.numel(), 0] = (pos.float() + 0.5) / dd
        out[b, :idx.numel(), 1] = torch.log1p(dd)
    return out


class VocBlock(nn.Module):
    def __init__(self, c, d):
        super().__init__()
        self.ln = nn.LayerNorm(c)
        self.conv = nn.Conv1d(c, c, 3, padding=d, dilation=d)
        self.lin = nn.Linear(c, c)

    def forward(self, x):
        h = F.gelu(self.conv(self.ln(x).transpose(1, 2)).transpose(1, 2))
        return x + self.lin(h)


VOC_DILATIONS = (1, 2, 4, 1, 2, 4)


class Vocoder(nn.Module):
    def __init__(self, channels=192, dilations=VOC_DILATIONS):
        super().__init__()
        c = channels
        assert tuple(dilations) == VOC_DILATIONS, "the recipe's vocoder has dilations %s" % (VOC_DILATIONS,)
        self.cfg = dict(channels=c, dilations=list(VOC_DILATIONS))
        self.conv_in = nn.Conv1d(N_MELS, c, 7, padding=3)
        self.blocks = nn.ModuleList([VocBlock(c, d) for d in VOC_DILATIONS])
        self.ln = nn.LayerNorm(c)
        self.head = nn.Linear(c, 2 * (N_FFT // 2 + 1))

    @staticmethod
    def receptive_field():
        return 3 + sum(VOC_DILATIONS)

    def spectra(self, mel):
        """mel [B, T, 80] -> log-magnitude, phase [B, T, 513]."""
        x = self.conv_in(mel.transpose(1, 2)).transpose(1, 2)
        for b in self.blocks:
            x = b(x)
        y = self.head(self.ln(x))
        nb = N_FFT // 2 + 1
        return y[..., :nb], y[..., nb:]

    def forward(self, mel):
        a, p = self.spectra(mel)
        mag = torch.exp(torch.clamp(a, max=6.0))
        spec = torch.complex(mag * torch.cos(p), mag * torch.sin(p))
        win = torch.hann_window(N_FFT, device=mel.device)
        return torch.istft(spec.transpose(1, 2), N_FFT, HOP, N_FFT, win, center=True)


_MEL_CACHE = {}


def mel_basis(device):
    key = str(device)
    if key not in _MEL_CACHE:
        def hz2mel(f):
            return 2595.0 * math.log10(1.0 + f / 700.0)
        nb = N_FFT // 2 + 1
        m = torch.linspace(hz2mel(0.0), hz2mel(FMAX), N_MELS + 2)
        hz = 700.0 * (10 ** (m / 2595.0) - 1.0)
        bins = torch.linspace(0, SAMPLE_RATE / 2, nb)
        fb = torch.zeros(N_MELS, nb)
        for i in range(N_MELS):
            lo, c, hi = hz[i], hz[i + 1], hz[i + 2]
            up = (bins - lo) / (c - lo)
            down = (hi - bins) / (hi - c)
            fb[i] = torch.clamp(torch.minimum(up, down), min=0.0) * (2.0 / (hi - lo))
        _MEL_CACHE[key] = fb.to(device)
    return _MEL_CACHE[key]


def stft_mag(wav, n_fft=N_FFT, hop=HOP):
    win = torch.hann_window(n_fft, device=wav.device)
    s = torch.stft(wav, n_fft, hop, n_fft, win, center=True, return_complex=True)
    return s.abs().transpose(-1, -2)  # [B, T, bins]


def log_mel(wav):
    """wav [B, samples] -> [B, T, 80] natural-log mel (floor 1e-5)."""
    m = stft_mag(wav) @ mel_basis(wav.device).t()
    return torch.log(torch.clamp(m, min=1e-5))
