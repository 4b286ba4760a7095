#!/bin/sh
# Coverage-guided fuzzing of the readers with libFuzzer (swiftc -sanitize=fuzzer,address).
#
#   tools/fuzz/run.sh [SECONDS_PER_READER] [READER...]      (from the repository root)
#
# READER: safetensors npy onnx spec (default: all). Builds one fuzzer per reader in
# $FUZZ_DIR (default /tmp/shufflenet-fuzz; nothing is written into the repository), starts
# from a copy of Tests/ShuffleNetKitTests/Fixtures/corpus/<reader>/ (plus the ONNX and
# safetensors fixtures of the parity tests) and runs each for SECONDS (default 180) on one
# core. Findings (crash-*, leak-*, timeout-*) land in $FUZZ_DIR/<reader>/; copy a minimized
# one into the corpus as regress-<what>.<ext> and add it to FuzzTests.regressions.
# Needs a Swift toolchain whose clang runtime ships libclang_rt.fuzzer (Linux swift.org builds do).
set -eu
SECONDS_PER_READER=${1:-180}
[ $# -gt 0 ] && shift
READERS=${*:-safetensors npy onnx spec}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FUZZ_DIR=${FUZZ_DIR:-/tmp/shufflenet-fuzz}
CORPUS=$ROOT/Tests/ShuffleNetKitTests/Fixtures/corpus
mkdir -p "$FUZZ_DIR"

# The module's sources without Codegen (which needs the templates module).
SOURCES=$(find "$ROOT/Sources/ShuffleNetKit" -name '*.swift' -not -path '*/Codegen/*' | sort)

for reader in $READERS; do
    upper=$(echo "$reader" | tr a-z A-Z)
    work=$FUZZ_DIR/$reader
    mkdir -p "$work/corpus"
    cp -n "$CORPUS/$reader"/* "$work/corpus/" 2>/dev/null || true
    case $reader in
        onnx) cp -n "$ROOT"/Tests/ShuffleNetKitTests/Fixtures/onnx/tiny-v2.*.onnx "$work/corpus/" ;;
        safetensors) cp -n "$ROOT"/Tests/ShuffleNetKitTests/Fixtures/parity/tiny-v*.safetensors "$work/corpus/" ;;
    esac
    case $reader in onnx) max_len=200000 ;; safetensors) max_len=70000 ;; *) max_len=16384 ;; esac
    echo "== building fuzz-$reader"
    rm -f "$work/fuzz-$reader"
    # shellcheck disable=SC2086
    swiftc -O -g -parse-as-library -sanitize=fuzzer,address -module-name ShuffleNetKit -D "FUZZ_$upper" \
        $SOURCES "$ROOT/tools/fuzz/FuzzEntry.swift" -o "$work/fuzz-$reader" 2>&1 | grep -v 'Cannot export local symbol' || true
    [ -x "$work/fuzz-$reader" ] || { echo "build of fuzz-$reader failed" >&2; exit 1; }
    echo "== fuzzing $reader for $SECONDS_PER_READER s"
    (cd "$work" && ./"fuzz-$reader" -max_total_time="$SECONDS_PER_READER" -max_len=$max_len -timeout=10 \
        -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$work/" corpus 2>&1 | tee "$work/log.txt" | grep -E '^#|stat::|ERROR|crash|Test unit' | tail -n 12) || true
    ls "$work" | grep -E '^(crash|leak|timeout|oom)-' || echo "no findings for $reader"
done
