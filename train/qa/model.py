"""The extractive QA model and its decoding.

QuestionAnswering is Hugging Face's BertForQuestionAnswering: BERT without the pooler, then
`qa_outputs` (Linear(hidden, 2)) on every token, giving a start and an end logit; the state
dict keys are `bert.*` and `qa_outputs.{weight,bias}`, which the engine's BERT loader reads
with `architectures: ["BertForQuestionAnswering"]`.

Decoding (SQuAD 2.0, as BERT's run_squad with version_2_with_negative), per question over its
windows:
  span score  start_logit[i] + end_logit[j] for context tokens i <= j < i + max_answer_tokens
              among the 20 best starts and the 20 best ends of each window, where that window
              gives token i its most context (max_context); the best over all windows is the
              answer, its text the context's characters from token i's start to token j's end
              (offsets, so the original spelling)
  null score  start_logit[0] + end_logit[0] (the [CLS] span), the smallest over the windows
  no answer   when null score - best span score > no_answer_threshold (tuned on dev)
"""
import numpy as np
import torch
from torch import nn

from train.common.bert import BertModel, init_weights

TOP = 20  # start and end positions tried per window


class QuestionAnswering(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bert = BertModel(c, add_pooler=False)
        self.qa_outputs = nn.Linear(c.hidden_size, 2)
        init_weights(self, c.initializer_range)

    def forward(self, ids, mask, type_ids=None):
        """(start logits, end logits), each [batch, seq]."""
        h, _ = self.bert(ids, mask, type_ids)
        logits = self.qa_outputs(h)
        return logits[..., 0], logits[..., 1]


def best_span(start, end, lo, hi, allowed, max_answer_tokens, top=TOP):
    """The best (score, i, j) with lo <= i <= j < hi, j - i < max_answer_tokens and
    allowed[i - lo], among the `top` best starts and the `top` best ends of tokens lo..hi-1
    (run_squad's n-best search, as parley-qa does it); start/end: 1-D numpy logits of one
    window. None if there is no such pair."""
    if hi <= lo:
        return None
    s, e = start[lo:hi], end[lo:hi]
    si = np.argsort(-s, kind="stable")[:top]  # equal logits: the earlier token first
    ei = np.argsort(-e, kind="stable")[:top]
    best = None
    for i in si:
        if not allowed[i]:
            continue
        for j in ei:
            if j < i or j - i >= max_answer_tokens:
                continue
            sc = float(s[i]) + float(e[j])
            if best is None or sc > best[0]:
                best = (sc, lo + int(i), lo + int(j))
    return best


def decode(win, logits, ctx_starts, ctx_ends, context, max_answer_tokens):
    """(answer text, null score - best span score, best span score) of one question.

    win: its train.qa.windows.Windows; logits: [(start, end)] numpy arrays per window;
    ctx_starts/ctx_ends: the context tokens' code-point spans. With no context token at all
    the answer is "" and the difference +inf."""
    from train.qa.windows import max_context
    flags = max_context(win.spans) if win.spans[-1][0] + win.spans[-1][1] > 0 else None
    null, best = None, None
    for w, (st, en) in enumerate(logits):
        s0, n = win.spans[w]
        ns = float(st[0]) + float(en[0])
        null = ns if null is None else min(null, ns)
        if flags is None or n == 0:
            continue
        r = best_span(st, en, win.k0, win.k0 + n, flags[w], max_answer_tokens)
        if r is not None and (best is None or r[0] > best[0]):
            best = (r[0], s0 + r[1] - win.k0, s0 + r[2] - win.k0)
    if best is None:
        return "", float("inf"), float("-inf")
    text = context[int(ctx_starts[best[1]]):int(ctx_ends[best[2]])]
    return text, null - best[0], best[0]


@torch.no_grad()
def run_windows(model, inputs, pad_id, batch_size=64):
    """Logits of many windows: inputs [(ids, type_ids)] (numpy); returns [(start, end)] numpy
    arrays cut to each window's length. Batches of similar length."""
    model.eval()
    device = next(model.parameters()).device  # CUDA: inputs moved there, bf16 autocast
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i][0]))
    out = [None] * len(inputs)
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        t = max(len(inputs[i][0]) for i in idx)
        ids = torch.full((len(idx), t), pad_id, dtype=torch.long)
        types = torch.zeros((len(idx), t), dtype=torch.long)
        mask = torch.zeros((len(idx), t), dtype=torch.long)
        for r, i in enumerate(idx):
            a, ty = inputs[i]
            ids[r, :len(a)] = torch.from_numpy(a)
            types[r, :len(a)] = torch.from_numpy(ty)
            mask[r, :len(a)] = 1
        if device.type != "cpu":
            ids, mask, types = ids.to(device), mask.to(device), types.to(device)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
                s, e = model(ids, mask, types)
        else:
            s, e = model(ids, mask, types)
        s, e = s.float().cpu().numpy(), e.float().cpu().numpy()
        for r, i in enumerate(idx):
            n = len(inputs[i][0])
            out[i] = (s[r, :n].copy(), e[r, :n].copy())
    return out
