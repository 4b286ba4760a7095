#!/usr/bin/env python3
"""Anchor engines for Benchmarks/bench.py, one engine per process (so its peak memory is
its own and each engine can live in its own Python environment).

    worker.py convert KIND SPEC WEIGHTS OUT     make a model file (once; bench.py caches it)
    worker.py run ENGINE MODEL INPUT LOGITS     load, run once on INPUT, write LOGITS (.npy),
                                                print `ready <notes>`, then answer `N` on
                                                stdin with N timed runs (ms, one line)

KIND: onnx (torch.onnx.export), ncnn (pnnx), litert-fp32 (litert-torch), litert-int8
(litert-torch PT2E full-integer quantization, calibrated on the fixture photos), emx
(emx-onnx-cgen's C from the ONNX file given as WEIGHTS, with its model.bin),
real-weights (the int8 QDQ model of the fixtures dequantized into a BN-folded torchvision
state_dict, safetensors). WEIGHTS is a safetensors file with the reference state_dict names
(`shufflenet-gen export-weights`), so every engine runs the weights shufflenet-gen runs.
ENGINE: torch (MODEL is SPEC=WEIGHTS), onnxruntime and openvino (MODEL .onnx), ncnn (MODEL
the .ncnn.param file, .bin beside it), litert (MODEL .tflite). All on one thread, batch 1.
"""
import json
import os
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
FIXTURES = os.path.join(ROOT, "Tests", "ShuffleNetKitTests", "Fixtures", "onnx")


# ---------------------------------------------------------------- weights (numpy only)

def load_safetensors(path):
    import numpy as np
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64}
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=dtypes[t["dtype"]]).reshape(t["shape"]).astype(np.float32)
    return out


def save_safetensors(tensors, path):
    import numpy as np
    header, offset, blobs = {}, 0, []
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(path + ".tmp", path)


# ---------------------------------------------------------------- PyTorch models

def torch_model(spec, weights):
    """The reference PyTorch module of SPEC with the tensors of WEIGHTS. spec `v2-1.0x-folded`
    is torchvision's v2-1.0x with every BatchNorm replaced by a bias (the int8 fixture's form)."""
    import torch
    import torchvision
    builders = {"v2-0.5x": torchvision.models.shufflenet_v2_x0_5, "v2-1.0x": torchvision.models.shufflenet_v2_x1_0,
                "v2-1.5x": torchvision.models.shufflenet_v2_x1_5, "v2-2.0x": torchvision.models.shufflenet_v2_x2_0}
    folded = spec.endswith("-folded")
    base = spec[:-len("-folded")] if folded else spec
    if base in builders:
        model = builders[base](weights=None)
    else:
        from shufflenet_v1 import ShuffleNetV1
        g, width = base[len("v1-g"):].split("-")
        model = ShuffleNetV1(group=int(g), model_size=width)
    if folded:
        for module in list(model.modules()):
            if isinstance(module, torch.nn.Sequential):
                for i in range(len(module) - 1):
                    if isinstance(module[i], torch.nn.Conv2d) and isinstance(module[i + 1], torch.nn.BatchNorm2d):
                        module[i].bias = torch.nn.Parameter(torch.zeros(module[i].out_channels))
                        module[i + 1] = torch.nn.Identity()
    model.eval()
    tensors = load_safetensors(weights)
    expected = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    if set(tensors) != expected:
        raise SystemExit(f"{weights}: tensors differ from the {spec} module: missing {sorted(expected - set(tensors))[:5]}, "
                         f"extra {sorted(set(tensors) - expected)[:5]}")
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=False)
    return model


def example(spec):
    import torch
    return (torch.zeros(1, 3, 224, 224),)


def calibration_images():
    """The three fixture photos and their mirror images (ImageNet-normalized NCHW)."""
    import numpy as np
    xs = [np.load(os.path.join(FIXTURES, f"{n}.npy")).astype(np.float32) for n in ("cat", "chelsea", "coffee")]
    return xs + [np.ascontiguousarray(x[..., ::-1]) for x in xs]


# ---------------------------------------------------------------- conversions

