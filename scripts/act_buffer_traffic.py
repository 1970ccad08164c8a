#!/usr/bin/env python
"""External traffic of whole MiniLM-L6 layers with and without the activation buffer (cycle model).

The layers are those of ``panacea compare --workload minilm-layers``
(:func:`golden_model.layer_report.minilm_layer_inputs`): the ZPM + DBS path's own integer
inputs at exactly ``--tokens`` tokens, each layer with its own z, L and r. Each GEMM is
predicted with ``golden_model.tiling.predict_gemm`` on ``default`` (320 KiB activation buffer),
its baselines (the same bytes) and the same designs without the buffer. Compulsory traffic
(:func:`golden_model.layer_report.compulsory_bytes`) = weights once + activations once as the
design stores them (packed ``lo`` + packed RLE ``ho``, or whole INT8 activations) + outputs once.

    python scripts/act_buffer_traffic.py [--layer 0|all] [--tokens 65 512] [--markdown]
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from golden_model.config import preset  # noqa: E402
from golden_model.layer_report import compulsory_bytes, minilm_layer_inputs  # noqa: E402
from golden_model.tiling import plan_tiles, predict_gemm  # noqa: E402

MODES = {"default": "aqs", "default_sibia": "sibia", "default_dense": "dense"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layer", default="0", help="encoder layer 0-5, or all")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--tokens", type=int, nargs="+", default=[65, 512])
    args = ap.parse_args()
    prefix = "L" if args.layer == "all" else f"L{int(args.layer)}."
    rows = []
    for M in args.tokens:
        recs = [r for r in minilm_layer_inputs(M, preset("default")) if r["name"].startswith(prefix)]
        tot = {}
        for rec in recs:
            A, N, L, r = rec["A"], rec["N"], rec["L"], rec["r"]
            for base, mode in MODES.items():
                cfg = preset(base)
                pred, _, _ = predict_gemm(A, N, mode=mode, L=L, r=r, cfg=cfg)
                pred0, _, _ = predict_gemm(A, N, mode=mode, L=L, r=r,
                                           cfg=cfg.replace(act_buffer_bytes=0))
                runs = len({(t.m0, t.m1) for t in plan_tiles(M, rec["K"], N, cfg)})
                comp = compulsory_bytes(A, N, mode=mode, L=L, r=r, cfg=cfg)["total"]
                v = (pred0.memory["total_bytes_rle"], pred.memory["total_bytes_rle"], comp)
                rows.append((M, rec["name"], f"{rec['K']}", N, L, f"{base} ({mode})", runs, *v))
                t = tot.setdefault(base, [0, 0, 0])
                for k in range(3):
                    t[k] += v[k]
        for base, mode in MODES.items():
            label = "model (36 layers)" if args.layer == "all" else f"L{int(args.layer)} total"
            rows.append((M, label, "", "", "", f"{base} ({mode})", "",
                         *tot[base]))
    hdr = ("tokens", "layer", "K", "N", "L", "design", "row blocks", "bytes no buffer",
           "bytes buffer", "compulsory", "buffer / compulsory")
    out = [hdr] + [(*r, f"{r[8] / r[9]:.2f}") for r in rows]
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
