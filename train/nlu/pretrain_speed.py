#!/usr/bin/python3
"""Seconds per pretraining step at different thread counts, measured interleaved (rounds of
a few steps at each count in turn) so that the load of a shared machine weighs on every count
alike. The step is train.nlu.pretrain's: the masked LM with AdamW on --batch-size windows of
--max-length pieces, 15% of them scored, on random piece ids (speed does not depend on the text).

    nice -n 19 /usr/bin/python3 -m train.nlu.pretrain_speed --threads 1,2 --rounds 6 --steps 3
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
    ap.add_argument("--steps", type=int, default=3, help="steps per thread count per round")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--vocab-size", type=int, default=8123)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=1024)
    args = ap.parse_args(argv)
    counts = [int(x) for x in args.threads.split(",")]
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

    def step():
        loss = F.cross_entropy(model(ids, att, pos), tgt)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up
    spent = {c: 0.0 for c in counts}
    for _ in range(args.rounds):
        for c in counts:
            torch.set_num_threads(c)
            t0 = time.time()
            for _ in range(args.steps):
                step()
            spent[c] += time.time() - t0
    load = os.getloadavg()
    for c in counts:
        s = spent[c] / (args.rounds * args.steps)
        print("%d thread(s): %.2f s/step, %.0f pieces/s (batch %d x %d; load average %.1f %.1f %.1f)" % (
            c, s, n * t / s, n, t, *load), flush=True)
    return spent


if __name__ == "__main__":
    main()
