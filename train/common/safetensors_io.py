"""The safetensors format, written and read without the safetensors package.

Byte layout:
    offset 0   u64 little-endian N: length of the header
    offset 8   N bytes of UTF-8 JSON, padded with spaces to a multiple of 8:
               {"__metadata__": {"k": "v", ...},            (optional, strings only)
                "<name>": {"dtype": "F32", "shape": [d0, d1, ...],
                           "data_offsets": [begin, end]}, ...}
    offset 8+N the data: each tensor's bytes, row-major little-endian, at
               [begin, end) relative to this point; tensors are packed with
               no gaps or overlaps and cover the buffer exactly.
"""
import json
import struct

import numpy as np

_DTYPES = {
    "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "F64": np.dtype("<f8"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"), "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}


def _dtype_name(dt):
    for name, d in _DTYPES.items():
        if np.dtype(dt).newbyteorder("<") == d or np.dtype(dt) == d:
            return name
    raise ValueError("safetensors: unsupported dtype %s" % dt)


def save(path, tensors, metadata=None):
    """Write {name: numpy array or torch tensor} to path, tensors in name order."""
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        a = tensors[name]
        if hasattr(a, "detach"):  # torch.Tensor
            a = a.detach().cpu().contiguous().numpy()
        a = np.asarray(a)
        if not a.flags.c_contiguous:
            a = a.copy(order="C")
        dname = _dtype_name(a.dtype)
        raw = a.astype(_DTYPES[dname], copy=False).tobytes()
        header[name] = {"dtype": dname, "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * (-len(hjson) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for c in chunks:
            f.write(c)


def load(path):
    """Read a safetensors file: ({name: numpy array}, metadata dict). Checks the
    layout strictly (sizes, bounds, gaps) and raises ValueError on any problem."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError("%s: shorter than the 8-byte header length" % path)
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        raise ValueError("%s: header length %d past the end" % (path, n))
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    out, spans = {}, []
    for name, info in header.items():
        dt = _DTYPES.get(info["dtype"])
        if dt is None:
            raise ValueError("%s: tensor %s: unknown dtype %s" % (path, name, info["dtype"]))
        b, e = info["data_offsets"]
        count = int(np.prod(info["shape"])) if info["shape"] else 1
        if not (0 <= b <= e <= len(data)) or e - b != count * dt.itemsize:
            raise ValueError("%s: tensor %s: bad data_offsets %s" % (path, name, [b, e]))
        out[name] = np.frombuffer(data[b:e], dtype=dt).reshape(info["shape"])
        spans.append((b, e))
    pos = 0
    for b, e in sorted(spans):
        if b != pos:
            raise ValueError("%s: gap or overlap at byte %d of the data" % (path, b))
        pos = e
    if pos != len(data):
        raise ValueError("%s: %d bytes of data after the last tensor" % (path, len(data) - pos))
    return out, meta
