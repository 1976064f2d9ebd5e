"""City names from WordNet's glosses, and SNIPS training utterances with their `city` slot
refilled from them.

SNIPS's `city` values are small towns (atlas, irma, leonville, ...) and its `state` values the
well-known names (north dakota, kentucky, ...), so a slot tagger whose encoder knows names
learns "famous place -> state" and tags boston or rome as a state or country
(docs/nlu-pretraining.md). WordNet (`text/pretrain/wordnet.txt.xz`, one "lemma, lemma: gloss"
line per synset) defines several hundred cities of every size ("Tirana, Albanian capital: the
capital and largest city of Albania ..."; "Herat: a city in northwestern Afghanistan ..."):
the synsets whose gloss starts with a city phrase give a gazetteer that nobody picked by hand.

    /usr/bin/python3 -m train.nlu.gazetteer              # prints the count and a sample
"""
import lzma
import os
import random
import re

from train.common.data import Example
from train.common.metrics import spans

# "Herat: a city in ...", "Windhoek: capital of Namibia ...", "Durres: port city in ...",
# "Tirana, Albanian capital: the capital and largest city of ...": a gloss that opens with a
# city noun phrase (an optional article and one adjective, then capital / city / port / town).
_CITY_GLOSS = re.compile(r"^(?:the |a |an )?(?:[a-z-]+ )?(?:capital|city|port|town)\b")
_NAME = re.compile(r"^[A-Z][A-Za-z.'-]*(?: [A-Z][A-Za-z.'-]*){0,2}$")


def wordnet_cities(path):
    """Sorted, lower-cased city names: the first lemma of every WordNet line whose gloss opens
    with a city phrase and whose lemma is a capitalized name of one to three words (ASCII)."""
    out = set()
    with lzma.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            head, sep, gloss = line.partition(": ")
            if not sep or "district" in gloss[:40]:
                continue
            name = head.split(", ")[0].strip()
            if _NAME.match(name) and _CITY_GLOSS.match(gloss.strip()):
                out.add(name.lower())
    return sorted(out)


def slot_values(examples, slots):
    """The lower-cased values the examples give the named slots."""
    return {" ".join(e.words[i:j]).lower() for e in examples for i, j, t in spans(e.tags) if t in slots}


def refill_cities(examples, cities, seed=1):
    """A copy of every example that has a `city` slot, each city span replaced by a city drawn
    from `cities` (B- on its first word, I- on the rest); the other words and tags unchanged.
    Names the examples themselves use as a state or country ("new york", "virginia") are left
    out of the draw, so the copies never contradict the data."""
    other = slot_values(examples, ("state", "country"))
    cities = [c for c in cities if c not in other]
    rng = random.Random(seed)
    out = []
    for e in examples:
        cuts = sorted((i, j) for i, j, t in spans(e.tags) if t == "city")
        if not cuts:
            continue
        words, tags, k = [], [], 0
        for i, j in cuts:
            new = rng.choice(cities).split()
            words += e.words[k:i] + new
            tags += e.tags[k:i] + ["B-city"] + ["I-city"] * (len(new) - 1)
            k = j
        out.append(Example(words=words + e.words[k:], tags=tags + e.tags[k:], intent=e.intent,
                           meta=dict(e.meta, refilled=True)))
    return out


def main(argv=None):
    import argparse
    from train.common.paths import data_dir
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=data_dir(), help="the shared data dir (text/pretrain/wordnet.txt.xz)")
    args = ap.parse_args(argv)
    path = os.path.join(args.data, "text", "pretrain", "wordnet.txt.xz")
    cities = wordnet_cities(path)
    rng = random.Random(1)
    print("%d cities from %s; a sample: %s" % (len(cities), path, ", ".join(rng.sample(cities, 20))))


if __name__ == "__main__":
    main()
