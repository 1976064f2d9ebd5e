"""SQuAD-format data and scoring: readers, the SQuAD 2.0 dev-half split, EM/F1, the
no-answer threshold.

Readers take SQuAD json (`{"data": [{"title", "paragraphs": [{"context", "qas": [...]}]}]}`),
plain or xz-compressed (`.xz`, read through lzma), and give one Question per entry of "qas".
A question with `is_impossible: true` (SQuAD 2.0) or no answers is unanswerable.

The SQuAD 2.0 dev half (../shared/data/qa/squad-v2-dev-half.json, 16 articles) is the only
source of unanswerable questions. It is split BY ARTICLE, so that no paragraph is shared:
the articles at odd positions of the file (the 2nd, 4th, ..., 16th) are the dev set, the
others the training part (split_by_article). On the shipped file that is 8 articles and
3,250 questions for dev (1,611 answerable, 1,639 unanswerable) and 8 articles, 2,828
questions for training (1,299 answerable, 1,529 unanswerable).

Scoring is the official SQuAD 2.0 evaluation's: answers are normalized (lower case,
punctuation removed, the articles a/an/the removed, whitespace collapsed); EM and F1 (over
normalized tokens) take the best gold answer; gold answers that normalize to nothing are
dropped, and a question without gold answers has the single gold answer "" (so predicting
"" scores 1 and anything else 0). The no-answer threshold is chosen like the official
`find_best_thresh`: the one that maximizes the total F1 (or EM) over the questions.
"""
import collections
import json
import lzma
import math
import random
import re
import string
from dataclasses import dataclass, field


@dataclass
class Question:
    qid: str
    title: str
    context: str
    question: str
    answers: list = field(default_factory=list)  # [(text, answer_start)], in file order
    impossible: bool = False
    pid: int = 0  # index of the paragraph in its file (questions of one context share it)

    @property
    def gold(self):
        """Gold answer texts (empty for an unanswerable question)."""
        return [a[0] for a in self.answers]


