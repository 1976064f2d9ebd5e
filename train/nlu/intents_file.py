"""Training examples for custom intents: a YAML file close to Rasa's nlu.yml (docs/nlu.md,
"Custom intents"), or the `nlu:` section of a dialog spec (dialog/specs/*.yaml).

    version: "1"                # optional
    nlu:
      - intent: order_drink
        examples: |
          - a [large](size) [latte](drink) please
          - can i get a [small](size) [flat white](drink)
      - intent: ask_hours
        examples:               # a YAML list of strings works too
          - when do you open

An example is one utterance; `[words](slot)` marks the words a slot takes (Rasa's
`[words]{"entity": "slot"}` is read too). Utterances are split into words at whitespace, as
parley-nlu splits them; a word that an annotation touches takes its slot (BIO tags). Rasa's
`synonym`, `regex` and `lookup` entries are skipped with a warning.

read(path) -> IntentsFile; every problem raises IntentsError("FILE:LINE: KEY: what"). Only
PyYAML is needed (no torch), so bad files fail fast.
"""
import json
import os
import re

import yaml

from train.common.data import Example

SLOT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
INTENT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$")
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
RASA_SKIPPED = ("synonym", "regex", "lookup")
MIN_EXAMPLES = 2


class IntentsError(ValueError):
    """A problem in the file, its message "FILE:LINE: KEY: what"."""


class IntentsFile:
    """The examples of a file: examples (Examples with words, tags, intent; meta["line"]),
    intents and slot names in first-seen order, name (the dialog's or the file's stem),
    warnings (strings "FILE:LINE: KEY: what")."""

    def __init__(self, path):
        self.path = path
        self.examples, self.intents, self.slots, self.warnings = [], [], [], []
        self.name = os.path.splitext(os.path.basename(path))[0]
        self.is_dialog = False


def _fail(path, line, key, what):
    raise IntentsError("%s:%d: %s: %s" % (path, line, key, what))


def _line(node):
    return node.start_mark.line + 1


def _map_items(node):
    """[(key, key node, value node)] of a YAML mapping node."""
    return [(k.value if isinstance(k, yaml.ScalarNode) else None, k, v) for k, v in node.value]


def parse_example(text, path, line, key):
    """(words, BIO tags, slot names in order) of one annotated utterance."""
    plain, spans, i = [], [], 0
    while i < len(text):
        c = text[i]
        if c == "]":
            _fail(path, line, key, "']' without an opening '[' in %r" % text)
        if c != "[":
            plain.append(c)
            i += 1
            continue
        close = text.find("]", i + 1)
        inner_open = text.find("[", i + 1)
        if close < 0 or (0 <= inner_open < close):
            _fail(path, line, key, "annotation %r has no closing ']' (write [words](slot))"
                  % text[i:i + 40])
        words = text[i + 1:close]
        slot, i = _slot_of(text, close + 1, path, line, key)
        if not words.strip():
            _fail(path, line, key, "annotation '[%s](%s)' marks no words" % (words, slot))
        start = len("".join(plain))
        plain.append(words)
        spans.append((start, start + len(words), slot))
    return _tag_words("".join(plain), spans, path, line, key)


def _slot_of(text, i, path, line, key):
    """(slot name, index after it) of the '(slot)' or '{"entity": "slot"}' at text[i]."""
    if i < len(text) and text[i] == "(":
        end = text.find(")", i + 1)
        if end < 0:
            _fail(path, line, key, "%r has no closing ')' (write [words](slot))" % text[i:i + 40])
        slot = text[i + 1:end].strip()
        nxt = end + 1
    elif i < len(text) and text[i] == "{":
        end = text.find("}", i + 1)
        if end < 0:
            _fail(path, line, key, "entity %r has no closing '}'" % text[i:i + 40])
        try:
            d = json.loads(text[i:end + 1])
        except ValueError as e:
            _fail(path, line, key, "entity %r is not JSON: %s" % (text[i:end + 1], e))
        slot = d.get("entity", "") if isinstance(d, dict) else ""
        if not isinstance(slot, str) or not slot:
            _fail(path, line, key, "entity %r names no \"entity\"" % text[i:end + 1])
        nxt = end + 1
    else:
        _fail(path, line, key, "annotation ending at %r needs its slot: [words](slot)"
              % text[max(0, i - 20):i])
    if not SLOT_NAME.match(slot):
        _fail(path, line, key, "slot name %r: use letters, digits, '_' and '-', starting with "
              "a letter" % slot)
    return slot, nxt