def convert(kind, spec, weights, out):
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    if kind == "emx":
        # WEIGHTS is the ONNX file here. emx-onnx-cgen needs static shapes, and the torch
        # export computes its Slice bounds from Shape nodes: ONNX Runtime's basic
        # (standard-ops) optimizations fold them, then emx-onnx-cgen writes OUT (model.c)
        # and model.bin beside it.
        import subprocess
        import onnxruntime as ort
        folded = os.path.join(os.path.dirname(out), "folded.onnx")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = folded
        ort.InferenceSession(weights, options, providers=["CPUExecutionProvider"])
        subprocess.run([sys.executable, "-m", "emx_onnx_cgen", "compile", "--color", "never", folded, os.path.basename(tmp) + ".c"],
                       cwd=os.path.dirname(out), check=True, stdout=sys.stderr)
        os.replace(tmp + ".c", out)
        return
    import torch
    torch.set_num_threads(1)
    if kind == "real-weights":
        from make_onnx_fixtures import dequantized_state_dict  # needs onnx
        save_safetensors(dequantized_state_dict(os.path.join(FIXTURES, "shufflenet-v2-12-qdq.onnx")), out)
        return
    model = torch_model(spec, weights)
    args = example(spec)
    if kind == "onnx":
        torch.onnx.export(model, args, tmp, input_names=["input"], output_names=["logits"], dynamo=False)
    elif kind == "ncnn":
        import pnnx
        work = out + ".d"
        os.makedirs(work, exist_ok=True)
        pt = os.path.join(work, "model.pt")
        # writes model.ncnn.param / model.ncnn.bin beside it; fp16=False keeps the weights
        # float32 (pnnx's default stores them as fp16: 1.3e-3 x max|logit| off on v2-0.5x)
        pnnx.export(model, pt, args, fp16=False)
        for ext in ("bin", "param"):  # param last: it marks the conversion complete
            os.replace(os.path.join(work, f"model.ncnn.{ext}"), out[:-len("param")] + ext)
        import shutil
        shutil.rmtree(work, ignore_errors=True)
        return
    elif kind == "litert-fp32":
        edge = litert_module().convert(model, args)
        edge.export(tmp)
    elif kind == "litert-int8":
        lt = litert_module()
        from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
        from litert_torch.quantize.quant_config import QuantConfig
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False))
        m = torch.export.export(model, args).module()
        m = prepare_pt2e(m, quantizer)
        with torch.no_grad():
            for x in calibration_images():
                m(torch.from_numpy(x))
        m = convert_pt2e(m, fold_quantize=False)
        edge = lt.convert(m, args, quant_config=QuantConfig(pt2e_quantizer=quantizer))
        edge.export(tmp)
    else:
        raise SystemExit(f"unknown conversion {kind}")
    os.replace(tmp, out)


def litert_module():
    try:
        import litert_torch
        return litert_torch
    except ImportError:
        import ai_edge_torch
        return ai_edge_torch


# ---------------------------------------------------------------- engines

def stderr_of(f):
    """Call f() with the process's stderr (fd 2, where C++ runtimes log) captured."""
    import tempfile
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as cap:
        os.dup2(cap.fileno(), 2)
        try:
            result = f()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        cap.seek(0)
        text = cap.read().decode(errors="replace")
    sys.stderr.write(text)
    return result, text


