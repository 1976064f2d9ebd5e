#!/usr/bin/env python3
"""Teacher data for the Parley voice: sentences of English prose spoken by
festival's HTS voice (cmu_us_slt_arctic_hts), with festival's own phone
sequence and phone end times.

    /usr/bin/python3 train/tts/gen_festival.py --data ../shared/data --out /work/tts-data \
        --sentences 3000

Writes OUT/wav/NNNNN.wav (16 kHz mono s16), OUT/seg/NNNNN.txt (one phone per
line: name, end time in seconds, syllable stress, word) and OUT/text.tsv
(id, sentence). Sentences that appear in the LJ Speech metadata of the data
directory (held out for evaluation) are never used. Resumable: existing
utterances are kept, and a larger --sentences than the list holds appends new
sentences (drawn with another seed) after the existing ids.
"""
import argparse
import lzma
import os
import random
import re
import subprocess

SOURCES = [("wiki2018.txt.xz", 0.45), ("gutenberg.txt.xz", 0.35), ("ami.txt.xz", 0.10),
           ("un.txt.xz", 0.10)]
OK = re.compile(r"^[A-Za-z][A-Za-z ,.;:'?!-]*[.?!]$")


def held_out(data):
    out = set()
    for d in ("speech/ljspeech-real", "speech/ljspeech-subset"):
        p = os.path.join(data, d, "metadata.csv")
        if not os.path.exists(p):
            continue
        for line in open(p, encoding="utf-8"):
            f = line.rstrip("\n").split("|")
            if len(f) >= 2:
                out.add(re.sub(r"\W+", " ", f[-1].lower()).strip())
    return out


def sentences(path, want, rng, skip):
    got = []
    with lzma.open(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            for s in re.split(r"(?<=[.?!])\s+", line.strip()):
                s = s.strip().strip('"')
                n = len(s.split())
                if n < 4 or n > 28 or not OK.match(s):
                    continue
                if re.sub(r"\W+", " ", s.lower()).strip() in skip:
                    continue
                if rng.random() < 0.08:
                    got.append(s)
                    if len(got) >= want:
                        return got
    return got


def scheme_str(s):
    return s.replace("\\", " ").replace('"', " ")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default="/work/tts-data")
    ap.add_argument("--sentences", type=int, default=3000)
    ap.add_argument("--chunk", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(os.path.join(a.out, "wav"), exist_ok=True)
    os.makedirs(os.path.join(a.out, "seg"), exist_ok=True)
    tsv = os.path.join(a.out, "text.tsv")
    texts = []
    if os.path.exists(tsv):
        texts = [l.rstrip("\n").split("\t", 1)[1] for l in open(tsv, encoding="utf-8")]
    if len(texts) < a.sentences:
        # a first list, or more sentences after an existing one: the earlier ids keep their
        # text (the dev set is a fixed id range), the new ones are drawn with another seed
        # and never repeat a sentence already listed
        if texts:
            rng = random.Random(a.seed * 100003 + len(texts))
        skip = held_out(a.data) | {re.sub(r"\W+", " ", t.lower()).strip() for t in texts}
        more = []
        for name, frac in SOURCES:
            more += sentences(os.path.join(a.data, "text/pretrain", name),
                              int((a.sentences - len(texts)) * frac), rng, skip)
        rng.shuffle(more)
        with open(tsv, "a", encoding="utf-8") as f:
            for i, t in enumerate(more, len(texts)):
                f.write("%05d\t%s\n" % (i, t))
        texts += more
    for c0 in range(0, len(texts), a.chunk):
        todo = [i for i in range(c0, min(c0 + a.chunk, len(texts)))
                if not os.path.exists(os.path.join(a.out, "seg", "%05d.txt" % i))]
        if not todo:
            continue
        lines = ["(voice_cmu_us_slt_arctic_hts)"]
        for i in todo:
            wav = os.path.join(a.out, "wav", "%05d.wav" % i)
            seg = os.path.join(a.out, "seg", "%05d.txt" % i)
            lines.append('(set! utt (SynthText "%s"))' % scheme_str(texts[i]))
            lines.append("(utt.wave.resample utt 16000)")
            lines.append('(utt.save.wave utt "%s" \'riff)' % wav)
            lines.append('(set! fd (fopen "%s.tmp" "w"))' % seg)
            lines.append("(mapcar (lambda (s) (format fd \"%s %s %s %s\\n\" (item.name s) "
                         "(item.feat s 'end) (item.feat s 'R:SylStructure.parent.stress) "
                         "(item.feat s 'R:SylStructure.parent.parent.name))) "
                         "(utt.relation.items utt 'Segment))")
            lines.append("(fclose fd)")
        scm = os.path.join(a.out, "chunk.scm")
        with open(scm, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        subprocess.run(["festival", "-b", scm], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for i in todo:
            seg = os.path.join(a.out, "seg", "%05d.txt" % i)
            if os.path.exists(seg + ".tmp"):
                os.replace(seg + ".tmp", seg)
        print("done %d/%d" % (min(c0 + a.chunk, len(texts)), len(texts)), flush=True)


if __name__ == "__main__":
    main()
