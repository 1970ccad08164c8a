"""cocotb runs of the whole generated core (tiny preset) on Icarus and Verilator.

One build and one simulator run per simulator, executing every case of
``sim_tests/benches/tb_top.py``: the three modes on a skewed asymmetric workload (M, N off the
tile, K odd; cycles equal to the golden prediction), all-r and uniform data, random stalls on
every stream, a malformed RLE stream, reset in the middle of a GEMM, the LOAD overlap
(multi-block GEMMs with K <= k_max / 2, stalls, ABORT while the next block loads) and bad
parameters. A
second, small test runs one GEMM through :func:`panacea_hdl.sim.gemm.run_gemm_sim` (the path the
``panacea`` CLI uses).
"""

from __future__ import annotations

import numpy as np
import pytest

from golden_model.aqs_gemm import aqs_gemm, choose_r
from golden_model.config import PRESETS
from golden_model.cycle_model import COUNTERS, predict
from golden_model.workloads import random_weights, skewed_activations
from panacea_hdl.sim.gemm import run_bench, run_gemm_sim
from panacea_hdl.sim.runner import SIMULATORS

CONFIG = PRESETS["tiny"]
CASES = ["modes_skewed", "all_r_and_uniform", "random_stalls", "malformed_rle",
         "reset_mid_gemm", "load_overlap", "bad_params"]


@pytest.mark.parametrize("sim", SIMULATORS)
def test_top_bench(sim):
    run_bench(CONFIG, sim, testcase=CASES, seed=1, test_module="tb_top")


@pytest.mark.parametrize("name", ["tiny_t3", "tiny_t4"])
@pytest.mark.parametrize("sim", SIMULATORS)
def test_top_bench_tiles_per_pass(sim, name):
    """Three and four tiles per pass (one DWO of G = 2 rows for 6 or 8 rows): every case of the
    bench, bit-exact and, without stalls, cycle-exact against the golden model."""
    run_bench(PRESETS[name], sim, testcase=CASES, seed=2, test_module="tb_top")


@pytest.mark.parametrize("sim", SIMULATORS)
def test_run_gemm_sim(sim):
    cfg = CONFIG
    A = skewed_activations(7, 23, seed=8)
    W = random_weights(23, 6, seed=8)
    z, L = 104, 4
    r = choose_r(A, L)
    Y_rtl, counters = run_gemm_sim(cfg, A, W, z, mode="aqs", L=L, r=r, sim=sim)
    Y, plan = aqs_gemm(A, W, z, mode="aqs", L=L, r=r, cfg=cfg)
    np.testing.assert_array_equal(Y_rtl, Y)
    assert counters == {k: predict(plan, W.shape[1], cfg).counters[k] for k in COUNTERS}


@pytest.mark.slow
@pytest.mark.parametrize("stalls", [False, True])
def test_run_gemm_sim_default_preset(stalls):
    """The default preset on Verilator, the built-in workload in all modes (the CLI's main job)."""
    from golden_model.workloads import builtin_workload

    cfg = PRESETS["default"]
    A, W, z = builtin_workload()
    L = 4
    r = choose_r(A, L)
    for mode in ("dense", "sibia", "aqs"):
        Y_rtl, counters = run_gemm_sim(cfg, A, W, z, mode=mode, L=L, r=r, sim="verilator",
                                       stalls=stalls, seed=3)
        Y, plan = aqs_gemm(A, W, z, mode=mode, L=L, r=r, cfg=cfg)
        np.testing.assert_array_equal(Y_rtl, Y)
        pred = predict(plan, W.shape[1], cfg).counters
        for k in COUNTERS:
            if stalls and k == "cycles":
                assert counters[k] >= pred[k]
            else:
                assert counters[k] == pred[k], k
