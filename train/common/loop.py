"""Training-loop helpers shared by the recipes: length-bucketed batches,
padding, the learning-rate schedule, logging and atomic checkpoints."""
import os

import torch

IGNORE = -100  # target of positions that carry no label (padding, later sub-tokens)


def batches(n, lengths, batch_size, rng=None):
    """Index batches over n examples. With rng: shuffled, then sorted by length
    inside pools of 50 batches so that padding stays small; without: in order."""
    idx = list(range(n))
    if rng is None:
        return [idx[i:i + batch_size] for i in range(0, n, batch_size)]
    rng.shuffle(idx)
    pool = batch_size * 50
    out = []
    for p in range(0, n, pool):
        chunk = sorted(idx[p:p + pool], key=lambda i: lengths[i])
        out += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(out)
    return out


def pad_batch(seqs, targets, pad_id):
    """ids [b, t], mask [b, t] and token targets [b, t] (IGNORE where padded)."""
    t = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), t), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), t), dtype=torch.long)
    tgt = torch.full((len(seqs), t), IGNORE, dtype=torch.long)
    for r, (s, g) in enumerate(zip(seqs, targets)):
        ids[r, :len(s)] = torch.tensor(s)
        mask[r, :len(s)] = 1
        tgt[r, :len(g)] = torch.tensor(g)
    return ids, mask, tgt


def lr_at(step, total, warmup, base):
    """Linear warm-up for `warmup` steps, then linear decay to 0 at `total`."""
    if step < warmup:
        return base * (step + 1) / warmup
    return base * max(0.0, (total - step) / max(1, total - warmup))


def adamw(model, lr, weight_decay):
    """AdamW without decay on biases and LayerNorm weights (as BERT)."""
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "LayerNorm" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "LayerNorm" not in n)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=lr)


def log(work, msg):
    print(msg, flush=True)
    with open(os.path.join(work, "train.log"), "a", encoding="utf-8") as f:
        f.write(msg + "\n")


def save_atomic(obj, path):
    torch.save(obj, path + ".tmp")
    os.replace(path + ".tmp", path)