def _tag_words(text, spans, path, line, key):
    """Words at whitespace; a word touching span k takes B- (the span's first word) or I-."""
    words, tags, prev = [], [], None
    for m in re.finditer(r"\S+", text):
        words.append(m.group(0))
        k = next((k for k, (s, e, _) in enumerate(spans) if m.start() < e and s < m.end()), None)
        tags.append("O" if k is None else ("I-" if k == prev else "B-") + spans[k][2])
        prev = k
    if not words:
        _fail(path, line, key, "empty example")
    return words, tags, [s for _, _, s in spans]


def _examples_of(node, path, key):
    """[(utterance, line)] of an `examples:` value: a block of '- ' lines or a list."""
    if isinstance(node, yaml.SequenceNode):
        out = []
        for i, item in enumerate(node.value):
            if not isinstance(item, yaml.ScalarNode):
                _fail(path, _line(item), "%s[%d]" % (key, i), "an example is a string")
            out.append((item.value, _line(item)))
        return out
    if not isinstance(node, yaml.ScalarNode):
        _fail(path, _line(node), key, "a block of '- example' lines (examples: |) or a list")
    literal = node.style == "|"
    out = []
    for k, raw in enumerate(node.value.split("\n")):
        line = _line(node) + 1 + k if literal else _line(node)
        s = raw.strip()
        if not s:
            continue
        if not s.startswith("-"):
            _fail(path, line, key, "%r: each example is a line starting with '- '" % s[:40])
        out.append((s[1:].strip(), line))
    return out


def _intent_entry(f, node, idx, seen):
    path, key = f.path, "nlu[%d]" % idx
    items = _map_items(node)
    keys = [k for k, _, _ in items]
    skipped = [k for k in keys if k in RASA_SKIPPED]
    if skipped:
        f.warnings.append("%s:%d: %s: Rasa's '%s' entries are not used; skipped"
                          % (path, _line(node), key, skipped[0]))
        return
    for k, kn, _ in items:
        if k not in ("intent", "examples", "metadata"):
            _fail(path, _line(kn), "%s.%s" % (key, k), "unknown key (known: intent, examples, "
                  "metadata; Rasa's synonym, regex and lookup are skipped)")
    d = {k: v for k, _, v in items}
    if "intent" not in d:
        _fail(path, _line(node), key, "no 'intent:' (each entry is '- intent: NAME' with "
              "'examples:')")
    inode = d["intent"]
    intent = inode.value if isinstance(inode, yaml.ScalarNode) else None
    if not intent or not INTENT_NAME.match(intent):
        _fail(path, _line(inode), key + ".intent", "intent name %r: use letters, digits, '_', "
              "'-', '.' and '/'" % (intent,))
    if "examples" not in d:
        _fail(path, _line(node), "%s (%s)" % (key, intent), "no 'examples:'")
    ekey = "%s.examples (%s)" % (key, intent)
    for text, line in _examples_of(d["examples"], path, ekey):
        if not text:
            _fail(path, line, ekey, "empty example")
        words, tags, slots = parse_example(text, path, line, ekey)
        norm = " ".join(words).lower()
        if norm in seen:
            other, oline = seen[norm]
            if other != intent:
                _fail(path, line, ekey, "%r is also an example of intent '%s' (line %d)"
                      % (" ".join(words), other, oline))
            f.warnings.append("%s:%d: %s: %r repeats line %d; used once" % (path, line, ekey,
                                                                            text, oline))
            continue
        seen[norm] = (intent, line)
        f.examples.append(Example(words, tags, intent, {"line": line, "text": text}))
        if intent not in f.intents:
            f.intents.append(intent)
        for s in slots:
            if s not in f.slots:
                f.slots.append(s)
    if intent not in f.intents:
        _fail(path, _line(node), ekey, "intent '%s' has no examples" % intent)


