#!/usr/bin/python3
"""Before/after/ONNX Runtime encoder latency on a shared machine: runs
`parley-bench encoder` binaries in turn (A, B with --ort, A, B with --ort, ...)
for ROUNDS rounds per thread count, so slow phases of the neighbours hit every
party alike, and prints the median over rounds of each run's p50 as a
Markdown table with the ratios.

Usage: bench_interleave.py --before BIN --after BIN [--model DIR] [--threads 1,2]
       [--seqs 16,128,384] [--batch 8] [--rounds 3] [--iters 5] [--tp-iters 3]
       [--precision f32|int8|f32,int8]

One table per precision; the int8 table's ORT column is ONNX Runtime's
dynamic-int8 graph of the same weights (ort_int8.py), with ORT f32 beside it.

Each binary is a `parley-bench` build (the same bench source; the engine
differs). ORT runs inside the --after invocation (bench_ort.js, $PL_ORT_DIR).
One thread: process CPU time of each party; two: wall time (see bench_main.c).
"""
import argparse
import os
import re
import statistics
import subprocess
import time

LAT = re.compile(r"^(\d+)\s+(f32|int8)\s+1x(\d+)\s+([\d.]+)\s+([\d.]+)\s+\S+\s+\S+\s+(\S+)\s+\S+")
TP = re.compile(r"^(\d+)\s+(f32|int8)\s+(\d+)x128\s+([\d.]+)\s+-\s+throughput ([\d.]+) seq/s"
                r"(?:.*, ORT ([\d.]+) \()?")


def run(binary, a, threads, ort):
    prec = a.precision
    if ort and "f32" not in prec:
        prec += ",f32"  # ORT's f32 row for reference
    cmd = [binary, "encoder", "--threads", str(threads), "--precision", prec, "--seqs", a.seqs,
           "--iters", str(a.iters), "--tp-iters", str(a.tp_iters), "--tp-batch", str(a.batch),
           "--no-torch", "--no-gemm"]
    if a.model:
        cmd += ["--model", a.model]
    if ort:
        cmd.append("--ort")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    ours, peer = {}, {}
    for line in out.splitlines():
        m = LAT.match(line)
        if m:
            key = m.group(2) + " 1x" + m.group(3)
            ours[key] = float(m.group(4))
            if m.group(6) != "-":
                peer[key] = float(m.group(6))
            continue
        m = TP.match(line)
        if m:
            key = m.group(2) + " " + m.group(3) + "x128"
            ours[key] = float(m.group(4))
            if m.group(6):
                peer[key] = int(m.group(3)) / float(m.group(6)) * 1e3
    return ours, peer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--model")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--seqs", default="16,128,384")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--tp-iters", type=int, default=3)
    ap.add_argument("--precision", default="f32")
    a = ap.parse_args()
    shapes = ["1x" + s for s in a.seqs.split(",")] + [f"{a.batch}x128"]
    print(f"model {a.model or 'BERT-base (random weights)'}, {a.rounds} rounds, p50 of {a.iters} "
          f"(batched: {a.tp_iters}) forwards per run; medians over rounds")
    for thr in (int(t) for t in a.threads.split(",")):
        runs = {"before": [], "after": [], "ort": []}
        loads = []
        for _ in range(a.rounds):
            loads.append(os.getloadavg()[0])
            runs["before"].append(run(a.before, a, thr, False)[0])
            loads.append(os.getloadavg()[0])
            ours, peer = run(a.after, a, thr, True)
            runs["after"].append(ours)
            runs["ort"].append(peer)
        clock = "process CPU" if thr == 1 else "wall"
        print(f"\n{thr} thread(s), {clock} ms; load average {min(loads):.1f}-{max(loads):.1f} "
              f"during the runs ({time.strftime('%H:%M', time.gmtime())} UTC)")
        fmt = lambda v: f"{v:.1f}" if v is not None else "-"
        div = lambda x, y: f"{x / y:.2f}" if x and y else "-"
        for prec in a.precision.split(","):
            med = {}
            for sh in shapes:
                for k, rs in runs.items():
                    for p in (prec, "f32"):
                        vals = [r[p + " " + sh] for r in rs if p + " " + sh in r]
                        med[k, p, sh] = statistics.median(vals) if vals else None
            if prec == "f32":
                print("| shape | before | after | ORT | after / before | after / ORT |")
                print("|---|---|---|---|---|---|")
            else:
                print(f"| shape ({prec}) | before | after | ORT {prec} | ORT f32 | after / before "
                      f"| after / ORT {prec} |")
                print("|---|---|---|---|---|---|---|")
            for sh in shapes:
                b, f, o = med["before", prec, sh], med["after", prec, sh], med["ort", prec, sh]
                extra = "" if prec == "f32" else f" {fmt(med['ort', 'f32', sh])} |"
                print(f"| {sh} | {fmt(b)} | {fmt(f)} | {fmt(o)} |{extra} {div(f, b)} | {div(f, o)} |")


if __name__ == "__main__":
    main()
