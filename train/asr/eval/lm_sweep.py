#!/usr/bin/python3
"""Decoder settings (lm_alpha, lm_beta, beam width, ...) swept on DEV data through the service.

Test sets (speechocean762's test split, the held-out ljspeech-subset clips, FSDD takes 0-4, the
20 commands) are never read here: the dev sets are
  dev_so     speechocean762 TRAIN-split speakers held out of training (every 10th speaker by
             sorted id, train/asr/synth.py speechocean_dev_speakers: 13 speakers, 260 clips)
  dev_synth  espeak-ng en-029 (a voice training never used) reading LJ050-* (text neither the
             acoustic model nor the LM was trained on): synth.py's dev_synth, 120 sentences
Every point of the grid sends every clip once through Recognize (one stack: nats-server +
parley-asr + gateway on free loopback ports, as eval_service.py starts it) with the point's
settings as custom_configuration, and appends one JSON line per (point, set) to --out:
re-running the same command skips the points already there (resumable; --out is the cache).
The selection figure is the mean of the sets' WERs ("dev mean"); the table printed at the
end (and --markdown) has one grid per set and one for the mean.

  nice -n 10 /usr/bin/python3 -m train.asr.eval.lm_sweep --build build \\
      --alpha 0.3,0.5,0.7 --beta 0,1,2 [--set beam_width=32 ...] [--point lm_alpha=1,lm_beta=3]
      [--sets dev_so,dev_synth] [--limit N] [--parallel 2] [--out FILE] [--markdown FILE]
--set k=v (repeatable) adds a fixed custom_configuration key to every point (e.g. beam_width,
lm_oov_logp, lm_unk_penalty); --point adds single points beside the alpha x beta grid.
"""
import argparse
import concurrent.futures as cf
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from train.asr import synth
from train.asr.eval import eval_service as es
from train.asr.textnorm import normalize
from train.common import paths
from train.common.stubs import load_stubs

DEV_SETS = ("dev_so", "dev_synth")


def dev_so_set(ddir):
    """speechocean762's dev speakers (train split, every 10th speaker): (id, path, reference)."""
    rows = synth.speechocean_rows(ddir)
    dev = synth.speechocean_dev_speakers(rows)
    audio = os.path.join(ddir, "speech", "speechocean762", "audio")
    out = []
    for split, cid, spk, _, _, text in sorted(r[:6] for r in rows):
        if split == "train" and spk in dev and normalize(text):
            out.append((cid, os.path.join(audio, cid + ".opus"), normalize(text)))
    return out


def load_dev(name, ddir, cache):
    if name == "dev_so":
        return dev_so_set(ddir)
    if name == "dev_synth":
        return es.synth_set(ddir, os.path.join(cache, "dev_synth"))
    raise SystemExit("unknown dev set %r (%s)" % (name, ", ".join(DEV_SETS)))


def point_key(point):
    """A point's settings as one canonical string (the resume key)."""
    return ",".join("%s=%s" % (k, point[k]) for k in sorted(point))


def num(s):
    """'0.50' -> '0.5', '2.0' -> '2': the same value is the same key."""
    return "%g" % float(s)


def grid(a):
    fixed = dict(kv.split("=", 1) for kv in a.set)
    pts = [dict(fixed, lm_alpha=num(x), lm_beta=num(y))
           for x, y in itertools.product(a.alpha.split(","), a.beta.split(","))
           if a.alpha and a.beta]
    for p in a.point:
        pts.append(dict(fixed, **{k: (num(v) if k.startswith("lm_") else v)
                                  for k, v in (kv.split("=", 1) for kv in p.split(",") if kv)}))
    seen, out = set(), []
    for p in pts:
        if point_key(p) not in seen:
            seen.add(point_key(p))
            out.append(p)
    return out


def read_done(path):
    done = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue  # a line cut by a kill: that point is run again
                done[(r["point"], r["set"])] = r
    return done


