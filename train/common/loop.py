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


_cpu_bf16 = False  # bf16 autocast on the CPU too (pick_device's cpu_bf16)


def add_cpu_bf16_arg(ap, what="the forward passes"):
    """--cpu-bf16 of the recipes: pass args.cpu_bf16 to pick_device."""
    ap.add_argument("--cpu-bf16", action="store_true",
                    help="on the CPU, %s under bf16 autocast as on CUDA (several times faster "
                         "where the CPU has AVX-512 BF16)" % what)


def cpu_flags():
    """The first "flags" line of /proc/cpuinfo as a set (empty where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                if key.strip() == "flags":
                    return set(val.split())
    except OSError:
        pass
    return set()


def pick_device(name="auto", cpu_bf16=False):
    """torch.device of --device: "auto" is CUDA when torch sees a GPU, else the CPU.
    cpu_bf16: on the CPU, run the forward passes under bf16 autocast as on CUDA (oneDNN's
    bf16 GEMMs; Debian's torch does its f32 GEMMs with a generic BLAS, several times slower on
    a CPU with AVX-512 BF16); the default keeps CPU results those of the plain f32 code. On a
    CPU without bf16 instructions (avx512_bf16 or amx_bf16) the request is dropped with a
    note: there autocast emulates bf16 (an AVX2-only AMD EPYC had not finished a SNIPS epoch
    after 8 minutes, where f32 takes 3), so the model cards' commands stay usable everywhere."""
    global _cpu_bf16
    if cpu_bf16 and not ({"avx512_bf16", "amx_bf16"} & cpu_flags()):
        print("--cpu-bf16 dropped: this CPU has no bf16 instructions (avx512_bf16, amx_bf16), "
              "so the CPU steps run in f32", flush=True)
        cpu_bf16 = False
    _cpu_bf16 = bool(cpu_bf16)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch %s sees no CUDA device" % torch.__version__)
    return torch.device(name)


def autocast(device):
    """Mixed precision of a forward pass: bf16 autocast on CUDA; nothing (f32) on the CPU, so
    that CPU results stay exactly those of the plain f32 code, unless pick_device was asked
    for cpu_bf16."""
    import contextlib
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    if _cpu_bf16:
        return torch.autocast(device_type="cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def device_note(device):
    """One line about the device: the GPU's name and torch/CUDA versions, or the CPU threads."""
    if device.type == "cuda":
        return "device cuda: %s, torch %s, CUDA %s, bf16 autocast" % (
            torch.cuda.get_device_name(device), torch.__version__, torch.version.cuda)
    return "device cpu: torch %s, %d thread(s), %s" % (torch.__version__, torch.get_num_threads(),
                                                       "bf16 autocast" if _cpu_bf16 else "f32")


def machine_note():
    """The CPU as the model cards name it: lscpu's model name, the vCPUs, the widest vector
    instructions, torch's version and the training precision ("AMD EPYC, 2 vCPUs, AVX-512 with
    BF16, python3-torch 1.13.0a0, bf16 autocast")."""
    name, flags, n = "unknown CPU", cpu_flags(), 0
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                if key.strip() == "model name":
                    name, n = val.strip(), n + 1
    except OSError:
        pass
    isa = ("AVX-512 with BF16" if "avx512_bf16" in flags else "AVX-512" if "avx512f" in flags
           else "AVX2" if "avx2" in flags else "no AVX2")
    return "%s, %d vCPUs, %s, python3-torch %s, %s" % (name, n or 1, isa, torch.__version__,
                                                      "bf16 autocast" if _cpu_bf16 else "f32")
