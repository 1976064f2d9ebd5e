#!/usr/bin/python3
"""Transcribe the field tables of the Riva API reference (riva-api.md, section 2: generated
from the descriptors of Riva's own .proto files) into riva_reference.txt, the golden file that
`wire_vectors.py reference` compares Parley's .proto files with.

  make_riva_reference.py ../shared/reference/riva-api.md > tests/proto/riva_reference.txt

Lines (sorted):
  enum <full name> <VALUE>=<n>
  field <message> <number> <name> <type> <label>     label: - | repeated | map | oneof:<name> | optional
  message <full name>
  rpc <path> <request> <response> <unary|server-streaming|client-streaming|bidi-streaming>
"""
import re
import sys


def main(path):
    out = set()
    msg = None
    enum = None
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        m = re.match(r"^#### enum `([\w.]+)`", line)
        if m:
            enum, msg = m.group(1), None
            continue
        m = re.match(r"^#### `([\w.]+)`", line)
        if m:
            msg, enum = m.group(1), None
            out.add("message %s" % msg)
            continue
        if line.startswith("## ") or line.startswith("### "):
            msg = enum = None
        if enum and "`=" in line:
            for name, num in re.findall(r"`(\w+)`=(-?\d+)", line):
                out.add("enum %s %s=%s" % (enum, name, num))
            enum = None
            continue
        m = re.match(r"^Nested enum `([\w.]+)`: (.*)$", line)
        if m:
            for name, num in re.findall(r"(\w+)=(-?\d+)", m.group(2)):
                out.add("enum %s %s=%s" % (m.group(1), name, num))
            continue
        m = re.match(r"^\| `(\w+)` \| `([\w.]+)` \| `([\w.]+)` \| ([\w-]+) \| `(/[\w./]+)` \|", line)
        if m:
            out.add("rpc %s %s %s %s" % (m.group(5), m.group(2), m.group(3), m.group(4)))
            continue
        m = re.match(r"^\| (\d+) \| `(\w+)` \| `([^`]+)` \| ([^|]*)\|", line)
        if m and msg:
            label = m.group(4).strip()
            if label == "":
                label = "-"
            elif label.startswith("oneof "):
                label = "oneof:" + label.split()[1]
            elif label.startswith("optional"):
                label = "optional"
            typ = m.group(3).replace(" ", "")
            out.add("field %s %s %s %s %s" % (msg, m.group(1), m.group(2), typ, label))
    sys.stdout.write("".join(l + "\n" for l in sorted(out)))


if __name__ == "__main__":
    main(sys.argv[1])
