#!/usr/bin/python3
"""Training data for the ASR acoustic model: synthetic speech + augmented real speech.

Writes log-mel features (float16 [T, 80], the Parley front end, see feats.py) under
WORK/feats/<set>/ and JSON-lines manifests WORK/manifests/<set>.<shard>.jsonl:
    {"id", "feat" (path relative to WORK), "frames", "text", "source", "voice", "aug"}

Sets:
  train      synthetic speech (flite kal/kal16/awb/rms/slt, festival us_slt_hts and
             kal_diphone, espeak-ng en variants x rates x pitches) from LJ sentences
             (minus LJ050-* and the 71 real LJ clips' ids), SNIPS train utterances, SOTU
             sentences, numbers, digit strings, command words; augmented. The prosody
             family (ids syp-*) reads with flite voices and festival kal/ked_diphone at a
             drawn pitch and speaking rate.
  real       real speech: FSDD takes 5-49, speech commands, LJ subset clips not held out
             (several augmented copies each).
  real (--more-real) adds speechocean762's train speakers but every 10th (3 copies, the
             first clean) and the real LJ Speech reader (speech/ljspeech-real, 4 copies).
  dev_*      evaluation sets: dev_lj (every 4th LJ subset clip by sorted id), dev_fsdd
             (FSDD takes 0-4), dev_synth (held-out voice espeak-ng en-029, held-out text
             LJ050-*), and with --more-real dev_so (every 10th speechocean762 train speaker).
             Never augmented. speechocean762's test speakers are never planned.

Resumable and parallel-safe: work items are a deterministic list; shard k of n handles
items with index % n == k and appends one manifest line per finished item to its own
manifest file, skipping ids already listed there.

    /usr/bin/python3 -m train.asr.synth --shard 0 --nshards 1 [--scale 1.0]

--no-prosody leaves the prosody family out (the shipped weights never saw it); --max-items N
keeps the first N items of each set of the shard's plan (done or not, so a resumed run
makes the same items): train.asr.recipe uses it for the part of the --scale 2.5 data the
shipped model had, and its smoke mode for a few items of every set. --interleave orders each
family (dev, real, train) so that every source (FSDD, speechocean762, ...) is spread evenly over
the run: a training run that starts while the data is being written (train.py re-reads the
manifests every epoch) sees every source in proportion from its first epoch.
"""
import argparse
import collections
import csv
import ctypes
import ctypes.util
import glob
import json
import os
import random
import subprocess
import tempfile
import zlib

import numpy as np

from train.asr import feats
from train.asr.textnorm import normalize
from train.common import paths

FLITE = ["kal", "kal16", "awb", "rms", "slt"]
FESTIVAL = ["cmu_us_slt_arctic_hts", "kal_diphone"]
# voices whose pitch and speaking rate the engine itself can set (flite's int_f0_target_*
# and duration_stretch; festival's int_lr_params and Duration_Stretch for diphone voices):
# the prosody family below reads with them at drawn pitch and rate
PROSODY_FLITE = FLITE
PROSODY_FESTIVAL = ["kal_diphone", "ked_diphone"]
ESPEAK = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-us-nyc", "en-gb-x-gbclan",
          "en-gb-x-gbcwmd"]
ESPEAK_VARIANTS = ["", "+m1", "+m2", "+m3", "+m4", "+m5", "+m6", "+m7", "+f1", "+f2", "+f3",
                   "+f4", "+f5", "+klatt", "+klatt2", "+klatt3", "+croak", "+whisper"]
HELDOUT_VOICE = "en-029"
COMMANDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "bed",
            "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow"]
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "oh"]


def lj_subset_ids(ddir):
    ids = []
    with open(os.path.join(ddir, "speech", "ljspeech-subset", "metadata.csv"), encoding="utf-8") as f:
        for row in csv.reader(f, delimiter="|", quoting=csv.QUOTE_NONE):
            ids.append((row[0], row[2] if len(row) > 2 else row[1]))
    return sorted(ids)


def lj_heldout(ddir):
    """Every 4th clip of the real LJ subset by sorted id (indices 0, 4, 8, ...)."""
    ids = lj_subset_ids(ddir)
    return [x for i, x in enumerate(ids) if i % 4 == 0], [x for i, x in enumerate(ids) if i % 4 != 0]


