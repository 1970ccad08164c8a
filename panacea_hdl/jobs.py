"""Jobs behind the CLI: one GEMM (golden or RTL), and the main job on the built-in workload."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from golden_model.aqs_gemm import MODES, aqs_gemm, choose_r, reference_gemm
from golden_model.config import PanaceaConfig
from golden_model.cycle_model import COUNTERS, predict
from golden_model.energy import SOURCE as ENERGY_SOURCE
from golden_model.slicing import check_activation, check_weight

__all__ = ["run_gemm_job", "run_main_job", "RTLMismatch"]

REPO_ROOT = Path(__file__).resolve().parent.parent


class RTLMismatch(RuntimeError):
    """The RTL disagreed with the golden model."""


def _check_fits(cfg: PanaceaConfig, A, W):
    K = A.shape[1]
    if K > cfg.k_max:
        raise ValueError(f"K={K} exceeds this design's weight buffer depth k_max={cfg.k_max}; "
                         f"use a config with a larger k_max")


def run_gemm_job(cfg: PanaceaConfig, A, W, z, *, mode="aqs", L=4, r=None, compensation="static",
                 sim="golden", stalls=False, progress=False, seed=0) -> dict:
    """Run one GEMM; returns the report dict, with the int32 result under ``"Y"``.

    With ``sim`` = ``icarus`` or ``verilator`` the same GEMM also runs on the RTL; the RTL
    result must equal the golden one bit for bit and its counters the predicted ones (cycles
    too unless ``stalls``), else :class:`RTLMismatch` is raised. A ``mode`` the config's
    hardware variant cannot run (``cfg.modes``) raises :class:`ValueError` before anything runs.
    """
    cfg.check_mode(mode)            # a mode this hardware variant cannot run: ValueError
    A, W = check_activation(A), check_weight(W)
    if L not in cfg.splits:
        raise ValueError(f"split L={L} is not supported by config {cfg.name!r} (splits {list(cfg.splits)})")
    _check_fits(cfg, A, W)
    if r is None:
        r = choose_r(A, L)
    Y, plan = aqs_gemm(A, W, z, mode=mode, L=L, r=r, cfg=cfg, compensation=compensation)
    ref = reference_gemm(A, W, z)
    if not np.array_equal(Y, ref):          # cannot happen unless the golden model is broken
        raise RTLMismatch("golden AQS-GEMM differs from the integer reference")
    pred = predict(plan, W.shape[1], cfg)
    report = {
        "config": cfg.to_dict(),
        "shape": {"M": A.shape[0], "K": A.shape[1], "N": W.shape[1]},
        "mode": mode, "L": L, "r": int(r), "zero_point": int(z), "compensation": compensation,
        "slice_stats": plan.stats(),
        "prediction": pred.to_dict(),
        "counters": dict(pred.counters),
        "energy_source": ENERGY_SOURCE,
        "sim": sim,
        "Y": Y,
    }
    if sim == "golden":
        return report
    if compensation != "static":
        raise ValueError("the RTL implements the static compensation form; use --compensation static")
    from sim_tests.gemm_sim import run_gemm_sim

    t0 = time.perf_counter()
    info = {}
    Y_rtl, counters = run_gemm_sim(cfg, A, W, z, mode=mode, L=L, r=r, sim=sim, stalls=stalls,
                                   seed=seed, progress=progress, info=info)
    wall = time.perf_counter() - t0
    if not np.array_equal(Y_rtl, Y):
        bad = np.argwhere(Y_rtl != Y)
        m, n = bad[0]
        raise RTLMismatch(f"RTL result differs from the golden model at {len(bad)} places, first "
                          f"Y[{m},{n}]: RTL {Y_rtl[m, n]} vs golden {Y[m, n]}")
    diff = {k: (counters[k], pred.counters[k]) for k in COUNTERS
            if counters[k] != pred.counters[k] and not (stalls and k == "cycles")}
    if diff:
        raise RTLMismatch(f"RTL counters differ from the golden model (rtl, model): {diff}")
    report["counters"] = {k: int(counters[k]) for k in COUNTERS}
    report["rtl"] = {"simulator": sim, "stalls": stalls, "wall_seconds": wall,
                     "cycles_per_second": counters["cycles"] / wall if wall else None,
                     "bench_cycles_per_second": info.get("bench_cycles_per_s"),
                     "matches_golden": True}
    return report


def _table(rows, headers):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(str(h).rjust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(out)


def run_main_job(cfg: PanaceaConfig, *, sim="verilator", out_dir=None) -> dict:
    """Generate ``cfg``, run the built-in workload on the RTL in every mode its variant
    supports, check, report."""
    from golden_model.workloads import builtin_workload
    from panacea_hdl.generate import generate

    out_dir = Path(out_dir) if out_dir else REPO_ROOT / "build" / cfg.name / "run"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = generate(cfg)
    print(f"generated {paths['verilog']} and {paths['params']}")
    A, W, z = builtin_workload()
    K = A.shape[1]
    _check_fits(cfg, A, W)
    L = 4 if 4 in cfg.splits else cfg.splits[0]
    r = choose_r(A, L)
    print(f"built-in workload: A {A.shape[0]}x{K} uint8 (skewed, z={z}), W {K}x{W.shape[1]} int8; "
          f"L={L}, r={r}; variant {cfg.variant}; simulator {sim}")
    reports = {}
    modes = [mode for mode in MODES if mode in cfg.modes]     # what this variant can run
    for mode in modes:
        reports[mode] = run_gemm_job(cfg, A, W, z, mode=mode, L=L, r=r, sim=sim, progress=True)
        reports[mode].pop("Y")
        print(f"  {mode}: bit-exact, counters equal the golden model")

    def ratio(base, c):
        return f"{reports[base]['counters']['cycles'] / c['cycles']:.2f}x" if base in reports else "-"
    rows = []
    for mode in modes:
        rep = reports[mode]
        c = rep["counters"]
        rows.append([mode, c["cycles"], ratio("sibia", c), ratio("dense", c),
                     f"{c['swo_busy'] / c['cycles']:.2f}", f"{c['dwo_busy'] / c['cycles']:.2f}",
                     f"{rep['slice_stats']['frac_vectors_skipped']:.3f}",
                     f"{rep['prediction']['energy_pj']['total'] / 1e3:.1f}",
                     f"{rep['rtl']['bench_cycles_per_second']:.0f}"])
    table = _table(rows, ["mode", "cycles", "vs sibia", "vs dense", "SWO util", "DWO util",
                          "skipped", "energy nJ", "sim cyc/s"])
    print(table)
    summary = {"config": cfg.to_dict(), "simulator": sim, "workload": {
        "M": A.shape[0], "K": K, "N": W.shape[1], "zero_point": z, "L": L, "r": r},
        "modes": reports, "table": table}
    (out_dir / "report.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
    print(f"report: {out_dir / 'report.json'}")
    return summary
