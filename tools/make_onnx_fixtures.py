#!/usr/bin/env python3
"""Reference fixtures for the ONNX loader (Tests/ShuffleNetKitTests/Fixtures/onnx/).

Needs torch, torchvision, onnx, onnxruntime and numpy (pip install -r tools/requirements.txt).
Run by hand from the repository root, never by the tests:

    python3 tools/make_onnx_fixtures.py [--shared ../shared/data]

1. Copies the real data (the ONNX Model Zoo's int8 QDQ ShuffleNetV2 x1.0, three preprocessed
   photos with ONNX Runtime's logits, the ImageNet class names and the cat photo's licence)
   from the shared data folder, checking the model's sha256.
2. Dequantizes the QDQ model's weights with onnx + numpy (w = (q - zero_point) * scale,
   per tensor or per channel along DequantizeLinear's axis), loads them into torchvision's
   shufflenet_v2_x1_0 whose convs carry the folded biases (each BatchNorm replaced by
   Identity; fc.weight transposed from the MatMul's [1024,1000] to [1000,1024]), runs the
   three photos in float32 on one thread and saves `<name>.torch-fp32-logits.npy`.
3. Exports the tiny custom ShuffleNetV2 of parity/tiny-v2.json (seeded weights, seed 7, as
   tools/make_fixtures.py makes them) with torch.onnx.export in eval mode twice: the default
   (BatchNorm folded into the convs, anonymous `onnx::Conv_NNN` initializers, fc as Gemm) as
   `tiny-v2.fp32.onnx`, and with training=PRESERVE (BatchNormalization nodes kept, state_dict
   names) as `tiny-v2.fp32-bn.onnx`, with PyTorch's logits on parity/tiny-v2.input.npy as
   `tiny-v2.torch-logits.npy`. ONNX Runtime runs both exports as a cross-check.
4. Quantizes the folded tiny export with onnxruntime's quantize_static (QDQ, int8 weights
   per channel, DequantizeLinear axis 0, uint8 activations calibrated on the tiny input) to
   `tiny-v2.qdq-per-channel.onnx`, the per-channel case the Model Zoo file does not have.
   Its reference is float32: every weight DequantizeLinear replaced by its numpy-dequantized
   initializer and every activation QuantizeLinear/DequantizeLinear pair removed (a Relu
   where its range starts at 0: the quantizer folds ReLUs into them), run by ONNX Runtime ->
   `tiny-v2.qdq-per-channel.dequantized-logits.npy`.
"""
import argparse
import hashlib
import os
import shutil
import sys
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torchvision
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(__file__))
import seeded  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIXTURES = os.path.join(ROOT, "Tests", "ShuffleNetKitTests", "Fixtures")
OUT = os.path.join(FIXTURES, "onnx")
MODEL = "shufflenet-v2-12-qdq.onnx"
MODEL_SHA256 = "7c536d02e2f6af9569e5f3c7a4d8282060072119524c93c8da71e63876b4722b"
IMAGES = ["cat", "chelsea", "coffee"]


def copy_shared(shared):
    os.makedirs(OUT, exist_ok=True)
    src = os.path.join(shared, MODEL)
    digest = hashlib.sha256(open(src, "rb").read()).hexdigest()
    if digest != MODEL_SHA256:
        sys.exit(f"{src}: sha256 {digest}, expected {MODEL_SHA256}")
    files = [src] + [os.path.join(shared, "images", f) for f in
                     [f"{n}.npy" for n in IMAGES] + [f"{n}.ort-logits.npy" for n in IMAGES]
                     + ["synset_words.txt", "LICENSE-cat-jpg-Q-engineering"]]
    for f in files:
        dst = os.path.join(OUT, os.path.basename(f))
        shutil.copyfile(f, dst)
        os.chmod(dst, 0o644)