def sentences(ddir, rng):
    subset = {i for i, _ in lj_subset_ids(ddir)}
    lj_train, lj_held = [], []
    with open(os.path.join(ddir, "text", "ljspeech-sentences.csv"), encoding="utf-8") as f:
        for row in csv.reader(f, delimiter="|", quoting=csv.QUOTE_NONE):
            if row[0] in subset:
                continue
            t = normalize(row[2] if len(row) > 2 else row[1])
            if not t:
                continue
            (lj_held if row[0].startswith("LJ050-") else lj_train).append(t)
    snips = []
    with open(os.path.join(ddir, "nlu", "snips", "train", "seq.in"), encoding="utf-8") as f:
        snips = [normalize(x) for x in f if normalize(x)]
    with open(os.path.join(ddir, "text", "sotu.txt"), encoding="utf-8") as f:
        raw = f.read(3_000_000)
    import re
    sotu = []
    for s in re.split(r"(?<=[.!?])\s+", raw):
        t = normalize(s)
        n = len(t.split())
        if 4 <= n <= 24:
            sotu.append(t)
    numbers = []
    for _ in range(4000):
        k = rng.random()
        if k < 0.35:
            numbers.append(normalize(str(rng.choice([rng.randint(0, 100), rng.randint(100, 10000),
                                                     rng.randint(10000, 10 ** 7)]))))
        elif k < 0.7:
            numbers.append(" ".join(rng.choice(DIGITS) for _ in range(rng.randint(2, 10))))
        elif k < 0.85:
            numbers.append(normalize("%d.%d" % (rng.randint(0, 999), rng.randint(0, 99))))
        else:
            numbers.append(normalize(str(rng.randint(1100, 2099))))
    singles = DIGITS[:10] * 3 + COMMANDS * 2 + ["hey", "okay", "please", "cancel", "repeat",
                                                 "help", "start", "pause", "play", "next"]
    return {"lj": lj_train, "lj_held": lj_held, "snips": snips, "sotu": sotu,
            "numbers": numbers, "singles": singles}


def pick_voice(rng):
    k = rng.random()
    if k < 0.45:
        return ("flite", rng.choice(FLITE))
    if k < 0.65:
        return ("festival", FESTIVAL[0] if rng.random() < 0.7 else FESTIVAL[1])
    return ("espeak", rng.choice(ESPEAK) + rng.choice(ESPEAK_VARIANTS))


def plan(ddir, scale, more_real=False):
    """Deterministic list of work items (dicts); more_real adds plan_more_real's families."""
    rng = random.Random(1234)
    s = sentences(ddir, rng)

    def voice(rng):
        kind, voice = pick_voice(rng)
        return {"kind": kind, "voice": voice, "rate": rng.randint(120, 200),
                "pitch": rng.randint(25, 75)}
    items = text_items(s, {"lj": 1700, "snips": 1300, "sotu": 700, "numbers": 500,
                           "singles": 500}, scale, rng, "syn", voice)
    for i in range(int(120 * max(scale, 0.5))):
        items.append({"id": "dev-synth-%04d" % i, "set": "dev_synth", "kind": "espeak",
                      "voice": HELDOUT_VOICE + rng.choice(["", "+m3", "+f2"]),
                      "text": s["lj_held"][rng.randrange(len(s["lj_held"]))], "source": "lj_held",
                      "rate": rng.randint(140, 170), "pitch": rng.randint(40, 60)})
    items += plan_prosody(s, scale)
    # real speech
    held, train = lj_heldout(ddir)
    lj_dir = os.path.join(ddir, "speech", "ljspeech-subset", "wavs")
    for cid, text in held:
        items.append({"id": "dev-lj-" + cid, "set": "dev_lj", "kind": "file",
                      "path": os.path.join(lj_dir, cid + ".flac"), "text": normalize(text),
                      "source": "ljspeech", "voice": "lj"})
    for cid, text in train:
        for c in range(8):
            items.append({"id": "real-lj-%s-%d" % (cid, c), "set": "real", "kind": "file",
                          "path": os.path.join(lj_dir, cid + ".flac"), "text": normalize(text),
                          "source": "ljspeech", "voice": "lj", "copy": c})
    for p in sorted(glob.glob(os.path.join(ddir, "speech", "fsdd", "recordings", "*.wav"))):
        d, spk, take = os.path.basename(p)[:-4].split("_")
        text = DIGITS[int(d)]
        if int(take) <= 4:
            items.append({"id": "dev-fsdd-%s-%s-%s" % (d, spk, take), "set": "dev_fsdd",
                          "kind": "file", "path": p, "text": text, "source": "fsdd", "voice": spk})
        else:
            items.append({"id": "real-fsdd-%s-%s-%s" % (d, spk, take), "set": "real",
                          "kind": "file", "path": p, "text": text, "source": "fsdd",
                          "voice": spk, "copy": int(take) % 2})
    for p in sorted(glob.glob(os.path.join(ddir, "speech", "speech-commands", "**", "*.wav"),
                          recursive=True)):
        word = os.path.basename(os.path.dirname(p))
        for c in range(2):
            items.append({"id": "real-sc-%s-%s-%d" % (word, os.path.basename(p)[:-4], c),
                          "set": "real", "kind": "file", "path": p, "text": normalize(word),
                          "source": "speech_commands", "voice": "sc", "copy": c})
    return items + (plan_more_real(ddir) if more_real else [])


