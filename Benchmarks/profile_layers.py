#!/usr/bin/env python3
"""Per-layer time of the emitted C: where a network's milliseconds go.

    python3 Benchmarks/profile_layers.py --spec v2-1.0x [--runs 200] [--flags -O3 -march=native]

Generates the spec's C with seeded weights, wraps every kernel call of PREFIX_infer in a
clock read (a copy in a scratch folder; the emitted file itself has no timers), builds it
with SHUFFLENET_MAIN, runs it on the seeded input and prints each layer's fastest time over
the runs, its share, its MACs and GFLOP/s, then the totals per kind of layer. The fastest
run, not the mean: on a shared machine the mean of a layer moves with whatever else runs,
the minimum much less. The sum of the minima is a little under the median latency. Needs python3 (stdlib),
a C compiler and the Swift toolchain.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from bench import sh, write_seeded_input  # noqa: E402


def wrap_kernel_calls(body, wrap):
    """The lines of PREFIX_infer's body with every kernel call replaced by wrap(call, i),
    and the comment of the layer each call i belongs to."""
    names, lines, layer = [], [], None
    for line in body.split("\n"):
        c = re.match(r"\s*/\* (.*) \*/$", line)
        if c:
            layer = c.group(1)
        elif layer and re.match(r"\s*sn_\w+\(", line):
            lines.append(wrap(line.strip(), len(names)))
            names.append(layer)
            continue
        lines.append(line)
    return lines, names


def instrument(source, prefix):
    """The code file with a clock read around every kernel call of PREFIX_infer."""
    m = re.search(r"(int %s_infer\(.*?\n)(.*?)(\n}\n)" % re.escape(prefix), source, re.S)
    body, names = wrap_kernel_calls(m.group(2), lambda call, i: "    { const double t0_ = prof_now(); %s const double t_ = prof_now() - t0_; if (prof_ms[%d] == 0 || t_ < prof_ms[%d]) prof_ms[%d] = t_; }" % (call, i, i, i))
    timers = ("#include <stdio.h>\n#include <time.h>\n"
              "static double prof_ms[%d];\n"
              "static double prof_now(void) { struct timespec t; timespec_get(&t, TIME_UTC); return t.tv_sec * 1e3 + t.tv_nsec * 1e-6; }\n"
              "static void prof_print(void) { for (int i = 0; i < %d; i++) printf(\"layer %%d %%.6f\\n\", i, prof_ms[i]); }\n") % (len(names), len(names))
    out = source[:m.start()] + timers + m.group(1) + "\n".join(body) + m.group(3) + source[m.end():]
    # print the accumulated times when the program ends
    k = out.rfind("    free(arena);\n")
    return out[:k] + "    prof_print();\n" + out[k:], names


def kind(comment):
    name, what = comment.split(": ", 1)
    size = re.search(r"at (\d+)x(\d+)", what)
    if "dwconv" in what:
        return "depthwise"
    if what.startswith("linear"):
        return "classifier"
    if "maxpool" in name:
        return "first conv + max pool"
    if what.startswith("gconv") and size:
        return f"1x1 group conv at {size.group(1)}x{size.group(2)}"
    if what.startswith("conv") and size:
        return f"1x1 conv at {size.group(1)}x{size.group(2)}"
    return what.split()[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", default="v2-1.0x")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--flags", nargs=argparse.REMAINDER, default=["-O3", "-march=native"])
    args = ap.parse_args()
    sh(["swift", "build", "-c", "release", "--product", "shufflenet-gen"], cwd=ROOT)
    gen = os.path.join(sh(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT).stdout.strip(), "shufflenet-gen")
    import json
    layers_info = {row["name"]: row for row in json.loads(sh([gen, "info", "--spec", args.spec, "--optimized", "--json"]).stdout)["layers"]}
    d = tempfile.mkdtemp(prefix="shufflenet-profile-")
    sh([gen, "--spec", args.spec, "--out", d])
    prefix = "shufflenet_" + re.sub(r"[^A-Za-z0-9]", "_", args.spec)
    source, names = instrument(open(f"{d}/{prefix}.c").read(), prefix)
    with open(f"{d}/prof.c", "w") as f:
        f.write(source)
    sh(["cc", "-std=c11", "-DSHUFFLENET_MAIN", *args.flags, "-I", d, f"{d}/prof.c", f"{d}/{prefix}_weights.c", "-o", f"{d}/prof", "-lm"])
    write_seeded_input(gen, args.spec, f"{d}/input.npy")
    out = sh([f"{d}/prof", f"{d}/input.npy", f"{d}/logits.npy", str(args.runs)]).stdout
    median = re.search(r"median ([0-9.]+) ms", out).group(1)
    per_call = [0.0] * len(names)
    for line in out.splitlines():
        if line.startswith("layer "):
            _, i, t = line.split()
            per_call[int(i)] += float(t)
    # a grouped conv is one layer of several kernel calls
    layer_ms = {}
    for name, t in zip(names, per_call):
        layer_ms[name] = layer_ms.get(name, 0.0) + t
    names, ms = list(layer_ms), list(layer_ms.values())
    total = sum(ms)
    print(f"{args.spec}, cc {' '.join(args.flags)}: {median} ms median (with the timers); {total:.3f} ms summed over the layers' fastest runs\n")
    print(f"{'layer':<60} {'ms':>8} {'share':>6} {'MMACs':>7} {'GFLOP/s':>8}")
    kinds = {}
    for name, t in sorted(zip(names, ms), key=lambda x: -x[1]):
        layer = name.split(":")[0]
        macs = layers_info.get(layer, {}).get("macs", 0)
        print(f"{name[:60]:<60} {t:8.4f} {100 * t / total:5.1f}% {macs / 1e6:7.2f} {2 * macs / (t * 1e6) if t else 0:8.1f}")
        k = kind(name)
        kt, km = kinds.get(k, (0.0, 0))
        kinds[k] = (kt + t, km + macs)
    print(f"\n{'kind':<30} {'ms':>8} {'share':>6} {'MMACs':>7} {'GFLOP/s':>8}")
    for k, (t, macs) in sorted(kinds.items(), key=lambda x: -x[1][0]):
        print(f"{k:<30} {t:8.4f} {100 * t / total:5.1f}% {macs / 1e6:7.2f} {2 * macs / (t * 1e6) if t else 0:8.1f}")


if __name__ == "__main__":
    main()
