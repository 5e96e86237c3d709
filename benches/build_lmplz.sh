#!/usr/bin/env bash
# Build KenLM's `lmplz` (the reference Kneser-Ney estimator) and `build_binary` (ARPA to KenLM's
# probing/trie binary files) from the PyPI sdist of kenlm 0.3.0.
#
#     bash benches/build_lmplz.sh [PREFIX]      # default PREFIX: ./.lmplz
#     PREFIX/bin/lmplz -o 3 -S 1G -T /tmp --text corpus.txt --arpa out.arpa
#     PREFIX/bin/build_binary [trie] model.arpa model.binary
#
# Nothing from KenLM is committed to this repository: this script fetches the source with pip
# (`pip download --no-binary kenlm kenlm==0.3.0`: the sdist of kenlm alone; its build
# requirements such as cmake come as wheels, not built from source), takes Boost from Debian
# (libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev: KenLM's CMakeLists asks
# for unit_test_framework) and cmake from PyPI, and
# builds only the lmplz and build_binary targets:
#     cmake .. -DKENLM_MAX_ORDER=8 -DCMAKE_POLICY_VERSION_MINIMUM=3.5 && make lmplz build_binary
# (the policy flag lets a CMake >= 4 accept KenLM's old cmake_minimum_required).
#
# Idempotent: if PREFIX/bin/lmplz and PREFIX/bin/build_binary already exist and run, nothing is
# done. Used by tests/data/ngram/make_golden.sh (LMPLZ=PREFIX/bin/lmplz), by
# tests/ngram/test_ngram_parity_kenlm_binary.py (SEQFAST_BUILD_BINARY, else ./.lmplz/bin/build_binary) and by n-gram
# benchmarks.
# Environment: PYTHON (default python3), JOBS (default: number of CPUs).
set -euo pipefail

PREFIX="${1:-./.lmplz}"
PYTHON="${PYTHON:-python3}"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
KENLM_VERSION=0.3.0

mkdir -p "$PREFIX"
PREFIX="$(cd "$PREFIX" && pwd)"
LMPLZ="$PREFIX/bin/lmplz"
BUILD_BINARY="$PREFIX/bin/build_binary"

# `lmplz --help` exits with status 1, so look at what it prints.
lmplz_works() { [ -x "$1" ] && { "$1" --help 2>&1 || true; } | grep -q "Kneser-Ney"; }
# `build_binary` without arguments prints its usage and exits with status 1.
build_binary_works() { [ -x "$1" ] && { "$1" 2>&1 || true; } | grep -q "build_binary"; }

if lmplz_works "$LMPLZ" && build_binary_works "$BUILD_BINARY"; then
    echo "lmplz and build_binary already built: $LMPLZ $BUILD_BINARY"
    exit 0
fi

# --- system dependencies (Debian) -------------------------------------------------------------
need_apt=()
for pkg in build-essential libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev zlib1g-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ "${#need_apt[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${need_apt[@]}"
    else
        echo "missing Debian packages: ${need_apt[*]} (run: sudo apt-get install ${need_apt[*]})" >&2
        exit 1
    fi
fi

# --- cmake from PyPI, in a private virtualenv ---------------------------------------------------
if [ ! -x "$PREFIX/venv/bin/cmake" ]; then
    "$PYTHON" -m venv "$PREFIX/venv"
    "$PREFIX/venv/bin/python" -m pip install -q --upgrade pip
    "$PREFIX/venv/bin/python" -m pip install -q cmake
fi
CMAKE="$PREFIX/venv/bin/cmake"

# --- kenlm source from PyPI ---------------------------------------------------------------------
SRC="$PREFIX/src/kenlm-$KENLM_VERSION"
if [ ! -f "$SRC/CMakeLists.txt" ]; then
    mkdir -p "$PREFIX/src"
    "$PREFIX/venv/bin/python" -m pip download -q --no-deps --no-binary kenlm \
        "kenlm==$KENLM_VERSION" -d "$PREFIX/src"
    tar -xzf "$PREFIX/src/kenlm-$KENLM_VERSION.tar.gz" -C "$PREFIX/src"
fi

# --- build lmplz and build_binary only -----------------------------------------------------------
mkdir -p "$SRC/build"
(
    cd "$SRC/build"
    "$CMAKE" .. -DKENLM_MAX_ORDER=8 -DCMAKE_POLICY_VERSION_MINIMUM=3.5 -DCMAKE_BUILD_TYPE=Release
    make -j"$JOBS" lmplz build_binary
)
mkdir -p "$PREFIX/bin"
cp "$SRC/build/bin/lmplz" "$LMPLZ"
cp "$SRC/build/bin/build_binary" "$BUILD_BINARY"
lmplz_works "$LMPLZ" || { echo "built lmplz does not run" >&2; exit 1; }
build_binary_works "$BUILD_BINARY" || { echo "built build_binary does not run" >&2; exit 1; }
echo "built $LMPLZ $BUILD_BINARY"