SO_COPIES, LJREAL_COPIES = 3, 4


def speechocean_rows(ddir):
    """speechocean762 rows (split, id, speaker, gender, age, text) of transcripts.tsv."""
    with open(os.path.join(ddir, "speech", "speechocean762", "transcripts.tsv"),
              encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f]
    return [r for r in rows[1:] if len(r) >= 6]


def speechocean_dev_speakers(rows):
    """Every 10th speaker (sorted) of the corpus's train split: held out for model
    selection. The corpus's test speakers are never planned here (evaluation only)."""
    spk = sorted({r[2] for r in rows if r[0] == "train"})
    return set(spk[::10])


def plan_more_real(ddir):
    """The real speech added for the 250-speaker model: speechocean762's train speakers
    (SO_COPIES copies, the first clean) minus a dev set of its train speakers (dev_so), and
    the real LJ Speech reader (speech/ljspeech-real, LJREAL_COPIES copies)."""
    items = []
    so = os.path.join(ddir, "speech", "speechocean762")
    if os.path.isdir(so):
        rows = speechocean_rows(ddir)
        dev = speechocean_dev_speakers(rows)
        for split, cid, spk, _, _, text in (r[:6] for r in rows):
            if split != "train":
                continue
            path = os.path.join(so, "audio", cid + ".opus")
            if spk in dev:
                items.append({"id": "dev-so-" + cid, "set": "dev_so", "kind": "file",
                              "path": path, "text": normalize(text), "source": "speechocean762",
                              "voice": "so" + spk})
                continue
            for c in range(SO_COPIES):
                items.append({"id": "real-so-%s-%d" % (cid, c), "set": "real", "kind": "file",
                              "path": path, "text": normalize(text), "source": "speechocean762",
                              "voice": "so" + spk, "copy": c})
    ljr = os.path.join(ddir, "speech", "ljspeech-real")
    if os.path.isdir(ljr):
        with open(os.path.join(ljr, "metadata.csv"), encoding="utf-8") as f:
            meta = sorted((row[0], row[2] if len(row) > 2 else row[1])
                          for row in csv.reader(f, delimiter="|", quoting=csv.QUOTE_NONE))
        for cid, text in meta:
            path = os.path.join(ljr, "wavs", cid + ".flac")
            for c in range(LJREAL_COPIES):
                items.append({"id": "real-ljr-%s-%d" % (cid, c), "set": "real", "kind": "file",
                              "path": path, "text": normalize(text), "source": "ljspeech_real",
                              "voice": "ljr", "copy": c})
    return items


def plan_prosody(s, scale):
    """The prosody family, added after the first models: flite and festival diphone voices
    (ked_diphone among them) at a drawn mean pitch (70-250 Hz), pitch range and speaking
    rate, so one voice yields many speakers' intonation without moving its formants. Its own
    random stream keeps every item of the older families unchanged."""
    def voice(rng):
        if rng.random() < 0.6:
            kind, voice = "flite", rng.choice(PROSODY_FLITE)
        else:
            kind, voice = "festival", rng.choice(PROSODY_FESTIVAL)
        return {"kind": kind, "voice": voice,
                "prosody": {"f0": rng.randint(70, 250), "f0_std": rng.randint(5, 45),
                            "stretch": round(rng.uniform(0.8, 1.3), 2)}}
    return text_items(s, {"lj": 600, "snips": 300, "sotu": 200, "numbers": 150,
                          "singles": 150}, scale, random.Random(4321), "syp", voice)


