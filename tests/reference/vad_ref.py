#!/usr/bin/python3
"""Reference for Parley's Silero VAD (engine/models/vad.c) in PyTorch.

Silero VAD v5, 16 kHz network, on the shipped weights in
models/vad-silero/model.safetensors:

  per call: 512 new samples, prefixed by the last 64 samples of the previous
  call's input (zeros at the start) -> 576 samples; reflection pad on the
  right by 64 -> 640; STFT as conv1d(1 -> 258, kernel 256, stride 128, no
  padding) -> 4 frames; magnitude sqrt(re^2 + im^2) of channels [0,129) and
  [129,258) -> [129, 4]; encoder: 4 x (conv1d kernel 3, padding 1, then ReLU)
  with channels 129->128->64->64->128 and strides 1,2,2,1 -> [128, 1];
  LSTMCell(128, 128) whose (h, c) carry across calls; ReLU(h) -> 1x1 conv ->
  sigmoid -> mean over time (one step here) = the window's speech probability.

The forward runs in float64 (the C code runs in float32 against it).

Usage: vad_ref.py OUT_DIR [--weights PATH] [--data DIR]
Writes OUT_DIR/audio.f32 (the test signal, 16 kHz mono float32),
OUT_DIR/probs.f32 (one float32 per 512-sample window) and OUT_DIR/segments.txt
("label first_sample n_samples" per piece of the signal), and prints the
sanity figures per piece.

The test signal: 0.5 s digital silence, the speech-commands word "yes",
0.8 s silence, "seven", 0.6 s of seeded white noise (rms 0.01), an LJ Speech
sentence resampled 22050 -> 16000 Hz by sox (first 3 s), 0.5 s silence.
"""
import argparse
import json
import os
import struct
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

SR = 16000
WIN = 512
CTX = 64


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        blob = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        assert meta["dtype"] == "F32", (name, meta["dtype"])
        b, e = meta["data_offsets"]
        a = np.frombuffer(blob[b:e], dtype="<f4").reshape(meta["shape"])
        out[name] = torch.from_numpy(a.astype(np.float64))
    return out


class SileroVad16k(torch.nn.Module):
    STRIDES = (1, 2, 2, 1)

    def __init__(self, w):
        super().__init__()
        self.w = w
        self.reset()

    def reset(self):
        self.context = torch.zeros(1, CTX, dtype=torch.float64)
        self.h = torch.zeros(1, 128, dtype=torch.float64)
        self.c = torch.zeros(1, 128, dtype=torch.float64)

    def forward(self, chunk):  # chunk: [1, 512]
        w = self.w
        x = torch.cat([self.context, chunk], dim=1)  # [1, 576]
        self.context = x[:, -CTX:]
        x = F.pad(x.unsqueeze(1), (0, 64), mode="reflect")  # [1, 1, 640]
        spec = F.conv1d(x, w["stft_conv.weight"], stride=128)  # [1, 258, 4]
        re, im = spec[:, :129], spec[:, 129:]
        x = torch.sqrt(re * re + im * im)  # [1, 129, 4]
        for i, s in enumerate(self.STRIDES):
            x = F.relu(F.conv1d(x, w["conv%d.weight" % (i + 1)], w["conv%d.bias" % (i + 1)],
                                stride=s, padding=1))
        x = x.squeeze(-1)  # [1, 128] (one time step)
        gates = (x @ w["lstm_cell.weight_ih"].T + w["lstm_cell.bias_ih"]
                 + self.h @ w["lstm_cell.weight_hh"].T + w["lstm_cell.bias_hh"])
        i, f, g, o = gates.chunk(4, dim=1)  # PyTorch LSTMCell gate order
        self.c = torch.sigmoid(f) * self.c + torch.sigmoid(i) * torch.tanh(g)
        self.h = torch.sigmoid(o) * torch.tanh(self.c)
        y = F.conv1d(F.relu(self.h).unsqueeze(-1), w["final_conv.weight"], w["final_conv.bias"])
        return torch.sigmoid(y).mean(dim=2).squeeze()


