#!/usr/bin/python3
"""ONNX Runtime's dynamic-int8 peer for `parley bench encoder --ort`: rewrites
the f32 encoder that bench_torch.py --export-onnx wrote the way ONNX Runtime's
dynamic quantization does. Every MatMul whose second input is a 2-D f32
initializer W [K, N] (the encoder's Linear layers; the attention products of two
activations stay f32, as in Parley's int8) becomes

    DynamicQuantizeLinear(x) -> x_q (uint8), x_scale, x_zero_point
    MatMulInteger(x_q, W_q (int8), x_zero_point, W_zero_point) -> int32
    Cast(float) * (x_scale * W_scale) -> the MatMul's output (its bias Add stays)

which ONNX Runtime's optimizer fuses into its MatMulIntegerToFloat /
DynamicQuantizeMatMul kernels (the check below lists the ops it ran). W is
quantized symmetrically per output column (scale = max|w| / 127, zero point 0),
the same weight grid Parley's int8 uses; --per-tensor takes one scale for the
whole matrix (the default of ONNX Runtime's quantize_dynamic).

--weights u8 stores the same grid as uint8 with zero point 128 (W_q + 128),
which sends ONNX Runtime to its U8U8 kernels. Its U8S8 kernels on x86 CPUs
without VNNI multiply with vpmaddubsw, whose 16-bit pair sums saturate (on
BERT-base's random weights the hidden states reach only cosine 0.988 to the
f32 graph's, and the check below fails); the U8U8 ones widen to 16 bits and
are exact, as Parley's int8 is. --weights auto (the default) takes u8 on x86
CPUs whose /proc/cpuinfo lists neither avx512_vnni nor avx_vnni, s8 elsewhere.

The ONNX protobuf classes come from onnx_subset.proto through protoc (no onnx
Python package needed). After writing OUT the script runs bench_ort.js --check
on the f32 and int8 graphs with the same ids and prints the cosine and largest
error of the hidden states, and the op types of ONNX Runtime's optimized int8
graph.

Usage: ort_int8.py F32.onnx OUT.onnx [--per-tensor] [--weights auto|s8|u8] [--no-check] [--seq 128]
"""
import argparse
import collections
import importlib
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def load_pb2():
    with tempfile.TemporaryDirectory(prefix="parley-onnx-pb-") as d:
        subprocess.run(["protoc", "-I" + HERE, "--python_out=" + d, os.path.join(HERE, "onnx_subset.proto")],
                       check=True)
        sys.path.insert(0, d)
        mod = importlib.import_module("onnx_subset_pb2")
        sys.path.remove(d)
    return mod


def tensor_array(P, t):
    if t.data_type != P.TensorProto.FLOAT:
        return None
    a = np.frombuffer(t.raw_data, dtype="<f4") if t.raw_data else np.array(t.float_data, dtype=np.float32)
    return a.reshape(tuple(t.dims))


def make_tensor(P, name, arr, dtype):
    t = P.TensorProto(name=name, data_type=dtype, dims=list(arr.shape))
    t.raw_data = np.ascontiguousarray(arr).tobytes()
    return t


def cpu_has_vnni():
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((ln.split(":", 1)[1].split() for ln in f if ln.startswith("flags")), None)
    except OSError:
        return True
    return flags is None or "avx512_vnni" in flags or "avx_vnni" in flags


