#!/bin/sh
# WordPiece reference test: the C tokenizer (wordpiece_dump) and the
# Python reference (wordpiece_ref.py) tokenize every line of the shared text
# corpora, the SQuAD contexts and questions, and an edge-case corpus; ids,
# code-point spans, byte spans and word indices must be identical on every line.
#   test_wordpiece_ref.sh DUMP PYTHON REF_PY DATA_DIR WORK_DIR [--selfcheck]
# With --selfcheck it instead checks the Python reference against a literal
# whole-string transcription of BERT's BasicTokenizer (wordpiece_ref.py).
set -eu
DUMP=$1 PY=$2 REF=$3 DATA=$4 WORK=$5 MODE=${6:-compare}
HERE=$(dirname "$0")
VOCAB=$DATA/vocab/bert-base-uncased-vocab.txt
mkdir -p "$WORK"
"$PY" "$HERE/test_wordpiece_edge.py" "$WORK/edge.txt"
if [ "$MODE" = "--selfcheck" ]; then
  exec "$PY" "$REF" --selfcheck "$VOCAB" "$DATA/text/moby-dick.txt" "$WORK/edge.txt"
fi
# SQuAD contexts and questions: the text the QA service sees.
"$PY" -c 'import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
with open(sys.argv[2], "w", encoding="utf-8", newline="") as f:
    for a in d["data"]:
        for p in a["paragraphs"]:
            f.write(p["context"] + "\n")
            for q in p["qas"]:
                f.write(q["question"] + "\n")' "$DATA/qa/squad-v2-dev-half.json" "$WORK/squad.txt"
# State of the Union: every 7th address (one a line, 1790 on: every era, ~1.5 MB of the
# 10.7 MB; the whole file tripled the test's time without new kinds of text).
awk 'NR % 7 == 1' "$DATA/text/sotu.txt" > "$WORK/sotu.txt"
FILES="$WORK/sotu.txt $DATA/text/moby-dick.txt $DATA/text/ljspeech-sentences.csv $WORK/squad.txt $WORK/edge.txt"
# shellcheck disable=SC2086
"$PY" "$REF" "$VOCAB" $FILES > "$WORK/py.txt" &
PYPID=$!
# shellcheck disable=SC2086
if ! "$DUMP" "$VOCAB" $FILES > "$WORK/c.txt"; then
  kill "$PYPID" 2>/dev/null || true
  echo "FAIL: C driver failed"; exit 1
fi
if ! wait "$PYPID"; then echo "FAIL: Python reference failed"; exit 1; fi
NL=$(wc -l < "$WORK/c.txt")
NT=$(tr ' \t' '\n\n' < "$WORK/c.txt" | grep -c ':.*:.*:.*:.*:' || true)
if cmp -s "$WORK/c.txt" "$WORK/py.txt"; then
  INV=$(grep -c 'INVALID$' "$WORK/c.txt" || true)
  echo "PASS: $NL lines, $NT tokens identical (ids, char and byte spans, words); $INV invalid-UTF-8 lines rejected by both"
  exit 0
fi
echo "FAIL: C and Python differ; first differing lines (< C, > Python):"
diff "$WORK/c.txt" "$WORK/py.txt" | head -n 20 | cut -c 1-600
exit 1
