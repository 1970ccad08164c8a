"""Run GEMMs on the generated RTL (Icarus or Verilator) through the top-level cocotb bench.

:func:`job_from_run` turns what the golden model computed for one run of the core (a
:class:`golden_model.tiling.TileRun`) into everything a bench needs — the host streams of
:func:`golden_model.streams.host_streams`, the register values, the golden result and the
predicted counters. :func:`run_jobs_sim` writes a list of jobs into a fresh run directory of
the design's build (``<build>/<name>-<digest>/sim_<sim>/run-*``), runs them one after the other
in one simulator session of :mod:`panacea_hdl.sim.cocotb_bench` (test ``run_job``), reads back what
the bench measured and removes the run directory (also when interrupted).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from golden_model.aqs_gemm import aqs_gemm, reference_gemm
from golden_model.config import PanaceaConfig
from golden_model.cycle_model import counter_names, predict
from golden_model.streams import host_streams, unpack_y
from panacea_hdl.rtl.generate import top_name
from panacea_hdl.sim.host import RTLMismatch

__all__ = ["make_job", "job_from_run", "save_job", "load_job", "build_dir", "bench_env",
           "run_bench", "run_jobs_sim", "run_gemm_sim",
           "BENCH_MODULE", "JOB_ENV", "RESULT_ENV", "PARAMS_ENV", "PROGRESS_ENV"]

#: The cocotb module that runs GEMM jobs (the product's host, not a test bench).
BENCH_MODULE = "panacea_hdl.sim.cocotb_bench"
#: Environment variables the bench reads.
JOB_ENV, RESULT_ENV, PARAMS_ENV = "PANACEA_JOB", "PANACEA_RESULT", "PANACEA_PARAMS"
#: File the bench writes its busy cycles to while a GEMM runs (for a progress bar).
PROGRESS_ENV = "PANACEA_PROGRESS"


def job_from_run(cfg: PanaceaConfig, run, W, z, requant=None) -> dict:
    """Everything needed to run and check one run of the core (JSON-serializable).

    ``run`` is a :class:`golden_model.tiling.TileRun` (plan, result and prediction of the
    golden model) and ``W`` that run's int8 weights (K x N). ``requant`` (a
    :class:`golden_model.requant.RequantParams` of N columns; ``cfg.requant`` builds only)
    makes the run requantize: header beats on ``w``, uint8 ``y`` lanes, the counters predicted
    with it. Keys: ``M K N mode mode_code L r z``, ``requant`` (the REQUANT register value,
    None for a build without the stage), ``streams`` (``w``, ``lo``, ``ho`` beats as ints;
    ``lo`` and ``ho`` packed, ``docs/formats.md``), ``frames`` (``lo``, ``ho``: beats per
    pass, each pass one TLAST frame; :func:`panacea_hdl.sim.host.stream_lasts`), ``ho_words`` (the RLE words ``ho`` carries,
    for tests that edit them: :func:`golden_model.streams.pack_ho_words` repacks), ``y``
    (expected output beats), ``counters`` (predicted), ``min_cycles`` (the fewest cycles a run
    with stalls may take, ``prediction.work["min_cycles"]``), ``schedule``.
    """
    from panacea_hdl.regmap import MODE_CODES, requant_value

    plan, Y = run.plan, run.Y
    hs = host_streams(plan, W, Y, cfg, requant=requant)
    prediction = run.prediction
    if requant is not None:
        prediction = predict(plan, W.shape[1], cfg, requant=True)
    return {
        "config": cfg.to_dict(),
        "M": int(Y.shape[0]), "K": int(W.shape[0]), "N": int(W.shape[1]),
        "mode": plan.mode, "mode_code": MODE_CODES[plan.mode], "L": int(plan.L),
        "r": int(plan.r), "z": int(z),
        "requant": (requant_value(requant is not None, requant.out_zp if requant is not None else 0)
                    if cfg.requant else None),
        "streams": {"w": hs.w, "lo": hs.lo, "ho": hs.ho},
        "frames": {k: list(v) for k, v in hs.frames.items()},
        "y": hs.y,
        "counters": {k: int(prediction.counters[k]) for k in counter_names(cfg)},
        "min_cycles": int(prediction.work["min_cycles"]),
        "schedule": hs.schedule,
        "ho_words": hs.ho_words,
    }


def make_job(cfg: PanaceaConfig, A, W, z, *, mode, L, r, requant=None) -> dict:
    """:func:`job_from_run` of a GEMM that fits one run of the core (for benches and tests),
    with the expected result under ``"Y"`` (list of rows: int32, or uint8 with ``requant``);
    also checks the golden model against the plain integer product."""
    from golden_model.tiling import TileRun

    Y, plan = aqs_gemm(A, W, z, mode=mode, L=L, r=r, cfg=cfg)
    if not np.array_equal(Y, reference_gemm(A, W, z)):    # guards the golden model itself
        raise AssertionError("golden AQS-GEMM differs from the integer reference")
    run = TileRun(tile=None, plan=plan, Y=Y, prediction=predict(plan, W.shape[1], cfg))
    job = job_from_run(cfg, run, np.asarray(W), z, requant=requant)
    return dict(job, Y=(requant.apply(Y) if requant is not None else Y).tolist())


def save_job(job: dict, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(job))
    return path


def load_job(path) -> dict:
    return json.loads(Path(path).read_text())


def build_dir(cfg: PanaceaConfig, sim: str) -> Path:
    """Where the top level of ``cfg`` is built for ``sim`` (shared by every bench run)."""
    from panacea_hdl.paths import design_dir

    return design_dir(cfg) / f"sim_{sim}"


def bench_env(cfg: PanaceaConfig, **extra):
    """Generate the Verilog of ``cfg`` (skipped when unchanged); return ``(verilog path,
    toplevel, env)`` for the bench."""
    from panacea_hdl.rtl.generate import generate

    paths = generate(cfg)
    env = {PARAMS_ENV: str(paths["params"])}
    env.update({k: str(v) for k, v in extra.items()})
    return paths["verilog"], paths["top"], env


def run_bench(cfg: PanaceaConfig, sim: str, *, testcase, env=None, seed=None, run_dir=None,
              test_module=BENCH_MODULE):
    """Build (cached) the top level of ``cfg`` for ``sim`` and run the tests ``testcase`` of
    the cocotb module ``test_module`` (default: the product's GEMM-job host)."""
    from panacea_hdl.sim.runner import run_cocotb

    verilog, top, benv = bench_env(cfg, **(env or {}))
    return run_cocotb(sources=[verilog], toplevel=top, test_module=test_module, sim=sim,
                      build_dir=build_dir(cfg, sim), env=benv, seed=seed, testcase=testcase,
                      run_dir=run_dir)


class _ProgressBar:
    """A tqdm bar (stderr) of simulated busy cycles, fed by the bench's progress file."""

    def __init__(self, path: Path, total: int, desc: str):
        import threading

        from tqdm import tqdm

        self._path, self._stop = Path(path), threading.Event()
        self._bar = tqdm(total=total, desc=desc, unit="cyc", unit_scale=True, leave=False,
                         file=sys.stderr, mininterval=0.5)
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self):
        while not self._stop.wait(0.5):
            try:
                n = int(self._path.read_text())
            except (OSError, ValueError):
                continue
            self._bar.update(max(0, min(n, self._bar.total) - self._bar.n))

    def close(self):
        self._stop.set()
        self._thread.join()
        self._bar.close()


