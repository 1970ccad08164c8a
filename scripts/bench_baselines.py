#!/usr/bin/env python
"""Panacea against its two same-generator baselines (docs/baselines.md) on one skewed workload.

For a base preset (``tiny`` or ``default``) it runs the built-in skewed workload (K cut to the
preset's k_max) on the RTL of ``<base>`` (modes dense, sibia, aqs), ``<base>_sibia`` (dense,
sibia) and ``<base>_dense`` (dense). Every run is checked bit-exact against the golden model
with every counter, cycles included, equal to the cycle model (``run_gemm_job`` raises
otherwise). Prints cycles, energy estimate, external bytes and the multiplier budget.

    python scripts/bench_baselines.py [--preset tiny|default] [--sim verilator|icarus|golden]
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from golden_model.aqs_gemm import choose_r  # noqa: E402
from golden_model.budget import multiplier_budget  # noqa: E402
from golden_model.config import preset  # noqa: E402
from golden_model.workloads import builtin_workload  # noqa: E402
from panacea_hdl.flows.jobs import run_gemm_job  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny", choices=("tiny", "default"))
    ap.add_argument("--sim", default="verilator", choices=("verilator", "icarus", "golden"))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    base = preset(args.preset)
    A, W, z = builtin_workload()
    A, W = A[:, :base.k_max], W[:base.k_max]
    L = 4
    r = choose_r(A, L)
    print(f"workload: A {A.shape[0]}x{A.shape[1]} (skewed, z={z}), W {W.shape[0]}x{W.shape[1]}; "
          f"L={L}, r={r}; simulator {args.sim}")
    rows, out = [], {"preset": args.preset, "sim": args.sim, "shape": list(A.shape) + [W.shape[1]],
                     "z": z, "L": L, "r": r, "runs": []}
    for name in (args.preset, f"{args.preset}_sibia", f"{args.preset}_dense"):
        cfg = preset(name)
        bud = multiplier_budget(cfg)
        for mode in cfg.modes:
            rep = run_gemm_job(cfg, A, W, z, mode=mode, L=L, r=r, sim=args.sim)
            c = rep.counters
            e = rep.prediction.energy_pj
            mem = rep.prediction.memory
            run = {"config": name, "variant": cfg.variant, "mode": mode, "cycles": c["cycles"],
                   "energy_nj": e["total"] / 1e3,
                   "mult_energy_nj": (e["int8_mults"] + e["slice_mults"]) / 1e3,
                   "ext_bytes": mem["total_bytes_rle"], "pp_bits": bud["pp_bits"],
                   "pp_bits_per_col": bud["pp_bits_per_col"]}
            out["runs"].append(run)
            rows.append(run)
    dense_cycles = next(r_["cycles"] for r_ in rows if r_["variant"] == "dense")
    hdr = (f"{'config':<16}{'mode':<7}{'cycles':>8}{'vs INT8':>9}{'energy nJ':>11}"
           f"{'mult nJ':>9}{'ext bytes':>11}{'PP bits/col':>12}{'PP bits':>9}")
    print(hdr)
    print("-" * len(hdr))
    for r_ in rows:
        print(f"{r_['config']:<16}{r_['mode']:<7}{r_['cycles']:>8}"
              f"{dense_cycles / r_['cycles']:>8.2f}x{r_['energy_nj']:>11.1f}"
              f"{r_['mult_energy_nj']:>9.2f}{r_['ext_bytes']:>11}{r_['pp_bits_per_col']:>12}"
              f"{r_['pp_bits']:>9}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
