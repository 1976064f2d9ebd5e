#!/usr/bin/python3
"""Write the QA model directory from a training state (train/work/qa/best.pt).

    /usr/bin/python3 -m train.qa.export [--checkpoint train/work/qa/best.pt] [--out models/qa-squad] [--dtype F16]

config.json: the Hugging Face BERT keys, `architectures: ["BertForQuestionAnswering"]`,
`task: "question_answering"`, the tokenizer, the head (`span`: `qa_outputs` on every token,
labels start and end) and what a server needs to window and decode as the recipe did
(train/qa/model.py, train/qa/windows.py; parley-qa reads these keys):
    max_length            tokens per window, [CLS]/[SEP] included
    doc_stride            step between window starts, in context tokens
    max_query_length      the question is cut to this many tokens
    max_answer_tokens     longest answer span, in tokens
    no_answer_threshold   "no answer" when (min over windows of start[CLS] + end[CLS]) minus
                          the best span's start + end logits is above this (tuned on dev)
    question_answering    the rules, in words
model.safetensors: `bert.*` (no pooler) and `qa_outputs.{weight,bias}` ([2, hidden], [2]).
The written files are read back into a fresh model whose logits must match.
"""
import argparse
import json
import os

import numpy as np
import torch

from train.common import safetensors_io
from train.common.bert import BertConfig
from train.common.export import export_model
from train.common.paths import models_dir, work_dir
from train.qa.model import QuestionAnswering


def config_keys(args, threshold):
    return {
        "architectures": ["BertForQuestionAnswering"],
        "task": "question_answering",
        "max_length": args["max_length"],
        "doc_stride": args["doc_stride"],
        "max_query_length": args["max_question"],
        "max_answer_tokens": args["max_answer_tokens"],
        "no_answer_threshold": round(float(threshold), 4),
        "tokenizer": dict({"type": "wordpiece", "vocab": "vocab.txt", "do_lower_case": True,
                           "max_input_chars_per_word": 100},
                          # context words that are also question words: token type 2 (windows.question_match)
                          **({"token_type_ids": "question_match"} if args.get("question_match") else {})),
        "labels": {"span": ["start", "end"]},
        "heads": {"span": {"tensor_prefix": "qa_outputs", "input": "tokens", "labels": "span"}},
        "variants": {"int8": {"precision": "int8"}},  # parley-qa also loads it as <name>-int8
        "question_answering": {
            "input": "windows [CLS] question [SEP] context chunk [SEP] (engine/tokenizer pl_wordpiece_windows), "
                     "token_type_ids 0 up to the first [SEP], 1 after" +
                     (" (2 for the context's words that are also words of the question: "
                      "tokenizer.token_type_ids question_match)" if args.get("question_match") else ""),
            "null_score": "min over the windows of start_logit[CLS] + end_logit[CLS]",
            "span_score": "start_logit[i] + end_logit[j] for context tokens i <= j < i + max_answer_tokens among "
                          "each window's 20 best starts and 20 best ends, i in the window that gives it its most "
                          "context (run_squad max_context); the best over all windows",
            "answer": "no answer when null_score - best span_score > no_answer_threshold (tuned on the dev "
                      "split); else the context text from token i's start offset to token j's end offset",
        },
    }


def export(ckpt_path, out, dtype="F16", threshold=None):
    b = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    if threshold is not None:  # chosen from `train.qa.evaluate --curve` instead of the tuned one
        b["threshold"] = threshold
    cfg = BertConfig(**b["bert_config"])
    model = QuestionAnswering(cfg)
    model.load_state_dict(b["model"])
    model.eval()
    st_path = export_model(out, model, cfg, b["vocab"], config_keys(b["args"], b["threshold"]), dtype,
                           {"recipe": "train/qa/train.py"})
    # reload check
    tensors, _ = safetensors_io.load(st_path)
    with open(os.path.join(out, "config.json")) as f:
        c = json.load(f)
    fresh = QuestionAnswering(BertConfig(**{k: c[k] for k in BertConfig.__dataclass_fields__}))
    fresh.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items()})
    fresh.eval()
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, cfg.vocab_size, (2, min(40, cfg.max_position_embeddings)), generator=g)
    mask = torch.ones_like(ids)
    types = torch.zeros_like(ids)
    types[:, ids.shape[1] // 3:] = 1
    with torch.no_grad():
        a, bb = model(ids, mask, types), fresh(ids, mask, types)
    diff = max((x - y).abs().max().item() for x, y in zip(a, bb))
    if diff > (1e-5 if dtype == "F32" else 5e-2):
        raise SystemExit("export check failed: reloaded model differs by %g" % diff)
    print("exported %s to %s (%.1f MB, threshold %.4f); reloaded model matches (max abs diff %.2g)" % (
        ckpt_path, out, os.path.getsize(st_path) / 1e6, b["threshold"], diff))
    return st_path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=work_dir("qa", "best.pt"))
    ap.add_argument("--out", default=models_dir("qa-squad"))
    ap.add_argument("--dtype", choices=["F32", "F16"], default="F16")
    ap.add_argument("--threshold", type=float, default=None,
                    help="no_answer_threshold to write instead of the checkpoint's (e.g. a point of "
                         "python3 -m train.qa.evaluate --curve)")
    args = ap.parse_args(argv)
    export(args.checkpoint, args.out, args.dtype, args.threshold)


if __name__ == "__main__":
    main()