def load_json(path):
    opener = lzma.open if path.endswith(".xz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def read_squad(path_or_obj):
    """Questions of a SQuAD-format file (path, .xz allowed) or an already parsed dict."""
    d = load_json(path_or_obj) if isinstance(path_or_obj, str) else path_or_obj
    out, pid = [], 0
    for art in d["data"]:
        title = art.get("title", "")
        for para in art["paragraphs"]:
            ctx = para["context"]
            for q in para["qas"]:
                answers = [(a["text"], int(a["answer_start"])) for a in q.get("answers", [])]
                impossible = bool(q.get("is_impossible", False)) or not answers
                out.append(Question(str(q["id"]), title, ctx, q["question"], [] if impossible else answers,
                                    impossible, pid))
            pid += 1
    return out


def articles(questions):
    """Article titles in order of first appearance."""
    seen = {}
    for q in questions:
        seen.setdefault(q.title, len(seen))
    return list(seen)


def split_by_article(questions):
    """(train part, dev set): the articles at odd positions of the file (the 2nd, 4th, ...) are
    the dev set."""
    dev_titles = set(articles(questions)[1::2])
    return [q for q in questions if q.title not in dev_titles], [q for q in questions if q.title in dev_titles]


def content_words(text):
    """The lower-cased words of text without the commonest function words."""
    return {w for w in _WORD.findall(text.lower()) if w not in _FUNCTION_WORDS}


_WORD = re.compile(r"\w+", re.UNICODE)
_FUNCTION_WORDS = frozenset(
    "a an the of in on at to for by with from into and or but not no is are was were be been being has have had "
    "do does did what which who whom whose when where why how that this these those it its as than then there".split())


def other_paragraphs(questions):
    """For each question, the paragraph of its article it is asked again of when it is made
    unanswerable (unanswerable_pairs): (context, pid), or None (an unanswerable question, or no
    paragraph qualifies). The chosen one shares the most content words with the question
    (content_words) among the article's other paragraphs whose normalized text holds none of
    the question's normalized gold answers, and at least one word."""
    paragraphs = {}  # title -> {context: (pid, content words, normalized text)}
    for q in questions:
        arts = paragraphs.setdefault(q.title, {})
        if q.context not in arts:
            arts[q.context] = (q.pid, content_words(q.context), normalize_answer(q.context))
    out = []
    for q in questions:
        best, best_n = None, 0
        if not q.impossible:
            words = content_words(q.question)
            golds = [g for g in (normalize_answer(a) for a in q.gold) if g]
            for ctx, (pid, cw, norm) in paragraphs[q.title].items():
                n = len(words & cw)
                if ctx != q.context and n > best_n and not any(g in norm for g in golds):
                    best, best_n = (ctx, pid), n
        out.append(best)
    return out


def drawn(answerable, share, seed):
    """Indexes of the questions made unanswerable: each answerable one (answerable[i] true)
    with probability `share`, one draw of random.Random(seed) per answerable question."""
    rng = random.Random(seed)
    return [i for i, a in enumerate(answerable) if a and rng.random() < share]


def unanswerable_pairs(questions, share, seed=1):
    """Unanswerable questions made from answerable ones (SQuAD 1.1 has none of its own): the
    questions drawn(share, seed) are asked again of their other_paragraphs one; those without
    one are left out. These are easier than SQuAD 2.0's written ones (the paragraph is about
    something else) but they are many, and they share the question's words, so the reader
    cannot say "answer" from word overlap alone. qid: the question's + "-other"."""
    other = other_paragraphs(questions)
    out = []
    for i in drawn([not q.impossible for q in questions], share, seed):
        if other[i] is not None:
            q = questions[i]
            out.append(Question(q.qid + "-other", q.title, other[i][0], q.question, [], True, other[i][1]))
    return out


def _names(words, common):
    """The words that name something: numbers, and capitalized words whose lower case is not
    among `common` (the article's words written in lower case)."""
    return {w for w in words if w[0].isdigit() or (w[0].isupper() and len(w) > 1 and w.lower() not in common)}


def swapped_texts(questions):
    """For each question, the question made unanswerable by changing what it asks about (as
    many of SQuAD 2.0's were written), or None: one name (_names: a number, or a capitalized
    word the article never writes in lower case; not the question's first word, found in the
    paragraph, not in a gold answer) is replaced by a name of the same kind (number or word)
    from another paragraph of the article that the paragraph does not hold. Which name and
    which replacement: random.Random(qid), so a question's text does not depend on the others.
    Unanswerable questions, and those with nothing to swap, get None."""
    words = {}   # context -> its words
    common = {}  # title -> the article's words written in lower case
    for q in questions:
        if q.context not in words:
            words[q.context] = _WORD.findall(q.context)
            common.setdefault(q.title, set()).update(w for w in words[q.context] if w.islower())
    names = {}   # title -> {context: names}
    for q in questions:
        names.setdefault(q.title, {}).setdefault(q.context, _names(words[q.context], common[q.title]))
    out = []
    for q in questions:
        text = None
        if not q.impossible:
            gold = {w for a in q.gold for w in _WORD.findall(a)}
            own = names[q.title][q.context]
            swap = sorted(w for w in _names(_WORD.findall(q.question)[1:], common[q.title])
                          if w in own and w not in gold)
            if swap:
                rng = random.Random(q.qid)
                old = rng.choice(swap)
                lower = {w.lower() for w in words[q.context]}
                others = sorted({w for ctx, ns in names[q.title].items() if ctx != q.context for w in ns
                                 if w[0].isdigit() == old[0].isdigit() and w.lower() not in lower})
                if others:
                    text = re.sub(r"\b%s\b" % re.escape(old), rng.choice(others), q.question)
        out.append(text)
    return out


def swapped_drawn(answerable, share, seed):
    """drawn() for swapped_names: its own stream, apart from unanswerable_pairs' of the same seed."""
    return drawn(answerable, share, seed + 7919)


def swapped_names(questions, share, seed=1):
    """Unanswerable questions asked of their own paragraph: the questions swapped_drawn(share,
    seed) with a swapped_texts text. The paragraph is about the same things, which makes these
    harder than unanswerable_pairs. qid: the question's + "-swap"."""
    texts = swapped_texts(questions)
    return [Question(questions[i].qid + "-swap", questions[i].title, questions[i].context, texts[i], [], True,
                     questions[i].pid)
            for i in swapped_drawn([not q.impossible for q in questions], share, seed) if texts[i] is not None]


# ---- the official SQuAD normalization and scores -----------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(s):
    """Lower case, remove punctuation, articles (a, an, the) and extra whitespace."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def _tokens(s):
    return normalize_answer(s).split() if s else []


def exact(gold, pred):
    return int(normalize_answer(gold) == normalize_answer(pred))


def f1(gold, pred):
    g, p = _tokens(gold), _tokens(pred)
    if not g or not p:
        return float(g == p)  # either is no-answer: 1 if both are, else 0
    common = collections.Counter(g) & collections.Counter(p)
    same = sum(common.values())
    if same == 0:
        return 0.0
    prec, rec = same / len(p), same / len(g)
    return 2 * prec * rec / (prec + rec)


def gold_answers(q):
    """The official rule: gold texts that normalize to something, else [""]."""
    g = [a for a in q.gold if normalize_answer(a)]
    return g or [""]


def score(q, pred):
    """(EM, F1) of one prediction ("" = no answer) against the best gold answer."""
    g = gold_answers(q)
    return max(exact(a, pred) for a in g), max(f1(a, pred) for a in g)


def best_threshold(diffs, span_scores, empty_scores):
    """The no-answer threshold that maximizes the total score.

    diffs[i]: question i's no-answer score minus its best span's score (the model says "no
    answer" when diff > threshold); span_scores[i]: its score when the span is given;
    empty_scores[i]: its score when "no answer" is given. Returns (threshold, total score).
    With no question at all: (0.0, 0.0). Ties between thresholds go to the higher one (fewer
    no-answers); the threshold lies halfway between neighbouring diffs."""
    n = len(diffs)
    if n == 0:
        return 0.0, 0.0
    order = sorted(range(n), key=lambda i: -diffs[i])
    total = float(sum(span_scores))
    best_t, best = max(diffs) + 1.0, total  # above every diff: no question gets "no answer"
    i = 0
    while i < n:
        d = diffs[order[i]]
        while i < n and diffs[order[i]] == d:  # equal diffs flip together
            total += empty_scores[order[i]] - span_scores[order[i]]
            i += 1
        # every question with diff >= d now says "no answer"
        t = (d + diffs[order[i]]) / 2.0 if i < n else d - 1.0
        if total > best + 1e-9:
            best_t, best = t, total
    return best_t, best


def refusal_threshold(unanswerable_diffs, share):
    """The largest no-answer threshold that says "no answer" to at least `share` (0..1] of the
    unanswerable questions whose diffs are given (halfway between neighbouring diffs); the
    service then refuses at least that share of what it cannot answer and keeps as many
    answers as it can. None when there is no unanswerable question."""
    d = sorted(unanswerable_diffs, reverse=True)
    if not d:
        return None
    k = max(1, math.ceil(share * len(d) - 1e-9))
    while k < len(d) and d[k] == d[k - 1]:  # equal diffs are refused together
        k += 1
    return (d[k - 1] + d[k]) / 2.0 if k < len(d) else d[-1] - 1.0


def noans_auc(questions, diffs):
    """How well the no-answer score (diffs {qid: null - best span score}) tells the two kinds
    apart: the probability that an unanswerable question has a higher diff than an answerable
    one (ROC AUC; ties count half; 0.5 is chance). None without both kinds."""
    un = [diffs[q.qid] for q in questions if q.impossible]
    an = [diffs[q.qid] for q in questions if not q.impossible]
    if not un or not an:
        return None
    both = sorted([(d, 1) for d in un] + [(d, 0) for d in an])
    rank_sum, i = 0.0, 0
    while i < len(both):
        j = i
        while j < len(both) and both[j][0] == both[i][0]:
            j += 1
        mid = (i + 1 + j) / 2.0  # the mean rank (1-based) of a run of equal diffs
        rank_sum += mid * sum(k for _, k in both[i:j])
        i = j
    return (rank_sum - len(un) * (len(un) + 1) / 2.0) / (len(un) * len(an))


def refusal_figures(questions, preds, diffs, share):
    """The figures at refusal_threshold(share) of the questions' unanswerable ones, as refuse_*
    keys (threshold, answerable_f1/_em, noans_acc, all_f1/_em); {} without unanswerable ones."""
    t = refusal_threshold([diffs[q.qid] for q in questions if q.impossible], share)
    if t is None:
        return {}
    r = evaluate_predictions(questions, preds, diffs, t)
    return {"refuse_" + k: r[k] for k in ("threshold", "answerable_f1", "answerable_em", "noans_acc", "all_f1",
                                          "all_em")}


def evaluate_predictions(questions, preds, diffs=None, threshold=None):
    """Scores of predictions {qid: text} (all answered) against the questions.

    With diffs {qid: no-answer score - best span score}: also the threshold that maximizes the
    total F1 (unless `threshold` is given), and every figure at that threshold ("" for the
    questions with diff > threshold). Returns a dict of percentages and counts:
      answerable_f1/_em  over answerable questions only
      noans_acc          unanswerable questions answered with ""
      all_f1/_em         over all questions (SQuAD 2.0's overall figures)
      span_*             the same figures when every question gets its best span."""
    def figures(answer_of):
        has = [q for q in questions if not q.impossible]
        no = [q for q in questions if q.impossible]
        s = {q.qid: score(q, answer_of(q)) for q in questions}
        pct = lambda xs: 100.0 * sum(xs) / len(xs) if xs else 0.0  # noqa: E731
        return {"answerable_em": pct([s[q.qid][0] for q in has]), "answerable_f1": pct([s[q.qid][1] for q in has]),
                "noans_acc": pct([s[q.qid][0] for q in no]), "all_em": pct([s[q.qid][0] for q in questions]),
                "all_f1": pct([s[q.qid][1] for q in questions]), "answerable": len(has), "unanswerable": len(no)}

    out = {("span_" + k): v for k, v in figures(lambda q: preds[q.qid]).items()}
    if diffs is not None:
        if threshold is None:
            sp = [score(q, preds[q.qid])[1] for q in questions]
            em = [score(q, "")[1] for q in questions]
            threshold, _ = best_threshold([diffs[q.qid] for q in questions], sp, em)
        out.update(figures(lambda q: "" if diffs[q.qid] > threshold else preds[q.qid]))
        out["threshold"] = threshold
    return out