def run_jobs_sim(cfg: PanaceaConfig, jobs, *, sim, stalls=False, seed=0, progress=False,
                 info: dict | None = None, fast=False):
    """Run ``jobs`` (from :func:`job_from_run`) one after the other on the RTL of ``cfg``.

    Parameters
    ----------
    cfg : PanaceaConfig
    jobs : list of dict
    sim : "icarus" or "verilator"
    stalls : bool
        Random valid/ready gaps on every stream (the ``cycles`` counter is then not checked).
    seed : int
        Seed of the stall pattern.
    progress : bool
        Print what is happening to stderr, with a bar of simulated busy cycles.
    info : dict, optional
        Filled with ``wall_s`` (the whole call) and ``bench_cycles_per_s`` (simulated cycles
        per second of wall time inside the bench, i.e. the simulator's throughput), from
        ``bench_cycles`` in ``bench_s`` (first register write of each GEMM to its last
        counter read; ``bench_cpu_s`` of processor time).
    fast : bool
        Run the jobs on the compiled Verilator host (:mod:`panacea_hdl.sim.fastsim`, one process
        per job) instead of the cocotb bench; Verilator only, no ``abort_after`` jobs.

    Returns
    -------
    list of (y beats, counters)
        Per job: the beats the RTL sent on ``y`` and its performance counters (dict in
        ``golden_model.cycle_model.COUNTERS`` order); ``(None, None)`` for a job with
        ``"abort_after": cycles`` (the host writes CTRL.ABORT that many cycles after START and
        the bench checks that the core stops cleanly).

    Raises
    ------
    panacea_hdl.sim.host.RTLMismatch
        A run differs from its job (:func:`panacea_hdl.sim.host.check_run`); ``job_index``
        names it.
    panacea_hdl.sim.runner.BenchError
        The bench failed otherwise (no result, a crash, a time-out).
    """
    import shutil
    import tempfile

    from panacea_hdl.sim.runner import BenchError

    def say(msg):
        if progress:
            print(f"[gemm_sim {cfg.name}/{sim}] {msg}", file=sys.stderr, flush=True)

    jobs = list(jobs)
    if fast:        # the same jobs on the compiled Verilator host (docs/fastsim.md)
        from panacea_hdl.sim.fastsim import run_jobs_fast

        verilog, top, _ = bench_env(cfg)
        return run_jobs_fast(cfg, jobs, verilog, top, build_dir(cfg, "verilator_fast"), sim=sim,
                             stalls=stalls, seed=seed, say=say, info=info)
    bdir = build_dir(cfg, sim)
    bdir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=bdir))
    job_path, result_path = run_dir / "jobs.json", run_dir / "results.json"
    progress_path = run_dir / "progress"
    top = top_name(cfg)
    total = sum(j["counters"]["cycles"] for j in jobs)
    failure, watcher, keep = None, None, False
    t0 = time.perf_counter()
    try:
        save_job({"jobs": jobs, "stalls": bool(stalls), "seed": int(seed)}, job_path)
        first = not any(bdir.glob("sim.vvp" if sim == "icarus" else "Vtop*"))
        say(f"{'building' if first else 'reusing the build of'} {top} for {sim} in {bdir}"
            + (" (a first Verilator build of a large design takes minutes)" if first and
               sim == "verilator" else "") + f"; then {len(jobs)} run(s) of the core")
        if progress:
            watcher = _ProgressBar(progress_path, total, f"{top} {jobs[0]['mode']}")
        try:
            run_bench(cfg, sim, testcase="run_job", seed=seed, run_dir=run_dir,
                      env={JOB_ENV: job_path, RESULT_ENV: result_path,
                           PROGRESS_ENV: progress_path})
        except BenchError as e:
            failure = e
        finally:
            if watcher is not None:
                watcher.close()
        wall = time.perf_counter() - t0
        result = json.loads(result_path.read_text()) if result_path.exists() else None
        runs = (result or {}).get("results", [])
        bad = [i for i, r in enumerate(runs) if not r.get("ok")]
        if bad and runs[bad[0]].get("problem"):       # the bench ran and found a difference
            keep = True                 # the bench's log stays for the user
            raise RTLMismatch(f"RTL run on {sim} of {top}: {runs[bad[0]]['problem']}",
                              job_index=bad[0])
        problems = [r.get("problem") for r in runs if not r.get("ok")]
        if failure is not None or result is None or problems or len(runs) != len(jobs):
            keep = True                 # the bench's log stays for the user
            detail = "; ".join(p for p in problems if p) or "no result written"
            raise BenchError(f"RTL bench of {top} on {sim} failed: {detail}"
                             + (f" ({failure})" if failure else ""))
    finally:
        if not keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    cycles = sum(r["sim_cycles"] for r in result["results"])
    bench_wall = sum(r["wall_seconds"] for r in result["results"])
    if info is not None:
        info.update(wall_s=wall, bench_cycles_per_s=cycles / bench_wall if bench_wall else 0.0,
                    bench_cycles=cycles, bench_s=bench_wall,
                    bench_cpu_s=sum(r.get("cpu_seconds", 0.0) for r in result["results"]))
    say(f"done: {len(jobs)} run(s) of the core, {cycles:.0f} simulated cycles (register "
        f"programming and readout included) in {wall:.1f} s wall")
    return [(None, None) if r.get("aborted") else
            (r["y"], {k: int(r["counters"][k]) for k in counter_names(cfg)}) for r in result["results"]]


def run_gemm_sim(cfg: PanaceaConfig, A, W, z, *, mode, L, r, sim, stalls=False, seed=0,
                 progress=False, info: dict | None = None, fast=False, requant=None):
    """Run ``(A - z) @ W`` (one run of the core) on the RTL of ``cfg``; returns
    ``(Y, counters)``: the int32 result (M x N) the RTL sent — uint8 with ``requant`` (a
    :class:`golden_model.requant.RequantParams`) — and its counters.
    See :func:`run_jobs_sim`."""
    job = make_job(cfg, np.asarray(A), np.asarray(W), z, mode=mode, L=L, r=r, requant=requant)
    [(beats, counters)] = run_jobs_sim(cfg, [job], sim=sim, stalls=stalls, seed=seed,
                                       progress=progress, info=info, fast=fast)
    return unpack_y(beats, job["M"], job["N"], cfg, requant=requant is not None), counters
