#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz tests: Tests/ShuffleNetKitTests/Fixtures/corpus/.

Pure Python 3 (no numpy, no onnx): every file is small and written byte by byte, so the
seeds are reproducible and cover the readers' interesting paths (F16/BF16/I64 tensors,
.npy versions 1-3 and Python 2 headers, ONNX with folded and unfolded BatchNorm, QDQ
int8 weights, Constant/Identity weights, MatMul+Add classifiers, JSON escapes and BOM).
The weight files hold a real checkpoint of the tiny spec `spec/tiny-v2.json` so the fuzz
loops also reach binding. Regression inputs (files named regress-*) are written by hand
in the test (FuzzTests.testRegressionCorpus) and by this script; they stay in the corpus.

    python3 tools/fuzz/make_corpus.py   # from the repository root
"""
import json
import math
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "ShuffleNetKitTests", "Fixtures", "corpus")

TINY = {"name": "tiny-v2", "family": "v2", "inputSize": 16, "numClasses": 3, "stageRepeats": [2], "channels": [4, 8, 16]}


class Rng:
    """splitmix64, so the values never depend on Python's random module."""

    def __init__(self, seed):
        self.s = seed

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & (2**64 - 1)
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
        return z ^ (z >> 31)

    def uniform(self, lo, hi):
        return lo + (hi - lo) * (self.next() >> 11) / float(1 << 53)


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def write(rel, data):
    path = os.path.join(ROOT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- the tiny network's tensors

def tiny_convs():
    """(key, weight shape, stride, pad, group) in the order torchvision's forward runs them."""
    c = TINY["channels"]
    convs = [("conv1.0", [c[0], 3, 3, 3], 2, 1, 1)]
    inC = c[0]
    for i in range(TINY["stageRepeats"][0]):
        u, bf = "stage2.%d" % i, c[1] // 2
        if i == 0:
            convs += [(u + ".branch1.0", [inC, 1, 3, 3], 2, 1, inC), (u + ".branch1.2", [bf, inC, 1, 1], 1, 0, 1)]
            r = inC
        else:
            r = c[1] // 2
        convs += [(u + ".branch2.0", [bf, r, 1, 1], 1, 0, 1), (u + ".branch2.3", [bf, 1, 3, 3], 2 if i == 0 else 1, 1, bf),
                  (u + ".branch2.5", [bf, bf, 1, 1], 1, 0, 1)]
        inC = c[1]
    convs.append(("conv5.0", [c[2], c[1], 1, 1], 1, 0, 1))
    return convs


def bn_key(conv_key):
    stem, last = conv_key.rsplit(".", 1)
    return "%s.%d" % (stem, int(last) + 1)


def count(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def tiny_state_dict(folded, rng):
    """name -> (shape, values): He-uniform convs, BN in the ranges of SeededWeights."""
    sd = {}
    for key, shape, _, _, _ in tiny_convs():
        fan_in = shape[1] * shape[2] * shape[3]
        b = math.sqrt(6.0 / fan_in)
        sd[key + ".weight"] = (shape, [rng.uniform(-b, b) for _ in range(count(shape))])
        n = shape[0]
        if folded:
            sd[key + ".bias"] = ([n], [rng.uniform(-0.2, 0.2) for _ in range(n)])
        else:
            p = bn_key(key)
            sd[p + ".weight"] = ([n], [rng.uniform(0.5, 1.5) for _ in range(n)])
            sd[p + ".bias"] = ([n], [rng.uniform(-0.2, 0.2) for _ in range(n)])
            sd[p + ".running_mean"] = ([n], [rng.uniform(-0.2, 0.2) for _ in range(n)])
            sd[p + ".running_var"] = ([n], [rng.uniform(0.5, 1.5) for _ in range(n)])
    k, o = TINY["channels"][-1], TINY["numClasses"]
    sd["fc.weight"] = ([o, k], [rng.uniform(-0.25, 0.25) for _ in range(o * k)])
    sd["fc.bias"] = ([o], [rng.uniform(-0.25, 0.25) for _ in range(o)])
    return sd


# ---------------------------------------------------------------- safetensors

def safetensors(entries, metadata=None, pad=True):
    """entries: list of (name, dtype, shape, raw bytes); offsets in list order."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def f32s(values):
    return struct.pack("<%df" % len(values), *values)


def write_safetensors():
    write("safetensors/f32-small.safetensors", safetensors([
        ("bias", "F32", [2], f32s([7, 8])),
        ("conv.weight", "F32", [2, 3, 1, 1], f32s([1, 2, 3, 4, 5, 6])),
        ("scalar", "F32", [], f32s([9])),
    ], metadata={"format": "pt"}))
    # F16: 1, -2, 65504, smallest subnormal; BF16: 1, -2, inf.
    write("safetensors/f16-bf16.safetensors", safetensors([
        ("h", "F16", [2, 2], struct.pack("<4H", 0x3C00, 0xC000, 0x7BFF, 0x0001)),
        ("b", "BF16", [3], struct.pack("<3H", 0x3F80, 0xC000, 0x7F80)),
    ]))
    write("safetensors/num-batches-tracked.safetensors", safetensors([
        ("bn.num_batches_tracked", "I64", [], struct.pack("<q", 5)),
        ("bn.weight", "F32", [1], f32s([0.5])),
    ]))
    write("safetensors/empty-header.safetensors", safetensors([]))
    write("safetensors/zero-size-and-scalar.safetensors", safetensors([
        ("empty", "F32", [0, 4], b""), ("s", "F32", [], f32s([42])),
    ]))
    # A foreign writer: whitespace, keys out of order, data out of order, no padding.
    h = b'{ "z" : { "shape" : [ 2 ], "data_offsets" : [ 8, 16 ], "dtype" : "F32" },\n  "a" : { "dtype" : "F32", "shape" : [ 1, 2 ], "data_offsets" : [ 0, 8 ] } }'
    write("safetensors/foreign-whitespace.safetensors", struct.pack("<Q", len(h)) + h + f32s([1, 2, 3, 4]))
    write("safetensors/nonfinite.safetensors", safetensors([("w", "F32", [4], f32s([1, float("nan"), float("inf"), -float("inf")]))]))
    sd = tiny_state_dict(False, Rng(7))
    write("safetensors/tiny-v2.safetensors", safetensors(
        [(n, "F32", s, f32s(v)) for n, (s, v) in sorted(sd.items())], metadata={"spec": "tiny-v2"}))


# ---------------------------------------------------------------- npy

def npy(header, data, version=1):
    h = header.encode("latin1")
    lsize = 2 if version == 1 else 4
    total = 8 + lsize + len(h) + 1
    h += b" " * ((64 - total % 64) % 64) + b"\n"
    return b"\x93NUMPY" + bytes([version, 0]) + len(h).to_bytes(lsize, "little") + h + data


def write_npy():
    write("npy/v1-2x3.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f32s([1, 2, 3, 4, 5, 6])))
    write("npy/v2-header.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", f32s([1, 2, 3, 4]), version=2))
    write("npy/v3-header.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", f32s([5, 6]), version=3))
    write("npy/scalar.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", f32s([3.5])))
    write("npy/empty.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }", b""))
    write("npy/python2-long-dims.npy", npy("{'descr': '<f4', 'shape': (3L, 1L), 'fortran_order': False}", f32s([1, 2, 3])))
    write("npy/nonfinite.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", f32s([float("nan"), float("inf"), -0.0])))
    rng = Rng(2024)
    n = 3 * TINY["inputSize"] ** 2
    write("npy/tiny-input.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, %d, %d), }"
                                    % (TINY["inputSize"], TINY["inputSize"]), f32s([rng.uniform(-2, 2) for _ in range(n)])))


# ---------------------------------------------------------------- ONNX (hand-written protobuf)

def varint(v):
    v &= 2**64 - 1
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


def fld(n, wire):
    return varint(n << 3 | wire)


def pint(n, v):
    return fld(n, 0) + varint(v)


def pbytes(n, b):
    return fld(n, 2) + varint(len(b)) + b


def pstr(n, s):
    return pbytes(n, s.encode())


def pfloat(n, x):
    return fld(n, 5) + struct.pack("<f", x)


FLOAT, UINT8, INT8, INT32, INT64 = 1, 2, 3, 6, 7


def tensor(name, dims, dtype, raw=None, floats=None, int64s=None):
    b = b"".join(pint(1, d) for d in dims) + pint(2, dtype) + pstr(8, name)
    if raw is not None:
        b += pbytes(9, raw)
    if floats is not None:  # packed float_data
        b += pbytes(4, struct.pack("<%df" % len(floats), *floats))
    if int64s is not None:  # unpacked int64_data
        b += b"".join(pint(7, v) for v in int64s)
    return b


def attr_ints(name, values):
    return pstr(1, name) + b"".join(pint(8, v) for v in values) + pint(20, 7)


def attr_int(name, v):
    return pstr(1, name) + pint(3, v) + pint(20, 2)


def attr_float(name, x):
    return pstr(1, name) + pfloat(2, x) + pint(20, 1)


def attr_tensor(name, t):
    return pstr(1, name) + pbytes(5, t) + pint(20, 4)


def node(op, inputs, outputs, name="", attrs=()):
    b = b"".join(pstr(1, i) for i in inputs) + b"".join(pstr(2, o) for o in outputs)
    if name:
        b += pstr(3, name)
    b += pstr(4, op)
    b += b"".join(pbytes(5, a) for a in attrs)
    return b


def model(nodes, initializers, inputs, outputs, opset=13, producer="make_corpus.py"):
    g = b"".join(pbytes(1, n) for n in nodes) + pstr(2, "tiny")
    g += b"".join(pbytes(5, t) for t in initializers)
    g += b"".join(pbytes(11, pstr(1, i)) for i in inputs) + b"".join(pbytes(12, pstr(1, o)) for o in outputs)
    return pint(1, 7) + pstr(2, producer) + pstr(3, "1") + pbytes(7, g) + pbytes(8, pstr(1, "") + pint(2, opset))


def onnx_tiny(style):
    """style: 'folded' (Conv+bias, anonymous names, Gemm; one weight through Constant and one
    through Identity), 'bn' (Conv + BatchNormalization with PyTorch names), 'qdq' (int8
    DequantizeLinear weights per channel, MatMul + Add classifier)."""
    folded = style != "bn"
    sd = tiny_state_dict(folded, Rng(11 if folded else 13))
    nodes, inits, ids = [], [], iter(range(100, 10000))
    convs = tiny_convs()

    def weight(name, shape, values, conv_index=None):
        """The value name a node reads for this weight."""
        if style == "qdq" and len(shape) >= 1 and (name.endswith(".weight") or name == "fc.weight"):
            axis = 0 if name != "fc.weight" else 1  # MatMul's operand is [in, out]: channels on axis 1
            vals, shp = values, shape
            if name == "fc.weight":  # store transposed for MatMul
                o, k = shape
                vals = [values[r * k + c] for c in range(k) for r in range(o)]
                shp = [k, o]
            n_ch = shp[axis]
            inner = count(shp[axis + 1:])
            scales = []
            for ch in range(n_ch):
                m = max(abs(vals[i]) for i in range(len(vals)) if (i // inner) % n_ch == ch) or 1.0
                scales.append(f32(m / 127.0))
            q = [max(-127, min(127, round(v / scales[(i // inner) % n_ch]))) for i, v in enumerate(vals)]
            qn = name + "_quantized"
            inits.append(tensor(qn, shp, INT8, raw=struct.pack("<%db" % len(q), *q)))
            inits.append(tensor(name + "_scale", [n_ch], FLOAT, floats=scales))
            inits.append(tensor(name + "_zero_point", [n_ch], INT8, raw=bytes(n_ch)))
            out = name + "_dequantized"
            nodes.append(node("DequantizeLinear", [qn, name + "_scale", name + "_zero_point"], [out], attrs=[attr_int("axis", axis)]))
            return out
        if style == "folded":
            anon = "onnx::Conv_%d" % next(ids)
            if conv_index == 1 and name.endswith(".weight"):  # through a Constant node
                nodes.append(node("Constant", [], [anon], attrs=[attr_tensor("value", tensor("", shape, FLOAT, floats=values))]))
                return anon
            inits.append(tensor(anon, shape, FLOAT, raw=f32s(values)))
            if conv_index == 2 and name.endswith(".weight"):  # through an Identity node
                nodes.append(node("Identity", [anon], [anon + "_id"]))
                return anon + "_id"
            return anon
        inits.append(tensor(name, shape, FLOAT, raw=f32s(values)))
        return name

    def conv(k, x):
        key, shape, stride, pad, group = convs[k]
        w = weight(key + ".weight", *sd[key + ".weight"], conv_index=k)
        ins = [x, w]
        if folded:
            ins.append(weight(key + ".bias", *sd[key + ".bias"], conv_index=k))
        y = "/%s/Conv_output_0" % key
        nodes.append(node("Conv", ins, [y], name="/%s/Conv" % key, attrs=[
            attr_int("group", group), attr_ints("kernel_shape", shape[2:]), attr_ints("pads", [pad] * 4),
            attr_ints("strides", [stride, stride]), attr_ints("dilations", [1, 1])]))
        if folded:
            return y
        p = bn_key(key)
        bn_in = [weight("%s.%s" % (p, s), *sd["%s.%s" % (p, s)]) for s in ["weight", "bias", "running_mean", "running_var"]]
        z = "/%s/BatchNormalization_output_0" % p
        nodes.append(node("BatchNormalization", [y] + bn_in, [z], name="/%s/BatchNormalization" % p,
                          attrs=[attr_float("epsilon", 1e-5), attr_float("momentum", 0.9)]))
        return z

    def relu(x, tag):
        y = "/%s/Relu_output_0" % tag
        nodes.append(node("Relu", [x], [y]))
        return y

    def shuffle(x, tag, c, h):
        shape_a, shape_b = "/%s/shape_a" % tag, "/%s/shape_b" % tag
        inits.append(tensor(shape_a, [5], INT64, raw=struct.pack("<5q", 1, 2, c // 2, h, h)))
        inits.append(tensor(shape_b, [4], INT64, raw=struct.pack("<4q", 1, c, h, h)))
        nodes.append(node("Reshape", [x, shape_a], ["/%s/Reshape_output_0" % tag]))
        nodes.append(node("Transpose", ["/%s/Reshape_output_0" % tag], ["/%s/Transpose_output_0" % tag], attrs=[attr_ints("perm", [0, 2, 1, 3, 4])]))
        nodes.append(node("Reshape", ["/%s/Transpose_output_0" % tag, shape_b], ["/%s/shuffled" % tag]))
        return "/%s/shuffled" % tag

    x = relu(conv(0, "input"), "conv1")
    nodes.append(node("MaxPool", [x], ["/maxpool/MaxPool_output_0"], attrs=[
        attr_ints("kernel_shape", [3, 3]), attr_ints("pads", [1, 1, 1, 1]), attr_ints("strides", [2, 2])]))
    x = "/maxpool/MaxPool_output_0"
    k, h = 1, TINY["inputSize"] // 4
    for i in range(TINY["stageRepeats"][0]):
        u = "stage2.%d" % i
        if i == 0:
            left = relu(conv(k + 1, conv(k, x)), u + ".branch1")
            k += 2
            right = x
            h //= 2
        else:
            split = "/%s/split" % u
            inits.append(tensor(split, [2], INT64, raw=struct.pack("<2q", 4, 4)))
            nodes.append(node("Split", [x, split], [u + "_left", u + "_right"], attrs=[attr_int("axis", 1)]))
            left, right = u + "_left", u + "_right"
        right = relu(conv(k, right), u + ".branch2.1")
        right = relu(conv(k + 2, conv(k + 1, right)), u + ".branch2.2")
        k += 3
        nodes.append(node("Concat", [left, right], ["/%s/Concat_output_0" % u], attrs=[attr_int("axis", 1)]))
        x = shuffle("/%s/Concat_output_0" % u, u, TINY["channels"][1], h)
    x = relu(conv(k, x), "conv5")
    nodes.append(node("ReduceMean", [x], ["/ReduceMean_output_0"], attrs=[attr_ints("axes", [2, 3]), attr_int("keepdims", 0)]))
    fw = weight("fc.weight", *sd["fc.weight"])
    fb = weight("fc.bias", *sd["fc.bias"]) if style != "qdq" else None
    if style == "qdq":
        inits.append(tensor("fc.bias", [TINY["numClasses"]], FLOAT, raw=f32s(sd["fc.bias"][1])))
        nodes.append(node("MatMul", ["/ReduceMean_output_0", fw], ["/fc/MatMul_output_0"]))
        nodes.append(node("Add", ["fc.bias", "/fc/MatMul_output_0"], ["logits"]))
    else:
        nodes.append(node("Gemm", ["/ReduceMean_output_0", fw, fb], ["logits"], name="/fc/Gemm",
                          attrs=[attr_float("alpha", 1.0), attr_float("beta", 1.0), attr_int("transB", 1)]))
    return model(nodes, inits, ["input"], ["logits"])


def write_onnx():
    for style in ["folded", "bn", "qdq"]:
        write("onnx/tiny-v2.%s.onnx" % style, onnx_tiny(style))
    write("onnx/empty-graph.onnx", model([], [], [], []))
    # Field order a writer may choose: opset and graph before ir_version; unknown fields.
    write("onnx/reordered-fields.onnx", pbytes(8, pstr(1, "") + pint(2, 13)) + pbytes(7, pstr(2, "g")) + pint(1, 8) + pint(99, 1))


# ---------------------------------------------------------------- specs

def write_specs():
    write("spec/tiny-v2.json", (json.dumps(TINY, indent=2) + "\n").encode())
    write("spec/tiny-v1.json", json.dumps({"name": "tiny-v1", "family": "v1", "inputSize": 32, "numClasses": 5,
                                           "stageRepeats": [2, 1], "channels": [12, 48, 96], "groups": 3,
                                           "shuffleOrder": "megvii"}).encode())
    write("spec/minimal-v2.json", b'{"family":"v2","channels":[24,116,232,464,1024]}')
    write("spec/escapes-and-bom.json", b'\xef\xbb\xbf{"name": "\\u0074iny\\u002dx", "family" : "v1", "channels": [24, 240, 480, 960],\r\n\t"groups": 3, "numClasses": null}')
    write("spec/v2-megvii-order.json", b'{"name": "v2-megvii", "family": "v2", "inputSize": 64, "stageRepeats": [2, 3], "channels": [8, 16, 32, 64], "shuffleOrder": "megvii"}')


if __name__ == "__main__":
    write_safetensors()
    write_npy()
    write_onnx()
    write_specs()
    for d in sorted(os.listdir(ROOT)):
        files = sorted(os.listdir(os.path.join(ROOT, d)))
        print("%-12s %d files, %d bytes" % (d, len(files), sum(os.path.getsize(os.path.join(ROOT, d, f)) for f in files)))
