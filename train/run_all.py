#!/usr/bin/python3
"""Rebuild every shipped text model from the data folder, in order, with one command.

    /usr/bin/python3 -m train.run_all                    # every step (hours on 2 cores), into models/
    /usr/bin/python3 -m train.run_all --dry-run          # print the steps' commands only
    /usr/bin/python3 -m train.run_all --from domain      # start at a step (also --only a,b)
    /usr/bin/python3 -m train.run_all --smoke            # every step tiny, in a temporary folder
    train/run_all.sh [options]                           # the same

Steps (train/README.md has each one's wall time on CPU and CUDA):

  pretrain  masked-LM pretraining of the shared encoder     train.nlu.pretrain
  ner       CoNLL-2003 NER: a WikiANN stage, three runs     train.nlu.ner_conll2003 (four runs),
            from it, their weight average                   train.nlu.soup
  snips     joint intent + slots (SNIPS), from the NER      train.nlu.encoder_from_model,
            model's encoder                                 train.nlu.joint_snips
  punct     punctuation + capitalization                    train.nlu.punct_capit
  domain    ClassifyText domains (SNIPS + nomatch)          train.nlu.domain
  qa        extractive QA reader, its export, the           train.qa.train, train.qa.export,
            no-answer verifier                              train.qa.verifier
  evaluate  through the service: intent/NER/punctuation     services/nlu/eval_int8.sh,
            (f32 and int8), domains, QA                     train.nlu.domain_eval, train.qa.evaluate

The commands are the model cards' (models/*/README.md, "Reproduce"); each recipe exports its
model with a card and resumes from its checkpoint in train/work/ when run again, so a run that
stopped is continued by the same command (--from skips the steps already done).

--device auto|cpu|cuda goes to every training recipe (auto: CUDA when torch sees one): the
masked-LM pretraining, the NLU fine-tunings (their training steps; evaluation and export on the
CPU) and QA.

--smoke: a tiny copy of the data folder (a few dozen examples of each set) and every step with
tiny models, a few seconds each, under a temporary folder (--work, removed unless --keep) that
takes the place of models/ and train/work/; models/ is never written. The evaluation step
starts its own stacks (nats-server, parley-nlu or parley-qa, parley-gateway on free loopback
ports) from --build, like the full run. ctest runs it (train_run_all_smoke).
"""
import argparse
import json
import lzma
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

from train.common.paths import ROOT, data_dir

PY = sys.executable or "/usr/bin/python3"

# name, what it makes (train/README.md: each step's wall time on CPU and CUDA)
STEPS = [
    ("pretrain", "train/work/pretrain/encoder.pt"),
    ("ner", "models/ner-conll2003"),
    ("snips", "models/nlu-intent-slot-snips"),
    ("punct", "models/nlu-punct-capit"),
    ("domain", "models/nlu-domain"),
    ("qa", "models/qa-squad"),
    ("evaluate", "figures through the service"),
]


# step: (model card, recipe module) of the steps whose commands are read from a model card; a
# module "A<B" takes A's commands before the card's first B command, "A>B" from it on
CARDS = {
    # the bundle, the encoder it starts from, the run and its continuation (NER's encoder)
    "pretrain": ("ner-conll2003", ("train.gpu.pack", "train.nlu.encoder_from_model<train.nlu.ner_conll2003",
                                   "train.nlu.pretrain")),
    # the encoder of the NER model the step before made, and the run from it
    "snips": ("nlu-intent-slot-snips", ("train.nlu.encoder_from_model", "train.nlu.joint_snips")),
    # the WikiANN stage, its encoder, the CoNLL-2003 runs and their average
    "ner": ("ner-conll2003", ("train.nlu.ner_conll2003", "train.nlu.encoder_from_model>train.nlu.ner_conll2003",
                              "train.nlu.soup")),
    "punct": ("nlu-punct-capit", "train.nlu.punct_capit"),
    "domain": ("nlu-domain", "train.nlu.domain"),
    "qa": ("qa-squad", ("train.qa.train", "train.qa.export", "train.qa.verifier")),  # its stages, the exports, the verifier
}


