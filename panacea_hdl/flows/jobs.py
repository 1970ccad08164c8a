"""Jobs behind the CLI: one GEMM (golden or RTL), and the main job on the built-in workload."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from golden_model.aqs_gemm import MODES, check_zero_point, choose_r, reference_gemm
from golden_model.config import DIM_MAX, PanaceaConfig
from golden_model.cycle_model import Prediction, counter_names, predict
from golden_model.requant import RequantParams
from golden_model.energy import SOURCE as ENERGY_SOURCE
from golden_model.fileio import atomic_write_text, to_json
from golden_model.slicing import check_activation, check_weight
from golden_model.tiling import tiled_gemm
from golden_model.workloads import builtin_workload

from panacea_hdl.sim.host import RTLMismatch
from panacea_hdl.toolchain import ensure_verilator_path, require_iverilog

__all__ = ["run_gemm_job", "run_main_job", "check_gemm_args", "GemmReport", "RTLRun",
           "RTLMismatch", "RTL_SIMS"]

#: Simulators the RTL runs on.
RTL_SIMS = ("icarus", "verilator")


@dataclass(frozen=True)
class RTLRun:
    """How a GEMM ran on the RTL (present only when every run matched the golden model).

    Attributes
    ----------
    simulator : {"icarus", "verilator"}
    harness : {"cocotb", "fast"}
        The cocotb bench or the compiled Verilator host (:mod:`panacea_hdl.sim.fastsim`).
    stalls : bool
        Random valid/ready gaps on every stream (cycles then only bounded below).
    wall_seconds : float
        Wall time of all runs, builds included.
    cycles_per_second : float or None
        Busy cycles per wall second of the whole call.
    bench_cycles_per_second : float or None
        Simulated cycles per second inside the simulator (its throughput).
    """

    simulator: str
    harness: str
    stalls: bool
    wall_seconds: float
    cycles_per_second: float | None
    bench_cycles_per_second: float | None


@dataclass(frozen=True)
class GemmReport:
    """The result of one GEMM ``(A - z) @ W`` (:func:`run_gemm_job`).

    Attributes
    ----------
    config : PanaceaConfig
    M, K, N : int
        Shape: A is M x K uint8, W is K x N int8.
    mode : str
    L, r, zero_point : int
        Split, skip value (aqs) and activation zero point used.
    compensation : str
    slice_stats : dict
        Slice statistics of the golden model (``frac_vectors_skipped``, ...).
    prediction : Prediction
        Cycle/memory/energy model of the whole GEMM (the sum over its runs of the core).
    counters : dict
        Counter name -> value: the RTL's (summed over runs) on a simulator, else the
        prediction's.
    tiles : list of dict
        One per run of the core (host tiling): its rows, k range, columns and counters.
    sim : str
        ``golden``, ``icarus`` or ``verilator``.
    Y : numpy.ndarray
        int32 M x N result (bit-exact with the integer reference); uint8 when requantized.
    rtl : RTLRun or None
        How it ran on the RTL; None for ``sim="golden"``.
    requant : RequantParams or None
        The on-chip requantization applied to ``Y`` (``golden_model.requant``), if any.
    """

    config: PanaceaConfig
    M: int
    K: int
    N: int
    mode: str
    L: int
    r: int
    zero_point: int
    compensation: str
    slice_stats: dict
    prediction: Prediction
    counters: dict
    tiles: list
    sim: str
    Y: np.ndarray = field(repr=False)
    rtl: RTLRun | None = None
    requant: RequantParams | None = None

    def to_dict(self) -> dict:
        """The JSON report (``panacea gemm --report``): everything but ``Y``."""
        d = {
            "config": self.config.to_dict(),
            "shape": {"M": self.M, "K": self.K, "N": self.N},
            "mode": self.mode, "L": self.L, "r": self.r, "zero_point": self.zero_point,
            "compensation": self.compensation, "slice_stats": self.slice_stats,
            "prediction": self.prediction.to_dict(), "counters": self.counters,
            "tiles": self.tiles, "energy_source": ENERGY_SOURCE, "sim": self.sim,
        }
        if self.rtl is not None:
            d["rtl"] = {**self.rtl.__dict__, "matches_golden": True}
        if self.requant is not None:
            q = self.requant
            d["requant"] = {"out_zp": q.out_zp, "bias": q.bias.tolist(), "mult": q.mult.tolist(),
                            "shift": q.shift.tolist()}
        return d



def check_gemm_args(cfg: PanaceaConfig, A, W, z, *, mode, L=None, r=None,
                    compensation="static", sim="golden", stalls=False):
    """Validate one GEMM's inputs before any work; returns ``(A, W, z, L)``.

    Raises
    ------
    ValueError
        Naming the bad input: a mode the variant cannot run, a split it does not support,
        ``r`` out of range, stalls without an RTL simulator, the runtime
        compensation form on the RTL, wrong dtypes, ranges or shapes.
    panacea_hdl.toolchain.ToolError
        If the simulator ``sim`` is not installed.
    """
    cfg.check_mode(mode)
    if sim != "golden" and sim not in RTL_SIMS:
        raise ValueError(f"sim must be golden or one of {RTL_SIMS}, got {sim!r}")
    A, W, z = check_activation(A), check_weight(W), check_zero_point(z)
    if A.shape[1] != W.shape[0]:
        raise ValueError(f"shape mismatch: activation is {A.shape[0]}x{A.shape[1]} (M x K), "
                         f"weight is {W.shape[0]}x{W.shape[1]} (K x N); K must agree")
    if min(A.shape) < 1 or W.shape[1] < 1:
        raise ValueError(f"empty GEMM: A is {A.shape[0]}x{A.shape[1]}, W is "
                         f"{W.shape[0]}x{W.shape[1]}")
    L = cfg.default_split if L is None else L
    if L not in cfg.splits:
        raise ValueError(f"split L={L} is not supported by config {cfg.name!r} "
                         f"(splits {list(cfg.splits)})")
    if r is not None:
        hi = (1 << (8 - L)) - 1
        if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or not 0 <= r <= hi:
            raise ValueError(f"r must be an int in [0, {hi}] for L={L}, got {r!r}")
    if stalls and sim == "golden":
        raise ValueError("stalls apply to RTL simulation only: add --sim icarus|verilator")
    if compensation != "static" and sim != "golden":
        raise ValueError("the RTL implements the static compensation form; use "
                         "--compensation static")
    if sim == "icarus":              # the simulator is there before anything is generated
        require_iverilog()
    elif sim == "verilator":
        ensure_verilator_path()
    return A, W, z, L


def run_gemm_job(cfg: PanaceaConfig, A, W, z, *, mode="aqs", L=None, r=None,
                 compensation="static", sim="golden", stalls=False, progress=False,
                 seed=0, fast=None, requant=None) -> dict:
    """Run one GEMM ``(A - z) @ W``; returns its :class:`GemmReport` (int32 result in ``Y``).

    A GEMM larger than one run of the core (K > ``k_max``, M or N beyond the DIM registers)
    is tiled by the host (:mod:`golden_model.tiling`): the report's ``tiles`` lists each run
    with its counters, and ``counters`` / ``prediction`` are the sums over the runs.

    With ``sim`` = ``icarus`` or ``verilator`` every run also executes on the RTL (one
    simulator session); each run's result must equal the golden one bit for bit and its
    counters the predicted ones (cycles too unless ``stalls``), else :class:`RTLMismatch` is
    raised. Inputs are checked first (:func:`check_gemm_args`); the golden model runs once.
    ``fast`` (default: on Verilator) runs the jobs on the compiled Verilator host
    (:mod:`panacea_hdl.sim.fastsim`) instead of the cocotb bench; the checks are the same.

    ``requant`` (a :class:`golden_model.requant.RequantParams` of N columns) requantizes on
    chip: ``cfg`` must have the stage (``cfg.requant``) and the GEMM must fit one run of the
    core; ``Y`` is then the uint8 result and the counters are predicted with the header.
    """
    from ..sim.fastsim import use_fast

    A, W, z, L = check_gemm_args(cfg, A, W, z, mode=mode, L=L, r=r, compensation=compensation,
                                 sim=sim, stalls=stalls)
    if requant is not None:
        if not cfg.requant:
            raise ValueError(f"config {cfg.name!r} has no requantization stage: use a config "
                             f"with requant (e.g. --preset tiny_rq)")
        if requant.N != W.shape[1]:
            raise ValueError(f"requantization parameters for {requant.N} columns, W has "
                             f"{W.shape[1]}")
        if A.shape[1] > cfg.k_max or max(A.shape[0], W.shape[1]) > DIM_MAX:
            raise ValueError(f"on-chip requantization needs the GEMM in one run of the core "
                             f"(K <= k_max = {cfg.k_max}, M, N <= {DIM_MAX}); got "
                             f"{A.shape[0]}x{A.shape[1]}x{W.shape[1]}")
    fast = sim != "golden" and use_fast(sim, fast)
    if r is None:
        r = choose_r(A, L)
    tg = tiled_gemm(A, W, z, mode=mode, L=L, r=r, cfg=cfg, compensation=compensation)
    if not np.array_equal(tg.Y, reference_gemm(A, W, z)):   # only if the golden model is broken
        raise RTLMismatch("golden AQS-GEMM differs from the integer reference")
    pred = tg.prediction
    if requant is not None:     # one run (checked above), predicted with its header
        pred = predict(tg.runs[0].plan, W.shape[1], cfg, requant=True)
        tg.runs[0] = dataclasses.replace(tg.runs[0], prediction=pred)
    common = dict(config=cfg, M=int(A.shape[0]), K=int(A.shape[1]), N=int(W.shape[1]),
                  mode=mode, L=int(L), r=int(r), zero_point=int(z), compensation=compensation,
                  slice_stats=tg.stats, prediction=pred, sim=sim,
                  Y=tg.Y if requant is None else requant.apply(tg.Y), requant=requant)
    if sim == "golden":
        return GemmReport(counters=dict(pred.counters),
                          tiles=[{**run.tile.to_dict(), "counters": dict(run.prediction.counters)}
                                 for run in tg.runs], **common)

    from panacea_hdl.sim.gemm import job_from_run, run_jobs_sim

    jobs = [job_from_run(cfg, run, W[run.tile.k0:run.tile.k1, run.tile.n0:run.tile.n1], z,
                         requant=requant)
            for run in tg.runs]
    t0 = time.perf_counter()
    info = {}
    try:
        results = run_jobs_sim(cfg, jobs, sim=sim, stalls=stalls, seed=seed, progress=progress,
                               info=info, fast=fast)
    except RTLMismatch as e:
        if not tg.tiled or e.job_index is None:
            raise
        t = tg.runs[e.job_index].tile
        raise RTLMismatch(f"tile {e.job_index + 1} of {len(tg.runs)} (rows {t.m0}:{t.m1}, "
                          f"k {t.k0}:{t.k1}, columns {t.n0}:{t.n1}): {e}",
                          job_index=e.job_index) from None
    wall = time.perf_counter() - t0
    # each run's beats and counters were checked by panacea_hdl.sim.host.check_run
    tiles = [{**run.tile.to_dict(), "counters": dict(counters)}
             for run, (_, counters) in zip(tg.runs, results)]
    total = {k: sum(t["counters"][k] for t in tiles) for k in counter_names(cfg)}
    rtl = RTLRun(simulator=sim, harness="fast" if fast else "cocotb", stalls=bool(stalls),
                 wall_seconds=wall, cycles_per_second=total["cycles"] / wall if wall else None,
                 bench_cycles_per_second=info.get("bench_cycles_per_s"))
    return GemmReport(counters=total, tiles=tiles, rtl=rtl, **common)


def _table(rows, headers):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(str(h).rjust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(out)


def main_workload(cfg: PanaceaConfig):
    """The main job's built-in workload, sized to the design: ``(A, W, z)``.

    The skewed workload of :func:`golden_model.workloads.builtin_workload` (24 x 256 x 40),
    with K cut to the design's ``k_max`` so that it runs without host tiling on every preset.
    """
    return builtin_workload(K=min(256, cfg.k_max))


def run_main_job(cfg: PanaceaConfig, *, sim="verilator", out_dir=None, fast=None) -> dict:
    """Generate ``cfg``, run the built-in workload on the RTL in every mode its variant
    supports, check, report (``report.json`` in ``out_dir``, default ``<design dir>/run``)."""
    from panacea_hdl.rtl.generate import generate
    from panacea_hdl.paths import design_dir

    out_dir = Path(out_dir) if out_dir else design_dir(cfg) / "run"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = generate(cfg)
    print(f"generated {paths['verilog']} and {paths['params']}")
    A, W, z = main_workload(cfg)
    K = A.shape[1]
    L = cfg.default_split
    r = choose_r(A, L)
    print(f"built-in workload: A {A.shape[0]}x{K} uint8 (skewed, z={z}), W {K}x{W.shape[1]} int8; "
          f"L={L}, r={r}; variant {cfg.variant}; simulator {sim}")
    reports = {}
    modes = [mode for mode in MODES if mode in cfg.modes]     # what this variant can run
    for mode in modes:
        reports[mode] = run_gemm_job(cfg, A, W, z, mode=mode, L=L, r=r, sim=sim, progress=True,
                                     fast=fast)
        print(f"  {mode}: bit-exact, counters equal the golden model")

    def ratio(base, c):
        return f"{reports[base].counters['cycles'] / c['cycles']:.2f}x" if base in reports else "-"
    rows = []
    for mode in modes:
        rep = reports[mode]
        c = rep.counters
        rows.append([mode, c["cycles"], ratio("sibia", c), ratio("dense", c),
                     f"{c['swo_busy'] / c['cycles']:.2f}", f"{c['dwo_busy'] / c['cycles']:.2f}",
                     f"{rep.slice_stats['frac_vectors_skipped']:.3f}",
                     f"{rep.prediction.energy_pj['total'] / 1e3:.1f}",
                     f"{rep.rtl.bench_cycles_per_second:.0f}"])
    table = _table(rows, ["mode", "cycles", "vs sibia", "vs dense", "SWO util", "DWO util",
                          "skipped", "energy nJ", "sim cyc/s"])
    print(table)
    summary = {"config": cfg.to_dict(), "simulator": sim, "workload": {
        "M": A.shape[0], "K": K, "N": W.shape[1], "zero_point": z, "L": L, "r": r},
        "modes": {m: rep.to_dict() for m, rep in reports.items()}, "table": table}
    path = atomic_write_text(out_dir / "report.json", to_json(summary))
    print(f"report: {path}")
    return summary
