#!/usr/bin/env python
"""RTL benchmarks (issue 3): cycles per mode over a range of sparsities, dense-mode
utilization, aqs cycles against the ideal bound, and simulator throughput.

Every GEMM runs on the generated RTL, is checked bit-exact against the golden model and its
counters (cycles included) against the cycle model — a mismatch stops the script. Prints
figures; asserts no speed.

    python scripts/bench_rtl.py [--preset default] [--sim verilator] [--quick]
"""

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from golden_model.aqs_gemm import MODES, choose_r  # noqa: E402
from golden_model.config import preset  # noqa: E402
from golden_model.workloads import random_weights, skewed_activations  # noqa: E402
from panacea_hdl.flows.jobs import run_gemm_job  # noqa: E402


def run(cfg, A, W, z, mode, sim, L=4):
    r = choose_r(A, L)
    t = time.perf_counter()
    rep = run_gemm_job(cfg, A, W, z, mode=mode, L=L, r=r, sim=sim)
    wall = time.perf_counter() - t
    return rep, wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="default")
    ap.add_argument("--sim", choices=("icarus", "verilator"), default="verilator")
    ap.add_argument("--quick", action="store_true", help="smaller GEMMs")
    ap.add_argument("--blocks", type=int, default=1,
                    help="column blocks: N = blocks x cols (the LOAD overlap needs >= 2)")
    ap.add_argument("--no-throughput", action="store_true", help="skip the simulator throughput")
    ap.add_argument("--json", type=Path, default=ROOT / "build" / "bench_rtl.json")
    args = ap.parse_args()
    cfg = preset(args.preset)
    out = {"preset": args.preset, "sim": args.sim}
    M = 64 if args.quick else 256
    K = 256
    N = args.blocks * cfg.cols

    # 1. cycles per mode over a range of sparsities (spread of the skewed distribution)
    print(f"== RTL cycles per mode, {args.preset} preset, {args.sim}, GEMM {M}x{K}x{N} ==")
    print(f"{'spread':>7} {'skipped':>8} {'dense':>8} {'sibia':>8} {'aqs':>8} {'aqs/sibia':>10} {'aqs/ideal':>10}")
    rows = []
    for spread in (0.5, 1.5, 3.0, 6.0, 12.0):
        A = skewed_activations(M, K, seed=11, spread=spread)
        W = random_weights(K, N, seed=11)
        cyc, skipped, ideal = {}, None, None
        for mode in MODES:
            rep, _ = run(cfg, A, W, 100, mode, args.sim)
            cyc[mode] = rep.counters["cycles"]
            if mode == "aqs":
                skipped = rep.slice_stats["frac_vectors_skipped"]
                ideal = rep.prediction.work["ideal_cycles"]
        rows.append({"spread": spread, "skipped": skipped, **cyc, "ideal_aqs": ideal})
        print(f"{spread:7.1f} {skipped:8.3f} {cyc['dense']:8d} {cyc['sibia']:8d} {cyc['aqs']:8d} "
              f"{cyc['sibia'] / cyc['aqs']:9.2f}x {ideal / cyc['aqs']:9.1%}")
    out["sparsity_sweep"] = rows

    # 2. dense-mode utilization for K >= 256: the DWO is the bound operator in dense mode
    print("\n== dense-mode utilization (DWO busy / cycles; the SWO idles half the time by design) ==")
    util = []
    for K2, M2 in ((256, M), (256, 2 * M), (512, 2 * M)):
        A = skewed_activations(M2, K2, seed=5)
        W = random_weights(K2, N, seed=5)
        rep, _ = run(cfg, A, W, 100, "dense", args.sim)
        c = rep.counters
        u = c["dwo_busy"] / c["cycles"]
        mults = (c["swo_busy"] * 2 * cfg.rows_per_pass + c["dwo_busy"] * 2 * cfg.group_size) / (
            c["cycles"] * (2 * cfg.rows_per_pass + 2 * cfg.group_size))
        util.append({"M": M2, "K": K2, "dwo_utilization": u, "multiplier_utilization": mults})
        print(f"  M={M2:4d} K={K2:4d}: DWO {u:.2%}, all slice multipliers {mults:.2%} "
              f"({c['cycles']} cycles)")
    out["dense_utilization"] = util

    # 3. simulator throughput
    if args.no_throughput:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"\nwritten {args.json}")
        return
    print(f"\n== simulator throughput ({args.preset} preset, aqs mode) ==")
    A = skewed_activations(M, K, seed=3)
    W = random_weights(K, N, seed=3)
    thr = {}
    for sim in ("icarus", "verilator"):
        run(cfg, A, W, 100, "aqs", sim)                          # build (cached) + warm
        rep, wall = run(cfg, A, W, 100, "aqs", sim)
        cps = rep.rtl.bench_cycles_per_second or rep.counters["cycles"] / wall
        thr[sim] = {"cycles": rep.counters["cycles"], "wall_s": wall, "cycles_per_s": cps}
        print(f"  {sim:9s}: {rep.counters['cycles']} cycles; {cps:,.0f} cycles/s in the bench; "
              f"{wall:.1f} s wall per GEMM incl. start-up")
    out["throughput"] = thr
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nwritten {args.json}")


if __name__ == "__main__":
    main()
