"""Soak (``--run-slow``): over 1,000 random GEMMs on both simulators, zero mismatches.

Per (preset, simulator, stalls) one simulator session runs :data:`GEMMS_PER_SESSION` random
GEMMs of the ``tiny`` presets (all three variants, every mode of each): random shapes, a third
of them with K beyond ``k_max`` (host-tiled), skewed / uniform / all-r activations, random
splits and zero points, and random ABORTs mid-GEMM (each followed by more GEMMs that must be
exact). Every run of the core is checked against the golden model: the result bit for bit and
every counter (cycles too when nothing stalls). Seeds are fixed: a failure reproduces.
"""

from __future__ import annotations

import time
import zlib

import numpy as np
import pytest

from golden_model.aqs_gemm import choose_r, reference_gemm
from golden_model.config import PRESETS
from golden_model.cycle_model import COUNTERS
from golden_model.streams import unpack_y
from golden_model.tiling import tiled_gemm
from golden_model.workloads import random_weights, skewed_activations
from panacea_hdl.sim.gemm import job_from_run, run_jobs_sim

GEMMS_PER_SESSION = 86          # x 3 presets x 2 simulators x 2 stall settings = 1,032
ABORT_FRACTION = 0.06


def _random_gemm(rng, cfg):
    M = int(rng.integers(1, 3 * cfg.rows_per_pass + 4))
    K = int(rng.integers(1, cfg.k_max + 1)) if rng.random() < 0.65 else \
        int(rng.integers(cfg.k_max + 1, 3 * cfg.k_max))
    N = int(rng.integers(1, 3 * cfg.cols + 2))
    L = int(rng.choice(cfg.splits))
    kind = rng.choice(["skewed", "uniform", "all_r"], p=[0.6, 0.2, 0.2])
    z = int(rng.integers(0, 256))
    if kind == "skewed":
        A = skewed_activations(M, K, seed=int(rng.integers(1 << 30)), center=z)
    elif kind == "uniform":
        A = rng.integers(0, 256, size=(M, K)).astype(np.uint8)
    else:
        r = int(rng.integers(0, 1 << (8 - L)))
        A = ((r << L) + rng.integers(0, 1 << L, size=(M, K))).astype(np.uint8)
    W = random_weights(K, N, seed=int(rng.integers(1 << 30)))
    mode = str(rng.choice(cfg.modes))
    return A, W, z, mode, L, choose_r(A, L)


@pytest.mark.slow
@pytest.mark.parametrize("stalls", [False, True], ids=["no-stalls", "stalls"])
@pytest.mark.parametrize("sim", ["icarus", "verilator"])
@pytest.mark.parametrize("name", ["tiny", "tiny_sibia", "tiny_dense"])
def test_soak(name, sim, stalls, record_property):
    cfg = PRESETS[name]
    rng = np.random.default_rng([zlib.crc32(name.encode()), sim == "icarus", stalls])
    jobs, checks, aborts, gemms = [], [], 0, 0
    for _ in range(GEMMS_PER_SESSION):
        A, W, z, mode, L, r = _random_gemm(rng, cfg)
        tg = tiled_gemm(A, W, z, mode=mode, L=L, r=r, cfg=cfg)
        assert np.array_equal(tg.Y, reference_gemm(A, W, z))
        gemms += 1
        for run in tg.runs:
            t = run.tile
            job = job_from_run(cfg, run, W[t.k0:t.k1, t.n0:t.n1], z)
            if rng.random() < ABORT_FRACTION:        # abort this run, then run it again
                jobs.append(dict(job, abort_after=int(rng.integers(1, job["counters"]["cycles"] + 1))))
                checks.append(None)
                aborts += 1
            jobs.append(job)
            checks.append(run)
    t0 = time.perf_counter()
    results = run_jobs_sim(cfg, jobs, sim=sim, stalls=stalls, seed=int(rng.integers(1 << 30)))
    wall = time.perf_counter() - t0
    assert len(results) == len(jobs)
    cycles = 0
    for run, (beats, counters) in zip(checks, results):
        if run is None:
            assert beats is None
            continue
        assert np.array_equal(unpack_y(beats, *run.Y.shape, cfg), run.Y)
        for k in COUNTERS:
            if not (stalls and k == "cycles"):
                assert counters[k] == run.prediction.counters[k], k
        cycles += counters["cycles"]
    record_property("soak", {"gemms": gemms, "runs": len(jobs) - aborts, "aborts": aborts,
                             "cycles": cycles, "wall_s": round(wall, 1)})
    print(f"soak {name}/{sim}/{'stalls' if stalls else 'no stalls'}: {gemms} GEMMs, "
          f"{len(jobs) - aborts} runs, {aborts} aborts, {cycles} cycles, {wall:.1f} s")
