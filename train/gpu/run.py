#!/usr/bin/python3
"""One GPU session's work (train/gpu/run.sh runs this): pretrain the encoder on the bundle,
fine-tune the QA reader from it, score it on dev, and leave in --out (the device tool's $OUT):

    encoder.pt                 the pretrained encoder (f16 tensors; --init of train.qa.train and the
                               NLU recipes), rewritten at every pretraining checkpoint
    qa-squad/config.json, qa-squad/model.safetensors (F16), qa-squad/vocab.txt
                               the exported QA model in models/qa-squad's layout
    result.json                the figures: device, timings, pretraining and QA results, dev scores
    run.log                    (run.sh) everything printed

The whole run keeps to --budget-minutes of wall time: each phase's time box is cut to what is
left after the later phases' reserves, so the command returns before the tool's limit. Model
sizes whose F16 weights would not fit one file of --max-file-mib are refused at the start.
Work files (checkpoints with optimizer state) stay in --work, outside --out.
"""
import argparse
import json
import os
import platform
import shutil
import sys
import time

import torch

from train.common.bert import BertConfig, BertModel
from train.common.loop import pick_device
from train.common.paths import ROOT

MIB = 1 << 20


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default=os.path.join(ROOT, "train", "gpu", "bundle"))
    ap.add_argument("--out", default=os.environ.get("OUT") or os.path.join(ROOT, "train", "work", "gpu-run", "out"))
    ap.add_argument("--work", default="", help="checkpoints (default: a folder beside --out's run, not in it)")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores up to 8)")
    ap.add_argument("--budget-minutes", type=float, default=8.5, help="wall time of the whole run at most")
    ap.add_argument("--pretrain-minutes", type=float, default=4.5)
    ap.add_argument("--qa-minutes", type=float, default=2.0)
    ap.add_argument("--reserve-minutes", type=float, default=1.0,
                    help="kept back after QA training for its dev scoring, export and the export's check")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=1024)
    ap.add_argument("--pt-length", type=int, default=256, help="pretraining window, pieces incl. [CLS]/[SEP]")
    ap.add_argument("--pt-batch", type=int, default=128)
    ap.add_argument("--pt-lr", type=float, default=1e-3)
    ap.add_argument("--pt-epochs", type=float, default=40.0, help="passes over the stream at most")
    ap.add_argument("--pt-masking", choices=["word", "piece"], default="word")
    ap.add_argument("--no-extra-qa", action="store_true", help="pretrain without the SQuAD training contexts")
    ap.add_argument("--no-vectors", action="store_true",
                    help="start the embeddings at random even when the bundle holds vectors.pt")
    ap.add_argument("--qa-batch", type=int, default=64)
    ap.add_argument("--qa-lr", type=float, default=3e-4)
    ap.add_argument("--qa-negatives", type=float, default=0.3,
                    help="train.qa.train --negatives: SQuAD 1.1 questions also asked, unanswerable, of another paragraph")
    ap.add_argument("--qa-swapped", type=float, default=0.3,
                    help="train.qa.train --swapped: SQuAD 1.1 questions also asked with a name swapped "
                         "(unanswerable; on the CPU it raised the no-answer score's AUC: docs/qa-training.md)")
    ap.add_argument("--qa-epochs", type=float, default=3.0, help="QA epochs at most")
    ap.add_argument("--qa-limit", type=int, default=0, help="smoke runs: train.qa.train --limit")
    ap.add_argument("--dev-limit", type=int, default=0, help="smoke runs: dev questions scored (0: all)")
    ap.add_argument("--max-file-mib", type=float, default=16.0, help="largest file the tool brings back")
    return ap.parse_args(argv)