def quantize(P, model, per_tensor, u8):
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    nodes, n_q, used = [], 0, collections.Counter()
    for n in g.node:
        for i in n.input:
            used[i] += 1
    drop = set()
    for n in g.node:
        w = inits.get(n.input[1]) if n.op_type == "MatMul" and len(n.input) == 2 else None
        wa = tensor_array(P, w) if w is not None else None
        if wa is None or wa.ndim != 2:
            nodes.append(n)
            continue
        K, N = wa.shape
        amax = np.abs(wa).max() if per_tensor else np.abs(wa).max(axis=0)
        scale = (np.maximum(amax, 1e-30) / 127.0).astype(np.float32) * np.ones(N, np.float32)
        wq = np.clip(np.rint(wa / scale[None, :]), -127, 127).astype(np.int8)
        p = n.output[0] + "_q"
        wtype, zp = (P.TensorProto.UINT8, 128) if u8 else (P.TensorProto.INT8, 0)
        wq = (wq.astype(np.int16) + zp).astype(np.uint8) if u8 else wq
        g.initializer.append(make_tensor(P, p + "_W", wq, wtype))
        zps = np.full(() if per_tensor else N, zp, np.uint8 if u8 else np.int8)
        g.initializer.append(make_tensor(P, p + "_Wscale", scale[:1].reshape(()) if per_tensor else scale,
                                         P.TensorProto.FLOAT))
        g.initializer.append(make_tensor(P, p + "_Wzp", zps, wtype))
        x = n.input[0]
        nodes.append(P.NodeProto(op_type="DynamicQuantizeLinear", name=p + "/dql", input=[x],
                                 output=[p + "_x", p + "_xscale", p + "_xzp"]))
        nodes.append(P.NodeProto(op_type="MatMulInteger", name=p + "/mmi",
                                 input=[p + "_x", p + "_W", p + "_xzp", p + "_Wzp"], output=[p + "_i32"]))
        nodes.append(P.NodeProto(op_type="Cast", name=p + "/cast", input=[p + "_i32"], output=[p + "_f"],
                                 attribute=[P.AttributeProto(name="to", type=P.AttributeProto.INT,
                                                             i=P.TensorProto.FLOAT)]))
        nodes.append(P.NodeProto(op_type="Mul", name=p + "/scale", input=[p + "_xscale", p + "_Wscale"],
                                 output=[p + "_s"]))
        nodes.append(P.NodeProto(op_type="Mul", name=p + "/deq", input=[p + "_f", p + "_s"],
                                 output=[n.output[0]]))
        used[w.name] -= 1
        if used[w.name] == 0:
            drop.add(w.name)
        n_q += 1
    del g.node[:]
    g.node.extend(nodes)
    keep = [t for t in g.initializer if t.name not in drop]
    del g.initializer[:]
    g.initializer.extend(keep)
    return n_q


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("f32")
    ap.add_argument("out")
    ap.add_argument("--per-tensor", action="store_true")
    ap.add_argument("--no-check", action="store_true")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--weights", choices=("auto", "s8", "u8"), default="auto")
    a = ap.parse_args()
    u8 = a.weights == "u8" or (a.weights == "auto" and not cpu_has_vnni())
    P = load_pb2()
    m = P.ModelProto()
    try:
        with open(a.f32, "rb") as f:
            m.ParseFromString(f.read())
    except Exception as e:  # OSError, protobuf's DecodeError
        sys.exit("ort_int8.py: %s is not a readable ONNX model (%s)" % (a.f32, e))
    if not any(o.domain in ("", "ai.onnx") and o.version >= 10 for o in m.opset_import):
        sys.exit("ort_int8.py: %s needs opset >= 10 (MatMulInteger)" % a.f32)
    n_q = quantize(P, m, a.per_tensor, u8)
    if n_q == 0:
        sys.exit("ort_int8.py: no MatMul with a 2-D f32 weight in %s" % a.f32)
    with open(a.out, "wb") as f:
        f.write(m.SerializeToString())
    print("ort_int8.py: %d MatMul -> MatMulInteger (%s %s weights) in %s" %
          (n_q, "per-tensor" if a.per_tensor else "per-channel", "uint8" if u8 else "int8", a.out))
    if a.no_check:
        return
    opt = a.out + ".opt.onnx"
    env = dict(os.environ, PL_ORT_DIR=os.environ.get("PL_ORT_DIR", "/tmp/parley-ort"))
    r = subprocess.run(["node", os.path.join(HERE, "bench_ort.js"), "--check", a.f32, a.out, str(a.seq), opt],
                       capture_output=True, text=True, env=env)
    sys.stdout.write(r.stdout)
    if r.returncode != 0:
        for f in (a.out, opt):  # a graph that failed its check must not be timed later
            if os.path.exists(f):
                os.unlink(f)
        sys.exit("ort_int8.py: check failed: " + r.stderr.strip())
    if os.path.exists(opt):
        o = P.ModelProto()
        with open(opt, "rb") as f:
            o.ParseFromString(f.read())
        c = collections.Counter(n.op_type for n in o.graph.node)
        print("optimized int8 graph ops: " + ", ".join("%s %d" % kv for kv in sorted(c.items())))
        os.unlink(opt)


if __name__ == "__main__":
    main()
