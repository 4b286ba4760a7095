#!/usr/bin/env python3
"""Per-layer instruction counts of the emitted C on an emulated Cortex-M board.

    python3 Benchmarks/profile_board.py --spec v2-0.5x --target cortex-m55

Generates the spec's C with seeded weights, wraps every kernel call of PREFIX_infer in a
SysTick read (a copy in a scratch folder; the emitted file itself has no timers), builds
it with the target's toolchain and flags (`shufflenet-gen targets --json`) and the harness
in templates/harness/, runs it once on the QEMU board under -icount shift=0 and prints
each layer's instructions, MACs and instructions per MAC, then the totals per kind of
layer (the kinds of profile_layers.py). SysTick counts the processor clock, which QEMU
advances one nanosecond per instruction here: instructions = ticks x 1e9 / clock, to
within one tick. Needs python3 (stdlib), the Swift toolchain and the target's packages.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from bench import sh, write_seeded_input  # noqa: E402
from profile_layers import kind, wrap_kernel_calls  # noqa: E402


def instrument(source, prefix):
    """The code file with a SysTick read around every kernel call of PREFIX_infer."""
    m = re.search(r"(int %s_infer\(.*?\n)(.*?)(\n    return 0;\n}\n)" % re.escape(prefix), source, re.S)
    body, names = wrap_kernel_calls(m.group(2), lambda call, i: "    { const uint64_t t0_ = prof_ticks(); %s prof_acc[%d] += prof_ticks() - t0_; }" % (call, i))
    timers = """#include "semihosting.h"
extern volatile uint32_t sn_systick_wraps;
static uint64_t prof_acc[%d];
static uint64_t prof_ticks(void) {
    uint32_t w, v;
    do { w = sn_systick_wraps; v = *(volatile uint32_t *)0xE000E018u; } while (w != sn_systick_wraps);
    return (uint64_t)w * 0x1000000u + (0xFFFFFFu - v);
}
static void prof_print(void) {
    for (int i = 0; i < %d; i++) {
        char line[48], *o = line, d[24];
        int n = 0;
        uint64_t v = prof_acc[i];
        do { d[n++] = (char)('0' + v %% 10u); v /= 10u; } while (v);
        const char *head = "layer ";
        while (*head) *o++ = *head++;
        int k = i, m = 0;
        char e[8];
        do { e[m++] = (char)('0' + k %% 10); k /= 10; } while (k);
        while (m) *o++ = e[--m];
        *o++ = ' ';
        while (n) *o++ = d[--n];
        *o++ = '\\n';
        *o = 0;
        sh_print(line);
    }
}
""" % (len(names), len(names))
    out = source[:m.start()] + timers + m.group(1) + "\n".join(body) + "\n    prof_print();" + m.group(3) + source[m.end():]
    return out, names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", default="v2-0.5x")
    ap.add_argument("--target", default="cortex-m55")
    args = ap.parse_args()
    sh(["swift", "build", "-c", "release", "--product", "shufflenet-gen"], cwd=ROOT)
    gen = os.path.join(sh(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT).stdout.strip(), "shufflenet-gen")
    target = next(t for t in json.loads(sh([gen, "targets", "--json"]).stdout) if t["name"] == args.target)
    board = target["board"]
    layers_info = {row["name"]: row for row in json.loads(sh([gen, "info", "--spec", args.spec, "--optimized", "--json"]).stdout)["layers"]}
    d = tempfile.mkdtemp(prefix="shufflenet-board-profile-")
    sh([gen, "--spec", args.spec, "--out", d])
    prefix = "shufflenet_" + re.sub(r"[^A-Za-z0-9]", "_", args.spec)
    source, names = instrument(open(f"{d}/{prefix}.c").read(), prefix)
    with open(f"{d}/prof.c", "w") as f:
        f.write(source)
    cc, harness = target["compiler"], board["harness"]
    arch, opt = target["architectureFlags"], target["optimizationFlags"]
    sections = ["-ffunction-sections", "-fdata-sections"]
    sh([cc, "-std=c11", *opt, *arch, *sections, "-I", d, "-I", harness, "-c", f"{d}/prof.c", "-o", f"{d}/network.o"])
    sh([cc, "-std=c11", "-O0", *arch, "-c", f"{d}/{prefix}_weights.c", "-o", f"{d}/weights.o"])
    sh([cc, "-std=c11", "-O2", *arch, *sections, "-nostartfiles", "-T", f"{harness}/{board['linkerScript']}", "-Wl,--gc-sections",
        "-I", d, "-I", harness, f"-DSN_MODEL={prefix}", f"-DSN_MODEL_UPPER={prefix.upper()}", f'-DSN_MODEL_HEADER="{prefix}.h"',
        f"{d}/network.o", f"{d}/weights.o", f"{harness}/board_main.c", f"{harness}/startup_cortex_m.c", f"{harness}/semihosting.c",
        "-o", f"{d}/prog.elf"])
    write_seeded_input(gen, args.spec, f"{d}/input.npy")
    raw = open(f"{d}/input.npy", "rb").read()
    header = 10 + raw[8] + 256 * raw[9]
    with open(f"{d}/input.bin", "wb") as f:
        f.write(raw[header:])
    out = subprocess.run(["qemu-system-arm", "-M", board["machine"], "-nographic", "-monitor", "none", "-serial", "none",
                          "-semihosting-config", "enable=on,target=native", "-icount", "shift=0", "-kernel", f"{d}/prog.elf"],
                         cwd=d, check=True, capture_output=True, text=True)
    out = out.stdout + out.stderr  # QEMU prints the guest's semihosting console on stderr
    per_insn = 1e9 / board["clockHz"]
    total_ticks = int(re.search(r"shufflenet-board: ticks (\d+)", out).group(1))
    layer_insns = {}
    for line in out.splitlines():
        if line.startswith("layer "):
            _, i, t = line.split()
            layer_insns[names[int(i)]] = layer_insns.get(names[int(i)], 0.0) + int(t) * per_insn
    total = sum(layer_insns.values())
    print(f"{args.spec} on {args.target} ({board['machine']}, {cc} {' '.join(opt + arch)}): "
          f"{total_ticks * per_insn:,.0f} instructions per inference with the counters, {total:,.0f} inside the layers\n")
    print(f"{'layer':<60} {'Minsns':>8} {'share':>6} {'MMACs':>7} {'insn/MAC':>8}")
    kinds = {}
    for name, n in layer_insns.items():
        macs = layers_info.get(name.split(":")[0], {}).get("macs", 0)
        print(f"{name[:60]:<60} {n / 1e6:8.3f} {100 * n / total:5.1f}% {macs / 1e6:7.2f} {n / macs if macs else 0:8.2f}")
        k = kind(name)
        kn, km = kinds.get(k, (0.0, 0))
        kinds[k] = (kn + n, km + macs)
    print(f"\n{'kind':<30} {'Minsns':>8} {'share':>6} {'MMACs':>7} {'insn/MAC':>8}")
    for k, (n, macs) in sorted(kinds.items(), key=lambda x: -x[1][0]):
        print(f"{k:<30} {n / 1e6:8.3f} {100 * n / total:5.1f}% {macs / 1e6:7.2f} {n / macs if macs else 0:8.2f}")


if __name__ == "__main__":
    main()