def text_items(s, counts, scale, rng, prefix, voice):
    """Synthetic training items: int(n * scale) texts drawn from each source pool of s, each
    with the fields voice(rng) draws (kind, voice, engine settings), ids PREFIX-<src>-NNNNN."""
    items = []
    for src, n in counts.items():
        pool = s[src]
        for i in range(int(n * scale)):
            text = pool[rng.randrange(len(pool))]
            items.append({"id": "%s-%s-%05d" % (prefix, src, i), "set": "train", "text": text,
                          "source": src, **voice(rng)})
    return items


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s: %s" % (cmd[0], r.stderr.decode(errors="replace")[-300:]))
    return r


def tts(item, out_wav):
    kind, voice, text = item["kind"], item["voice"], item["text"]
    pr = item.get("prosody")
    if kind == "flite":
        opts = []
        if pr:
            opts = ["--setf", "int_f0_target_mean=%d" % pr["f0"],
                    "--setf", "int_f0_target_stddev=%d" % pr["f0_std"],
                    "--setf", "duration_stretch=%.2f" % pr["stretch"]]
        run(["flite", "-voice", voice] + opts + ["-t", text, "-o", out_wav])
    elif kind == "espeak":
        run(["espeak-ng", "-v", voice, "-s", str(item["rate"]), "-p", str(item["pitch"]),
             "-w", out_wav, text])
    elif kind == "festival":
        scm = out_wav + ".scm"
        with open(scm, "w") as f:
            f.write("(voice_%s)\n" % voice)
            if pr:
                f.write("(Parameter.set 'Duration_Stretch %.2f)\n(set! int_lr_params '("
                        "(target_f0_mean %d) (target_f0_std %d) (model_f0_mean 170) "
                        "(model_f0_std 34)))\n" % (pr["stretch"], pr["f0"], pr["f0_std"]))
            f.write("(utt.save.wave (utt.synth (Utterance Text \"%s\")) \"%s\" 'riff)\n"
                    % (text.replace('"', ""), out_wav))
        run(["festival", "-b", scm])
    else:
        raise ValueError(kind)


class _SfInfo(ctypes.Structure):
    _fields_ = [("frames", ctypes.c_int64), ("samplerate", ctypes.c_int),
                ("channels", ctypes.c_int), ("format", ctypes.c_int),
                ("sections", ctypes.c_int), ("seekable", ctypes.c_int)]


_SNDFILE = None


def _sndfile():
    """libsndfile through ctypes, loaded once."""
    global _SNDFILE
    if _SNDFILE is None:
        lib = ctypes.CDLL(ctypes.util.find_library("sndfile") or "libsndfile.so.1")
        lib.sf_open.restype = ctypes.c_void_p
        lib.sf_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(_SfInfo)]
        lib.sf_readf_float.restype = ctypes.c_int64
        lib.sf_readf_float.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        lib.sf_close.argtypes = [ctypes.c_void_p]
        _SNDFILE = lib
    return _SNDFILE


def sndfile_read(path):
    """(float32 mono samples, sample rate) through libsndfile, the library the services
    decode with (WAV, FLAC, Ogg Opus: Debian's sox has no Opus handler, libsndfile 1.2 has).
    Channels are averaged."""
    lib = _sndfile()
    info = _SfInfo()
    h = lib.sf_open(path.encode(), 0x10, ctypes.byref(info))  # SFM_READ
    if not h:
        raise RuntimeError("libsndfile cannot open %s" % path)
    try:
        buf = np.zeros((max(info.frames, 0) + 1, info.channels), dtype=np.float32)
        n = lib.sf_readf_float(h, buf.ctypes.data, info.frames + 1)
    finally:
        lib.sf_close(h)
    return buf[:n].mean(axis=1).astype(np.float32), info.samplerate


