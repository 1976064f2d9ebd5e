#!/usr/bin/python3
"""Unicode-table parity of the C tokenizer (utf8proc) with Python's
unicodedata + str.lower(), code point by code point.

A synthetic vocabulary holds every single code point c as "c" and "##c", so
the ids the tokenizer emits spell out exactly what cleaning, CJK splitting,
lower-casing, NFD, mark stripping and punctuation splitting made of c. Each
code point gets one line with three words: "c", "ΑcΣ" and "ΑΣc" (the Greek
words expose Python's Cased/Case_Ignorable properties through the
final-sigma rule). The C driver (wordpiece_dump) and wordpiece_ref.py
tokenize every line; a line that differs is allowed only for code points
that Python's Unicode database (14.0 on Debian 12) does not assign yet and
utf8proc (Unicode 15) does. Any other difference fails the test.

Covered: planes 0 and 1 completely, plane 14's assigned block U+E0000..U+E01FF (tags and
variation selectors) completely, every 251st code point elsewhere (the rest of plane 14 is
unassigned: a sample is enough).
Usage: test_wordpiece_unicode.py DUMP WORK_DIR
"""
import os
import subprocess
import sys
import unicodedata

import wordpiece_ref as ref  # noqa: E402


def code_points():
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF or cp == 0x0A:
            continue
        if cp < 0x20000 or 0xE0000 <= cp < 0xE0200 or cp % 251 == 0:
            yield cp


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    dump, work = argv
    os.makedirs(work, exist_ok=True)
    vocab_path = os.path.join(work, "unicode_vocab.txt")
    text_path = os.path.join(work, "unicode_text.txt")
    cps = list(code_points())
    with open(vocab_path, "wb") as f:
        f.write(b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n")
        for cp in cps:
            c = chr(cp)
            if c in " \t\r\x0b\x0c":
                continue  # load_vocab strips them
            f.write(("%s\n##%s\n" % (c, c)).encode("utf-8"))
    with open(text_path, "wb") as f:
        for cp in cps:
            c = chr(cp)
            f.write(("%s \u0391%s\u03a3 \u0391\u03a3%s\n" % (c, c, c)).encode("utf-8"))

    proc = subprocess.run([dump, vocab_path, text_path], stdout=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        print("FAIL: C driver exited with %d" % proc.returncode)
        return 1
    c_lines = proc.stdout.decode("utf-8").split("\n")[:-1]
    if len(c_lines) != len(cps):
        print("FAIL: C driver printed %d lines for %d code points" % (len(c_lines), len(cps)))
        return 1

    vocab, pieces = ref.load_vocab(vocab_path)
    tok = ref.OffsetTokenizer(vocab)
    newer, other = [], []
    with open(text_path, "rb") as f:
        for no, (cp, raw) in enumerate(zip(cps, f.read().split(b"\n")), 1):
            toks = tok.line(raw.decode("utf-8"))
            want = "text:%d\t%s" % (no, " ".join("%d:%d:%d:%d:%d:%d" % t for t in toks))
            got = c_lines[no - 1].split("\t", 1)[1]
            if got == want.split("\t", 1)[1]:
                continue
            if unicodedata.category(chr(cp)) == "Cn":
                newer.append(cp)
            else:
                other.append((cp, got, want.split("\t", 1)[1], pieces))
    print("%d code points compared (Python Unicode %s, 3 words each)"
          % (len(cps), unicodedata.unidata_version))
    print("%d differ only because Python's Unicode %s leaves them unassigned (first: %s)"
          % (len(newer), unicodedata.unidata_version,
             " ".join("U+%04X" % c for c in newer[:8])))
    if other:
        print("FAIL: %d assigned code points differ:" % len(other))
        for cp, got, want, p in other[:20]:
            def spell(s):
                return " ".join(p[int(t.split(":")[0])] for t in s.split()) if s else ""
            print("  U+%04X %s  C: %s  Python: %s" % (cp, unicodedata.name(chr(cp), "?"),
                                                      spell(got), spell(want)))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
