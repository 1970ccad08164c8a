"""cocotb runs of the baseline variants (``tiny_sibia``, ``tiny_dense``) on Icarus and Verilator.

One GEMM each through :func:`panacea_hdl.sim.gemm.run_gemm_sim` — the path ``panacea gemm --sim``
uses — with the same bench (``sim_tests/benches/tb_top.py``) as the Panacea core: the result
must equal the integer reference bit for bit and every counter, ``cycles`` included, the
cycle model's prediction for the variant.
"""

from __future__ import annotations

import numpy as np
import pytest

from golden_model.aqs_gemm import aqs_gemm, choose_r, reference_gemm
from golden_model.config import PRESETS
from golden_model.cycle_model import COUNTERS, predict
from golden_model.workloads import random_weights, skewed_activations
from panacea_hdl.sim.gemm import run_gemm_sim
from panacea_hdl.sim.runner import SIMULATORS


@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("name", ["tiny_sibia", "tiny_dense"])
def test_run_gemm_sim(name, sim):
    cfg = PRESETS[name]
    mode = cfg.modes[-1]                 # sibia on tiny_sibia, dense on tiny_dense
    A = skewed_activations(7, 23, seed=8)
    W = random_weights(23, 6, seed=8)
    z, L = 104, 4
    r = choose_r(A, L)                   # written to RVAL; the baselines must ignore it
    Y_rtl, counters = run_gemm_sim(cfg, A, W, z, mode=mode, L=L, r=r, sim=sim)
    np.testing.assert_array_equal(Y_rtl, reference_gemm(A, W, z))
    _, plan = aqs_gemm(A, W, z, mode=mode, L=L, r=r, cfg=cfg)
    assert counters == {k: predict(plan, W.shape[1], cfg).counters[k] for k in COUNTERS}


@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("name", ["tiny_sibia", "tiny_dense"])
def test_load_overlap_bench(name, sim):
    """The LOAD overlap case of the core's bench (``tb_top.load_overlap``) on the baselines:
    multi-block GEMMs with K <= k_max / 2 in every mode of the variant, cycle-exact; with
    stalls; ABORT while the next block loads."""
    from panacea_hdl.sim.gemm import run_bench
    run_bench(PRESETS[name], sim, testcase=["load_overlap"], seed=3, test_module="tb_top")
