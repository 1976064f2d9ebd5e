"""Transcript normalization for ASR training and scoring.

normalize(text): lower case; accents stripped; "&" -> "and", "%" -> "percent",
"$N" -> "N dollars"; numbers spelled out (integers, decimals "three point five",
ordinals "1st" -> "first", years 1100-1999 / 2010-2099 read as pairs "nineteen ninety";
"2000"-"2009" as "two thousand (and) n"); hyphens and other punctuation become spaces,
apostrophes inside words are kept; only a-z, "'" and single spaces remain.
The same function prepares TTS input and reference transcripts, so audio and
labels agree.
"""
import re
import unicodedata

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
        "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
        "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ORD = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
       "nine": "ninth", "twelve": "twelfth"}


def int_words(n):
    if n < 0:
        return "minus " + int_words(-n)
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    if n < 1000:
        r = ONES[n // 100] + " hundred"
        return r + ("" if n % 100 == 0 else " " + int_words(n % 100))
    for div, name in ((10 ** 12, "trillion"), (10 ** 9, "billion"), (10 ** 6, "million"),
                      (1000, "thousand")):
        if n >= div:
            r = int_words(n // div) + " " + name
            return r + ("" if n % div == 0 else " " + int_words(n % div))
    return ONES[n]


def year_words(n):
    hi, lo = divmod(n, 100)
    if lo == 0:
        return int_words(hi) + " hundred"
    if lo < 10:
        return int_words(hi) + " oh " + ONES[lo]
    return int_words(hi) + " " + int_words(lo)


def ordinal_words(n):
    w = int_words(n).split()
    last = w[-1]
    if last in ORD:
        w[-1] = ORD[last]
    elif last.endswith("y"):
        w[-1] = last[:-1] + "ieth"
    else:
        w[-1] = last + "th"
    return " ".join(w)


def _number(m):
    s = m.group(0)
    s_clean = s.replace(",", "")
    if re.fullmatch(r"\d+(st|nd|rd|th)", s_clean):
        return " " + ordinal_words(int(re.match(r"\d+", s_clean).group(0))) + " "
    if "." in s_clean:
        a, b = s_clean.split(".", 1)
        left = int_words(int(a)) if a else "zero"
        return " " + left + " point " + " ".join(ONES[int(c)] for c in b if c.isdigit()) + " "
    if len(s_clean) > 15:
        return " " + " ".join(ONES[int(c)] for c in s_clean) + " "
    n = int(s_clean)
    if "," not in s and len(s_clean) == 4 and (1100 <= n <= 1999 or 2010 <= n <= 2099):
        return " " + year_words(n) + " "
    return " " + int_words(n) + " "


def normalize(text):
    t = unicodedata.normalize("NFKD", text)
    t = "".join(c for c in t if not unicodedata.combining(c)).lower()
    t = t.replace("&", " and ").replace("%", " percent ").replace("+", " plus ")
    t = re.sub(r"\$\s?(\d+(?:,\d{3})*(?:\.\d+)?)", r"\1 dollars", t)
    t = re.sub(r"[\u2018\u2019`]", "'", t)
    t = re.sub(r"\d+(?:,\d{3})*(?:\.\d+)?(?:st|nd|rd|th)?", _number, t)
    t = re.sub(r"[^a-z' ]+", " ", t)
    t = re.sub(r"(^|\s)'+|'+(\s|$)", " ", t)  # quotes, not apostrophes
    return " ".join(t.split())


if __name__ == "__main__":
    import sys
    for line in sys.stdin:
        print(normalize(line))