def sox_load(path, effects, rng_seed):
    """Decode any file with sox to 16 kHz mono float32, applying sox effects (Ogg Opus is
    decoded by libsndfile first and piped in raw)."""
    if path.endswith(".opus"):
        x, sr = sndfile_read(path)
        r = run(["sox", "-R", "-t", "raw", "-e", "float", "-b", "32", "-c", "1", "-r", str(sr),
                 "-", "-t", "raw", "-e", "float", "-b", "32", "-c", "1", "-"]
                + effects + ["rate", "-h", "16000"], input=x.astype("<f4").tobytes())
    else:
        r = run(["sox", "-R", path, "-t", "raw", "-e", "float", "-b", "32", "-c", "1", "-"]
                + effects + ["rate", "-h", "16000"])
    return np.frombuffer(r.stdout, dtype="<f4").copy()


def augment_plan(rng, real):
    a = {}
    if rng.random() < (0.15 if real else 0.2):
        return a  # clean
    if rng.random() < 0.5:
        a["speed"] = round(rng.uniform(0.88, 1.12), 3)
    if rng.random() < 0.3:
        a["pitch"] = rng.randint(-300, 300)
    if rng.random() < 0.15:
        a["tempo"] = round(rng.uniform(0.85, 1.15), 3)
    if rng.random() < 0.4:
        a["vtlp"] = round(rng.uniform(0.9, 1.1), 3)
    if rng.random() < 0.3:
        a["reverb_rt60"] = round(rng.uniform(0.15, 0.8), 2)
    if rng.random() < 0.15:
        a["telephone"] = 1
    if rng.random() < 0.6:
        a["noise"] = rng.choice(["white", "pink", "brown", "hum"])
        a["snr"] = round(rng.uniform(3, 30), 1)
    a["gain_db"] = round(rng.uniform(-20, 3), 1)
    return a


def colored_noise(kind, n, rng):
    w = rng.standard_normal(n)
    if kind == "white":
        return w
    if kind == "hum":
        t = np.arange(n) / 16000.0
        f0 = rng.choice([50.0, 60.0])
        return sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in range(1, 6)) + 0.1 * w
    spec = np.fft.rfft(w)
    f = np.arange(len(spec)) + 1.0
    spec /= np.sqrt(f) if kind == "pink" else f
    return np.fft.irfft(spec, n)


def apply_numpy_aug(x, a, rng):
    if "reverb_rt60" in a:
        n = int(16000 * a["reverb_rt60"])
        t = np.arange(n) / 16000.0
        rir = rng.standard_normal(n) * np.exp(-6.9 * t / a["reverb_rt60"])
        rir[0] = 1.0 / max(0.05, rng.uniform(0.2, 1.0))
        m = 1 << int(np.ceil(np.log2(len(x) + n)))
        y = np.fft.irfft(np.fft.rfft(x, m) * np.fft.rfft(rir, m), m)[:len(x)]
        x = y * (np.max(np.abs(x)) / (np.max(np.abs(y)) + 1e-9))
    if "noise" in a and len(x):
        nz = colored_noise(a["noise"], len(x), rng)
        px = np.mean(x ** 2) + 1e-12
        pn = np.mean(nz ** 2) + 1e-12
        x = x + nz * np.sqrt(px / pn / 10 ** (a["snr"] / 10))
    if "gain_db" in a and len(x):
        x = x / (np.max(np.abs(x)) + 1e-9) * 0.9 * 10 ** (a["gain_db"] / 20)
    if "telephone" in a:
        # 8 kHz mu-law (G.711-like, 8-bit): quantize and expand
        mu = 255.0
        y = np.sign(x) * np.log1p(mu * np.minimum(np.abs(x), 1.0)) / np.log1p(mu)
        y = np.round((y + 1) / 2 * 255) / 255 * 2 - 1
        x = np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def sox_effects(a):
    e = []
    if "speed" in a:
        e += ["speed", str(a["speed"])]
    if "pitch" in a:
        e += ["pitch", str(a["pitch"])]
    if "tempo" in a:
        e += ["tempo", "-s", str(a["tempo"])]
    if "telephone" in a:
        e += ["rate", "16000", "sinc", "300-3400", "rate", "8000"]
    return e


