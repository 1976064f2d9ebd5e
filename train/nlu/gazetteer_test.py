"""Tests of the WordNet city gazetteer and the SNIPS city refill (train/nlu/gazetteer.py).

    /usr/bin/python3 -m unittest train.nlu.gazetteer_test
"""
import lzma
import os
import tempfile
import unittest

from train.common.data import Example
from train.common.paths import data_dir
from train.nlu.gazetteer import refill_cities, slot_values, wordnet_cities

LINES = [
    "Herat: a city in northwestern Afghanistan on the site of several ancient cities.",
    "Tirana, Albanian capital: the capital and largest city of Albania in the center of the country.",
    "Durres, Durazzo: port city in western Albania on the Adriatic.",
    "Tin Pan Alley: a city district (originally in New York) where composers do business.",
    "Boston cream pie: layer cake filled with custard.",
    "New York, New York State, Empire State: a Mid-Atlantic state; one of the original 13 colonies.",
    "New York, New York City, Greater New York: the largest city in New York State.",
    "city: a large and densely populated urban area.",
    "Rio de Janeiro Grande Sul: a city with a four-word name.",
]


class TestGazetteer(unittest.TestCase):
    def test_wordnet_cities(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "wordnet.txt.xz")
            with lzma.open(path, "wt", encoding="utf-8") as f:
                f.write("\n".join(LINES) + "\n")
            # city glosses only; first lemma, lower case; no districts, no lower-case lemmas,
            # at most three words
            self.assertEqual(wordnet_cities(path), ["durres", "herat", "new york", "tirana"])

    def test_refill(self):
        ex = [Example("book a table in east prairie tonight".split(),
                      ["O", "O", "O", "O", "B-city", "I-city", "B-timeRange"], "BookRestaurant"),
              Example("weather in new york".split(), ["O", "O", "B-state", "I-state"], "GetWeather"),
              Example("play jazz".split(), ["O", "B-genre"], "PlayMusic")]
        out = refill_cities(ex, ["new york", "la paz", "herat"], seed=3)
        self.assertEqual(len(out), 1)   # only the utterance with a city
        e = out[0]
        self.assertEqual(e.words[:4], ["book", "a", "table", "in"])
        self.assertEqual(e.words[-1], "tonight")
        self.assertEqual(e.tags[-1], "B-timeRange")
        city = " ".join(w for w, t in zip(e.words, e.tags) if t.endswith("-city"))
        self.assertIn(city, ("la paz", "herat"))     # "new york" is a state in the data: never drawn
        self.assertEqual([t for t in e.tags if t.endswith("-city")],
                         ["B-city"] + ["I-city"] * (len(city.split()) - 1))
        self.assertEqual((e.intent, e.meta.get("refilled")), ("BookRestaurant", True))
        self.assertEqual(slot_values(ex, ("state",)), {"new york"})
        self.assertEqual(ex[0].words[4:6], ["east", "prairie"])   # the originals are untouched

    def test_shared_wordnet(self):
        path = os.path.join(data_dir(), "text", "pretrain", "wordnet.txt.xz")
        if not os.path.exists(path):
            self.skipTest("no %s" % path)
        cities = wordnet_cities(path)
        self.assertGreater(len(cities), 500)
        self.assertNotIn("kentucky", cities)


if __name__ == "__main__":
    unittest.main()
