#!/usr/bin/env python3
"""deepconv <-> PyTorch: build the torch.nn.Sequential a deepconv PyTorch-layout file describes and
load its weights strictly, or write such a file from a Sequential trained in PyTorch.

    import sys; sys.path.insert(0, "node_modules/deepconv/scripts")
    from load_in_torch import load, save_for_deepconv

    module, meta = load("model.torch.safetensors")   # from `deepconv export --format torch`
    scores = module(x)                                 # x: (N, C, H, W) normalized as in training
    save_for_deepconv(my_sequential, "mine.safetensors", input_shape=(3, 32, 32))
    # then: npx deepconv import mine.safetensors --out model.safetensors

From the command line:
    python3 load_in_torch.py FILE                       print the module and its metadata
    python3 load_in_torch.py FILE --input X --output Y  run it on tensor "x" of safetensors file X,
                                                        write its scores as tensor "scores" to Y

Needs only the standard library and torch (1.10 or newer): the safetensors format (8-byte header
length, a JSON header, the raw little-endian data) is read and written here, so the `safetensors`
package is not required. The file layout is described in deepconv's lib/interop/torch.ts.
"""
import argparse
import json
import os
import struct
import sys
import tempfile

import torch
from torch import nn

LAYOUT = "torch.nn.Sequential"
DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}
NAMES = {v: k for k, v in DTYPES.items()}
# The torch.nn classes deepconv's networks are made of.
LAYERS = ("Conv2d", "BatchNorm2d", "BatchNorm1d", "ReLU", "MaxPool2d", "Flatten", "Linear", "Dropout")


def read_safetensors(path):
    """(tensors, metadata) of a safetensors file of F32, F64 and I64 tensors."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    data = blob[8 + n :]
    tensors = {}
    for name, info in header.items():
        if info["dtype"] not in DTYPES:
            raise ValueError(f"{path}: tensor {name!r} has dtype {info['dtype']}; this reader takes {', '.join(DTYPES)}")
        begin, end = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        if end == begin:
            t = torch.empty(info["shape"], dtype=dtype)
        else:
            t = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype).reshape(info["shape"])
        tensors[name] = t if sys.byteorder == "little" else t.byteswap()
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    """Writes tensors (F32, F64, I64) and string metadata atomically (temp file, then rename)."""
    header, pieces, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        t = t.detach().to("cpu").contiguous()
        if t.dtype not in NAMES:
            raise ValueError(f"tensor {name!r} has dtype {t.dtype}; deepconv takes float32, float64 (and int64 counters)")
        raw = t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        pieces.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-len(text) % 8)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=os.path.basename(path) + ".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text)
            for p in pieces:
                f.write(p)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def build(layers):
    """The nn.Sequential of a "deepconv.sequential" list: [{"type": "Conv2d", "args": {...}}, ...]."""
    modules = []
    for i, layer in enumerate(layers):
        if layer["type"] not in LAYERS:
            raise ValueError(f"layer {i}: nn.{layer['type']} is not one of deepconv's layers ({', '.join(LAYERS)})")
        modules.append(getattr(nn, layer["type"])(**layer.get("args", {})))
    return nn.Sequential(*modules)


def load(path):
    """(module in eval mode, metadata) of a deepconv PyTorch-layout file, loaded with strict=True."""
    tensors, meta = read_safetensors(path)
    if meta.get("deepconv.layout") != LAYOUT:
        raise ValueError(f"{path}: not a deepconv PyTorch-layout file (write one with `deepconv export --format torch`)")
    module = build(json.loads(meta["deepconv.sequential"]))
    floats = {t.dtype for t in tensors.values() if t.is_floating_point()}
    if floats == {torch.float64}:
        module = module.double()
    module.load_state_dict(tensors, strict=True)
    return module.eval(), meta


def _square(v, what, i):
    if isinstance(v, tuple):
        if len(set(v)) != 1:
            raise ValueError(f"layer {i}: {what} {v} is not square; deepconv's layers are")
        return v[0]
    return v


def _describe(i, m):
    """The {"type", "args"} of module m (the arguments deepconv reads; it refuses the rest)."""
    kind = type(m).__name__
    if kind == "Conv2d":
        args = {
            "in_channels": m.in_channels,
            "out_channels": m.out_channels,
            "kernel_size": _square(m.kernel_size, "kernel_size", i),
            "stride": _square(m.stride, "stride", i),
            "padding": _square(m.padding, "padding", i),
            "bias": m.bias is not None,
        }
        if _square(m.dilation, "dilation", i) != 1:
            args["dilation"] = _square(m.dilation, "dilation", i)
        if m.groups != 1:
            args["groups"] = m.groups
        if m.padding_mode != "zeros":
            args["padding_mode"] = m.padding_mode
    elif kind in ("BatchNorm2d", "BatchNorm1d"):
        args = {"num_features": m.num_features, "eps": m.eps, "momentum": m.momentum,
                "affine": m.affine, "track_running_stats": m.track_running_stats}
    elif kind == "MaxPool2d":
        args = {"kernel_size": _square(m.kernel_size, "kernel_size", i), "stride": _square(m.stride, "stride", i),
                "padding": _square(m.padding, "padding", i), "dilation": _square(m.dilation, "dilation", i),
                "ceil_mode": m.ceil_mode}
    elif kind == "Flatten":
        args = {"start_dim": m.start_dim, "end_dim": m.end_dim}
    elif kind == "Linear":
        args = {"in_features": m.in_features, "out_features": m.out_features, "bias": m.bias is not None}
    elif kind == "Dropout":
        args = {"p": m.p}
    elif kind == "ReLU":
        args = {}
    else:
        raise ValueError(f"layer {i}: nn.{kind} has no counterpart in deepconv (it imports {', '.join(LAYERS)})")
    return {"type": kind, "args": args}


def save_for_deepconv(module, path, input_shape, data=None):
    """Writes an nn.Sequential of deepconv's layers for `deepconv import`.

    input_shape: one sample without the batch axis, (C, H, W) or (D,).
    data: optional dict stored as "deepconv.data", e.g. {"dataset": "cifar10", "mean": [...],
          "std": [...], "classes": [...], "shape": [3, 32, 32]} so `deepconv eval` / `predict`
          know how inputs were normalized.
    """
    if not isinstance(module, nn.Sequential):
        raise TypeError(f"module must be an nn.Sequential, got {type(module).__name__}")
    layers = [_describe(i, m) for i, m in enumerate(module)]
    meta = {
        "format": "pt",
        "deepconv.layout": LAYOUT,
        "deepconv.sequential": json.dumps(layers),
        "deepconv.input_shape": json.dumps([int(d) for d in input_shape]),
    }
    if data is not None:
        meta["deepconv.data"] = json.dumps(data)
    write_safetensors(path, dict(module.state_dict()), meta)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("file", help="a deepconv PyTorch-layout safetensors file")
    p.add_argument("--input", help='safetensors file holding tensor "x" to run the module on')
    p.add_argument("--output", help='where to write the scores (tensor "scores") for --input')
    a = p.parse_args(argv)
    module, meta = load(a.file)
    if a.input:
        x = read_safetensors(a.input)[0]["x"]
        with torch.no_grad():
            scores = module(x.to(next(module.parameters()).dtype))
        write_safetensors(a.output or "scores.safetensors", {"scores": scores}, {})
    else:
        print(module)
        for k in ("deepconv.input_shape", "deepconv.config", "deepconv.data"):
            if k in meta:
                print(f"{k}: {meta[k]}")


if __name__ == "__main__":
    main()