def process(item, work, tmp):
    seed = zlib.crc32(item["id"].encode())
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    real = item["kind"] == "file"
    src = item["path"] if real else os.path.join(tmp, "tts.wav")
    if not real:
        tts(item, src)
    a = augment_plan(rng, real) if item["set"] in ("train", "real") and item.get("copy", 1) != 0 \
        else {}
    x = sox_load(src, sox_effects(a), seed)
    if len(x) < 1600:
        raise RuntimeError("audio too short (%d samples)" % len(x))
    x = apply_numpy_aug(x.astype(np.float64), a, nrng)
    f = feats.logmel(x, vtlp=a.get("vtlp", 1.0))
    rel = os.path.join("feats", item["set"], item["id"] + ".npy")
    os.makedirs(os.path.join(work, os.path.dirname(rel)), exist_ok=True)
    tmpf = os.path.join(work, rel + ".tmp.npy")
    np.save(tmpf, f.astype(np.float16))
    os.replace(tmpf, os.path.join(work, rel))
    return {"id": item["id"], "feat": rel, "frames": int(f.shape[0]), "text": item["text"],
            "source": item["source"], "voice": item.get("kind", "") + ":" + item["voice"],
            "aug": a, "seconds": round(len(x) / 16000.0, 3),
            **({"prosody": item["prosody"]} if "prosody" in item else {})}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--work", default=paths.work_dir("asr"))
    ap.add_argument("--shard", type=int, default=0)
    ap.add_argument("--nshards", type=int, default=1)
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies synthetic counts")
    ap.add_argument("--only", default=None, help="comma list of sets (train,real,dev_lj,...)")
    ap.add_argument("--order", default="dev,real,train", help="set families first to last")
    ap.add_argument("--no-prosody", action="store_true",
                    help="leave out the prosody family (syp-* items)")
    ap.add_argument("--more-real", action="store_true",
                    help="add speechocean762 (real and dev_so) and the real LJ reader")
    ap.add_argument("--interleave", action="store_true",
                    help="spread each source's items over the run (a part done is a fair sample)")
    ap.add_argument("--max-items", type=int, default=0,
                    help="the first N items of each set of this shard's plan at most")
    args = ap.parse_args(argv)
    ddir = paths.data_dir(args.data)
    # shard first, then select: the selection does not move items between shards
    items = [it for i, it in enumerate(plan(ddir, args.scale, args.more_real))
             if i % args.nshards == args.shard]
    if args.no_prosody:
        items = [it for it in items if not it["id"].startswith("syp-")]
    if args.only:
        keep = set(args.only.split(","))
        items = [it for it in items if it["set"] in keep]
    if args.max_items:
        rank = collections.Counter()
        kept = []
        for it in items:
            rank[it["set"]] += 1
            if rank[it["set"]] <= args.max_items:
                kept.append(it)
        items = kept
    fam = args.order.split(",")

    def family(it):
        return next((k for k, f in enumerate(fam) if it["set"].startswith(f)), 99)
    if args.interleave:
        # within a family, each source's items spread evenly over the run: whatever part of
        # the list is done when training reads the manifests holds every source in proportion
        n_src, rank = collections.Counter(), {}
        for it in items:
            key = (family(it), it.get("source", ""))
            rank[it["id"]] = n_src[key]
            n_src[key] += 1
        items.sort(key=lambda it: (family(it), (rank[it["id"]] + 0.5) / n_src[(family(it), it.get("source", ""))]))
    else:
        items.sort(key=family)
    os.makedirs(os.path.join(args.work, "manifests"), exist_ok=True)
    done = set()
    mans = {}
    for s in {it["set"] for it in items}:
        p = os.path.join(args.work, "manifests", "%s.%d.jsonl" % (s, args.shard))
        if os.path.exists(p):
            with open(p) as f:
                for line in f:
                    try:
                        done.add(json.loads(line)["id"])
                    except ValueError:
                        pass  # a line cut by a kill; the item is redone
        mans[s] = p
    todo = [it for it in items if it["id"] not in done]
    print("items %d, done %d, to do %d" % (len(items), len(items) - len(todo), len(todo)), flush=True)
    fails = 0
    with tempfile.TemporaryDirectory(prefix="parley-asr-synth-") as tmp:
        for k, it in enumerate(todo):
            try:
                rec = process(it, args.work, tmp)
            except Exception as e:  # a failing voice/text is skipped, not fatal
                fails += 1
                print("skip %s: %s" % (it["id"], e), flush=True)
                continue
            with open(mans[it["set"]], "a") as f:
                f.write(json.dumps(rec) + "\n")
            if k % 200 == 0:
                print("%d/%d %s" % (k, len(todo), it["id"]), flush=True)
    print("finished, %d skipped" % fails, flush=True)


if __name__ == "__main__":
    main()