def dequantized_state_dict(path):
    """The QDQ model's weights in float32, named like a BN-folded torchvision state_dict."""
    model = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    dq = {}
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in inits:
            continue
        q = inits[node.input[0]].astype(np.int64)
        scale = inits[node.input[1]].astype(np.float32)
        zp = inits[node.input[2]].astype(np.int64) if len(node.input) > 2 and node.input[2] else np.zeros_like(scale, np.int64)
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if scale.size > 1:  # per channel: broadcast along `axis`
            shape = [1] * q.ndim
            shape[axis] = scale.size
            scale, zp = scale.reshape(shape), zp.reshape(shape)
        dq[node.output[0]] = ((q - zp).astype(np.float32) * scale).astype(np.float32)
    producer = {out: node for node in model.graph.node for out in node.output}
    sd = {}
    for node in model.graph.node:
        if node.op_type == "Conv":
            # The weight input is a DequantizeLinear of ConvBnFusion_W_<conv key>.weight_quantized.
            init = producer[node.input[1]].input[0]
            assert init.startswith("ConvBnFusion_W_") and init.endswith(".weight_quantized"), init
            conv_key = init[len("ConvBnFusion_W_"):-len(".weight_quantized")]
            sd[conv_key + ".weight"] = dq[node.input[1]]
            sd[conv_key + ".bias"] = dq[node.input[2]]
        elif node.op_type == "MatMul":
            sd["fc.weight"] = np.ascontiguousarray(dq[node.input[1]].T)
    sd["fc.bias"] = inits["fc.bias"].astype(np.float32)
    return sd


def folded_torchvision(sd):
    model = torchvision.models.shufflenet_v2_x1_0(weights=None)
    for module in list(model.modules()):
        if isinstance(module, torch.nn.Sequential):
            for i in range(len(module) - 1):
                if isinstance(module[i], torch.nn.Conv2d) and isinstance(module[i + 1], torch.nn.BatchNorm2d):
                    conv = module[i]
                    conv.bias = torch.nn.Parameter(torch.zeros(conv.out_channels))
                    module[i + 1] = torch.nn.Identity()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)
    return model.eval()


def top5(x):
    return np.argsort(-x[0], kind="stable")[:5].tolist()


def real_model():
    sd = dequantized_state_dict(os.path.join(OUT, MODEL))
    model = folded_torchvision(sd)
    sess = ort.InferenceSession(os.path.join(OUT, MODEL), providers=["CPUExecutionProvider"])
    for name in IMAGES:
        x = np.load(os.path.join(OUT, f"{name}.npy"))
        with torch.no_grad():
            logits = model(torch.from_numpy(x)).numpy().astype(np.float32)
        np.save(os.path.join(OUT, f"{name}.torch-fp32-logits.npy"), logits)
        stored = np.load(os.path.join(OUT, f"{name}.ort-logits.npy"))
        live = sess.run(None, {"input": x})[0]
        print(f"{name}: torch fp32 top-5 {top5(logits)} max|logit| {np.abs(logits).max():.4g}; "
              f"ORT int8 top-5 {top5(stored)} (live ORT {np.abs(live - stored).max():.3g} from stored)")


