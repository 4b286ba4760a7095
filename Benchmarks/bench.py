#!/usr/bin/env python3
"""Benchmarks: the emitted code against the interpreted engine and the engines users would
pick, measured side by side in one run on one machine, single thread, batch 1.

    python3 Benchmarks/bench.py            # full run: 4 networks, >= 100 timed runs each
    python3 Benchmarks/bench.py --quick    # smoke test (CI): v2-0.5x, a few runs

Engines run interleaved in rounds (A B C A B C ...) so drift hits all alike; ratios are
taken round by round and their median reported. PyTorch and ONNX Runtime anchors run when
their packages are installed (Benchmarks/anchors/requirements.txt), each in its own
process. Writes a Markdown table to Benchmarks/results/. Needs only python3 (stdlib), a C
compiler and the Swift toolchain; never asserts on time.
"""
import argparse
import datetime
import os
import platform
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
RESULTS = os.path.join(ROOT, "Benchmarks", "results")

NETWORKS = ["v2-0.5x", "v2-1.0x", "v1-g3-1.0x", "v1-g8-1.0x"]


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def first_line(cmd):
    try:
        return sh(cmd).stdout.splitlines()[0].strip() or sh(cmd).stderr.splitlines()[0].strip()
    except Exception:
        return "not found"


def machine():
    model = "unknown"
    flags = set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512vl", "avx512bw") if f in flags]
    return {
        "cpu": model, "flags": " ".join(wanted), "cores": os.cpu_count(),
        "cc": first_line(["cc", "--version"]), "swiftc": first_line(["swiftc", "--version"]),
        "os": platform.platform(),
    }


class Timed:
    """One engine: `batch(n)` returns n timed runs in ms; `rss_kb` its peak resident set."""

    def __init__(self, name):
        self.name = name
        self.times = []
        self.rss_kb = 0

    def close(self):
        pass


class Program(Timed):
    """A program that prints `times: ...` when given a run count (emitted C/Swift, the CLI)."""

    def __init__(self, name, argv):
        super().__init__(name)
        self.argv = argv

    def batch(self, n):
        proc = subprocess.Popen(self.argv + [str(n)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"{self.name} failed: {err}")
        return parse_times(self.name, out)


class CLIRun(Program):
    def batch(self, n):
        argv = self.argv + ["--runs", str(n)]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"{self.name} failed: {err}")
        return parse_times(self.name, out)


def parse_times(name, out):
    line = next((l for l in out.splitlines() if l.startswith("times:")), None)
    if line is None:
        raise RuntimeError(f"{name} printed no 'times:' line; its output was:\n{out}")
    return [float(t) for t in line.split()[1:]]


