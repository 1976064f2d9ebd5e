"""Start an encoder's word-piece embeddings from vectors learnt on prose (train.embed.sgns).

The vectors file names its pieces, so a model with another vocabulary takes the rows of the
pieces both share, by string; the rest keep their random start. The rows are centred (word
vectors share a common direction that says nothing about a piece), brought to the model's
width (the leading principal directions when the vectors are wider, zero-padded when they are
narrower) and scaled so that their entries have standard deviation `std`: the embedding sum
is layer-normalized, so the scale sets how much the vectors weigh against the position and
token-type embeddings, which start at BERT's 0.02.
"""
import torch

from train.common.loop import log


def load_piece_vectors(path):
    """(vocab list, float32 [V, D] tensor) from a train.embed.sgns output."""
    d = torch.load(path)
    vocab, vectors = d["vocab"], d["vectors"].float()
    if len(vocab) != vectors.shape[0]:
        raise ValueError("%s: %d pieces for %d vectors" % (path, len(vocab), vectors.shape[0]))
    return vocab, vectors


def fit_width(vectors, width):
    """[V, D] -> [V, width]: the projection on the leading principal directions, or zero padding."""
    x = vectors - vectors.mean(0, keepdim=True)
    if x.shape[1] > width:
        # principal directions of the centred rows (right singular vectors)
        _, _, vt = torch.linalg.svd(x, full_matrices=False)
        x = x @ vt[:width].t()
    elif x.shape[1] < width:
        x = torch.cat([x, x.new_zeros(x.shape[0], width - x.shape[1])], 1)
    return x


def init_piece_embeddings(weight, vocab, path, std):
    """Copy the vectors of the pieces of `vocab` found in `path` into `weight` ([len(vocab),
    H], in place). Returns (pieces found, pieces of vocab)."""
    src_vocab, vectors = load_piece_vectors(path)
    index = {p: i for i, p in enumerate(src_vocab)}
    rows = [(i, index[p]) for i, p in enumerate(vocab)
            if p in index and not (p.startswith("[") and p.endswith("]"))]
    if not rows:
        raise ValueError("%s shares no piece with the model's vocabulary" % path)
    x = fit_width(vectors, weight.shape[1])
    dst = torch.tensor([r[0] for r in rows])
    src = torch.tensor([r[1] for r in rows])
    picked = x[src]
    picked = picked * (std / picked.std().clamp_min(1e-12))
    with torch.no_grad():
        weight[dst] = picked.to(weight.dtype)
    return len(rows), len(vocab)


def add_args(ap, what="the word-piece embeddings"):
    """--init-embeddings and --embeddings-std (pretraining and the fine-tuning recipes)."""
    ap.add_argument("--init-embeddings", default="",
                    help="start %s from vectors learnt on the prose (python3 -m train.embed.sgns: "
                         "vectors.pt), matched by piece" % what)
    ap.add_argument("--embeddings-std", type=float, default=0.05,
                    help="--init-embeddings: the standard deviation the vectors are scaled to")


def init_from_args(args, bert, vocab):
    """Apply --init-embeddings (when given) to a fresh encoder `bert`, and log it in args.work."""
    if not args.init_embeddings:
        return
    found, total = init_piece_embeddings(bert.embeddings.word_embeddings.weight, vocab,
                                         args.init_embeddings, args.embeddings_std)
    log(args.work, "word-piece embeddings of %d of %d pieces from %s (std %g)"
        % (found, total, args.init_embeddings, args.embeddings_std))
