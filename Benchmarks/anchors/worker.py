#!/usr/bin/env python3
"""One anchor engine in its own process (so its peak memory is its own): builds the model
with the seeded weights shufflenet-gen uses, then answers `N` on stdin with N timed runs
(milliseconds, one line). Engines: torch (eager, 1 thread), onnxruntime (CPU, 1 intra-op
thread, all graph optimizations, model exported from the same PyTorch module)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))


def build(spec):
    import torch
    import torchvision
    import seeded
    from shufflenet_v1 import ShuffleNetV1
    builders = {"v2-0.5x": torchvision.models.shufflenet_v2_x0_5, "v2-1.0x": torchvision.models.shufflenet_v2_x1_0,
                "v2-1.5x": torchvision.models.shufflenet_v2_x1_5, "v2-2.0x": torchvision.models.shufflenet_v2_x2_0}
    if spec in builders:
        model = builders[spec](weights=None)
    else:
        g, width = spec[len("v1-g"):].split("-")
        model = ShuffleNetV1(group=int(g), model_size=width)
    model.eval()
    model.load_state_dict(seeded.state_dict(model))
    return model, torch.from_numpy(seeded.input_image())


def main():
    engine, spec, scratch = sys.argv[1], sys.argv[2], sys.argv[3]
    import torch
    torch.set_num_threads(1)
    model, x = build(spec)
    if engine == "torch":
        def run():
            with torch.no_grad():
                return model(x)
    elif engine == "onnxruntime":
        import onnxruntime as ort
        path = os.path.join(scratch, f"{spec}.onnx")
        torch.onnx.export(model, (x,), path, input_names=["input"], output_names=["logits"], dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        feed = {"input": x.numpy()}

        def run():
            return session.run(None, feed)
    else:
        raise SystemExit(f"unknown engine {engine}")
    for _ in range(10):
        run()
    print("ready", flush=True)
    for line in sys.stdin:
        n = int(line)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            run()
            times.append((time.perf_counter() - t0) * 1e3)
        print(" ".join(f"{t:.4f}" for t in times), flush=True)


if __name__ == "__main__":
    main()
