#!/usr/bin/env python3
"""A torchvision ShuffleNetV2 checkpoint through `shufflenet-gen run`, compared with torchvision.

Needs torch and torchvision (pip install -r tools/requirements.txt). Run by hand from the
repository root after `swift build -c release`:

    python3 tools/check_torchvision_checkpoint.py [--width 1.0] [--seed 0] [--pth FILE]

Without --pth the model is torchvision's own random initialization under torch.manual_seed
(independent of shufflenet-gen's seeded weights), with its BatchNorm running statistics
and affine parameters randomized so that BN folding matters; with --pth it loads that
state_dict (for example torchvision's pretrained file). It writes the state_dict as
safetensors with its PyTorch names, runs torchvision and the interpreted engine on one
random input, and prints the max abs logit difference relative to max|logit| and both
top-5 lists. Exit status 1 when they differ by more than 1e-4 x max|logit| or in top-5.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(__file__))
from make_fixtures import write_safetensors  # noqa: E402

MODELS = {"0.5": torchvision.models.shufflenet_v2_x0_5, "1.0": torchvision.models.shufflenet_v2_x1_0,
          "1.5": torchvision.models.shufflenet_v2_x1_5, "2.0": torchvision.models.shufflenet_v2_x2_0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", default="1.0", choices=sorted(MODELS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pth", help="a torchvision state_dict (.pth) to load instead of a random one")
    ap.add_argument("--gen", default=".build/release/shufflenet-gen")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    model = MODELS[args.width](weights=None)
    if args.pth:
        model.load_state_dict(torch.load(args.pth, map_location="cpu"))
    else:
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.5, 0.5)
                    m.running_var.uniform_(0.5, 2.0)
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.3, 0.3)
    model.eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        expected = model(x).numpy().reshape(-1)

    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "w.safetensors")
        write_safetensors(weights, model.state_dict(), "F32")
        np.save(os.path.join(tmp, "x.npy"), x.numpy())
        out = os.path.join(tmp, "y.npy")
        cmd = [args.gen, "run", "--spec", f"v2-{args.width}x", "--weights", weights,
               "--input", os.path.join(tmp, "x.npy"), "--output", out]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        ours = np.load(out).reshape(-1)

    err = float(np.abs(ours - expected).max() / np.abs(expected).max())
    top_t, top_o = [int(i) for i in np.argsort(-expected)[:5]], [int(i) for i in np.argsort(-ours)[:5]]
    print(f"v2-{args.width}x torchvision checkpoint ({'file ' + args.pth if args.pth else f'random init, seed {args.seed}'}): "
          f"max abs diff {np.abs(ours - expected).max():.3g} = {err:.2e} x max|logit| ({np.abs(expected).max():.3g})")
    print(f"top-5 torchvision {top_t}, shufflenet-gen {top_o}")
    sys.exit(0 if err <= 1e-4 and top_t == top_o else 1)


if __name__ == "__main__":
    main()
