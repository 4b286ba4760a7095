#!/usr/bin/env python3
"""Turn a JPEG or PNG into the normalized float32 [1,3,224,224] .npy the networks expect,
the torchvision way: resize the short side to 256 (bilinear), center crop 224, /255,
ImageNet mean and std. Needs pillow and numpy.

    python3 tools/image_to_npy.py cat.jpg cat.npy [--size 224]
"""
import argparse

import numpy as np
from PIL import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("image")
    ap.add_argument("output")
    ap.add_argument("--size", type=int, default=224)
    args = ap.parse_args()
    img = Image.open(args.image).convert("RGB")
    short = round(args.size * 256 / 224)
    w, h = img.size
    scale = short / min(w, h)
    img = img.resize((max(short, round(w * scale)), max(short, round(h * scale))), Image.BILINEAR)
    w, h = img.size
    left, top = (w - args.size) // 2, (h - args.size) // 2
    img = img.crop((left, top, left + args.size, top + args.size))
    x = np.asarray(img, dtype=np.float32) / 255.0
    x = (x - np.array([0.485, 0.456, 0.406], dtype=np.float32)) / np.array([0.229, 0.224, 0.225], dtype=np.float32)
    np.save(args.output, x.transpose(2, 0, 1)[None].astype(np.float32))


if __name__ == "__main__":
    main()