def decode_set(stub, asr, model, point, clips, parallel):
    import grpc

    def one(c):
        cfg = asr.RecognitionConfig(language_code="en-US", max_alternatives=1, model=model,
                                    verbatim_transcripts=True, custom_configuration=point)
        try:
            r = stub.Recognize(asr.RecognizeRequest(config=cfg, audio=c[3]), timeout=300)
        except grpc.RpcError as err:
            raise SystemExit("Recognize %s with %s failed: %s %s" % (
                c[0], point_key(point), err.code(), err.details()))
        return " ".join(x.alternatives[0].transcript for x in r.results if x.alternatives).strip()
    with cf.ThreadPoolExecutor(parallel) as ex:
        return list(ex.map(one, clips))


def table(rows, sets, fixed_note):
    """Markdown: per set (and the mean), lm_beta rows x lm_alpha columns of WER %."""
    pts = {}
    for r in rows.values():
        pts.setdefault(r["point"], {})[r["set"]] = r
    out = []
    for name in list(sets) + ["dev mean"]:
        cells = {}
        for key, by_set in pts.items():
            p = dict(kv.split("=", 1) for kv in key.split(","))
            if name == "dev mean":
                if not all(s in by_set for s in sets):
                    continue
                w = sum(by_set[s]["wer"] for s in sets) / len(sets)
            elif name in by_set:
                w = by_set[name]["wer"]
            else:
                continue
            rest = point_key({k: v for k, v in p.items() if k not in ("lm_alpha", "lm_beta")})
            cells[(rest, p.get("lm_alpha", "-"), p.get("lm_beta", "-"))] = w
        for rest in sorted({c[0] for c in cells}):
            al = sorted({c[1] for c in cells if c[0] == rest}, key=lambda s: float(s) if s != "-" else -1)
            be = sorted({c[2] for c in cells if c[0] == rest}, key=lambda s: float(s) if s != "-" else -1)
            best = min(w for c, w in cells.items() if c[0] == rest)
            out.append("%s, WER %% (%s%s)\n" % (name, rest or "no other setting", fixed_note))
            out.append("| lm_beta \\ lm_alpha | " + " | ".join(al) + " |")
            out.append("|---" * (len(al) + 1) + "|")
            for b in be:
                line = []
                for x in al:
                    w = cells.get((rest, x, b))
                    line.append("" if w is None else ("**%.2f**" if w == best else "%.2f") % (100 * w))
                out.append("| %s | %s |" % (b, " | ".join(line)))
            out.append("")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(paths.ROOT, "build"))
    ap.add_argument("--model-dir", default=paths.models_dir())
    ap.add_argument("--model", default="")
    ap.add_argument("--data", default=paths.data_dir())
    ap.add_argument("--sets", default=",".join(DEV_SETS))
    ap.add_argument("--alpha", default="0.3,0.5,0.7,0.9")
    ap.add_argument("--beta", default="0,1,2,3")
    ap.add_argument("--set", action="append", default=[], help="k=v for every point")
    ap.add_argument("--point", action="append", default=[], help="k=v,k=v: one extra point")
    ap.add_argument("--limit", type=int, default=0, help="first N clips of each set (0: all)")
    ap.add_argument("--parallel", type=int, default=2, help="requests at once")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "parley-asr-eval-cache"))
    ap.add_argument("--out", default=paths.work_dir("asr-lm-sweep", "sweep.jsonl"))
    ap.add_argument("--markdown")
    a = ap.parse_args(argv)
    sets = a.sets.split(",")
    for s in sets:
        if s not in DEV_SETS:
            ap.error("unknown dev set %r (%s); test sets are not swept on" % (s, ", ".join(DEV_SETS)))
    for kv in a.set + [x for p in a.point for x in p.split(",") if x]:
        if "=" not in kv:
            ap.error("expected k=v, got %r" % kv)
    if a.parallel < 1 or a.limit < 0:
        ap.error("--parallel >= 1, --limit >= 0")
    pts = grid(a)
    if not pts:
        ap.error("no point to run (--alpha and --beta, or --point)")
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    done = read_done(a.out)
    # limit and model go into the resume key: a --limit run never stands for a full one
    tag = "limit=%d,model_dir=%s" % (a.limit, os.path.abspath(a.model_dir))
    todo = [p for p in pts if any((point_key(p), s) not in done or done[(point_key(p), s)].get("tag") != tag
                                  for s in sets)]
    print("%d points x %d sets; %d to run; cache %s" % (len(pts), len(sets), len(todo), a.out), flush=True)
    if todo:
        load_stubs(os.path.join(a.build, "python"))
        import grpc
        from riva.proto import riva_asr_pb2 as asr
        from riva.proto import riva_asr_pb2_grpc as asr_grpc
        data = {}
        for s in sets:
            clips = load_dev(s, a.data, a.cache)
            if a.limit:
                clips = clips[:a.limit]
            data[s] = [(cid, path, ref, open(path, "rb").read()) for cid, path, ref in clips]
        tmp = tempfile.mkdtemp(prefix="parley-asr-sweep-")
        procs = []
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        try:
            server, _, info = es.start_stack(os.path.abspath(a.build), os.path.abspath(a.model_dir),
                                             tmp, procs)
            ch = grpc.insecure_channel(server, options=[("grpc.max_send_message_length", 64 << 20)])
            stub = asr_grpc.RivaSpeechRecognitionStub(ch)
            rc = stub.GetRivaSpeechRecognitionConfig(asr.RivaSpeechRecognitionConfigRequest(), timeout=30)
            model = a.model or (rc.model_config[0].model_name if rc.model_config else "")
            print("parley-asr (%s): model %s; %s, load %.1f" % (info, model, es.cpu_name(),
                                                                 os.getloadavg()[0]), flush=True)
            for p in todo:
                for s in sets:
                    r = done.get((point_key(p), s))
                    if r and r.get("tag") == tag:
                        continue
                    t0 = time.time()
                    hyps = decode_set(stub, asr, model, p, data[s], a.parallel)
                    sc = es.score("wer", [c[2] for c in data[s]], hyps)
                    r = {"point": point_key(p), "set": s, "tag": tag, "wer": sc["wer"],
                         "errors": sc["errors"], "ref_words": sc["ref_words"], "clips": sc["n"],
                         "wall_s": round(time.time() - t0, 1), "load": round(os.getloadavg()[0], 1),
                         "when": es.utc(), "hyps": hyps}
                    with open(a.out, "a") as f:
                        f.write(json.dumps(r) + "\n")
                    done[(r["point"], s)] = r
                    print("%-40s %-9s WER %6.2f%% (%d/%d)  %.0f s" % (
                        r["point"], s, 100 * r["wer"], r["errors"], r["ref_words"], r["wall_s"]),
                          flush=True)
        finally:
            for pr in reversed(procs):
                if pr.poll() is None:
                    pr.terminate()
            for pr in reversed(procs):
                try:
                    pr.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pr.kill()
            shutil.rmtree(tmp, ignore_errors=True)
    keys = {point_key(p) for p in pts}
    rows = {k: r for k, r in done.items() if k[0] in keys and r.get("tag") == tag}
    md = table(rows, sets, "; %s" % ("first %d clips" % a.limit if a.limit else "all clips"))
    mean = {}
    for k in keys:
        if all((k, s) in rows for s in sets):
            mean[k] = sum(rows[(k, s)]["wer"] for s in sets) / len(sets)
    if mean:
        best = min(mean, key=mean.get)
        md += "\nbest dev mean: %s (%.2f%%: %s)\n" % (best, 100 * mean[best], ", ".join(
            "%s %.2f%%" % (s, 100 * rows[(best, s)]["wer"]) for s in sets))
    print("\n" + md, end="")
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
