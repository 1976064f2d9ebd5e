#!/usr/bin/python3
"""Seconds per pretraining step at different thread counts and precisions (f32; bf16: bf16
autocast on the CPU, `--cpu-bf16` of the recipes), measured interleaved (rounds of a few steps
at each setting in turn) so that the load of a shared machine weighs on every setting alike.
The step is train.nlu.pretrain's: the masked LM with AdamW on --batch-size windows of
--max-length pieces, 15% of them scored, on random piece ids (speed does not depend on the text).

    nice -n 19 /usr/bin/python3 -m train.nlu.pretrain_speed --threads 1,2 --rounds 6 --steps 3
    /usr/bin/python3 -m train.nlu.pretrain_speed --threads 1 --precision f32,bf16
"""
import argparse
import os
import time

import torch
import torch.nn.functional as F

from train.common.bert import BertConfig
from train.common.loop import adamw
from train.nlu.pretrain import MaskedLM


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--steps", type=int, default=3, help="steps per setting per round")
    ap.add_argument("--precision", default="f32", help="f32, bf16 (CPU autocast) or both, comma-separated")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--vocab-size", type=int, default=8123)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=1024)
    args = ap.parse_args(argv)
    counts = [int(x) for x in args.threads.split(",")]
    precs = args.precision.split(",")
    if any(p not in ("f32", "bf16") for p in precs):
        raise SystemExit("--precision %s: want f32 and/or bf16" % args.precision)
    settings = [(c, p) for c in counts for p in precs]
    cfg = BertConfig(vocab_size=args.vocab_size, hidden_size=args.hidden, num_hidden_layers=args.layers,
                     num_attention_heads=args.heads, intermediate_size=args.ffn, max_position_embeddings=128)
    torch.manual_seed(1)
    model = MaskedLM(cfg)
    opt = adamw(model, 1e-4, 0.01)
    n, t = args.batch_size, args.max_length
    ids = torch.randint(5, args.vocab_size, (n, t))
    att = torch.ones_like(ids)
    pos = (torch.rand(n * t) < 0.15).nonzero().squeeze(1)
    tgt = ids.reshape(-1)[pos]

    def step(prec):
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=prec == "bf16"):
            logits = model(ids, att, pos)
        loss = F.cross_entropy(logits.float(), tgt)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for p in precs:
        step(p)  # warm-up
    spent = {k: 0.0 for k in settings}
    for _ in range(args.rounds):
        for c, p in settings:
            torch.set_num_threads(c)
            t0 = time.time()
            for _ in range(args.steps):
                step(p)
            spent[c, p] += time.time() - t0
    load = os.getloadavg()
    for c, p in settings:
        s = spent[c, p] / (args.rounds * args.steps)
        print("%d thread(s), %s: %.2f s/step, %.0f pieces/s (batch %d x %d; load average %.1f %.1f %.1f)" % (
            c, p, s, n * t / s, n, t, *load), flush=True)
    return spent


if __name__ == "__main__":
    main()
