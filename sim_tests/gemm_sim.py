"""Run one GEMM on the generated RTL (Icarus or Verilator) through the top-level cocotb bench.

:func:`make_job` turns a GEMM into everything a bench needs — the host streams of
:func:`golden_model.streams.host_streams`, the register values, the golden result and the
counters :func:`golden_model.cycle_model.predict` expects. :func:`run_gemm_sim` writes that
job beside the build (``build/<name>/sim_<sim>/``), runs ``sim_tests/benches/tb_top.py``
(test ``run_job``) and reads back what the bench measured.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from golden_model.aqs_gemm import aqs_gemm, reference_gemm
from golden_model.config import PanaceaConfig
from golden_model.cycle_model import COUNTERS, predict
from golden_model.streams import host_streams, unpack_y

__all__ = ["make_job", "save_job", "load_job", "build_dir", "bench_env", "run_bench", "run_gemm_sim",
           "BENCH_MODULE", "JOB_ENV", "RESULT_ENV", "PARAMS_ENV", "PROGRESS_ENV"]

BENCH_MODULE = "tb_top"
#: Environment variables the bench reads.
JOB_ENV, RESULT_ENV, PARAMS_ENV = "PANACEA_JOB", "PANACEA_RESULT", "PANACEA_PARAMS"
#: File the bench writes its busy cycles to while a GEMM runs (for a progress bar).
PROGRESS_ENV = "PANACEA_PROGRESS"


def make_job(cfg: PanaceaConfig, A, W, z, *, mode, L, r) -> dict:
    """Everything needed to run and check one GEMM on the core (JSON-serializable).

    Keys: ``M K N mode mode_code L r z``, ``streams`` (``w``, ``lo``, ``ho`` beats as ints),
    ``y`` (expected output beats), ``Y`` (expected int32 result, list of rows),
    ``counters`` (predicted), ``schedule``.
    """
    from panacea_hdl.regmap import MODE_CODES

    Y, plan = aqs_gemm(A, W, z, mode=mode, L=L, r=r, cfg=cfg)
    if not np.array_equal(Y, reference_gemm(A, W, z)):    # guards the golden model itself
        raise AssertionError("golden AQS-GEMM differs from the integer reference")
    hs = host_streams(plan, W, Y, cfg)
    pred = predict(plan, W.shape[1], cfg)
    return {
        "config": cfg.to_dict(),
        "M": int(A.shape[0]), "K": int(A.shape[1]), "N": int(W.shape[1]),
        "mode": mode, "mode_code": MODE_CODES[mode], "L": int(L), "r": int(r), "z": int(z),
        "streams": {"w": hs.w, "lo": hs.lo, "ho": hs.ho},
        "y": hs.y,
        "Y": Y.tolist(),
        "counters": {k: int(pred.counters[k]) for k in COUNTERS},
        "schedule": hs.schedule,
    }


def save_job(job: dict, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(job))
    return path


def load_job(path) -> dict:
    return json.loads(Path(path).read_text())


def build_dir(cfg: PanaceaConfig, sim: str) -> Path:
    """Where the top level of ``cfg`` is built for ``sim`` (shared by every bench run)."""
    from sim_tests.runner import BUILD_ROOT

    return BUILD_ROOT / cfg.name / f"sim_{sim}"


def _generator_digest(cfg: PanaceaConfig) -> str:
    """Hash of everything the Verilog of ``cfg`` depends on (generator sources and config)."""
    import hashlib

    from sim_tests.runner import REPO_ROOT

    h = hashlib.sha256(cfg.to_json().encode())
    for d in ("panacea_hdl", "golden_model"):
        for f in sorted((REPO_ROOT / d).rglob("*.py")):
            h.update(f.relative_to(REPO_ROOT).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def _generate_cached(cfg: PanaceaConfig) -> dict:
    """:func:`panacea_hdl.generate.generate`, skipped when nothing it depends on changed
    (converting the default preset takes several seconds)."""
    from panacea_hdl.generate import generate, top_name

    from sim_tests.runner import BUILD_ROOT

    out = BUILD_ROOT / cfg.name
    paths = {"verilog": out / f"{top_name(cfg)}.v", "params": out / "params.json",
             "top": top_name(cfg)}
    stamp = out / ".generate-digest"
    digest = _generator_digest(cfg)
    if (stamp.exists() and stamp.read_text() == digest and paths["verilog"].exists()
            and paths["params"].exists()):
        return paths
    paths = generate(cfg)
    stamp.write_text(digest)
    return paths


def bench_env(cfg: PanaceaConfig, **extra):
    """Generate the Verilog of ``cfg``; return ``(verilog path, toplevel, env)`` for the bench."""
    paths = _generate_cached(cfg)
    env = {PARAMS_ENV: str(paths["params"])}
    env.update({k: str(v) for k, v in extra.items()})
    return paths["verilog"], paths["top"], env


def run_bench(cfg: PanaceaConfig, sim: str, *, testcase, env=None, seed=None):
    """Build (cached) the top level of ``cfg`` for ``sim`` and run bench tests ``testcase``."""
    from sim_tests.runner import run_cocotb

    verilog, top, benv = bench_env(cfg, **(env or {}))
    return run_cocotb(sources=[verilog], toplevel=top, test_module=BENCH_MODULE, sim=sim,
                      build_dir=build_dir(cfg, sim), env=benv, seed=seed, testcase=testcase)


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


def run_gemm_sim(cfg: PanaceaConfig, A, W, z, *, mode, L, r, sim, stalls=False, seed=0,
                 progress=False, info: dict | None = None):
    """Run ``(A - z) @ W`` on the RTL of ``cfg`` in simulator ``sim``.

    Parameters
    ----------
    cfg : PanaceaConfig
    A : uint8 array (M x K); W : int8 array (K x N); z : zero point
    mode : "dense", "sibia" or "aqs"; L : split; r : the skipped high-order value (aqs)
    sim : "icarus" or "verilator"
    stalls : bool
        Random valid/ready gaps on every stream (the ``cycles`` counter is then not checked).
    seed : int
        Seed of the stall pattern.
    progress : bool
        Print what is happening to stderr.
    info : dict, optional
        Filled with ``wall_s`` (the whole call) and ``bench_cycles_per_s`` (simulated cycles
        per second of wall time inside the bench, i.e. the simulator's throughput).

    Returns
    -------
    (Y, counters)
        The int32 result the RTL sent on ``y`` (M x N) and its performance counters
        (dict in ``golden_model.cycle_model.COUNTERS`` order).

    Raises
    ------
    RuntimeError
        If the bench failed; the message includes the bench's finding (e.g. a mismatch with
        the golden model or an error status).
    """
    def say(msg):
        if progress:
            print(f"[gemm_sim {cfg.name}/{sim}] {msg}", file=sys.stderr, flush=True)

    A = np.asarray(A)
    W = np.asarray(W)
    bdir = build_dir(cfg, sim)
    tag = f"{os.getpid()}_{time.monotonic_ns()}"
    job_path = bdir / "jobs" / f"job_{tag}.json"
    result_path = bdir / "jobs" / f"result_{tag}.json"
    say(f"golden model and streams for M={A.shape[0]} K={A.shape[1]} N={W.shape[1]} mode={mode}")
    job = make_job(cfg, A, W, z, mode=mode, L=L, r=r)
    job["stalls"] = bool(stalls)
    job["seed"] = int(seed)
    save_job(job, job_path)
    top = f"panacea_{cfg.name}"
    say(f"building {top} for {sim} in {bdir} (cached) and running the bench")
    progress_path = bdir / "jobs" / f"progress_{tag}"
    t0 = time.perf_counter()
    failure = None
    watcher = _ProgressBar(progress_path, job["counters"]["cycles"], f"{top} {mode}") \
        if progress else None
    try:
        run_bench(cfg, sim, testcase="run_job", seed=seed,
                  env={JOB_ENV: job_path, RESULT_ENV: result_path, PROGRESS_ENV: progress_path})
    except RuntimeError as e:
        failure = e
    finally:
        if watcher is not None:
            watcher.close()
    wall = time.perf_counter() - t0
    result = json.loads(result_path.read_text()) if result_path.exists() else None
    for p in (job_path, result_path, progress_path):
        if p.exists():
            p.unlink()
    if failure is not None or result is None or not result.get("ok"):
        detail = (result or {}).get("problem", "no result written")
        raise RuntimeError(f"RTL bench of {top} on {sim} failed: {detail}"
                           + (f" ({failure})" if failure else ""))
    if info is not None:
        info.update(wall_s=wall, bench_cycles_per_s=float(result.get("sim_cycles_per_s", 0.0)))
    Y = unpack_y(result["y"], job["M"], job["N"], cfg)
    counters = {k: int(result["counters"][k]) for k in COUNTERS}
    say(f"done: {counters['cycles']} cycles in {wall:.1f} s wall "
        f"({result.get('sim_cycles_per_s', 0):.0f} simulated cycles/s in the bench)")
    return Y, counters
