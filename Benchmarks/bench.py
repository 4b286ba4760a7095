#!/usr/bin/env python3
"""Benchmarks: the emitted code against the interpreted engine and the engines users would
pick, measured side by side in one run on one machine, single thread, batch 1.

    python3 Benchmarks/bench.py                  # full run: 7 networks + the int8 rows
    python3 Benchmarks/bench.py --networks v2-1.0x v1-g3-1.0x --engines c,onnxruntime,openvino
    python3 Benchmarks/bench.py --int8           # only the int8 rows (real trained weights, cat photo)
    python3 Benchmarks/bench.py --quick          # smoke test (CI): v2-0.5x and our int8 C, a few runs

Engines run interleaved in rounds (A B C A B C ...) so drift hits all alike; ratios are
taken round by round and their median reported. The anchors (PyTorch, ONNX Runtime,
OpenVINO, ncnn, LiteRT/XNNPACK) run when installed (see Benchmarks/README.md), each in its
own process, on the seeded weights shufflenet-gen exports, and each engine's logits are
compared with shufflenet-gen's before it is timed: an engine whose logits are off is not
timed, and the report says why. SHUFFLENET_BENCH_NO_ANCHORS=1 hides every anchor (what CI
sees on a machine without them). Writes a Markdown table and an SVG chart to
Benchmarks/results/. Needs only python3 (stdlib), a C compiler and the Swift toolchain;
never asserts on time.
"""
import argparse
import array
import ast
import datetime
import hashlib
import json
import math
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
BENCH = os.path.join(ROOT, "Benchmarks")
RESULTS = os.path.join(BENCH, "results")
MODELS = os.path.join(BENCH, ".models")  # converted anchor models (gitignored, rebuilt on demand)
FIXTURES = os.path.join(ROOT, "Tests", "ShuffleNetKitTests", "Fixtures", "onnx")
WORKER = os.path.join(BENCH, "anchors", "worker.py")

NETWORKS = ["v2-0.5x", "v2-1.0x", "v2-1.5x", "v2-2.0x", "v1-g3-1.0x", "v1-g8-1.0x", "v1-g3-0.5x"]

MAIN_PY = sys.executable
LITERT_PY = os.environ.get("SHUFFLENET_BENCH_LITERT_PYTHON", os.path.join(BENCH, ".venv-litert", "bin", "python"))
NO_ANCHORS = os.environ.get("SHUFFLENET_BENCH_NO_ANCHORS", "") not in ("", "0")

# fp32 engines must match shufflenet-gen's logits to this (max|diff| / max|logit|, and the same top-1)
FP32_TOLERANCE = 1e-3
# int8 engines are compared with the float32 network their weights stand for: same top-1 and within
# this. A sanity bound that catches a wrong layout or scale (logits then differ by ~1 x max|logit|),
# not a claim on int8 precision: ONNX Runtime's own int8 run of the fixture model is 0.14 off on cat.
INT8_TOLERANCE = 0.25


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def first_line(cmd):
    try:
        return sh(cmd).stdout.splitlines()[0].strip() or sh(cmd).stderr.splitlines()[0].strip()
    except Exception:
        return "not found"


