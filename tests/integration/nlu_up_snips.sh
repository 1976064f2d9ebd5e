#!/usr/bin/env bash
# The shipped NLU models through the stack as `parley up` starts it (NATS + gateway +
# parley-nlu, default config, models/ of the source tree), on free ports:
#   AnalyzeIntent("book a table for two at an italian restaurant in boston tomorrow") ->
#   BookRestaurant with party_size_number=two, cuisine=italian, city=boston, timeRange=tomorrow;
#   AnalyzeEntities finds a person and a location (when an NER model is shipped);
#   PunctuateText("how are you doing today") is a capitalized question (when a punctuation
#   model is shipped).
# Fails when models/nlu-intent-slot-snips (shipped) is missing.
# Usage: nlu_up_snips.sh <build dir> <source dir>
set -u
BUILD=$1
SRC=$2
PY=${PL_PYTHON:-/usr/bin/python3}
if [[ ! -f "$SRC/models/nlu-intent-slot-snips/config.json" ]]; then
  echo "FAIL: $SRC/models/nlu-intent-slot-snips is missing (it is shipped)"
  exit 1
fi
T=$(mktemp -d /tmp/pl_nlu_up_XXXXXX)
UP_PID=
cleanup() {
  [[ -n "$UP_PID" ]] && kill -TERM "$UP_PID" 2>/dev/null && sleep 1
  if [[ -f "$T/state/parley-up.state" ]]; then
    while read -r name pid _; do kill -KILL "$pid" 2>/dev/null; done < "$T/state/parley-up.state"
  fi
  [[ -n "$UP_PID" ]] && kill -KILL "$UP_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "FAIL: $*"; cat "$T/up.out"; tail -20 "$T"/state/logs/nlu.log 2>/dev/null; exit 1; }

read -r P1 P2 P3 < <($PY -c '
import socket
ss=[socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1",0))
print(*[s.getsockname()[1] for s in ss])')

# From a directory without models/: parley-nlu finds the source tree's through the config path.
(cd "$T" && exec "$BUILD/clients/parley" up --state-dir "$T/state" --nats-port "$P1" --grpc-port "$P2" \
  --http-port "$P3" --only nlu --ready-timeout 60) > "$T/up.out" 2>&1 &
UP_PID=$!
for _ in $(seq 600); do grep -q "all 3 ready" "$T/up.out" && break; sleep 0.1; done
grep -q "all 3 ready" "$T/up.out" || fail "parley up (nats, gateway, nlu) did not report ready"
echo "ok   parley up: nats, gateway and nlu ready"

PYTHONPATH="$PL_PYTHON_STUBS" $PY - "$P2" "$SRC/models" <<'PYEOF' || fail "NLU checks"
import glob, json, os, sys
import grpc
from riva.proto import riva_nlp_pb2 as NLP, riva_nlp_pb2_grpc
stub = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(grpc.insecure_channel("127.0.0.1:" + sys.argv[1]))
q = "book a table for two at an italian restaurant in boston tomorrow"
r = stub.AnalyzeIntent(NLP.AnalyzeIntentRequest(query=q), timeout=30)
slots = {s.label[0].class_name: s.token for s in r.slots}
print("intent %s %.3f slots %s" % (r.intent.class_name, r.intent.score, slots))
assert r.intent.class_name == "BookRestaurant", r.intent
want = {"party_size_number": "two", "cuisine": "italian", "city": "boston", "timeRange": "tomorrow"}
for k, v in want.items():
    assert slots.get(k) == v, "slot %s: %r (want %r)" % (k, slots.get(k), v)
for s in r.slots:
    assert q[s.span[0].start:s.span[0].end] == s.token, s
print("ok   AnalyzeIntent: BookRestaurant, party_size_number=two cuisine=italian city=boston timeRange=tomorrow")
tasks = set()
for c in glob.glob(os.path.join(sys.argv[2], "*", "config.json")):
    tasks.add(json.load(open(c)).get("task"))
if "token_classification" in tasks:
    r = stub.AnalyzeEntities(NLP.AnalyzeEntitiesRequest(query="John Smith flew from Paris to London on Monday"),
                             timeout=30)
    types = {v.label[0].class_name for v in r.results[0].results}
    print("entities", [(v.token, v.label[0].class_name) for v in r.results[0].results])
    assert "PER" in types and "LOC" in types, types
    print("ok   AnalyzeEntities: a person and a location")
if "punctuation_capitalization" in tasks:
    r = stub.PunctuateText(NLP.TextTransformRequest(text=["how are you doing today"]), timeout=30)
    t = r.text[0]
    print("punctuated:", t)
    assert t[0] == "H" and t.endswith("?"), t
    print("ok   PunctuateText: a capitalized question")

# The legacy Riva NLP scripts name Riva's default models: the aliases in nlu.model_aliases.
# intentslot_client.py: ClassifyText + ClassifyTokens, model riva_intent_weather
r = stub.ClassifyText(NLP.TextClassRequest(text=["will it rain in paris tomorrow"],
                                           model=NLP.NLPModelParams(model_name="riva_intent_weather")), timeout=30)
assert r.results[0].labels[0].class_name == "GetWeather", r
r = stub.ClassifyTokens(NLP.TokenClassRequest(text=["will it rain in paris tomorrow"],
                                              model=NLP.NLPModelParams(model_name="riva_intent_weather")), timeout=30)
assert any(t.label[0].class_name.endswith("city") for t in r.results[0].results), r
print("ok   riva_intent_weather (intentslot_client.py): GetWeather, a city slot")
# text_classify_client.py: ClassifyText, model riva_text_classification_domain
r = stub.ClassifyText(NLP.TextClassRequest(text=["play some jazz"],
                                           model=NLP.NLPModelParams(model_name="riva_text_classification_domain")),
                      timeout=30)
assert r.results[0].labels[0].class_name == "PlayMusic", r
print("ok   riva_text_classification_domain (text_classify_client.py): PlayMusic")
if "token_classification" in tasks:  # ner_client.py: ClassifyTokens, model riva_ner, two texts
    r = stub.ClassifyTokens(NLP.TokenClassRequest(text=["John Smith flew from Paris to London on Monday",
                                                        "Where is Paris?"],
                                                  model=NLP.NLPModelParams(model_name="riva_ner")), timeout=30)
    assert len(r.results) == 2 and any(t.label[0].class_name.endswith("LOC") for t in r.results[0].results), r
    print("ok   riva_ner (ner_client.py): two texts, a location")
if "punctuation_capitalization" in tasks:
    r = stub.PunctuateText(NLP.TextTransformRequest(text=["how are you doing today"],
                                                    model=NLP.NLPModelParams(model_name="riva-punctuation-en-US")),
                           timeout=30)
    assert r.text[0][0] == "H", r
    print("ok   riva-punctuation-en-US")
cfg = stub.GetRivaNLPConfig(NLP.RivaNLPConfigRequest(), timeout=30)
names = {c.model_name: dict(c.parameters) for c in cfg.model_config}
assert names.get("riva_intent_weather", {}).get("alias_of") == "nlu-intent-slot-snips", names.keys()
print("ok   GetRivaNLPConfig lists the aliases (alias_of)")
try:
    stub.ClassifyText(NLP.TextClassRequest(text=["hi"], model=NLP.NLPModelParams(model_name="riva_no_such")),
                      timeout=30)
    raise AssertionError("an unknown model name answered")
except grpc.RpcError as e:
    assert e.code() == grpc.StatusCode.NOT_FOUND and "nlu-intent-slot-snips" in e.details(), e.details()
print("ok   an unknown model name: NOT_FOUND listing the loaded models")
PYEOF
exit 0