def engine(name, model, x):
    """Returns (run, notes): run() computes the logits of x as a numpy array."""
    import numpy as np
    if name == "torch":
        import torch
        torch.set_num_threads(1)
        spec, weights = model.split("=", 1)
        m = torch_model(spec, weights)
        t = torch.from_numpy(x)

        def run():
            with torch.no_grad():
                return m(t).numpy()
        return run, f"torch {torch.__version__}"
    if name == "onnxruntime":
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x}
        return (lambda: session.run(None, feed)[0]), f"onnxruntime {ort.__version__}"
    if name == "openvino":
        import openvino as ov
        core = ov.Core()
        compiled = core.compile_model(core.read_model(model), "CPU", {
            "INFERENCE_NUM_THREADS": 1, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32"})
        request = compiled.create_infer_request()

        def run():
            request.infer({0: x})
            return request.get_output_tensor(0).data.copy()
        precision = str(compiled.get_property("INFERENCE_PRECISION_HINT")).replace("<Type: ", "").strip("'>")
        return run, f"openvino {ov.__version__.split('-')[0]}, inference precision {precision}"
    if name == "ncnn":
        import ncnn
        net = ncnn.Net()
        opt = net.opt
        opt.num_threads = 1
        opt.use_vulkan_compute = False
        # fp32 throughout: ncnn's x86 build would otherwise store some blobs in fp16/bf16.
        for flag in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage"):
            if hasattr(opt, flag):
                setattr(opt, flag, False)
        net.opt = opt
        if net.opt.num_threads != 1 or net.opt.use_fp16_storage:
            raise SystemExit("ncnn did not take its options")
        if net.load_param(model) != 0 or net.load_model(model[:-len("param")] + "bin") != 0:
            raise SystemExit(f"ncnn could not load {model}")
        chw = ncnn.Mat(np.ascontiguousarray(x[0]))

        def run():
            ex = net.create_extractor()
            ex.input("in0", chw)
            _, out = ex.extract("out0")
            return np.array(out).reshape(1, -1)
        return run, f"ncnn {getattr(ncnn, '__version__', '?')}, fp16/bf16 storage off"
    if name == "litert":
        from ai_edge_litert.interpreter import Interpreter
        import ai_edge_litert

        def make():
            it = Interpreter(model_path=model, num_threads=1)
            it.allocate_tensors()
            return it
        it, log = stderr_of(make)
        inp, out = it.get_input_details()[0], it.get_output_details()[0]
        xin = x if list(inp["shape"]) == list(x.shape) else np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        io = "float32 input and output"
        if inp["dtype"] != np.float32:
            # A full-integer model with integer input: the image is quantized once here,
            # outside the timed runs (as if the camera delivered int8); logits dequantized.
            scale, zero = inp["quantization"]
            info = np.iinfo(inp["dtype"])
            xin = np.clip(np.round(xin / scale) + zero, info.min, info.max).astype(inp["dtype"])
            io = f"{inp['dtype'].__name__} input (quantized once, outside the timed runs)"
        oscale, ozero = out["quantization"] if out["dtype"] != np.float32 else (1.0, 0)
        ops = {}
        for op in it._get_ops_details():
            ops[op["op_name"]] = ops.get(op["op_name"], 0) + 1
        qconv = sum(1 for op in it._get_ops_details() if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
                    and it._get_tensor_details(op["inputs"][1], 0)["dtype"] == np.int8)
        xnn = "XNNPACK delegate applied" if "XNNPACK" in log else "XNNPACK delegate NOT reported"

        def run():
            it.set_tensor(inp["index"], xin)
            it.invoke()
            return (it.get_tensor(out["index"]).astype(np.float32) - ozero) * oscale
        notes = (f"ai-edge-litert {getattr(ai_edge_litert, '__version__', '?')}, {xnn}, "
                 f"{io}, input shape {[int(v) for v in inp['shape']]}, {qconv} int8-weight conv/fc ops of "
                 f"{sum(ops.get(k, 0) for k in ('CONV_2D', 'DEPTHWISE_CONV_2D', 'FULLY_CONNECTED'))}")
        return run, notes
    raise SystemExit(f"unknown engine {name}")


def serve(name, model, input_path, logits_path):
    import numpy as np
    x = np.load(input_path).astype(np.float32)
    run, notes = engine(name, model, x)
    logits = np.asarray(run(), dtype=np.float32).reshape(1, -1)
    np.save(logits_path, logits)
    for _ in range(10):
        run()
    print(f"ready {notes}", flush=True)
    for line in sys.stdin:
        n = int(line)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            run()
            times.append((time.perf_counter() - t0) * 1e3)
        print(" ".join(f"{t:.4f}" for t in times), flush=True)


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "convert":
        convert(*sys.argv[2:])
    elif len(sys.argv) == 6 and sys.argv[1] == "run":
        serve(*sys.argv[2:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