# the card commands that train (and take --device)
TRAINERS = {"train.nlu.pretrain", "train.nlu.joint_snips", "train.nlu.ner_conll2003", "train.nlu.punct_capit",
            "train.nlu.domain", "train.qa.train"}


def card_commands(card, module, models=None):
    """The commands of a model card's "## Reproduce" section that run `python3 -m module` (or
    any module of a tuple), in order, as argv lists without the interpreter (["-m", module,
    ...]); [] when there is none. "A<B" / "A>B": module A's commands before / from the first
    command of module B."""
    modules = (module,) if isinstance(module, str) else tuple(module)
    window = {}
    for mod in modules:
        for sep in "<>":
            if sep in mod:
                a, b = mod.split(sep)
                window[a] = (sep, b)
    modules = tuple(m.split("<")[0].split(">")[0] for m in modules)
    path = os.path.join(models or os.path.join(ROOT, "models"), card, "README.md")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        text = f.read()
    start = text.find("\n## Reproduce")
    if start < 0:
        return []
    end = text.find("\n## ", start + 1)
    section = text[start:end if end > 0 else len(text)].replace("\\\n", " ")
    out, seen = [], set()
    for line in section.splitlines():
        words = shlex.split(line.strip(), comments=True) if line.startswith("    ") else []
        if words[:2] == ["nice", "-n"]:  # a priority prefix is the runner's business
            words = words[3:]
        if len(words) < 3 or not words[0].endswith("python3") or words[1] != "-m":
            continue
        mod = words[2]
        sep, b = window.get(mod, ("", ""))
        if mod in modules and not (sep == "<" and b in seen) and not (sep == ">" and b not in seen):
            out.append(words[1:])
        seen.add(mod)
    return out


def full_commands(a):
    """{step: [argv, ...]}: the model cards' commands (paths relative to the repository root).
    The training steps read them from the cards (CARDS), so a card's new command is the one run;
    the evaluation step is written here."""
    m = lambda *p: ["-m"] + list(p)  # noqa: E731
    dev = ["--device", a.device]
    cmds = {step: card_commands(card, module) for step, (card, module) in CARDS.items()}
    missing = [step for step, c in cmds.items() if not c]
    if missing:
        raise SystemExit("[run_all] no command for step(s) %s in their model cards' Reproduce section (%s)"
                         % (",".join(missing), ", ".join("models/%s/README.md" % CARDS[s][0] for s in missing)))
    # the training recipes take --device (the bundle, encoder and export commands do not)
    cmds = {step: [c + dev if c[1] in TRAINERS else c for c in cs] for step, cs in cmds.items()}
    for cs in cmds.values():  # a card command that runs the services (the QA variant's threshold)
        for c in cs:          # runs this run's build
            if "--build" in c[:-1]:
                c[c.index("--build") + 1] = a.build
    cmds.update({
        "evaluate": [["bash", "services/nlu/eval_int8.sh", a.build, "models"],
                     m("train.nlu.domain_eval", "--stack", "models", "--build", a.build),
                     m("train.qa.evaluate", "--stack", "models/qa-squad", "--build", a.build,
                       "--sets", "dev,shifts")],
    })
    return cmds