class Worker(Timed):
    def __init__(self, name, engine, spec, scratch):
        super().__init__(name)
        self.proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "Benchmarks", "anchors", "worker.py"), engine, spec, scratch],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"{name} did not start: {self.proc.stderr.read()[-2000:]}")

    def batch(self, n):
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        return [float(t) for t in self.proc.stdout.readline().split()]

    def close(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        self.rss_kb = int(line.split()[1])
        except OSError:
            pass
        self.proc.stdin.close()
        self.proc.wait()


def peak_rss_of(probe, argv):
    """Peak resident set (KB) of one run of a program, through rss_probe.c (see there why)."""
    return int(sh([probe] + argv).stdout.split()[-1])


def have(module):
    # Found, not imported: importing torch here would make this process (and, through
    # fork, every engine it starts) hundreds of MB larger.
    import importlib.util
    try:
        return importlib.util.find_spec(module) is not None
    except Exception:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smoke test: v2-0.5x, few runs, no anchors")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=20, help="timed runs per engine per round")
    ap.add_argument("--specs", nargs="*", default=None)
    args = ap.parse_args()
    specs = args.specs or (["v2-0.5x"] if args.quick else NETWORKS)
    rounds, batch = (2, 3) if args.quick else (args.rounds, args.batch)
    interp_batch = 1 if args.quick else max(1, batch // 4)

    print("building shufflenet-gen (release)...", flush=True)
    sh(["swift", "build", "-c", "release", "--product", "shufflenet-gen"], cwd=ROOT)
    gen = os.path.join(sh(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT).stdout.strip(), "shufflenet-gen")
    info = machine()
    scratch = tempfile.mkdtemp(prefix="shufflenet-bench-")

    # The machine's single-core peak, for the compute floor.
    sh(["cc", "-O3", "-march=native", os.path.join(ROOT, "Benchmarks", "peak_fma.c"), "-o", f"{scratch}/peak"])
    peak = float(re.search(r"peak ([0-9.]+)", sh([f"{scratch}/peak"]).stdout).group(1))
    sh(["cc", "-O2", os.path.join(ROOT, "Benchmarks", "rss_probe.c"), "-o", f"{scratch}/rss_probe"])
    print(f"peak single-core FP32: {peak:.1f} GFLOP/s", flush=True)
    import json
    spec_macs = {}
    anchors = [] if args.quick else [e for e, m in (("torch", "torch"), ("onnxruntime", "onnxruntime")) if have(m) and have("torchvision")]
    swift_ok = True
    sections = []
    for spec in specs:
        print(f"== {spec}", flush=True)
        info_json = json.loads(sh([gen, "info", "--spec", spec, "--json"]).stdout)
        spec_macs[spec] = info_json["totalMACs"]
        floor_ms = 2 * spec_macs[spec] / (peak * 1e9) * 1e3
        d = os.path.join(scratch, spec)
        os.makedirs(d, exist_ok=True)
        # the seeded input, written by the tool itself (float32 .npy)
        sh([gen, "export-weights", "--spec", spec, "--output", f"{d}/w.safetensors"])
        input_npy = f"{d}/input.npy"
        write_seeded_input(gen, spec, input_npy, d)
        build_times, engines = {}, []

        def emit(tag, extra):
            out = f"{d}/{tag}"
            t0 = time.perf_counter()
            sh([gen, "--spec", spec, "--out", out] + extra)
            return out, time.perf_counter() - t0

        def build_c(tag, out, flags):
            prefix = "shufflenet_" + re.sub(r"[^A-Za-z0-9]", "_", spec)
            t0 = time.perf_counter()
            sh(["cc", "-std=c11", "-DSHUFFLENET_MAIN"] + flags + [f"{out}/{prefix}.c", f"{out}/{prefix}_weights.c", "-o", f"{out}/prog-{tag}", "-lm"])
            build_times[tag] = time.perf_counter() - t0
            return f"{out}/prog-{tag}"

        opt, gen_s = emit("opt", [])
        build_times["generate"] = gen_s
        variants = [("C -O3 -march=native", opt, ["-O3", "-march=native"]),
                    ("C -O3 (portable)", opt, ["-O3"])]
        if not args.quick:
            nofold, _ = emit("nofold", ["--no-fold-bn"])
            noshuf, _ = emit("noshuf", ["--no-fuse-shuffle"])
            variants += [("C --no-fold-bn", nofold, ["-O3", "-march=native"]),
                         ("C --no-fuse-shuffle", noshuf, ["-O3", "-march=native"])]
        for name, out, flags in variants:
            prog = build_c(name, out, flags)
            engines.append(Program(name, [prog, input_npy, f"{d}/out.npy"]))
        if swift_ok:
            try:
                sw, _ = emit("swift", ["--backend", "swift"])
                sources = sorted(f"{sw}/{f}" for f in os.listdir(sw) if f.endswith(".swift"))
                t0 = time.perf_counter()
                wide = ["-D", "SHUFFLENET_AVX512"] if "avx512f" in info["flags"] else (["-D", "SHUFFLENET_AVX2"] if "avx2" in info["flags"] else [])
                sh(["swiftc", "-O", "-target-cpu", "native"] + wide + ["-D", "SHUFFLENET_MAIN"] + sources + ["-o", f"{sw}/prog-swift"])
                build_times["Swift swiftc -O"] = time.perf_counter() - t0
                engines.append(Program("Swift swiftc -O -target-cpu native", [f"{sw}/prog-swift", input_npy, f"{d}/out.npy"]))
            except subprocess.CalledProcessError as e:
                print(f"   Swift backend skipped: {e.stderr.strip().splitlines()[-1] if e.stderr else e}", flush=True)
                swift_ok = False
        interpreters = [CLIRun("interpreter, unoptimized graph", [gen, "run", "--spec", spec, "--unoptimized", "--input", input_npy, "--output", f"{d}/i.npy"]),
                        CLIRun("interpreter, optimized graph in its arena", [gen, "run", "--spec", spec, "--arena", "--input", input_npy, "--output", f"{d}/i.npy"])]
        workers = []
        for a in anchors:
            label = {"torch": "PyTorch eager (1 thread)", "onnxruntime": "ONNX Runtime (1 thread, all optimizations)"}[a]
            try:
                workers.append(Worker(label, a, spec, d))
            except Exception as e:
                print(f"   {label} skipped: {e}", flush=True)
        everyone = engines + interpreters + workers
        per_round = {e.name: [] for e in everyone}
        for r in range(rounds):
            for e in everyone:
                n = interp_batch if e in interpreters else batch
                t = e.batch(n)
                e.times += t
                per_round[e.name].append(statistics.median(t))
        for e in workers:
            e.close()
        for e in engines + interpreters:
            argv = e.argv + (["--runs", "1"] if isinstance(e, CLIRun) else ["1"])
            e.rss_kb = peak_rss_of(f"{scratch}/rss_probe", argv)
        arena = json.loads(sh([gen, "plan", "--spec", spec, "--json"]).stdout)["callerIO"]["arenaBytes"]
        ort = next((e for e in workers if e.name.startswith("ONNX")), None)
        rows = []
        for e in everyone:
            ts = sorted(e.times)
            med = statistics.median(ts)
            q = lambda f: ts[min(len(ts) - 1, int(f * len(ts)))]
            vs_ort = "-"
            if ort is not None:
                vs_ort = f"{statistics.median([a / b for a, b in zip(per_round[e.name], per_round[ort.name])]):.2f}x"
            rows.append((e.name, med, q(0.1), q(0.9), len(ts), vs_ort, med / floor_ms, e.rss_kb))
        sections.append((spec, spec_macs[spec], floor_ms, arena, rows, build_times))
        for row in rows:
            print(f"   {row[0]:<45} median {row[1]:9.3f} ms  p10 {row[2]:9.3f}  p90 {row[3]:9.3f}  vs ORT {row[5]:>6}  x floor {row[6]:7.1f}", flush=True)
    shutil.rmtree(scratch, ignore_errors=True)
    write_report(info, peak, sections, args)


def write_seeded_input(gen, spec, path, d):
    # The seeded input of the parity fixtures (tools/seeded.py), in pure Python so the
    # harness needs no numpy.
    size = int(json_spec(gen, spec)["inputSize"])
    golden = 0x9E3779B97F4A7C15
    mask = (1 << 64) - 1
    h = 0xCBF29CE484222325
    for b in b"input":
        h = ((h ^ b) * 0x00000100000001B3) & mask
    key = h ^ ((2024 * golden) & mask)
    count = 3 * size * size
    values = bytearray()
    for i in range(count):
        z = (key + (i + 1) * golden) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        z ^= z >> 31
        u = (z >> 40) / 16777216.0
        values += struct.pack("<f", u * 2 - 1)
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, {size}, {size}), }}"
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + bytes(values))