def lstmcell_check(w):
    """Our gate arithmetic equals torch.nn.LSTMCell on these weights."""
    cell = torch.nn.LSTMCell(128, 128).double()
    with torch.no_grad():
        cell.weight_ih.copy_(w["lstm_cell.weight_ih"])
        cell.weight_hh.copy_(w["lstm_cell.weight_hh"])
        cell.bias_ih.copy_(w["lstm_cell.bias_ih"])
        cell.bias_hh.copy_(w["lstm_cell.bias_hh"])
    g = torch.Generator().manual_seed(1)
    x, h, c = (torch.randn(1, 128, generator=g, dtype=torch.float64) for _ in range(3))
    h2, c2 = cell(x, (h, c))
    gates = (x @ w["lstm_cell.weight_ih"].T + w["lstm_cell.bias_ih"]
             + h @ w["lstm_cell.weight_hh"].T + w["lstm_cell.bias_hh"])
    i, f, gg, o = gates.chunk(4, dim=1)
    c3 = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
    h3 = torch.sigmoid(o) * torch.tanh(c3)
    assert torch.allclose(h2, h3) and torch.allclose(c2, c3)


def read_wav16(path):
    import wave
    with wave.open(path, "rb") as f:
        assert f.getframerate() == SR and f.getnchannels() == 1 and f.getsampwidth() == 2, path
        a = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
    return a.astype(np.float32) / 32768.0


def sox_to_16k(path):
    raw = subprocess.run(["sox", path, "-t", "f32", "-r", str(SR), "-c", "1", "-"],
                         check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype="<f4").copy()


def build_signal(data):
    sc = os.path.join(data, "speech", "speech-commands", "speech_commands_v0.01")
    lj = os.path.join(data, "speech", "ljspeech-subset", "wavs", "LJ001-0001.flac")
    rng = np.random.default_rng(1234)
    pieces = [
        ("silence", np.zeros(SR // 2, np.float32)),
        ("speech", read_wav16(os.path.join(sc, "yes", "439c84f4_nohash_1.wav"))),
        ("silence", np.zeros(SR * 8 // 10, np.float32)),
        ("speech", read_wav16(os.path.join(sc, "seven", sorted(os.listdir(os.path.join(sc, "seven")))[0]))),
        ("noise", (0.01 * rng.standard_normal(SR * 6 // 10)).astype(np.float32)),
        ("speech", sox_to_16k(lj)[:3 * SR]),
        ("silence", np.zeros(SR // 2, np.float32)),
    ]
    segs, off = [], 0
    for label, a in pieces:
        segs.append((label, off, len(a)))
        off += len(a)
    return np.concatenate([a for _, a in pieces]).astype(np.float32), segs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--data", default=os.environ.get("PARLEY_DATA_DIR", "/work/shared/data"))
    ap.add_argument("--weights", default=None)
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    weights = a.weights or os.path.join(root, "models", "vad-silero", "model.safetensors")
    w = read_safetensors(weights)
    lstmcell_check(w)
    model = SileroVad16k(w)
    audio, segs = build_signal(a.data)
    n_win = len(audio) // WIN
    x = torch.from_numpy(audio.astype(np.float64))
    probs = np.zeros(n_win, np.float32)
    with torch.no_grad():
        for k in range(n_win):
            probs[k] = float(model(x[k * WIN:(k + 1) * WIN].unsqueeze(0)))
    os.makedirs(a.out, exist_ok=True)
    audio.tofile(os.path.join(a.out, "audio.f32"))
    probs.tofile(os.path.join(a.out, "probs.f32"))
    with open(os.path.join(a.out, "segments.txt"), "w") as f:
        for label, off, n in segs:
            f.write("%s %d %d\n" % (label, off, n))
    print("windows %d (%.2f s)" % (n_win, len(audio) / SR))
    for label, off, n in segs:
        # windows wholly inside the piece
        k0, k1 = -(-off // WIN), (off + n) // WIN
        p = probs[k0:k1]
        print("%-8s %5.2f s  windows %3d  mean %.3f  max %.3f  >0.5 %.2f  <0.2 %.2f" % (
            label, n / SR, len(p), p.mean(), p.max(), (p > 0.5).mean(), (p < 0.2).mean()))


if __name__ == "__main__":
    sys.exit(main())
