#!/usr/bin/python3
"""Write the edge-case corpus of the WordPiece reference test to argv[1].

One case per line (bytes split at b'\\n'): accents, final sigma, dotted I,
CJK, emoji, control and format characters, every kind of whitespace, NUL,
U+FFFD, long words, punctuation runs, combining-mark ordering, scripts with
non-spacing marks, case pairs added in recent Unicode versions, and invalid
UTF-8 (which both tokenizers must reject)."""
import sys

CASES = [
    "Héllo Wörld, naïve café — résumé. CRÈME BRÛLÉE",
    "ΟΔΟΣ. Σίσυφος ΣΑΣ Σ σ ΑΣ'Β ΑΣ.Β Σ1 ΑΣ1 ΌΣΟΣ",
    "İstanbul İ İİ DİYARBAKIR ı ß ẞ",
    "我爱北京天安门 hello世界 中文abc漢字 豈更",
    "I ❤️ 🍕 pizza 😀! 👍🏽 👨‍👩‍👧",
    "a\x01b\x7fc\u200bd\u00ade\u2060f\ufeffg",
    "a\u00a0b\u3000c\u2028d\u2029e\x0bf\x0cg\x85h\x1ci\u1680j\u202fk\u205fl",
    "x\x00y \ufffd z\ufffdw",
    "a" * 150,
    "b" * 100,
    "c" * 101,
    "supercalifragilisticexpialidocious" * 3,
    "!!!???...,,,;;; -- (hello)[world]{x} ¿Qué? «guillemets» “quotes” ‘single’ …",
    "한국어 텍스트 입니다",
    "e\u0301\u0323 a\u0328\u0301 o\u031b\u0323\u0301 \u0301 \u0301\u0301x",
    "ﬁ ligature ﬀ Ⅻ ǅ ǆ Ǆ Ⅰ ⓐⒶ",
    "مرحبا بالعالم שָׁלוֹם नमस्ते ภาษาไทย",
    "3.14 1,000 $5 50% e=mc^2 a_b a`b ~tilde~ @user #tag",
    "[CLS] [SEP] [UNK] [MASK]",
    "Ꭰ Ᏸ ᲐᲑᲒ Ⴀ",
    "a\rb\tc",
    "",
    "   \t  ",
    "unaffable unwanted running jumped",
    "Mr. O'Neill's rock'n'roll",
    "\u0130\u0307 I\u0307",
    "Σ\u0301 ΑΣ\u0301 ΑΣ\u00ad",
]
INVALID = [b"\xff\xfe", b"abc\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"ok \xf4\x90\x80\x80",
           b"\xe2\x82"]


def main():
    with open(sys.argv[1], "wb") as f:
        for c in CASES:
            f.write(c.encode("utf-8") + b"\n")
        for b in INVALID:
            f.write(b + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