def last_line(text):
    lines = [l.strip() for l in (text or "").splitlines() if l.strip()]
    return lines[-1][:300] if lines else "(no output)"


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
    wanted = [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512vl", "avx512bw", "avx_vnni", "avx512_vnni") if f in flags]
    return {
        "cpu": model, "flags": " ".join(wanted), "cores": os.cpu_count(),
        "cc": first_line(["cc", "--version"]), "swiftc": first_line(["swiftc", "--version"]),
        "os": platform.platform(),
    }


# ---------------------------------------------------------------- .npy and logits checks (stdlib only)

def read_npy(path):
    """A float32 little-endian C-order .npy as a flat list."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        raise ValueError(f"{path}: not a .npy file")
    major = data[6]
    n = struct.unpack("<H", data[8:10])[0] if major == 1 else struct.unpack("<I", data[8:12])[0]
    start = (10 if major == 1 else 12) + n
    header = ast.literal_eval(data[(10 if major == 1 else 12):start].decode("latin1"))
    if header["descr"] != "<f4" or header["fortran_order"]:
        raise ValueError(f"{path}: {header['descr']} data, expected <f4 in C order")
    values = array.array("f")
    values.frombytes(data[start:])
    return list(values)


def compare(logits_path, reference, tolerance):
    """(ok, max|diff| / max|ref|, text) for logits against a reference list."""
    try:
        got = read_npy(logits_path)
    except Exception as e:
        return False, float("inf"), f"no logits ({e})"
    if len(got) != len(reference):
        return False, float("inf"), f"{len(got)} logits, expected {len(reference)}"
    if any(not math.isfinite(v) for v in got):
        return False, float("inf"), "non-finite logits"
    scale = max(abs(v) for v in reference) or 1.0
    rel = max(abs(a - b) for a, b in zip(got, reference)) / scale
    top_got, top_ref = max(range(len(got)), key=got.__getitem__), max(range(len(reference)), key=reference.__getitem__)
    if top_got != top_ref:
        return False, rel, f"top-1 {top_got}, reference {top_ref} (max|diff| {rel:.2g} x max|logit|)"
    if rel > tolerance:
        return False, rel, f"max|diff| {rel:.2g} x max|logit| > {tolerance:g}"
    return True, rel, f"max|diff| {rel:.2g} x max|logit|"


def top1(values):
    return max(range(len(values)), key=values.__getitem__)


# ---------------------------------------------------------------- engines

class Timed:
    """One engine: `batch(n)` returns n timed runs in ms; `rss_kb` its peak resident set."""

    def __init__(self, name):
        self.name = name
        self.times = []
        self.rss_kb = 0
        self.diff = None  # max|diff| / max|logit| against the reference, measured before timing
        self.logits = None
        self.notes = ""
        self.anchor = False  # another project's engine: dropped, not fatal, when it fails

    def close(self):
        pass


class Program(Timed):
    """A program that prints `times: ...` when given a run count (emitted C/Swift)."""

    def __init__(self, name, argv, logits):
        super().__init__(name)
        self.argv, self.logits = argv, logits

    def check_run(self):
        sh(self.argv)

    def rss_argv(self):
        return self.argv + ["1"]

    def batch(self, n):
        proc = subprocess.Popen(self.argv + [str(n)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"{self.name} failed: {err}")
        return parse_times(self.name, out)


class CLIRun(Program):
    """`shufflenet-gen run ... --runs N` (the interpreted engine)."""

    def rss_argv(self):
        return self.argv + ["--runs", "1"]

    def batch(self, n):
        proc = subprocess.Popen(self.argv + ["--runs", str(n)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
    """An anchor in its own process (anchors/worker.py run ...): it writes its logits and
    prints `ready NOTES` before it is timed."""

    def __init__(self, name, python, engine, model, input_npy, logits):
        super().__init__(name)
        self.logits = logits
        self.anchor = True
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([python, WORKER, "run", engine, model, input_npy, logits],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("ready"):
            self.proc.wait()
            self.stderr.seek(0)
            raise RuntimeError(last_line(self.stderr.read()))
        self.notes = line[len("ready"):].strip()

    def batch(self, n):
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line.strip():
            self.stderr.seek(0)
            raise RuntimeError(f"{self.name} died: {last_line(self.stderr.read())}")
        return [float(t) for t in line.split()]

    def close(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        self.rss_kb = int(line.split()[1])
        except OSError:
            pass
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait()


def peak_rss_of(probe, argv):
    """Peak resident set (KB) of one run of a program, through rss_probe.c (see there why)."""
    return int(sh([probe] + argv).stdout.split()[-1])


# ---------------------------------------------------------------- anchors: what is installed, model conversion

_found = {}


def have(python, modules):
    """Whether every module (`a|b`: either) is importable by that python. Found, not
    imported: importing torch here would make this process (and, through fork, every
    engine it starts) hundreds of MB larger."""
    if NO_ANCHORS:
        return False
    key = (python, tuple(modules))
    if key not in _found:
        if not os.path.exists(python):
            _found[key] = False
        else:
            code = ("import importlib.util as u, sys\n"
                    f"sys.exit(0 if all(any(u.find_spec(m) for m in alt.split('|')) for alt in {list(modules)!r}) else 1)")
            try:
                _found[key] = subprocess.run([python, "-c", code], capture_output=True, timeout=60).returncode == 0
            except Exception:
                _found[key] = False
    return _found[key]


def missing(python, modules):
    return [m for m in modules if not have(python, [m])]


class Anchor:
    def __init__(self, key, label, python, modules, model_kind, install):
        self.key, self.label, self.python, self.modules, self.model_kind, self.install = key, label, python, modules, model_kind, install


# The rows of our own C and Swift that issue 16's targets compare (target_ratios).
OUR_C, OUR_SWIFT = "C -O3 -march=native", "Swift swiftc -O -target-cpu native"

ANCHORS = [
    Anchor("torch", "PyTorch eager (1 thread)", MAIN_PY, ["torch", "torchvision"], None,
           "pip install -r Benchmarks/anchors/requirements.txt"),
    Anchor("onnxruntime", "ONNX Runtime (1 thread, all optimizations)", MAIN_PY, ["onnxruntime"], "onnx",
           "pip install -r Benchmarks/anchors/requirements.txt"),
    Anchor("openvino", "OpenVINO CPU (1 thread, f32, latency hint)", MAIN_PY, ["openvino"], "onnx",
           "pip install -r Benchmarks/anchors/requirements.txt"),
    Anchor("ncnn", "ncnn (1 thread, fp32, model by pnnx)", MAIN_PY, ["ncnn"], "ncnn",
           "pip install -r Benchmarks/anchors/requirements.txt"),
    Anchor("litert", "LiteRT + XNNPACK (1 thread, model by litert-torch)", LITERT_PY, ["ai_edge_litert"], "litert-fp32",
           "see Benchmarks/README.md: the LiteRT venv Benchmarks/.venv-litert"),
]

# conversion kind -> (python, modules it needs, file name)
CONVERTERS = {
    "onnx": (MAIN_PY, ["torch", "torchvision", "onnx"], "model.onnx"),
    "ncnn": (MAIN_PY, ["torch", "torchvision", "pnnx"], "model.ncnn.param"),
    "litert-fp32": (LITERT_PY, ["torch", "torchvision", "litert_torch|ai_edge_torch"], "fp32.tflite"),
    "litert-int8": (LITERT_PY, ["torch", "torchvision", "litert_torch|ai_edge_torch", "torchao"], "int8.tflite"),
    "real-weights": (MAIN_PY, ["torch", "torchvision", "onnx", "onnxruntime"], "weights.safetensors"),
    "emx": (MAIN_PY, ["emx_onnx_cgen", "onnxruntime"], "model.c"),
}
EMX_LABEL = "emx-onnx-cgen C (-O3 -march=native)"


def model_file(kind, spec, weights):
    """The converted model of `spec` with `weights`, made once and kept in Benchmarks/.models
    (keyed by the weights' sha256). Raises RuntimeError with the reason when it cannot be made."""
    python, modules, filename = CONVERTERS[kind]
    digest = hashlib.sha256(open(weights, "rb").read()).hexdigest()[:12] if weights else "fixture"
    path = os.path.join(MODELS, f"{spec}-{digest}", filename)
    if os.path.exists(path):
        return path
    lacking = missing(python, modules)
    if lacking:
        raise RuntimeError(f"converting to {kind} needs {', '.join(lacking)} in {python}")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.run([python, WORKER, "convert", kind, spec, weights or "-", path], capture_output=True, text=True)
    if proc.returncode != 0 or not os.path.exists(path):
        raise RuntimeError(f"{kind} conversion failed: {last_line(proc.stderr or proc.stdout)}")
    print(f"   converted {spec} to {kind} in {time.perf_counter() - t0:.1f} s", flush=True)
    return path


def start_worker(label, python, engine, model, input_npy, logits, reference, tolerance, notes):
    """A Worker whose logits have been checked, or None (with the reason in notes)."""
    try:
        w = Worker(label, python, engine, model, input_npy, logits)
    except Exception as e:
        notes.append(f"{label}: did not start: {e}")
        print(f"   {label} did not start: {e}", flush=True)
        return None
    ok, w.diff, text = compare(logits, reference, tolerance)
    if not ok:
        w.close()
        notes.append(f"{label}: NOT TIMED, its logits are off: {text} ({w.notes})")
        print(f"   {label} not timed: logits off: {text}", flush=True)
        return None
    if w.notes:
        notes.append(f"{label}: {w.notes}; {text}")
    return w


def anchor_workers(anchors, spec, weights, input_npy, d, reference, notes):
    workers = []
    for a in anchors:
        if not have(a.python, a.modules):
            line = f"{a.label}: skipped, {', '.join(missing(a.python, a.modules)) or 'anchors hidden'} not installed ({a.install})"
            if NO_ANCHORS:
                line = f"{a.label}: skipped (SHUFFLENET_BENCH_NO_ANCHORS)"
            notes.append(line)
            print(f"   {line}", flush=True)
            continue
        try:
            model = f"{spec}={weights}" if a.model_kind is None else model_file(a.model_kind, spec, weights)
        except RuntimeError as e:
            notes.append(f"{a.label}: skipped, {e}")
            print(f"   {a.label} skipped: {e}", flush=True)
            continue
        w = start_worker(a.label, a.python, a.key, model, input_npy, f"{d}/logits-{a.key}.npy", reference, FP32_TOLERANCE, notes)
        if w is not None:
            workers.append(w)
    return workers


# ---------------------------------------------------------------- emitted code

def emitted_c(name, gen, gen_args, input_npy, d, cflags=("-O3", "-march=native"), build_times=None):
    """An engine row for the C that `shufflenet-gen GEN_ARGS` emits: generate into a fresh
    folder under d, compile every .c there with SHUFFLENET_MAIN, and time the program on
    input_npy. The hook for new code generators (an int8 C row is this with its flags)."""
    tag = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")
    out = os.path.join(d, f"c-{tag}")
    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()
    sh([gen] + list(gen_args) + ["--out", out, "--name", "net"])
    t1 = time.perf_counter()
    sources = sorted(os.path.join(out, f) for f in os.listdir(out) if f.endswith(".c"))
    sh(["cc", "-std=c11", "-DSHUFFLENET_MAIN"] + list(cflags) + sources + ["-o", f"{out}/prog", "-lm"])
    if build_times is not None:
        build_times.setdefault("generate", t1 - t0)
        build_times[name] = time.perf_counter() - t1
    return Program(name, [f"{out}/prog", input_npy, f"{out}/logits.npy"], f"{out}/logits.npy")


def emx_program(spec, weights, input_npy, d, info, build_times, notes):
    """emx-onnx-cgen (a C generator on PyPI) on the ONNX file the ONNX Runtime row runs,
    built with Benchmarks/anchors/emx_main.c; None (with a note) when it cannot be."""
    def skip(why):
        notes.append(f"{EMX_LABEL}: skipped, {why}")
        print(f"   {EMX_LABEL} skipped: {why}", flush=True)
    if NO_ANCHORS:
        return skip("SHUFFLENET_BENCH_NO_ANCHORS")
    if not have(MAIN_PY, ["emx_onnx_cgen"]):
        return skip("emx-onnx-cgen not installed (pip install -r Benchmarks/anchors/requirements.txt)")
    try:
        source = model_file("emx", spec, model_file("onnx", spec, weights))
    except RuntimeError as e:
        return skip(str(e))
    out = os.path.join(d, "emx")
    os.makedirs(out, exist_ok=True)
    bin_path = os.path.join(os.path.dirname(source), "model.bin")
    t0 = time.perf_counter()
    try:
        sh(["cc", "-std=c11", "-O3", "-march=native", f'-DEMX_WEIGHTS="{bin_path}"', os.path.join(BENCH, "anchors", "emx_main.c"),
            source, "-o", f"{out}/prog", "-lm"])
    except subprocess.CalledProcessError as e:
        return skip(f"its C did not compile: {last_line(e.stderr)}")
    build_times[EMX_LABEL] = time.perf_counter() - t0
    version = first_line([MAIN_PY, "-c", "import importlib.metadata as m; print(m.version('emx-onnx-cgen'))"])
    notes.append(f"{EMX_LABEL}: emx-onnx-cgen {version} on the ONNX Runtime row's ONNX file (Shape arithmetic folded "
                 "by ONNX Runtime's basic optimizations), default options; main in Benchmarks/anchors/emx_main.c")
    p = Program(EMX_LABEL, [f"{out}/prog", input_npy, f"{out}/logits.npy"], f"{out}/logits.npy")
    p.anchor = True
    return p


def check_programs(programs, reference, tolerance, notes):
    """Runs each program once and keeps those whose logits match the reference."""
    kept = []
    for p in programs:
        try:
            p.check_run()
        except subprocess.CalledProcessError as e:
            notes.append(f"{p.name}: failed: {last_line(e.stderr)}")
            print(f"   {p.name} failed: {last_line(e.stderr)}", flush=True)
            if not p.anchor:
                OWN_FAILURES.append(f"{p.name}: failed")
            continue
        ok, p.diff, text = compare(p.logits, reference, tolerance)
        if ok:
            kept.append(p)
        else:
            notes.append(f"{p.name}: NOT TIMED, its logits are off: {text}")
            print(f"   {p.name} not timed: logits off: {text}", flush=True)
            if not p.anchor:
                OWN_FAILURES.append(f"{p.name}: logits off ({text})")
    return kept


# shufflenet-gen's own rows that failed or were off: reported, then the run exits 1 (CI sees it)
OWN_FAILURES = []


# ---------------------------------------------------------------- measuring

def measure(everyone, rounds, batch_of, notes):
    """Interleaved rounds; returns per-round medians by engine name. An anchor that fails
    while being timed is dropped with a note (the lead's run and CI go on); a failure of
    shufflenet-gen's own code stops the run."""
    per_round = {e.name: [] for e in everyone}
    for _ in range(rounds):
        for e in list(everyone):
            try:
                t = e.batch(batch_of(e))
            except Exception as err:
                if not e.anchor:
                    raise
                notes.append(f"{e.name}: dropped, it failed while being timed: {str(err)[:300]}")
                print(f"   {e.name} dropped: {str(err)[:300]}", flush=True)
                everyone.remove(e)
                e.close()
                continue
            e.times += t
            per_round[e.name].append(statistics.median(t))
    return per_round


def rows_of(everyone, per_round, floor_ms):
    """Table rows: name, median, p10, p90, runs, vs ORT, vs fastest, x floor, rss, diff."""
    ort = next((e for e in everyone if e.name.startswith("ONNX Runtime")), None)
    fastest = min(everyone, key=lambda e: statistics.median(e.times))
    rows = []
    for e in everyone:
        ts = sorted(e.times)
        med = statistics.median(ts)
        q = lambda f: ts[min(len(ts) - 1, int(f * len(ts)))]
        ratio = lambda other: statistics.median([a / b for a, b in zip(per_round[e.name], per_round[other.name])])
        rows.append({"name": e.name, "median": med, "p10": q(0.1), "p90": q(0.9), "runs": len(ts),
                     "vs_ort": ratio(ort) if ort is not None else None, "vs_fastest": ratio(fastest),
                     "x_floor": med / floor_ms if floor_ms else None, "rss_kb": e.rss_kb, "diff": e.diff})
    return rows


def fp32_section(spec, gen, info, scratch, probe, peak, args, anchors, swift_state):
    print(f"== {spec}", flush=True)
    macs = json.loads(sh([gen, "info", "--spec", spec, "--json"]).stdout)["totalMACs"]
    floor_ms = 2 * macs / (peak * 1e9) * 1e3
    d = os.path.join(scratch, spec)
    os.makedirs(d, exist_ok=True)
    weights = f"{d}/w.safetensors"
    sh([gen, "export-weights", "--spec", spec, "--output", weights])
    input_npy = f"{d}/input.npy"
    write_seeded_input(gen, spec, input_npy)
    # The reference: shufflenet-gen's interpreted engine on the unoptimized graph.
    sh([gen, "run", "--spec", spec, "--unoptimized", "--input", input_npy, "--output", f"{d}/reference.npy"])
    reference = read_npy(f"{d}/reference.npy")
    build_times, notes = {}, []
    march = ["-O3", "-march=native"]
    programs = [emitted_c(OUR_C, gen, ["--spec", spec], input_npy, d, march, build_times),
                emitted_c("C -O3 (portable)", gen, ["--spec", spec], input_npy, d, ["-O3"], build_times)]
    if not args.quick:
        programs += [emitted_c("C --no-fold-bn", gen, ["--spec", spec, "--no-fold-bn"], input_npy, d, march, build_times),
                     emitted_c("C --no-fuse-shuffle", gen, ["--spec", spec, "--no-fuse-shuffle"], input_npy, d, march, build_times)]
    if swift_state["ok"] and wanted(args, "swift"):
        try:
            sw = f"{d}/swift"
            sh([gen, "--spec", spec, "--out", sw, "--backend", "swift"])
            sources = sorted(f"{sw}/{f}" for f in os.listdir(sw) if f.endswith(".swift"))
            t0 = time.perf_counter()
            wide = ["-D", "SHUFFLENET_AVX512"] if "avx512f" in info["flags"] else (["-D", "SHUFFLENET_AVX2"] if "avx2" in info["flags"] else [])
            sh(["swiftc", "-O", "-target-cpu", "native"] + wide + ["-D", "SHUFFLENET_MAIN"] + sources + ["-o", f"{sw}/prog-swift"])
            build_times["Swift swiftc -O"] = time.perf_counter() - t0
            programs.append(Program(OUR_SWIFT, [f"{sw}/prog-swift", input_npy, f"{sw}/logits.npy"], f"{sw}/logits.npy"))
        except subprocess.CalledProcessError as e:
            print(f"   Swift backend skipped: {last_line(e.stderr) if e.stderr else e}", flush=True)
            notes.append(f"Swift backend skipped: {last_line(e.stderr) if e.stderr else e}")
            swift_state["ok"] = False
    interpreters = []
    if wanted(args, "interpreter"):
        interpreters = [CLIRun("interpreter, unoptimized graph", [gen, "run", "--spec", spec, "--unoptimized", "--input", input_npy, "--output", f"{d}/i1.npy"], f"{d}/i1.npy"),
                        CLIRun("interpreter, optimized graph in its arena", [gen, "run", "--spec", spec, "--arena", "--input", input_npy, "--output", f"{d}/i2.npy"], f"{d}/i2.npy")]
    if wanted(args, "emx"):
        p = emx_program(spec, weights, input_npy, d, info, build_times, notes)
        if p is not None:
            programs.append(p)
    programs = check_programs(programs, reference, FP32_TOLERANCE, notes)
    interpreters = check_programs(interpreters, reference, FP32_TOLERANCE, notes)
    workers = anchor_workers(anchors, spec, weights, input_npy, d, reference, notes)
    everyone = programs + interpreters + workers
    rounds, batch = (2, 3) if args.quick else (args.rounds, args.batch)
    interp_batch = 1 if args.quick else max(1, batch // 4)
    per_round = measure(everyone, rounds, lambda e: interp_batch if e in interpreters else batch, notes)
    for e in workers:
        e.close()
    for e in programs + interpreters:
        if e in everyone:
            e.rss_kb = peak_rss_of(probe, e.rss_argv())
    arena = json.loads(sh([gen, "plan", "--spec", spec, "--json"]).stdout)["callerIO"]["arenaBytes"]
    rows = rows_of(everyone, per_round, floor_ms)
    print_rows(rows)
    summary = target_ratios(per_round)
    for line in summary:
        print(f"   {line}", flush=True)
    return {"title": spec, "macs": macs, "floor_ms": floor_ms, "arena": arena, "rows": rows,
            "build_times": build_times, "notes": notes, "summary": summary}


# Issue 16's targets: our C against the fastest of these runtimes, our Swift against our C.
TARGET_ANCHORS = [a.label for a in ANCHORS if a.key in ("onnxruntime", "openvino", "ncnn", "litert")]


def target_ratios(per_round):
    """The target ratios, each the median over rounds of a ratio taken within the round: C /
    the round's fastest runtime of TARGET_ANCHORS (those that ran), Swift / C."""
    lines = []
    rounds = len(per_round.get(OUR_C, []))
    fastest = [min((per_round[a][r] for a in TARGET_ANCHORS if r < len(per_round.get(a, []))), default=None)
               for r in range(rounds)]
    pairs = [(c, f) for c, f in zip(per_round.get(OUR_C, []), fastest) if f is not None]
    if pairs:
        ran = [a.split(" (")[0] for a in TARGET_ANCHORS if per_round.get(a)]
        lines.append(f"C / fastest of {', '.join(ran)}: {statistics.median(c / f for c, f in pairs):.2f} (median over rounds)")
    if per_round.get(OUR_SWIFT) and rounds:
        lines.append(f"Swift / C: {statistics.median(s / c for s, c in zip(per_round[OUR_SWIFT], per_round[OUR_C])):.2f} (median over rounds)")
    return lines


def int8_section(gen, scratch, probe, args):
    """int8 engines on real ImageNet-trained weights (the ONNX Model Zoo's QDQ ShuffleNetV2
    1.0x of the fixtures) and a real photo (cat.npy), beside the float32 network those
    weights stand for. Each int8 engine must give the float32 network's top-1 and stay
    within INT8_TOLERANCE of its logits; float32 engines within FP32_TOLERANCE."""
    print("== int8: v2-1.0x, real weights (shufflenet-v2-12-qdq.onnx), cat.npy", flush=True)
    d = os.path.join(scratch, "int8")
    os.makedirs(d, exist_ok=True)
    qdq = os.path.join(FIXTURES, "shufflenet-v2-12-qdq.onnx")
    cat = os.path.join(FIXTURES, "cat.npy")
    fp32_ref = read_npy(os.path.join(FIXTURES, "cat.torch-fp32-logits.npy"))
    ort_ref = read_npy(os.path.join(FIXTURES, "cat.ort-logits.npy"))
    notes, build_times, workers, programs = [], {}, [], []
    notes.append("reference: cat.torch-fp32-logits.npy (torchvision running the QDQ weights dequantized, float32); "
                 f"top-1 {top1(fp32_ref)}; the int8 rows must give the same top-1 and stay within "
                 f"{INT8_TOLERANCE:g} x max|logit| of it, the float32 rows within {FP32_TOLERANCE:g}")
    # Our fp32 C on the same weights (dequantized by shufflenet-gen's ONNX loader); not in
    # --quick, which keeps to our int8 C.
    if wanted(args, "c") and not args.quick:
        programs.append(emitted_c("C -O3 -march=native, fp32 (QDQ weights dequantized)", gen,
                                  ["--spec", "v2-1.0x", "--weights", qdq], cat, d, build_times=build_times))
    programs = check_programs(programs, fp32_ref, FP32_TOLERANCE, notes)
    # Our int8 C, with the file's own quantization: it must give the stored ONNX Runtime
    # int8 logits exactly (tolerance 0; they equal ONNX's reference evaluator), or it is not timed.
    if wanted(args, "c"):
        int8_c = emitted_c("C -O3 -march=native, int8 (the file's quantization)", gen,
                           ["--spec", "v2-1.0x", "--weights", qdq, "--precision", "int8"], cat, d, build_times=build_times)
        kept = check_programs([int8_c], ort_ref, 0.0, notes)
        if kept:
            notes.append(f"{int8_c.name}: equal to the stored ORT int8 logits (cat.ort-logits.npy), all {len(ort_ref)} values")
        programs += kept
    if wanted(args, "onnxruntime"):
        if have(MAIN_PY, ["onnxruntime"]):
            w = start_worker("ONNX Runtime int8 QDQ (1 thread)", MAIN_PY, "onnxruntime", qdq, cat, f"{d}/logits-ort-int8.npy",
                             fp32_ref, INT8_TOLERANCE, notes)
            if w is not None:
                ok, _, text = compare(w.logits, ort_ref, 1e-3)
                notes.append(f"ONNX Runtime int8 QDQ against the stored ORT logits (cat.ort-logits.npy): {text}")
                workers.append(w)
        else:
            notes.append("ONNX Runtime int8 QDQ: skipped, onnxruntime not installed")
    real = None
    try:
        if not (wanted(args, "onnxruntime") or wanted(args, "litert")):
            raise RuntimeError("not selected")
        real = model_file("real-weights", "v2-1.0x-folded", None)
    except RuntimeError as e:
        notes.append(f"float32 copy of the QDQ weights for the other engines: {e}")
    if real is not None and wanted(args, "onnxruntime") and have(MAIN_PY, ["onnxruntime"]):
        try:
            onnx_path = model_file("onnx", "v2-1.0x-folded", real)
            w = start_worker("ONNX Runtime fp32 (same weights, 1 thread)", MAIN_PY, "onnxruntime", onnx_path, cat,
                             f"{d}/logits-ort-fp32.npy", fp32_ref, FP32_TOLERANCE, notes)
            if w is not None:
                workers.append(w)
        except RuntimeError as e:
            notes.append(f"ONNX Runtime fp32: skipped, {e}")
    if real is not None and wanted(args, "litert"):
        if have(LITERT_PY, ["ai_edge_litert"]):
            for kind, label, tol in (("litert-int8", "LiteRT + XNNPACK int8 (PT2E full-integer, 1 thread)", INT8_TOLERANCE),
                                     ("litert-fp32", "LiteRT + XNNPACK fp32 (same weights, 1 thread)", FP32_TOLERANCE)):
                try:
                    path = model_file(kind, "v2-1.0x-folded", real)
                except RuntimeError as e:
                    notes.append(f"{label}: skipped, {e}")
                    print(f"   {label} skipped: {e}", flush=True)
                    continue
                w = start_worker(label, LITERT_PY, "litert", path, cat, f"{d}/logits-{kind}.npy", fp32_ref, tol, notes)
                if w is not None:
                    workers.append(w)
        else:
            notes.append(f"LiteRT int8: skipped, ai_edge_litert not installed in {LITERT_PY} (see Benchmarks/README.md)")
    for line in notes:
        print(f"   {line}", flush=True)
    everyone = programs + workers
    if not everyone:
        return None
    rounds, batch = (2, 3) if args.quick else (args.rounds, args.batch)
    per_round = measure(everyone, rounds, lambda e: batch, notes)
    for e in workers:
        e.close()
    for e in programs:
        if e in everyone:
            e.rss_kb = peak_rss_of(probe, e.rss_argv())
    rows = rows_of(everyone, per_round, None)
    for row, e in zip(rows, everyone):
        got = read_npy(e.logits)
        row["top1"] = top1(got)
        scale = max(abs(v) for v in ort_ref)
        row["vs_ort_int8"] = max(abs(a - b) for a, b in zip(got, ort_ref)) / scale
    print_rows(rows)
    return {"title": "int8: v2-1.0x, real weights, cat photo", "macs": None, "floor_ms": None, "arena": None,
            "rows": rows, "build_times": build_times, "notes": notes, "int8": True}


def print_rows(rows):
    for r in rows:
        vs = f"{r['vs_ort']:.2f}x" if r["vs_ort"] is not None else "-"
        xf = f"{r['x_floor']:7.1f}" if r["x_floor"] is not None else "      -"
        print(f"   {r['name']:<52} median {r['median']:9.3f} ms  p10 {r['p10']:9.3f}  p90 {r['p90']:9.3f}  "
              f"vs ORT {vs:>6}  x floor {xf}", flush=True)


ENGINE_KEYS = ["c", "swift", "interpreter"] + [a.key for a in ANCHORS] + ["emx"]


def wanted(args, key):
    return args.engines is None or key in args.engines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke test: v2-0.5x, few runs, the int8 rows without our fp32 C")
    ap.add_argument("--int8", action="store_true", help="only the int8 rows")
    ap.add_argument("--no-int8", action="store_true", help="no int8 rows in a full run")
    ap.add_argument("--peak", type=float, default=None,
                    help="single-core peak GFLOP/s for the compute floor instead of measuring it now (a busy machine measures less)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=20, help="timed runs per engine per round")
    ap.add_argument("--networks", "--specs", nargs="*", default=None, help=f"default: {' '.join(NETWORKS)}")
    ap.add_argument("--engines", default=None,
                    help=f"comma-separated subset of {','.join(ENGINE_KEYS)} (C always runs in fp32 sections)")
    ap.add_argument("--results", metavar="NAME", default=None,
                    help="write Benchmarks/results/NAME.{md,json,svg} (default latest; quick with --quick; int8 with --int8)")
    ap.add_argument("--replot", metavar="JSON", help="only redraw the SVG of an earlier run from its results JSON")
    args = ap.parse_args()
    if args.replot:
        return replot(args.replot)
    if args.engines is not None:
        args.engines = {e.strip() for e in args.engines.split(",") if e.strip()}
        unknown = args.engines - set(ENGINE_KEYS)
        if unknown:
            ap.error(f"unknown engines {sorted(unknown)}; known: {','.join(ENGINE_KEYS)}")
    specs = [] if args.int8 else (args.networks or (["v2-0.5x"] if args.quick else NETWORKS))

    started = time.perf_counter()
    print("building shufflenet-gen (release)...", flush=True)
    sh(["swift", "build", "-c", "release", "--product", "shufflenet-gen"], cwd=ROOT)
    gen = os.path.join(sh(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT).stdout.strip(), "shufflenet-gen")
    info = machine()
    scratch = tempfile.mkdtemp(prefix="shufflenet-bench-")

    # The machine's single-core peak, for the compute floor.
    sh(["cc", "-O3", "-march=native", os.path.join(BENCH, "peak_fma.c"), "-o", f"{scratch}/peak"])
    peak = float(re.search(r"peak ([0-9.]+)", sh([f"{scratch}/peak"]).stdout).group(1))
    if args.peak:
        print(f"measured peak {peak:.1f} GFLOP/s; using --peak {args.peak:.1f}", flush=True)
        peak = args.peak
    info["peak_source"] = "given with --peak" if args.peak else "measured by Benchmarks/peak_fma.c in this run"
    probe = f"{scratch}/rss_probe"
    sh(["cc", "-O2", os.path.join(BENCH, "rss_probe.c"), "-o", probe])
    print(f"CPU: {info['cpu']} ({info['flags']}); measured peak single-core FP32: {peak:.1f} GFLOP/s", flush=True)
    anchors = [a for a in ANCHORS if wanted(args, a.key)]
    swift_state = {"ok": True}
    sections = []
    try:
        for spec in specs:
            sections.append(fp32_section(spec, gen, info, scratch, probe, peak, args, anchors, swift_state))
        # --quick runs the int8 section too (our int8 C; anchors unless hidden) as a smoke test.
        if args.int8 or args.quick or not args.no_int8:
            s = int8_section(gen, scratch, probe, args)
            if s is not None:
                sections.append(s)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    write_report(info, peak, sections, args, time.perf_counter() - started)
    if OWN_FAILURES:
        sys.exit("shufflenet-gen's own code failed its check: " + "; ".join(OWN_FAILURES))


def write_seeded_input(gen, spec, path):
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
    return next(s for s in json.loads(sh([gen, "specs", "--json"]).stdout) if s["name"] == spec)


def command_line(args):
    return "python3 Benchmarks/bench.py" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")


def write_report(info, peak, sections, args, seconds):
    os.makedirs(RESULTS, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    kind = ("quick smoke test" if args.quick else "int8 rows" if args.int8
            else "run of chosen networks/engines" if (args.networks or args.engines) else "full run")
    lines = [f"# Benchmark results ({kind}, {stamp})", "",
             f"Command: `{command_line(args)}` ({seconds / 60:.1f} min)", "",
             f"- CPU: {info['cpu']} ({info['cores']} cores visible; flags: {info['flags']})",
             f"- C compiler: {info['cc']}", f"- Swift: {info['swiftc']}", f"- OS: {info['os']}",
             f"- Peak single-core FP32 FMA throughput: {peak:.1f} GFLOP/s ({info['peak_source']})", "",
             "Single image, one thread. Median, p10 and p90 over all timed runs; `vs ORT` and `vs fastest` are the median",
             "over rounds of (engine / ONNX Runtime) and (engine / the fastest engine) measured in the same round; `x floor`",
             "is the median over the compute floor 2 x MACs / peak. Peak RSS is the engine's whole process. `max|diff|` is",
             "the engine's logits against the reference (shufflenet-gen's interpreted engine on the seeded weights and",
             "input), divided by max|logit|, checked before timing: an engine that is off is not timed (see the notes).", ""]
    for s in sections:
        if s.get("int8"):
            lines += [f"## {s['title']}", "",
                      "| engine | median ms | p10 | p90 | runs | vs ORT int8 | vs fastest | top-1 | max\\|diff\\| vs fp32 | max\\|diff\\| vs stored ORT int8 logits | peak RSS MB |",
                      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for r in s["rows"]:
                lines.append(f"| {r['name']} | {r['median']:.3f} | {r['p10']:.3f} | {r['p90']:.3f} | {r['runs']} | "
                             f"{fmt_ratio(r['vs_ort'])} | {r['vs_fastest']:.2f}x | {r['top1']} | {r['diff']:.2g} | "
                             f"{r['vs_ort_int8']:.2g} | {r['rss_kb'] / 1024:.1f} |")
        else:
            lines += [f"## {s['title']}: {s['macs']:,} MACs, compute floor {s['floor_ms']:.3f} ms, arena {s['arena']:,} bytes", "",
                      "| engine | median ms | p10 | p90 | runs | vs ORT | vs fastest | x floor | peak RSS MB | max\\|diff\\| |",
                      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for r in s["rows"]:
                lines.append(f"| {r['name']} | {r['median']:.3f} | {r['p10']:.3f} | {r['p90']:.3f} | {r['runs']} | "
                             f"{fmt_ratio(r['vs_ort'])} | {r['vs_fastest']:.2f}x | {r['x_floor']:.1f} | {r['rss_kb'] / 1024:.1f} | {r['diff']:.2g} |")
        lines.append("")
        if s.get("summary"):
            lines += [f"- {line}" for line in s["summary"]] + [""]
        if s["build_times"]:
            lines += ["Build times: " + ", ".join(f"{k} {v:.1f} s" for k, v in s["build_times"].items()), ""]
        if s["notes"]:
            lines += ["Notes:", ""] + [f"- {n}" for n in s["notes"]] + [""]
    text = "\n".join(lines) + "\n"
    name = args.results or ("quick" if args.quick else ("int8" if args.int8 else "latest"))
    with open(os.path.join(RESULTS, f"{name}.md"), "w") as f:
        f.write(text)
    with open(os.path.join(RESULTS, f"{name}.json"), "w") as f:
        json.dump({"info": info, "peak": peak, "kind": kind, "stamp": stamp, "sections": sections}, f, indent=1)
    with open(os.path.join(RESULTS, f"{name}.svg"), "w") as f:
        f.write(svg_chart(sections, info, peak, kind, stamp))
    print(f"wrote Benchmarks/results/{name}.md, {name}.json and {name}.svg")


def replot(path):
    """Redraws the SVG of a run from its JSON (Benchmarks/results/NAME.json -> NAME.svg)."""
    with open(path) as f:
        run = json.load(f)
    out = os.path.splitext(path)[0] + ".svg"
    with open(out, "w") as f:
        f.write(svg_chart(run["sections"], run["info"], run["peak"], run["kind"], run["stamp"]))
    print(f"wrote {out}")


def fmt_ratio(v):
    return f"{v:.2f}x" if v is not None else "-"


# ---------------------------------------------------------------- the chart (plain SVG)

FAMILY_COLORS = [("C ", "#1f77b4"), ("emx", "#bcbd22"), ("Swift", "#17becf"), ("interpreter", "#9e9e9e"), ("PyTorch", "#d62728"),
                 ("ONNX Runtime", "#ff7f0e"), ("OpenVINO", "#9467bd"), ("ncnn", "#2ca02c"), ("LiteRT", "#8c564b")]


def color_of(name):
    return next((c for prefix, c in FAMILY_COLORS if name.startswith(prefix)), "#7f7f7f")


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def svg_chart(sections, info, peak, kind, stamp):
    """One panel per network: a bar per engine, its length the latency relative to the
    fastest engine of that network (median over rounds of the per-round ratio, as in the
    table) on a log scale; the compute floor (2 x MACs / peak) a dashed red line; each bar
    labelled with its median in ms and the ratio."""
    label_w, plot_w, right_w = 380, 560, 140
    bar_h, gap = 18, 4
    width = label_w + plot_w + right_w
    # a common log axis: from below the lowest floor ratio (or 0.5x) to above the largest ratio
    lo, hi = 0.5, 2.0
    for s in sections:
        fastest = min(r["median"] for r in s["rows"])
        if s["floor_ms"]:
            lo = min(lo, s["floor_ms"] / fastest * 0.8)
        hi = max(hi, max(r["vs_fastest"] for r in s["rows"]) * 1.15)
    llo, lhi = math.log10(lo), math.log10(hi)
    xpos = lambda v: label_w + (math.log10(v) - llo) / (lhi - llo) * plot_w
    out = []
    title = "shufflenet-gen: latency relative to the fastest engine of each network (log scale)"
    sub1 = f"{kind}, {stamp}; one thread, batch 1; shorter is faster; pale outlined bars: int8"
    sub2 = (f"{info['cpu']} ({info['flags']}); peak {peak:.1f} GFLOP/s FP32 ({info.get('peak_source', 'measured')}); "
            "red dashed line: compute floor 2 x MACs / peak")
    out.append(f'<text x="12" y="24" font-size="17" font-weight="bold">{esc(title)}</text>')
    out.append(f'<text x="12" y="44" font-size="12" fill="#444">{esc(sub1)}</text>')
    out.append(f'<text x="12" y="60" font-size="12" fill="#444">{esc(sub2)}</text>')
    y = 76
    ticks = [t for t in (0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if lo <= t <= hi]
    for s in sections:
        rows = s["rows"]
        fastest = min(r["median"] for r in rows)
        head = s["title"] + (f": {s['macs'] / 1e6:.0f} M MACs, compute floor {s['floor_ms']:.3f} ms, fastest {fastest:.3f} ms"
                             if s["floor_ms"] else f": fastest {fastest:.3f} ms (no floor drawn for int8)")
        out.append(f'<text x="12" y="{y + 18}" font-size="14" font-weight="bold">{esc(head)}</text>')
        top = y + 40  # a band above the bars for the floor's label
        body = len(rows) * (bar_h + gap)
        for t in ticks:
            x = xpos(t)
            out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + body + 4}" stroke="#ddd" stroke-width="1"/>')
            out.append(f'<text x="{x:.1f}" y="{top + body + 17}" font-size="10" fill="#666" text-anchor="middle">{t:g}x</text>')
        x1 = xpos(1)
        out.append(f'<line x1="{x1:.1f}" y1="{top}" x2="{x1:.1f}" y2="{top + body + 4}" stroke="#888" stroke-width="1"/>')
        for i, r in enumerate(rows):
            by = top + 4 + i * (bar_h + gap)
            ratio = r["vs_fastest"]
            x0, xe = label_w, xpos(max(ratio, lo))
            out.append(f'<text x="{label_w - 8}" y="{by + bar_h - 5}" font-size="12" text-anchor="end">{esc(r["name"])}</text>')
            style = ' fill-opacity="0.55" stroke="#333" stroke-width="1"' if "int8" in r["name"] else ""
            out.append(f'<rect x="{x0}" y="{by}" width="{max(1.0, xe - x0):.1f}" height="{bar_h}" fill="{color_of(r["name"])}"{style}/>')
            out.append(f'<text x="{xe + 5:.1f}" y="{by + bar_h - 5}" font-size="11">{r["median"]:.3g} ms ({ratio:.2f}x)</text>')
        if s["floor_ms"]:
            xf = xpos(s["floor_ms"] / fastest)
            out.append(f'<line x1="{xf:.1f}" y1="{top - 14}" x2="{xf:.1f}" y2="{top + body + 4}" stroke="#d00" stroke-width="2" stroke-dasharray="5,3"/>')
            out.append(f'<text x="{xf + 4:.1f}" y="{top - 4}" font-size="11" fill="#d00">compute floor {s["floor_ms"]:.3f} ms '
                       f'({s["floor_ms"] / fastest:.2f}x)</text>')
        y = top + body + 30
    height = y + 6
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">\n'
            f'<rect width="{width}" height="{height}" fill="white"/>\n' + "\n".join(out) + "\n</svg>\n")


if __name__ == "__main__":
    main()
