"""Knowledge-base retrieval on real questions: the 16 articles of the SQuAD 2.0 dev half added
with `parley kb add` to a fresh SQLite file, each answerable dev question searched with
`parley kb search` (train/qa/kb_recall.py, which prints the figures). The floors are a few
points under the figures measured when the search was written (docs/qa.md), so a change that
breaks paragraph splitting, query sanitizing or the BM25 ranking fails here."""
import os
import sys

from train.qa import kb_recall

build = os.path.dirname(os.path.dirname(os.path.abspath(os.environ["PL_PARLEY"])))
r = kb_recall.main(["--build", build, "--k", "1,5", "--data",
                    os.path.join(os.environ["PARLEY_DATA_DIR"], "qa")])
fails = []
if r["questions"] != 1611:
    fails.append("expected 1611 answerable dev questions, got %d" % r["questions"])
if r["paragraph_recall@1"] < 80:
    fails.append("paragraph recall@1 %.2f < 80" % r["paragraph_recall@1"])
if r["answer_recall@5"] < 94:
    fails.append("answer recall@5 %.2f < 94" % r["answer_recall@5"])
for f in fails:
    print("FAIL", f)
print("FAIL" if fails else "PASS")
sys.exit(1 if fails else 0)
