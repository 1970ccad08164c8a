"""The requantization stage on the generated Verilog (``tiny_rq``): GEMMs with requantization
on and off, interleaved, through the cocotb host on Icarus and the compiled Verilator host
(fast path); bit-exact against ``golden_model.requant`` and every counter (cycles exactly)
equal to the cycle model's prediction."""

from __future__ import annotations

import numpy as np
import pytest

from golden_model.aqs_gemm import choose_r, reference_gemm
from golden_model.config import PRESETS
from golden_model.requant import requant_params
from golden_model.streams import unpack_y
from golden_model.workloads import random_weights, skewed_activations
from panacea_hdl.sim.gemm import make_job, run_jobs_sim

CFG = PRESETS["tiny_rq"]


def _jobs():
    rng = np.random.default_rng(21)
    cases = []
    for i, (M, K, N, mode, rq_on) in enumerate([(9, 23, 11, "aqs", True), (6, 10, 5, "dense", False),
                                                (5, 40, 9, "sibia", True), (1, 1, 1, "aqs", True)]):
        A = skewed_activations(M, K, seed=30 + i)
        W = random_weights(K, N, seed=30 + i)
        z = int(rng.integers(60, 160))
        rq = None
        if rq_on:
            rq = requant_params(rng.uniform(2e-4, 4e-3, size=N),
                                bias=rng.integers(-20000, 20000, size=N),
                                out_zp=int(rng.integers(0, 256)))
        job = make_job(CFG, A, W, z, mode=mode, L=4, r=choose_r(A, 4), requant=rq)
        cases.append((A, W, z, rq, job))
    return cases


def _check(cases, results):
    for (A, W, z, rq, job), (beats, counters) in zip(cases, results, strict=True):
        assert beats == job["y"]
        assert counters == job["counters"]
        Y = unpack_y(beats, job["M"], job["N"], CFG, requant=rq is not None)
        ref = reference_gemm(A, W, z)
        np.testing.assert_array_equal(Y, rq.apply(ref) if rq is not None else ref)


@pytest.mark.parametrize("sim, fast", [("icarus", False), ("verilator", True), ("verilator", False)])
def test_requant_gemms_bit_and_cycle_exact(sim, fast):
    cases = _jobs()
    results = run_jobs_sim(CFG, [c[-1] for c in cases], sim=sim, fast=fast)
    _check(cases, results)


def test_requant_with_stalls_on_the_fast_path():
    """Random valid/ready gaps on w, lo, ho and y: bit-exact, every counter but cycles equal."""
    cases = _jobs()
    results = run_jobs_sim(CFG, [c[-1] for c in cases], sim="verilator", fast=True, stalls=True,
                           seed=5)
    for (A, W, z, rq, job), (beats, counters) in zip(cases, results, strict=True):
        assert beats == job["y"]
        assert {k: v for k, v in counters.items() if k != "cycles"} == \
               {k: v for k, v in job["counters"].items() if k != "cycles"}
        assert counters["cycles"] > job["counters"]["cycles"]