def json_spec(gen, spec):
    import json
    return next(s for s in json.loads(sh([gen, "specs", "--json"]).stdout) if s["name"] == spec)


def write_report(info, peak, sections, args):
    os.makedirs(RESULTS, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# Benchmark results ({'quick smoke test' if args.quick else 'full run'}, {stamp})", "",
             f"Command: `python3 Benchmarks/bench.py{' --quick' if args.quick else ''}`", "",
             f"- CPU: {info['cpu']} ({info['cores']} cores visible; flags: {info['flags']})",
             f"- C compiler: {info['cc']}", f"- Swift: {info['swiftc']}", f"- OS: {info['os']}",
             f"- Peak single-core FP32 FMA throughput (Benchmarks/peak_fma.c): {peak:.1f} GFLOP/s", "",
             "Single image, one thread. Median, p10 and p90 over all timed runs; `vs ORT` is the median over rounds of",
             "(engine / ONNX Runtime) measured in the same round; `x floor` is the median over the compute floor",
             "2 x MACs / peak. Peak RSS is the engine's whole process.", ""]
    for spec, macs, floor_ms, arena, rows, build_times in sections:
        lines += [f"## {spec}: {macs:,} MACs, compute floor {floor_ms:.3f} ms, arena {arena:,} bytes", "",
                  "| engine | median ms | p10 | p90 | runs | vs ORT | x floor | peak RSS MB |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, med, p10, p90, n, vs, xf, rss in rows:
            lines.append(f"| {name} | {med:.3f} | {p10:.3f} | {p90:.3f} | {n} | {vs} | {xf:.1f} | {rss / 1024:.1f} |")
        lines += ["", "Build times: " + ", ".join(f"{k} {v:.1f} s" for k, v in build_times.items()), ""]
    text = "\n".join(lines) + "\n"
    name = "quick.md" if args.quick else "latest.md"
    with open(os.path.join(RESULTS, name), "w") as f:
        f.write(text)
    print(f"wrote Benchmarks/results/{name}")


if __name__ == "__main__":
    main()
