#!/usr/bin/env python3
"""Reference logits for the parity tests, computed by PyTorch on the seeded weights.

Needs torch and torchvision (pip install -r tools/requirements.txt). Run by hand from the
repository root, never by the tests:

    python3 tools/make_fixtures.py

For every built-in spec it builds torchvision's ShuffleNetV2 or the Megvii-faithful
ShuffleNet v1 (tools/shufflenet_v1.py), loads the seeded weights of tools/seeded.py (the
same generator as the Swift code, bit for bit), runs the seeded input and writes the logits
to Tests/ShuffleNetKitTests/Fixtures/parity/<spec>.logits.npy (4 KB each).
"""
import os
import sys

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(__file__))
import seeded  # noqa: E402
from shufflenet_v1 import ShuffleNetV1  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "ShuffleNetKitTests", "Fixtures", "parity")

V2 = {
    "v2-0.5x": torchvision.models.shufflenet_v2_x0_5,
    "v2-1.0x": torchvision.models.shufflenet_v2_x1_0,
    "v2-1.5x": torchvision.models.shufflenet_v2_x1_5,
    "v2-2.0x": torchvision.models.shufflenet_v2_x2_0,
}
V1 = [(3, "0.5x"), (3, "1.0x"), (3, "1.5x"), (3, "2.0x"), (8, "0.5x"), (8, "1.0x"), (8, "1.5x"),
      (8, "2.0x"), (1, "1.0x"), (2, "1.0x"), (4, "1.0x")]


def build(name):
    if name in V2:
        return V2[name](weights=None)
    g, width = name[len("v1-g"):].split("-")
    return ShuffleNetV1(group=int(g), model_size=width)


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    names = list(V2) + [f"v1-g{g}-{w}" for g, w in V1]
    x = torch.from_numpy(seeded.input_image())
    for name in names:
        model = build(name).eval()
        model.load_state_dict(seeded.state_dict(model))
        with torch.no_grad():
            logits = model(x).numpy().astype(np.float32)
        np.save(os.path.join(OUT, f"{name}.logits.npy"), logits)
        top5 = np.argsort(-logits[0])[:5]
        print(f"{name}: max|logit| {np.abs(logits).max():.4g}, top-5 {top5.tolist()}")


if __name__ == "__main__":
    main()


# --- checkpoints written by Python, read by Swift -------------------------------------------
# Two tiny custom variants (a few thousand weights each) exported from PyTorch state_dicts
# as safetensors, one in F32 and one in F16, with PyTorch's logits: the proof that a real
# PyTorch checkpoint (not only our own writer's output) loads by name and runs exactly.

TINY = {
    "tiny-v2": dict(spec={"name": "tiny-v2", "family": "v2", "inputSize": 64, "numClasses": 10,
                          "stageRepeats": [2, 3, 2], "channels": [8, 16, 32, 64, 128]}, dtype="F32"),
    "tiny-v1": dict(spec={"name": "tiny-v1", "family": "v1", "inputSize": 64, "numClasses": 10,
                          "stageRepeats": [2, 3, 2], "channels": [12, 48, 96, 192], "groups": 3}, dtype="F16"),
}


def write_safetensors(path, tensors, dtype):
    import json
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        if name.endswith("num_batches_tracked"):
            arr, code = t.numpy().astype("<i8"), "I64"
        else:
            arr = t.numpy().astype("<f2" if dtype == "F16" else "<f4")
            code = dtype
        raw = arr.tobytes()
        header[name] = {"dtype": code, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + b"".join(blobs))


def make_tiny():
    import json
    for name, cfg in TINY.items():
        spec = cfg["spec"]
        if spec["family"] == "v2":
            model = torchvision.models.ShuffleNetV2(spec["stageRepeats"], spec["channels"], num_classes=spec["numClasses"])
        else:
            model = ShuffleNetV1(group=spec["groups"], channels=spec["channels"], n_class=spec["numClasses"],
                                 stage_repeats=spec["stageRepeats"])
        model.eval()
        sd = seeded.state_dict(model, seed=7)
        if cfg["dtype"] == "F16":  # the checkpoint holds halves; PyTorch runs their float32 widening
            sd = {k: (v.half().float() if v.is_floating_point() else v) for k, v in sd.items()}
        model.load_state_dict(sd)
        x = torch.from_numpy(seeded.input_image(spec["inputSize"], seed=7))
        with torch.no_grad():
            logits = model(x).numpy().astype(np.float32)
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump(spec, f, indent=2)
        write_safetensors(os.path.join(OUT, f"{name}.safetensors"), sd, cfg["dtype"])
        np.save(os.path.join(OUT, f"{name}.input.npy"), x.numpy())
        np.save(os.path.join(OUT, f"{name}.logits.npy"), logits)
        print(f"{name}: {cfg['dtype']}, max|logit| {np.abs(logits).max():.4g}")


if __name__ == "__main__":
    make_tiny()
