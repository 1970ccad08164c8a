#!/usr/bin/env python
"""External traffic of MiniLM-L6 layers with and without the activation buffer (cycle model).

Captures the FP32 inputs of one encoder layer's six linear layers (q, k, v share an input)
for the built-in and held-out sentences stacked (repeated past 512 tokens), keeps the first
65 and 512 tokens (``--tokens``), quantizes them per tensor (asymmetric min/max, uint8, L = 4, r = the most
frequent high slice), and predicts each GEMM with ``golden_model.tiling.predict_gemm`` on
``default`` (320 KiB activation buffer), its baselines (the same bytes) and the same designs
without the buffer. Compulsory traffic = weights once + activations once as the design stores
them (``lo`` + RLE ``ho``, or whole INT8 activations) + outputs once.

    python scripts/act_buffer_traffic.py [--layer 0] [--markdown]
"""

import argparse
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from golden_model.aqs_gemm import choose_r, slice_plan  # noqa: E402
from golden_model.config import preset  # noqa: E402
from golden_model.cycle_model import predict  # noqa: E402
from golden_model.minilm import (DEFAULT_SENTENCES, capture_layer_inputs, layer_kind,  # noqa: E402
                                 layer_names, load_minilm)
from golden_model.quant import calibrate_activation, quantize_activation  # noqa: E402
from golden_model.tiling import predict_gemm  # noqa: E402

MODES = {"default": "aqs", "default_sibia": "sibia", "default_dense": "dense"}


def _compulsory(A, N, mode, L, r, cfg):
    """Weights, activations and outputs once each (the activations as the design stores
    them): one prediction of the whole GEMM with every column block but the first free of
    activation traffic, i.e. a buffer of unbounded size."""
    big = cfg.replace(act_buffer_bytes=0)
    M, K = A.shape
    pred = predict(slice_plan(A, mode=mode, L=L, r=r, cfg=big), N, big)
    blocks = math.ceil(N / cfg.cols)
    m = pred.memory
    return m["weight_bytes"] + (m["lo_bytes"] + m["ho_bytes_rle"]) // blocks + m["out_bytes"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layer", type=int, default=0)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--tokens", type=int, nargs="+", default=[65, 512])
    args = ap.parse_args()
    model = load_minilm()
    held = (ROOT / "docs/data/minilm_heldout.txt").read_text().splitlines()
    sents = []
    while sum(len(s.split()) for s in sents) < 480:      # > 512 tokens with sub-words, CLS, SEP
        sents += list(DEFAULT_SENTENCES) + [s for s in held if s.strip()]
    x = capture_layer_inputs(sents, model=model)
    rows = []
    for M in args.tokens:
        tot = {}
        for name in [n for n in layer_names() if n.startswith(f"L{args.layer}.")]:
            xin = x[name][:M]            # the first M tokens (rows are independent)
            assert xin.shape[0] == M, f"only {xin.shape[0]} tokens captured"
            A = quantize_activation(xin, calibrate_activation(xin))
            N = int(model.linear_params(args.layer, layer_kind(name))[0].shape[1])
            L = 4
            r = choose_r(A, L)
            for base, mode in MODES.items():
                cfg = preset(base)
                pred, _, runs = predict_gemm(A, N, mode=mode, L=L, r=r, cfg=cfg)
                pred0, _, _ = predict_gemm(A, N, mode=mode, L=L, r=r,
                                           cfg=cfg.replace(act_buffer_bytes=0))
                comp = _compulsory(A, N, mode, L, r, cfg)
                v = (pred0.memory["total_bytes_rle"], pred.memory["total_bytes_rle"], comp)
                rows.append((M, name, A.shape[1], N, f"{base} ({mode})", runs, *v))
                t = tot.setdefault(base, [0, 0, 0])
                for k in range(3):
                    t[k] += v[k]
        for base, mode in MODES.items():
            rows.append((M, f"L{args.layer} total", "", "", f"{base} ({mode})", "", *tot[base]))
    hdr = ("tokens", "layer", "K", "N", "design", "runs", "bytes no buffer", "bytes buffer",
           "compulsory", "buffer / compulsory")
    out = [hdr] + [(*r, f"{r[7] / r[8]:.2f}") for r in rows]
    if args.markdown:
        print("| " + " | ".join(hdr) + " |")
        print("|" + "---|" * len(hdr))
        for r in out[1:]:
            print("| " + " | ".join(str(v) for v in r) + " |")
    else:
        for r in out:
            print("  ".join(f"{v!s:>14}" for v in r))


if __name__ == "__main__":
    main()
