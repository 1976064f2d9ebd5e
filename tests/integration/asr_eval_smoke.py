"""The ASR evaluation command (train/asr/eval/eval_service.py) end to end on a few clips: it
starts nats-server + parley-asr (shipped model) + gateway on free ports, sends the first 2
clips of every default set (held-out LJ, speechocean762 test, FSDD, the synthesized
commands) offline and streamed (unpaced), and decodes them with pocketsphinx too.

Checks: exit status 0; the JSON has the rows lj, lj_all, so, fsdd, cmds with the clip counts
the options ask for, a score for offline, stream and pocketsphinx in each, a CPU real-time
factor for parley-asr, no failed request; FSDD take 0 of "zero" by two speakers comes out
right offline and streamed; the markdown table names the CPU and every row; an unknown set
and a bad option are refused with a message. Skipped (77) without the data folder, the
shipped acoustic model or pocketsphinx.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.dirname(os.environ.get("PL_PYTHON_STUBS", os.path.join(ROOT, "build", "python")))
DATA = os.environ.get("PARLEY_DATA_DIR") or os.path.join(os.path.dirname(ROOT), "shared", "data")
failed = []


def check(ok, what):
    print("%s: %s" % ("ok" if ok else "FAIL", what), flush=True)
    if not ok:
        failed.append(what)


def evaluate(args, tmp):
    cmd = [sys.executable, "-m", "train.asr.eval.eval_service", "--build", BUILD, "--data", DATA,
           "--cache", os.path.join(tmp, "cache")] + args
    return subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=240)


def main():
    need = [os.path.join(DATA, "speech", p) for p in
            ("ljspeech-subset", "speechocean762", "fsdd")] + [
        os.path.join(ROOT, "models", "asr-en-quartznet", "config.json")]
    missing = [p for p in need if not os.path.exists(p)]
    if missing or not shutil.which("pocketsphinx_batch") or not shutil.which("espeak-ng"):
        print("skipped: missing %s" % (missing or "pocketsphinx_batch / espeak-ng"))
        return 77
    tmp = tempfile.mkdtemp(prefix="parley-asr-eval-smoke-")
    try:
        js, md = os.path.join(tmp, "r.json"), os.path.join(tmp, "r.md")
        r = evaluate(["--limit", "2", "--stream-speed", "0", "--parallel", "2",
                      "--json", js, "--markdown", md], tmp)
        print(r.stdout[-3000:])
        check(r.returncode == 0, "exit status 0 (got %d)" % r.returncode)
        if r.returncode != 0:
            return 1
        res = json.load(open(js))
        rows = res["rows"]
        want = {"lj": 1, "lj_all": 2, "so": 2, "fsdd": 2, "cmds": 2}
        check({k: rows[k]["clips"] for k in rows} == want,
              "rows and clip counts %s" % {k: rows[k]["clips"] for k in rows})
        for name, row in rows.items():
            m = row["metric"]
            check(all(mode in row and 0 <= row[mode][m] for mode in ("offline", "stream", "pocketsphinx")),
                  "%s: offline, stream and pocketsphinx scored (%s)" % (name, m))
            check(row["offline"]["rtf_cpu"] is not None and 0 <= row["offline"]["rtf_cpu"] < 1,
                  "%s: parley-asr CPU RTF %s" % (name, row["offline"]["rtf_cpu"]))
        # CPU time comes in clock ticks: a 1 s set may take none, the 8 s LJ clip not
        check(rows["lj"]["offline"]["rtf_cpu"] > 0, "parley-asr CPU time measured")
        check(rows["fsdd"]["offline"]["accuracy"] == 1.0 and rows["fsdd"]["stream"]["accuracy"] == 1.0,
              "FSDD take 0 of 'zero' by 2 speakers right offline and streamed")
        check(rows["lj"]["offline"]["ref_words"] > 5 and rows["so"]["offline"]["ref_words"] > 0,
              "LJ and speechocean762 references read")
        check(res["failures"] == [], "no failed request")
        table = open(md).read()
        check(res["cpu"] in table and all("| %s:" % k in table for k in want),
              "markdown table names the CPU and every row")
        r = evaluate(["--sets", "nope", "--no-pocketsphinx", "--no-stream"], tmp)
        check(r.returncode == 2 and "unknown set 'nope'" in r.stdout, "unknown set refused")
        r = evaluate(["--so-every", "0"], tmp)
        check(r.returncode == 2 and "--so-every" in r.stdout, "--so-every 0 refused")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("FAILED: %s" % failed if failed else "all passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
