#!/usr/bin/python3
"""Recall@k of parley-qa's knowledge-base retrieval (SQLite FTS5, BM25) on the dev questions.

    /usr/bin/python3 -m train.qa.kb_recall --build build [--k 1,3,5,10,20] [--json FILE]

The knowledge base is built the way a user builds one: every article of the SQuAD 2.0 dev half
(16 articles: the 8 dev articles and the 8 of the training part, as distractors) is written as
a Markdown file, its paragraphs separated by blank lines, and added with `parley kb add` to a
fresh SQLite file. Each answerable dev question goes to `parley kb search -k K` (the very search
parley-qa runs for a NaturalQuery with an empty context). Two figures per k:

  paragraph recall@k  a retrieved passage comes from the question's own paragraph
  answer recall@k     a retrieved passage contains one of the gold answers

parley-qa reads qa.kb_passages passages (5 by default), so recall@5 bounds what the reader can
find there.
"""
import argparse
import json
import os
import subprocess
import tempfile

from train.common.paths import ROOT, data_dir
from train.qa import squad


def squash(s):
    return " ".join(s.split())


def build_kb(questions, parley, kb, tmp):
    """One Markdown file per article, added with parley kb; returns the number of files."""
    arts = {}
    for q in questions:
        paras = arts.setdefault(q.title, {})
        paras.setdefault(q.pid, q.context)
    files = []
    for i, (title, paras) in enumerate(arts.items()):
        f = os.path.join(tmp, "%02d-%s.md" % (i, title.replace("/", "_")))
        with open(f, "w", encoding="utf-8") as out:
            out.write("# %s\n\n" % title.replace("_", " "))
            out.write("\n\n".join(squash(paras[p]) for p in sorted(paras)))
            out.write("\n")
        files.append(f)
    subprocess.run([parley, "kb", "--kb", kb, "add"] + files, check=True, stdout=subprocess.DEVNULL)
    return len(files)


def search(parley, kb, queries, k):
    """[[passage text, ...] best first] per query."""
    p = subprocess.run([parley, "kb", "--kb", kb, "search", "-k", str(k), "-"],
                       input="\n".join(squash(q) for q in queries) + "\n",
                       stdout=subprocess.PIPE, check=True, encoding="utf-8")
    hits = [[] for _ in queries]
    for line in p.stdout.splitlines():
        qi, _rank, _score, _doc, _para, text = line.split("\t", 5)
        hits[int(qi)].append(text)
    return hits


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(data_dir(), "qa"))
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--k", default="1,3,5,10,20")
    ap.add_argument("--json", default="")
    a = ap.parse_args(argv)
    ks = sorted(int(x) for x in a.k.split(","))
    parley = os.path.join(os.path.abspath(a.build), "clients", "parley")
    allq = squad.read_squad(os.path.join(a.data, "squad-v2-dev-half.json"))
    _, dev = squad.split_by_article(allq)
    dev = [q for q in dev if not q.impossible]
    with tempfile.TemporaryDirectory(prefix="pl_kb_recall_") as tmp:
        kb = os.path.join(tmp, "kb.sqlite")
        n_files = build_kb(allq, parley, kb, tmp)
        hits = search(parley, kb, [q.question for q in dev], ks[-1])
    res = {"questions": len(dev), "articles": n_files,
           "paragraphs": len({(q.title, q.pid) for q in allq})}
    for k in ks:
        para = sum(any(len(h) > 40 and h in squash(q.context) for h in hits[i][:k]) for i, q in enumerate(dev))
        ans = sum(any(any(g in h for g in q.gold) for h in hits[i][:k]) for i, q in enumerate(dev))
        res["paragraph_recall@%d" % k] = round(100.0 * para / len(dev), 2)
        res["answer_recall@%d" % k] = round(100.0 * ans / len(dev), 2)
    print("knowledge base: %d articles, %d paragraphs; %d answerable dev questions"
          % (res["articles"], res["paragraphs"], res["questions"]))
    for k in ks:
        print("k=%-3d paragraph recall %6.2f%%   answer recall %6.2f%%"
              % (k, res["paragraph_recall@%d" % k], res["answer_recall@%d" % k]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
    return res


if __name__ == "__main__":
    main()