def smoke_commands(a, w):
    """{step: [argv, ...]}: the same recipes, tiny, everything under the work folder w."""
    m = lambda *p: ["-m"] + list(p)  # noqa: E731
    t, out = os.path.join(w, "data"), os.path.join(w, "models")
    tiny = ["--layers", "2", "--hidden", "32", "--heads", "2", "--ffn", "64"]
    dev = ["--device", a.device]
    snips = os.path.join(out, "nlu-intent-slot-snips")
    return {
        "pretrain": [m("train.nlu.pretrain", "--data", t, "--work", os.path.join(w, "pretrain"), "--fresh",
                       "--threads", "1", "--steps", "3", "--minutes", "0.5", "--batch-size", "8",
                       "--max-length", "32", "--max-positions", "64", "--heldout-segments", "8",
                       "--limit", "200") + tiny + dev],
        # the card's shape: the NER model's encoder (the step before), the run from it
        "snips": [m("train.nlu.encoder_from_model", os.path.join(out, "ner-conll2003"), "--token-types", "2",
                    "--type-from-row0", "--out", os.path.join(w, "ner-final-encoder.pt")),
                  m("train.nlu.joint_snips", "--data", os.path.join(t, "nlu", "snips"), "--init",
                    os.path.join(w, "ner-final-encoder.pt"), "--epochs", "1", "--export-dtype", "F16",
                    "--work", os.path.join(w, "joint_snips"), "--out", snips, "--fresh") + dev],
        # the card's shape: a WikiANN stage, its encoder, two CoNLL-2003 runs from it, their average
        "ner": [m("train.nlu.ner_conll2003", "--corpus", "wikiann", "--data", os.path.join(t, "ner", "wikiann-en"),
                  "--case-feature", "word_case", "--epochs", "1", "--work", os.path.join(w, "ner-wikiann"),
                  "--out", os.path.join(w, "ner-wikiann", "model"), "--fresh") + tiny + dev,
                m("train.nlu.encoder_from_model", os.path.join(w, "ner-wikiann", "model"), "--token-types", "4",
                  "--out", os.path.join(w, "wikiann-encoder.pt"))] +
               [m("train.nlu.ner_conll2003", "--data", os.path.join(t, "ner", "conll2003"), "--epochs", "1",
                  "--lr", lr, "--case-feature", "word_case", "--init", os.path.join(w, "wikiann-encoder.pt"),
                  "--work", os.path.join(w, "ner-" + lr), "--out", os.path.join(w, "ner-" + lr, "model"),
                  "--fresh") + dev for lr in ("0.0003", "0.0005")] +
               [m("train.nlu.soup", "--out", os.path.join(out, "ner-conll2003"),
                  os.path.join(w, "ner-0.0003", "model"), os.path.join(w, "ner-0.0005", "model"))],
        "punct": [m("train.nlu.punct_capit", "--data", t, "--minutes", "0.05", "--work", os.path.join(w, "punct"),
                    "--out", os.path.join(out, "nlu-punct-capit"), "--fresh") + tiny + dev],
        "domain": [m("train.nlu.domain", "--data", t, "--init-model", snips, "--epochs", "1", "--ood-train", "60",
                     "--ood-dev", "20", "--ood-heldout", "20", "--extra-n", "10", "--work",
                     os.path.join(w, "domain"), "--out", os.path.join(out, "nlu-domain"), "--fresh") + dev],
        "qa": [m("train.qa.train", "--data", os.path.join(t, "qa"), "--init", snips, "--minutes", "0.05",
                 "--eval-minutes", "0.02", "--limit", "40", "--dev-limit", "20", "--max-length", "64",
                 "--doc-stride", "32", "--max-question", "16", "--batch-size", "8", "--work",
                 os.path.join(w, "qa"), "--cache", os.path.join(w, "qa-cache"), "--out",
                 os.path.join(w, "qa-out"), "--fresh") + dev,
               m("train.qa.export", "--checkpoint", os.path.join(w, "qa", "best.pt"), "--out",
                 os.path.join(out, "qa-squad")),
               m("train.qa.verifier", "--model", os.path.join(out, "qa-squad"), "--data", os.path.join(t, "qa"),
                 "--threads", "1"),
               m("train.qa.verifier", "--model", os.path.join(out, "qa-squad"), "--data", os.path.join(t, "qa"),
                 "--variant", "int8", "--build", a.build)],
        "evaluate": [["bash", "services/nlu/eval_int8.sh", a.build, out, "--limit", "10"],
                     m("train.nlu.domain_eval", "--stack", out, "--build", a.build, "--ood-heldout", "20",
                       "--extra-n", "10"),
                     m("train.qa.evaluate", "--stack", os.path.join(out, "qa-squad"), "--build", a.build,
                       "--data", os.path.join(t, "qa"), "--sets", "dev", "--limit", "10")],
    }


