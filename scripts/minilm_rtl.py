#!/usr/bin/env python
"""MiniLM-L6 layer tiles on the RTL: cycles per mode and per layer kind (issue 5).

Runs one representative tile of each layer kind (``golden_model.minilm.representative_tiles``:
the first two passes of tokens, all input channels that fit, one column block) through the
generated RTL in all three modes. Each run is checked bit-exact against the golden model, with
every counter equal to the cycle model. Prints cycles and the aqs-vs-sibia ratio per kind.

    python scripts/minilm_rtl.py [--preset default] [--sim verilator] [--json build/minilm_rtl.json]
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from golden_model.aqs_gemm import MODES  # noqa: E402
from golden_model.config import preset  # noqa: E402
from golden_model.minilm import representative_tiles  # noqa: E402
from panacea_hdl.flows.jobs import run_gemm_job  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="default")
    ap.add_argument("--sim", choices=("icarus", "verilator"), default="verilator")
    ap.add_argument("--json", type=Path, default=ROOT / "build" / "minilm_rtl.json")
    args = ap.parse_args()
    cfg = preset(args.preset)
    tiles = representative_tiles(cfg)
    rows = []
    print(f"{'layer':12s} {'kind':9s} {'tile MxKxN':>12s} {'L':>2s} {'r':>3s} {'skipped':>8s} "
          f"{'dense':>7s} {'sibia':>7s} {'aqs':>7s} {'aqs/sibia':>10s}")
    for t in tiles:
        cyc, skipped = {}, None
        for mode in MODES:
            rep = run_gemm_job(cfg, t["A"], t["W"], t["z"], mode=mode, L=t["L"], r=t["r"],
                               sim=args.sim)
            cyc[mode] = rep.counters["cycles"]
            if mode == "aqs":
                skipped = rep.slice_stats["frac_vectors_skipped"]
        M, K = t["A"].shape
        N = t["W"].shape[1]
        rows.append({"layer": t["name"], "group": t["group"], "M": M, "K": K, "N": N, "L": t["L"],
                     "r": t["r"], "z": t["z"], "skipped_aqs": skipped, "cycles": cyc,
                     "aqs_over_sibia": cyc["aqs"] / cyc["sibia"]})
        print(f"{t['name']:12s} {t['group']:9s} {f'{M}x{K}x{N}':>12s} {t['L']:2d} {t['r']:3d} "
              f"{skipped:8.3f} {cyc['dense']:7d} {cyc['sibia']:7d} {cyc['aqs']:7d} "
              f"{cyc['aqs'] / cyc['sibia']:9.3f}")
    print("every run: RTL bit-exact with the golden model, all counters equal to the cycle model")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"preset": args.preset, "sim": args.sim, "tiles": rows},
                                    indent=2) + "\n")
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
