"""The activation buffer on the generated Verilog: the compiled Verilator host (fast path) and
the cocotb host on Icarus, bit- and cycle-exact against the golden model (``tiny_ab`` and its
baselines, the same 512 bytes each): several column blocks replayed, every mode of each
variant, stalls, and a GEMM the host blocks along M (the CLI's path, ``run_gemm_job``)."""

from __future__ import annotations

import numpy as np
import pytest

from golden_model.aqs_gemm import choose_r, reference_gemm
from golden_model.config import PRESETS
from golden_model.streams import unpack_y
from golden_model.workloads import random_weights, skewed_activations
from panacea_hdl.flows.jobs import run_gemm_job
from panacea_hdl.sim.fastsim import run_job_fast
from panacea_hdl.sim.gemm import bench_env, build_dir, make_job, run_gemm_sim

NAMES = ("tiny_ab", "tiny_ab_sibia", "tiny_ab_dense")


def _gemm(cfg, mode, *, seed, z=104):
    # 7 rows (2 passes), K = 15, N = 9: three column blocks, two of them replayed
    A = skewed_activations(7, 15, seed=seed, center=z)
    W = random_weights(15, 9, seed=seed)
    return A, W, z, make_job(cfg, A, W, z, mode=mode, L=4, r=choose_r(A, 4))


@pytest.mark.parametrize("name", NAMES)
def test_fast_path_every_mode_exact(name):
    cfg = PRESETS[name]
    verilog, top, _ = bench_env(cfg)
    for i, mode in enumerate(cfg.modes):
        A, W, z, job = _gemm(cfg, mode, seed=1 + i)
        assert job["counters"]["abuf_reads"] == 2 * job["counters"]["abuf_writes"] > 0
        for stalls in (False, True):
            beats, counters, info = run_job_fast(cfg, job, verilog, top,
                                                 build_dir(cfg, "verilator_fast"),
                                                 stalls=stalls, seed=i)
            assert beats == job["y"], mode
            np.testing.assert_array_equal(unpack_y(beats, 7, 9, cfg), reference_gemm(A, W, z))
            exp = job["counters"]
            if stalls:
                assert counters["cycles"] >= exp["cycles"]
                counters, exp = ({k: v for k, v in c.items() if k != "cycles"}
                                 for c in (counters, exp))
            else:
                assert info["busy_cycles"] == exp["cycles"]
            assert counters == exp, (mode, stalls)


@pytest.mark.parametrize("sim", ["verilator", "icarus"])
def test_m_blocked_gemm(sim):
    """40 x 20 x 9 on tiny_ab: four row blocks of at most 12 rows (3 passes of K = 20 fit the
    73 lo beats / 146 ho words), each sending its activations once for three column blocks."""
    cfg = PRESETS["tiny_ab"]
    A = skewed_activations(40, 20, seed=3, center=90)
    W = random_weights(20, 9, seed=3)
    rep = run_gemm_job(cfg, A, W, 90, mode="aqs", L=4, r=choose_r(A, 4), sim=sim)
    np.testing.assert_array_equal(rep.Y, reference_gemm(A, W, 90))
    assert len(rep.tiles) == 4
    assert [t["m"] for t in rep.tiles] == [[0, 12], [12, 24], [24, 36], [36, 40]]
    assert rep.counters["abuf_reads"] == 2 * rep.counters["abuf_writes"]


def test_cocotb_icarus_dense_baseline():
    cfg = PRESETS["tiny_ab_dense"]
    A = skewed_activations(7, 15, seed=4, center=100)
    W = random_weights(15, 9, seed=4)
    Y, counters = run_gemm_sim(cfg, A, W, 100, mode="dense", L=4, r=0, sim="icarus")
    np.testing.assert_array_equal(Y, reference_gemm(A, W, 100))
    assert counters["abuf_reads"] == 2 * counters["abuf_writes"] == 2 * 2 * 15