def tiny_export():
    spec = {"stageRepeats": [2, 3, 2], "channels": [8, 16, 32, 64, 128], "numClasses": 10, "inputSize": 64}
    model = torchvision.models.ShuffleNetV2(spec["stageRepeats"], spec["channels"], num_classes=spec["numClasses"])
    model.eval()
    model.load_state_dict(seeded.state_dict(model, seed=7))
    x = np.load(os.path.join(FIXTURES, "parity", "tiny-v2.input.npy"))
    assert np.array_equal(x, seeded.input_image(spec["inputSize"], seed=7))
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).numpy().astype(np.float32)
    np.save(os.path.join(OUT, "tiny-v2.torch-logits.npy"), logits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy (TorchScript) exporter's deprecation notice
        for fname, kw in [("tiny-v2.fp32.onnx", {}),
                          ("tiny-v2.fp32-bn.onnx", dict(training=torch.onnx.TrainingMode.PRESERVE))]:
            path = os.path.join(OUT, fname)
            # dynamo=False: the new exporter needs onnxscript, which is not installed; this is
            # what torch.onnx.export falls back to and what most published exports used.
            torch.onnx.export(model, (torch.from_numpy(x),), path, dynamo=False,
                              input_names=["input"], output_names=["logits"], **kw)
            m = onnx.load(path)
            ops = sorted({n.op_type for n in m.graph.node})
            got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
            print(f"{fname}: {os.path.getsize(path)} bytes, ops {ops}, "
                  f"initializers e.g. {[t.name for t in m.graph.initializer][:3]}, "
                  f"ORT vs torch {np.abs(got - logits).max() / np.abs(logits).max():.2g} x max|logit|")


def dequantize_node(node, inits):
    q = inits[node.input[0]].astype(np.int64)
    scale = inits[node.input[1]].astype(np.float32)
    zp = inits[node.input[2]].astype(np.int64) if len(node.input) > 2 and node.input[2] else np.zeros(scale.shape, np.int64)
    axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
    if scale.size > 1:
        shape = [1] * q.ndim
        shape[axis] = scale.size
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return ((q - zp).astype(np.float32) * scale).astype(np.float32)


def strip_qdq(model):
    """The float32 network a QDQ model stands for: weights dequantized, and each activation
    QuantizeLinear/DequantizeLinear pair replaced by Identity, or by Relu where the zero
    point is the type's minimum. onnxruntime's quantizer drops every Relu that feeds a
    QuantizeLinear: the [0, max] range of that quantization is the ReLU."""
    g = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    keep, new_inits = [], []
    for n in g.node:
        if n.op_type == "DequantizeLinear" and n.input[0] in inits:
            new_inits.append(numpy_helper.from_array(dequantize_node(n, inits), n.output[0]))
        elif n.op_type == "DequantizeLinear":
            q = producer[n.input[0]]
            assert q.op_type == "QuantizeLinear", q.op_type
            zp = inits[q.input[2]]
            relu = int(zp.reshape(-1)[0]) == np.iinfo(zp.dtype).min
            keep.append(onnx.helper.make_node("Relu" if relu else "Identity", [q.input[0]], [n.output[0]]))
        elif n.op_type != "QuantizeLinear":
            keep.append(n)
    del g.node[:]
    g.node.extend(keep)
    used = {v for n in keep for v in n.input}
    kept_inits = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(kept_inits + new_inits)
    return model


def tiny_qdq():
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    x = np.load(os.path.join(FIXTURES, "parity", "tiny-v2.input.npy"))

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = [{"input": x}, {"input": -x}]

        def get_next(self):
            return self.batches.pop() if self.batches else None

    src = os.path.join(OUT, "tiny-v2.fp32.onnx")
    dst = os.path.join(OUT, "tiny-v2.qdq-per-channel.onnx")
    quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
    fp32 = strip_qdq(onnx.load(dst))
    onnx.checker.check_model(fp32)
    sess = ort.InferenceSession(fp32.SerializeToString(), providers=["CPUExecutionProvider"])
    logits = sess.run(None, {"input": x})[0].astype(np.float32)
    np.save(os.path.join(OUT, "tiny-v2.qdq-per-channel.dequantized-logits.npy"), logits)
    int8 = ort.InferenceSession(dst, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    torch_logits = np.load(os.path.join(OUT, "tiny-v2.torch-logits.npy"))
    print(f"tiny-v2.qdq-per-channel.onnx: {os.path.getsize(dst)} bytes; dequantized fp32 top-5 {top5(logits)}, "
          f"ORT int8 top-5 {top5(int8)}, fp32 original top-5 {top5(torch_logits)}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=os.path.join(ROOT, "..", "shared", "data"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    copy_shared(args.shared)
    real_model()
    tiny_export()
    tiny_qdq()


if __name__ == "__main__":
    main()