def _check_counts(f, nlu_line):
    if not f.intents:
        _fail(f.path, nlu_line, "nlu", "no examples")
    for intent in f.intents:
        ex = [e for e in f.examples if e.intent == intent]
        if len(ex) < MIN_EXAMPLES:
            _fail(f.path, ex[0].meta["line"], "intent '%s'" % intent,
                  "has %d example%s; give at least %d (10 or more make a useful model)"
                  % (len(ex), "" if len(ex) == 1 else "s", MIN_EXAMPLES))
    if len(f.intents) < 2:
        _fail(f.path, nlu_line, "nlu", "only one intent ('%s'): a model tells intents apart, "
              "give at least two" % f.intents[0])


def _dialog_refs(f, root_items):
    """Warnings for dialog intents and slots that name NLU labels the examples lack."""
    d = {k: v for k, _, v in root_items}
    for section, known, what in (("intents", f.intents, "intent"), ("slots", f.slots, "slot")):
        sec = d.get(section)
        if not isinstance(sec, yaml.MappingNode):
            continue
        for name, _, v in _map_items(sec):
            nlu = dict((k, vv) for k, _, vv in _map_items(v)).get("nlu") \
                if isinstance(v, yaml.MappingNode) else None
            if not isinstance(nlu, yaml.SequenceNode):
                continue
            for lab in nlu.value:
                if isinstance(lab, yaml.ScalarNode) and lab.value not in known:
                    f.warnings.append("%s:%d: %s.%s.nlu: %s '%s' has no examples in the nlu: "
                                      "section" % (f.path, _line(lab), section, name, what,
                                                   lab.value))


def read(path):
    """The IntentsFile of path. Raises IntentsError naming file, line and key."""
    f = IntentsFile(path)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as e:
        raise IntentsError("%s: %s" % (path, e))
    if not text.strip():
        raise IntentsError("%s:1: (top): the file is empty (expected 'nlu:' with intents and "
                           "their examples)" % path)
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise IntentsError("%s:%d: (yaml): %s" % (path, mark.line + 1 if mark else 1,
                                                  getattr(e, "problem", None) or e))
    if root is None:
        raise IntentsError("%s:1: (top): the file is empty (expected 'nlu:')" % path)
    if not isinstance(root, yaml.MappingNode):
        _fail(path, _line(root), "(top)", "expected a mapping with 'nlu:'")
    items = _map_items(root)
    keys = {k: (kn, v) for k, kn, v in items}
    f.is_dialog = "dialog" in keys
    if f.is_dialog:
        dn = keys["dialog"][1]
        if isinstance(dn, yaml.ScalarNode) and dn.value:
            f.name = dn.value
    else:
        for k, kn, _ in items:
            if k not in ("version", "nlu"):
                _fail(path, _line(kn), str(k), "unknown key (known: version, nlu; or a dialog "
                      "spec with 'dialog:' and an 'nlu:' section)")
    if "nlu" not in keys:
        _fail(path, 1, "nlu", "no 'nlu:' section: the intents and their examples go there")
    nlu = keys["nlu"][1]
    if not isinstance(nlu, yaml.SequenceNode):
        _fail(path, _line(nlu), "nlu", "a list of '- intent: NAME' entries with 'examples:'")
    seen = {}
    for i, entry in enumerate(nlu.value):
        if not isinstance(entry, yaml.MappingNode):
            _fail(path, _line(entry), "nlu[%d]" % i, "an entry is '- intent: NAME' with "
                  "'examples:'")
        _intent_entry(f, entry, i, seen)
    _check_counts(f, _line(keys["nlu"][0]))
    if f.is_dialog:
        _dialog_refs(f, items)
    return f