# ---- the tiny data folder of --smoke -------------------------------------------------------------

def _head_lines(src, dst, n, step=1, max_chars=0):
    """Every step-th line of src, n lines at most (and max_chars characters when given)."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(src, encoding="utf-8") as f:
        lines = f.readlines()[::step][:n]
    if max_chars:
        text = "".join(lines)[:max_chars]
        lines = [text[:text.rfind("\n") + 1]]
    with open(dst, "w", encoding="utf-8") as f:
        f.writelines(lines)


def _conll_head(src, dst, n):
    """The first n sentences (blocks between blank lines) of a CoNLL file."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    out, count = [], 0
    with open(src, encoding="utf-8") as f:
        for line in f:
            out.append(line)
            if not line.strip() and len(out) > 1 and not out[-2].startswith("-DOCSTART-"):
                count += 1
                if count >= n:
                    break
    with open(dst, "w", encoding="utf-8") as f:
        f.writelines(out)


def _xz_head(src, dst, n):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with lzma.open(src, "rt", encoding="utf-8") as f, lzma.open(dst, "wt", encoding="utf-8") as g:
        for i, line in enumerate(f):
            if i >= n:
                break
            g.write(line)


def _squad_head(src, dst, articles, paragraphs):
    opener = lzma.open if src.endswith(".xz") else open
    with opener(src, "rt", encoding="utf-8") as f:
        d = json.load(f)
    d["data"] = [dict(a, paragraphs=a["paragraphs"][:paragraphs]) for a in d["data"][:articles]]
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with (lzma.open if dst.endswith(".xz") else open)(dst, "wt", encoding="utf-8") as f:
        json.dump(d, f)


def tiny_data(src, dst):
    """A copy of the data folder with a few dozen examples of each set the text recipes read."""
    for split, n in (("train", 210), ("valid", 40), ("test", 40)):
        # every k-th SNIPS line (the files are grouped by intent): all seven intents in each split
        k = {"train": 13084 // n, "valid": 700 // n, "test": 700 // n}[split]
        for f in ("seq.in", "seq.out", "label"):
            _head_lines(os.path.join(src, "nlu", "snips", split, f), os.path.join(dst, "nlu", "snips", split, f), n, k)
    for split, n in (("train", 60), ("valid", 20), ("test", 20)):
        _conll_head(os.path.join(src, "ner", "conll2003", split + ".txt"),
                    os.path.join(dst, "ner", "conll2003", split + ".txt"), n)
    for split, n in (("train", 60), ("dev", 20), ("test", 20)):
        _conll_head(os.path.join(src, "ner", "wikiann-en", split), os.path.join(dst, "ner", "wikiann-en", split), n)
    for f in ("sotu.txt", "moby-dick.txt", "ljspeech-sentences.csv"):
        _head_lines(os.path.join(src, "text", f), os.path.join(dst, "text", f), 400, max_chars=40000)
    for f in sorted(os.listdir(os.path.join(src, "text", "pretrain"))):
        if f.endswith(".txt.xz"):
            _xz_head(os.path.join(src, "text", "pretrain", f), os.path.join(dst, "text", "pretrain", f), 300)
    os.makedirs(os.path.join(dst, "vocab"), exist_ok=True)
    shutil.copy(os.path.join(src, "vocab", "bert-base-uncased-vocab.txt"), os.path.join(dst, "vocab"))
    _squad_head(os.path.join(src, "qa", "squad-v1.1-train.json.xz"),
                os.path.join(dst, "qa", "squad-v1.1-train.json.xz"), 2, 3)
    _squad_head(os.path.join(src, "qa", "squad-v2-dev-half.json"),
                os.path.join(dst, "qa", "squad-v2-dev-half.json"), 4, 2)
    _squad_head(os.path.join(src, "qa", "squadshifts-new-wiki.json"),
                os.path.join(dst, "qa", "squadshifts-new-wiki.json"), 1, 2)


# ---- the run ------------------------------------------------------------------------------------

def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    names = [s for s, _ in STEPS]
    ap.add_argument("--smoke", action="store_true", help="every step tiny, in a temporary folder")
    ap.add_argument("--dry-run", action="store_true", help="print the commands only")
    ap.add_argument("--from", dest="start", default="", choices=[""] + names, help="start at this step")
    ap.add_argument("--only", default="", help="comma-separated steps (of %s)" % ",".join(names))
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                    help="where the training recipes run (every step but the evaluation)")
    ap.add_argument("--build", default="build", help="build tree for the evaluation step")
    ap.add_argument("--data", default=data_dir(), help="the shared data folder")
    ap.add_argument("--work", default="", help="--smoke: the work folder (default: a new temporary one)")
    ap.add_argument("--keep", action="store_true", help="--smoke: keep the work folder")
    a = ap.parse_args(argv)
    only = [s for s in a.only.split(",") if s]
    bad = [s for s in only if s not in names]
    if bad:
        ap.error("unknown step(s) %s (steps: %s)" % (",".join(bad), ",".join(names)))
    if only:
        a.steps = only
    else:
        a.steps = names[names.index(a.start):] if a.start else names
    a.build = os.path.abspath(a.build)
    return a