def log(msg):
    print("[run %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def main(argv=None):
    args = parse_args(argv)
    t0 = time.time()
    deadline = t0 + args.budget_minutes * 60

    def left():
        return (deadline - time.time()) / 60.0

    threads = args.threads or min(8, os.cpu_count() or 1)
    torch.set_num_threads(threads)
    device = pick_device(args.device)
    info = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda": torch.version.cuda,
            "device": str(device), "threads": threads, "host": platform.node()}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        info.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / 2 ** 30, 1), sm_count=p.multi_processor_count,
                    bf16=torch.cuda.is_bf16_supported())
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    log("start: %s" % json.dumps(info))
    os.makedirs(args.out, exist_ok=True)
    work = args.work or os.path.join(ROOT, "train", "work", "gpu-run")
    if os.path.abspath(work).startswith(os.path.abspath(args.out) + os.sep):
        raise SystemExit("--work must not be inside --out (the tool brings back 8 files at most)")
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    result = {"info": info, "args": vars(args)}
    result_path = os.path.join(args.out, "result.json")

    def save():
        result["elapsed_seconds"] = round(time.time() - t0, 1)
        with open(result_path + ".tmp", "w") as f:
            json.dump(result, f, indent=2)
        os.replace(result_path + ".tmp", result_path)

    from train.gpu import bundle
    manifest = bundle.read_manifest(args.bundle)
    vocab = bundle.read_vocab(args.bundle)
    result["bundle"] = {k: manifest[k] for k in ("created", "vocab_name", "vocab_size", "corpus", "heldout")}
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=args.hidden, num_hidden_layers=args.layers,
                     num_attention_heads=args.heads, intermediate_size=args.ffn,
                     max_position_embeddings=max(args.pt_length, manifest["qa"]["max_length"]))
    n_params = sum(p.numel() for p in BertModel(cfg).parameters())
    f16 = n_params * 2
    log("encoder: %d layers x %d hidden, %d heads, FFN %d, vocab %d: %d parameters, %.1f MiB in F16" % (
        args.layers, args.hidden, args.heads, args.ffn, len(vocab), n_params, f16 / MIB))
    if f16 > (args.max_file_mib - 0.2) * MIB:
        raise SystemExit("the F16 weights (%.1f MiB) would not fit one file of %.0f MiB: choose a smaller model"
                         % (f16 / MIB, args.max_file_mib))
    result["encoder_parameters"] = n_params
    save()

    # ---- pretraining ---------------------------------------------------------------------------
    from train.nlu import pretrain
    encoder = os.path.join(args.out, "encoder.pt")
    pt_min = min(args.pretrain_minutes, left() - args.qa_minutes - args.reserve_minutes - 0.7)
    if pt_min < 0.01:
        raise SystemExit("no time left for pretraining (%.1f min left)" % left())
    stream_tokens = manifest["corpus"]["tokens"] + (0 if args.no_extra_qa else sum(
        manifest["qa"][k]["context_tokens"] + manifest["qa"][k]["contexts"] for k in ("squad11", "v2train")))
    steps = max(1, int(args.pt_epochs * stream_tokens / (args.pt_batch * (args.pt_length - 2))))
    pt_argv = ["--bundle", args.bundle, "--masking", args.pt_masking, "--device", args.device,
               "--work", os.path.join(work, "pretrain"), "--fresh", "--threads", str(threads),
               "--schedule-minutes", "%.3f" % pt_min, "--minutes", "%.3f" % (pt_min + 0.5), "--steps", str(steps),
               "--checkpoint-minutes", "1", "--batch-size", str(args.pt_batch), "--lr", str(args.pt_lr),
               "--layers", str(args.layers), "--hidden", str(args.hidden), "--heads", str(args.heads),
               "--ffn", str(args.ffn), "--max-length", str(args.pt_length),
               "--max-positions", str(cfg.max_position_embeddings), "--encoder-out", encoder,
               "--encoder-dtype", "f16"] + ([] if args.no_extra_qa else ["--extra-qa"])
    vectors = os.path.join(args.bundle, "vectors.pt")
    if os.path.exists(vectors) and not args.no_vectors:
        # skip-gram vectors save the masked LM the first ~2,000 CPU steps (docs/nlu-pretraining.md)
        pt_argv += ["--init-embeddings", vectors]
    log("pretraining %.2f min: python3 -m train.nlu.pretrain %s" % (pt_min, " ".join(pt_argv)))
    t1 = time.time()
    pr = pretrain.main(pt_argv)
    result["pretrain"] = {k: pr[k] for k in ("step", "steps", "train_seconds", "heldout", "history",
                                             "parameters", "train_pieces", "sources", "pieces_per_second")}
    result["pretrain"]["wall_seconds"] = round(time.time() - t1, 1)
    log("pretraining done in %.0f s: held-out masked-token accuracy %.2f%%, %d pieces/s" % (
        time.time() - t1, pr["heldout"]["masked_acc"], pr["pieces_per_second"]))
    save()

    # ---- QA fine-tuning, dev scoring and export -------------------------------------------------
    from train.qa import train as qa_train
    qa_min = min(args.qa_minutes, left() - args.reserve_minutes)
    if qa_min < 0.01:
        raise SystemExit("no time left for QA training (%.1f min left); the encoder is in %s" % (left(), encoder))
    out_model = os.path.join(args.out, "qa-squad")
    qa_argv = ["--bundle", args.bundle, "--init", encoder, "--device", args.device, "--work", os.path.join(work, "qa"),
               "--cache", os.path.join(work, "qa-features"), "--out", out_model, "--fresh",
               "--threads", str(threads), "--minutes", "%.3f" % qa_min, "--epochs", str(args.qa_epochs),
               "--eval-minutes", "1000", "--checkpoint-minutes", "1000", "--batch-size", str(args.qa_batch),
               "--lr", str(args.qa_lr), "--export-dtype", "F16", "--max-length", str(manifest["qa"]["max_length"]),
               "--doc-stride", str(manifest["qa"]["doc_stride"]), "--max-question", str(manifest["qa"]["max_question"]),
               "--question-match",  # the question-match token types (docs/qa-training.md)
               "--negatives", str(args.qa_negatives), "--swapped", str(args.qa_swapped)]
    if args.qa_limit:
        qa_argv += ["--limit", str(args.qa_limit)]
    if args.dev_limit:
        qa_argv += ["--dev-limit", str(args.dev_limit)]
    log("QA fine-tuning %.2f min: python3 -m train.qa.train %s" % (qa_min, " ".join(qa_argv)))
    t1 = time.time()
    qr = qa_train.main(qa_argv)
    result["qa"] = {k: qr[k] for k in ("steps", "epochs", "train_seconds", "dev", "threshold", "parameters",
                                       "train_windows_per_epoch", "windows_per_second")}
    result["qa"]["wall_seconds"] = round(time.time() - t1, 1)
    d = qr["dev"]
    log("QA done in %.0f s: dev answerable F1 %.2f, no-answer accuracy %.2f, all F1 %.2f at threshold %.3f" % (
        time.time() - t1, d["answerable_f1"], d["noans_acc"], d["all_f1"], d["threshold"]))
    save()

    # ---- the exported files, scored as shipped (F16 weights, config.json's threshold) -----------
    if left() > 0.3:
        from train.qa import evaluate
        ev_argv = ["--model", out_model, "--data", os.path.join(args.bundle, "qa"), "--sets", "dev",
                   "--device", args.device, "--threads", str(threads)]
        if args.dev_limit:
            ev_argv += ["--limit", str(args.dev_limit)]
        t1 = time.time()
        ev = evaluate.main(ev_argv)
        result["exported_dev"] = {k: v for k, v in ev["dev"].items() if k != "curve"}
        result["exported_dev"]["wall_seconds"] = round(time.time() - t1, 1)
    result["files"] = {os.path.relpath(os.path.join(dp, f), args.out): os.path.getsize(os.path.join(dp, f))
                       for dp, _, fs in os.walk(args.out) for f in fs}
    save()
    log("done in %.0f s (budget %.0f s); files in %s: %s" % (time.time() - t0, args.budget_minutes * 60,
                                                             args.out, result["files"]))
    return result


if __name__ == "__main__":
    main()
