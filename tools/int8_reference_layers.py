"""Per-layer int8 tensors of a QDQ model from ONNX's reference evaluator
(onnx.reference.ReferenceEvaluator: the operator definitions in numpy, independent of
shufflenet-gen and of ONNX Runtime's kernels), summarized for Int8Tests.

Why not ONNX Runtime: on a CPU without AVX-512 VNNI (this AMD Zen 3 machine), ORT's u8s8
GEMM kernel multiplies with vpmaddubsw, which saturates pairs of products to int16; its
int8 results then drift from the operator definition (ORT 1.32 here is 1.76 logits away
from the committed cat.ort-logits.npy, made on an AVX-512 machine, which the int8
interpreter reproduces exactly; on the tiny per-channel model ORT here is 23% off the
reference evaluator). The reference evaluator runs the QDQ graph as written:
DequantizeLinear, float32 Conv, QuantizeLinear, so it may differ from an exact int32
accumulation by one quantization step where float32 rounding decides.

For every QuantizeLinear that stores a Conv's, a Concat's or the max pool's output, writes
the tensor's element count, sum and sum of squares (NCHW order does not matter) and the
initializer of the conv behind it:

    python3 tools/int8_reference_layers.py MODEL.onnx IMAGE.npy OUT.json [--dump DIR]

--dump also writes each layer's full tensor as DIR/<index>.npy (int, shape [C, H*W]) for
counting differences in quantization steps (not committed: megabytes).
"""
import json
import sys

import numpy as np
import onnx
import onnx.version_converter
from onnx.reference import ReferenceEvaluator


def main():
    model_path, image_path, out_path = sys.argv[1:4]
    dump = sys.argv[sys.argv.index("--dump") + 1] if "--dump" in sys.argv else None
    m = onnx.load(model_path)
    # The reference evaluator implements DequantizeLinear from opset 19 on.
    if next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) < 19:
        m = onnx.version_converter.convert_version(m, 19)
    producer = {o: n for n in m.graph.node for o in n.output}
    consumers = {}
    for n in m.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def conv_weight(conv):
        v = conv.input[1]
        while v in producer and producer[v].op_type in ("DequantizeLinear", "Identity"):
            v = producer[v].input[0]
        return v

    def conv_behind(value):
        for _ in range(8):
            n = producer.get(value)
            if n is None:
                return None
            if n.op_type == "Conv":
                return n
            value = n.input[0]
        return None

    layers = []
    for n in m.graph.node:
        if n.op_type not in ("Conv", "Concat", "MaxPool"):
            continue
        value = n.output[0]
        q = None
        for _ in range(3):
            readers = consumers.get(value, [])
            q = next((r for r in readers if r.op_type == "QuantizeLinear"), None)
            if q is not None or len(readers) != 1 or readers[0].op_type not in ("Relu", "Identity"):
                break
            value = readers[0].output[0]
        if q is None:
            continue
        if n.op_type == "Conv":
            weight = conv_weight(n)
        elif n.op_type == "Concat":
            c = conv_behind(n.input[1])
            weight = conv_weight(c) if c is not None else None
        else:
            weight = None
        layers.append({"op": n.op_type, "weight": weight, "output": q.output[0]})
    for e in layers:
        m.graph.output.append(onnx.ValueInfoProto(name=e["output"]))
    x = np.load(image_path).astype(np.float32)
    x = x.reshape(1, 3, x.shape[-2], x.shape[-1])
    r = ReferenceEvaluator(m)
    values = r.run([e["output"] for e in layers], {m.graph.input[0].name: x})
    out = []
    for i, (e, v) in enumerate(zip(layers, values)):
        v = v.astype(np.int64).reshape(v.shape[1], -1)
        out.append({"op": e["op"], "weight": e["weight"], "channels": int(v.shape[0]), "pixels": int(v.shape[1]),
                    "sum": int(v.sum()), "sumOfSquares": int((v * v).sum())})
        if dump:
            np.save(f"{dump}/{i}.npy", v)
    logits = r.run(None, {m.graph.input[0].name: x})[0]
    with open(out_path, "w") as f:
        json.dump({"model": model_path.split("/")[-1], "image": image_path.split("/")[-1],
                   "onnx": onnx.__version__, "logits": [float(v) for v in logits.ravel()], "layers": out}, f, indent=0)


if __name__ == "__main__":
    main()