def run_step(name, cmds, env, dry):
    """Run a step's commands in order from the repository root; the seconds it took."""
    t0 = time.time()
    for argv in cmds:
        argv = [PY] + argv if argv[0] == "-m" else argv
        print("[run_all] %s: %s" % (name, " ".join(argv)), flush=True)
        if dry:
            continue
        rc = subprocess.call(argv, cwd=ROOT, env=env)
        if rc != 0:
            raise SystemExit("[run_all] step %s failed (exit %d): %s" % (name, rc, " ".join(argv)))
    return time.time() - t0


def main(argv=None):
    a = parse_args(argv)
    env = dict(os.environ, PYTHONPATH=ROOT + (os.pathsep + os.environ["PYTHONPATH"]
                                              if os.environ.get("PYTHONPATH") else ""))
    work = None
    if a.smoke and not os.path.isdir(os.path.join(a.data, "nlu", "snips")):
        print("[run_all] skipped: no data folder at %s" % a.data)
        sys.exit(77)
    if a.smoke and a.device == "cuda" and not a.dry_run:
        import torch
        if not torch.cuda.is_available():
            print("[run_all] skipped: --device cuda and torch %s sees no CUDA device" % torch.__version__)
            sys.exit(77)
    if a.smoke:
        work = os.path.abspath(a.work) if a.work else tempfile.mkdtemp(prefix="pl_run_all_")
        os.makedirs(work, exist_ok=True)
        if not a.dry_run:
            t0 = time.time()
            tiny_data(a.data, os.path.join(work, "data"))
            print("[run_all] tiny data folder in %.1f s: %s" % (time.time() - t0, os.path.join(work, "data")))
        env["PARLEY_DATA_DIR"] = os.path.join(work, "data")  # every recipe's default data folder
        env["OUT_DIR"] = os.path.join(work, "eval-nlu")  # services/nlu/eval_int8.sh: its logs
        full = full_commands(a)  # the cards still carry their commands (exits naming the card if not)
        print("[run_all] the full run's commands: %s" % ", ".join(
            "%s %d" % (step, len(c)) for step, c in full.items()))
        cmds = smoke_commands(a, work)
    else:
        env["PARLEY_DATA_DIR"] = os.path.abspath(a.data)
        cmds = full_commands(a)
    times = []
    try:
        for name in a.steps:
            times.append((name, run_step(name, cmds[name], env, a.dry_run)))
    finally:
        if work and not a.keep and not a.work:
            shutil.rmtree(work, ignore_errors=True)
    if not a.dry_run:
        print("[run_all] %s done:" % ("smoke run" if a.smoke else "run"))
        for name, secs in times:
            print("[run_all]   %-9s %7.1f s" % (name, secs))
    return times


if __name__ == "__main__":
    main()
