#!/usr/bin/python3
"""Words as the recognizer hears them, at the end of a turn and at pauses inside it: training
text for the end-of-turn classifier (train/nlu/eot.py --asr-text).

The classifier judges the words parley-asr sends at a short pause. On read speech those words
are often garbled, and a model trained on clean text only gives garbled whole sentences a low
P(complete). This script makes labelled examples of the recognizer's own output: in recordings
of one sentence or command, every pause of --min-pause (0.2 s) or more with speech after it is
a place the speaker went on (`incomplete`), the end of the speech is an end (`complete`). Each
is sent to parley-asr as the audio up to that point plus --tail (0.15 s) of the pause (as the
stability-1 interim at the end-of-turn check is the words of the audio so far), through the
gateway's Recognize on a stack this script starts.

Recordings (../shared/data/speech; train/experiments/eot_audio.py chooses them the same way):
train: speechocean762's train split, the LJ Speech recordings of ljspeech-real and
ljspeech-subset that neither the latency bench nor its dev parts read, the speech_commands
words; dev: every --so-dev-every'th recording of speechocean762's test split, the bench's dev
LJ recordings and dev FSDD digits. The bench's own recordings are never read.

Output (--out, default train/work/eot-asr/asr-text.tsv): split, label, kind (asr-end /
asr-pause), source (so / lj / word / fsdd), recording id, words.

    nice /usr/bin/python3 -m train.experiments.eot_asr --build build      # about 2.5 min on 2 cores
    /usr/bin/python3 -m train.nlu.eot --fresh --asr-text train/work/eot-asr/asr-text.tsv \\
        --work /tmp/eot-asr-w --out /tmp/eot-asr

What it showed (2026-12-07, the shipped acoustic model and LM): 6,402 examples (train 5,329:
2,876 ends and 2,453 pauses; dev 1,073), the words mostly garbled ("we cida" for "we call it
bear"). Trained with them (each training row once, beside the recipe's 35,372), the classifier
got the dev rows' ends right 75.1% of the time and their pauses 50.5%: the recognizer's words
alone hardly tell the two apart. On the words of the checks of the dev parts 0 and 1
(services/dialog/eot_dev.py model, 64 checks at a recording's end, 36 inside) it ended 35 ends
and cut 7 pauses at P(complete) >= 0.75, against 44 and 3 for the same recipe without them
(16 and 0 against 33 and 2 at 0.9). Not used for models/nlu-eot.
"""
import argparse
import concurrent.futures as cf
import os
import random
import shutil
import signal
import tempfile
import time

from train.asr.eval.eval_service import read_pcm16, start_stack, wav_bytes
from train.common import paths
from train.common.stubs import load_stubs
from train.experiments import eot_audio as ea


def cuts(path, min_pause, tail):
    """(int16 samples, rate, [(label, kind, n_samples)]) of a recording: its pauses inside and
    its end, each as the audio up to there plus `tail` seconds."""
    pcm, rate = read_pcm16(path)
    y = ea.to_8k(pcm / 32767.0, rate)
    inside, last = ea.pauses(y, min_pause)
    out = []
    if last < 0:
        return pcm, rate, out
    for end, label, kind in [(e, "incomplete", "asr-pause") for e in inside] + \
            [(last, "complete", "asr-end")]:
        n = int(((end + 1) * ea.HOP / ea.FS + tail) * rate)
        out.append((label, kind, min(n, len(pcm))))
    return pcm, rate, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--model-dir", default=paths.models_dir())
    ap.add_argument("--data", default=None)
    ap.add_argument("--out", default=paths.work_dir("eot-asr", "asr-text.tsv"))
    ap.add_argument("--min-pause", type=float, default=0.2)
    ap.add_argument("--tail", type=float, default=0.15)
    ap.add_argument("--so-dev-every", type=int, default=5)
    ap.add_argument("--commands", type=int, default=2000)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="recordings per split (smoke test)")
    a = ap.parse_args()
    data = paths.data_dir(a.data)
    recs = ea.recordings(data, random.Random(1), a.commands)
    so_dev = [r for r in recs["dev"] if r[1] == "so"][::a.so_dev_every]
    recs["dev"] = so_dev + [r for r in recs["dev"] if r[1] != "so"]
    if a.limit:
        for k in recs:
            recs[k] = recs[k][:a.limit]
    load_stubs(os.path.join(a.build, "python"))
    import grpc
    from riva.proto import riva_asr_pb2 as asr
    from riva.proto import riva_asr_pb2_grpc as asr_grpc
    tmp = tempfile.mkdtemp(prefix="eot-asr-")
    procs = []
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    try:
        server, _, info = start_stack(os.path.abspath(a.build), os.path.abspath(a.model_dir),
                                      tmp, procs)
        print("parley-asr: %s" % info, flush=True)
        ch = grpc.insecure_channel(server)
        stub = asr_grpc.RivaSpeechRecognitionStub(ch)
        cfg = asr.RecognitionConfig(language_code="en-US", max_alternatives=1,
                                    verbatim_transcripts=True)

        def one(item):
            split, path, src = item
            pcm, rate, cs = cuts(path, a.min_pause, a.tail)
            rows = []
            for label, kind, n in cs:
                r = stub.Recognize(asr.RecognizeRequest(config=cfg, audio=wav_bytes(pcm[:n], rate)),
                                   timeout=120)
                words = " ".join(x.alternatives[0].transcript for x in r.results
                                 if x.alternatives).strip().lower()
                rid = os.path.splitext(os.path.basename(path))[0]
                rows.append((split, label, kind, src, rid, " ".join(words.split())))
            return rows

        items = [(s, p, src) for s in ("train", "dev") for p, src in recs[s]]
        t0 = time.time()
        n_rows = n_empty = 0
        with open(a.out + ".part", "w", encoding="utf-8") as f, \
                cf.ThreadPoolExecutor(a.parallel) as pool:
            for i, rows in enumerate(pool.map(one, items)):
                for r in rows:
                    if not r[5]:
                        n_empty += 1
                        continue
                    f.write("\t".join(r) + "\n")
                    n_rows += 1
                if (i + 1) % 250 == 0:
                    print("  %d / %d recordings, %d examples (%d without words), %.0f s" % (
                        i + 1, len(items), n_rows, n_empty, time.time() - t0), flush=True)
        os.replace(a.out + ".part", a.out)
        print("%s: %d examples from %d recordings (%d cuts without words left out), %.0f s" % (
            a.out, n_rows, len(items), n_empty, time.time() - t0))
    finally:
        for p in procs:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=10)
            except Exception:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
