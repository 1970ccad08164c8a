"""Host-side tiling (golden model): GEMMs beyond one run of the core are cut, computed
exactly and accounted tile by tile."""

import numpy as np
import pytest

from golden_model import config as config_mod
from golden_model import tiling
from golden_model.aqs_gemm import aqs_gemm, choose_r, reference_gemm
from golden_model.config import DIM_MAX, K_ACC_MAX, ConfigError, PanaceaConfig, preset
from golden_model.cycle_model import COUNTERS, predict
from golden_model.tiling import plan_tiles, predict_gemm, tiled_gemm
from golden_model.workloads import random_weights, skewed_activations

TINY = preset("tiny")


def _plain_product(A, W, z):
    """(A - z) @ W with Python integers (no numpy BLAS, no slicing)."""
    A = A.astype(object) - z
    return (A.dot(W.astype(object))).astype(np.int64)


@pytest.mark.parametrize("mode", ["dense", "sibia", "aqs"])
@pytest.mark.parametrize("K", [64, 65, 150, 200])
def test_k_tiles_sum_exactly(mode, K):
    A = skewed_activations(9, K, seed=K)
    W = random_weights(K, 6, seed=K)
    r = choose_r(A, 4)
    tg = tiled_gemm(A, W, 101, mode=mode, L=4, r=r, cfg=TINY)
    assert np.array_equal(tg.Y, _plain_product(A, W, 101))
    assert len(tg.runs) == -(-K // TINY.k_max)
    assert all(run.tile.k1 - run.tile.k0 <= TINY.k_max for run in tg.runs)
    # the K slices cover 0..K once, in order, near-equal
    bounds = [(run.tile.k0, run.tile.k1) for run in tg.runs]
    assert bounds[0][0] == 0 and bounds[-1][1] == K
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    sizes = [b - a for a, b in bounds]
    assert max(sizes) - min(sizes) <= 1
    # each tile is an ordinary run of the core: golden result and prediction of its own
    for run in tg.runs:
        t = run.tile
        Yt, plan = aqs_gemm(A[:, t.k0:t.k1], W[t.k0:t.k1], 101, mode=mode, L=4, r=r, cfg=TINY)
        assert np.array_equal(run.Y, Yt)
        assert run.prediction.counters == predict(plan, 6, TINY).counters
    # the GEMM's counters are the tiles' sums
    for k in COUNTERS:
        assert tg.prediction.counters[k] == sum(run.prediction.counters[k] for run in tg.runs)


def test_fitting_gemm_is_one_tile_identical_to_the_plain_model():
    A = skewed_activations(10, 40, seed=1)
    W = random_weights(40, 9, seed=1)
    tg = tiled_gemm(A, W, 100, mode="aqs", L=4, r=choose_r(A, 4), cfg=TINY)
    Y, plan = aqs_gemm(A, W, 100, mode="aqs", L=4, r=choose_r(A, 4), cfg=TINY)
    assert len(tg.runs) == 1 and np.array_equal(tg.Y, Y)
    assert tg.prediction.to_dict() == predict(plan, 9, TINY).to_dict()
    assert tg.stats == plan.stats()


def test_m_and_n_beyond_the_dim_registers_are_tiled(monkeypatch):
    # shrink the DIM registers to 5 bits (31) so the test stays small; tiles follow the limit
    monkeypatch.setattr(tiling, "DIM_MAX", 31)
    A = skewed_activations(70, 20, seed=2)
    W = random_weights(20, 45, seed=2)
    tg = tiled_gemm(A, W, 99, mode="aqs", L=4, r=choose_r(A, 4), cfg=TINY)
    assert np.array_equal(tg.Y, reference_gemm(A, W, 99))
    m_cuts = sorted({(r.tile.m0, r.tile.m1) for r in tg.runs})
    n_cuts = sorted({(r.tile.n0, r.tile.n1) for r in tg.runs})
    # M cut at multiples of the pass height (4 rows), N at multiples of the columns (4)
    assert m_cuts == [(0, 28), (28, 56), (56, 70)]
    assert n_cuts == [(0, 28), (28, 45)]
    assert all(max(r.tile.m1 - r.tile.m0, r.tile.n1 - r.tile.n0) <= 31 for r in tg.runs)
    # statistics count every activation once, whatever the column tiling
    assert tg.stats["vectors"] == sum(r.plan.vec_skip.size for r in tg.runs if r.tile.n0 == 0)


def test_real_dim_limit_cuts_a_long_m():
    M = DIM_MAX + 10
    A = np.full((M, 3), 7, dtype=np.uint8)
    W = np.ones((3, 2), dtype=np.int8)
    tiles = plan_tiles(M, 3, 2, TINY)
    assert [(t.m0, t.m1) for t in tiles] == [(0, 65532), (65532, M)]
    Y = tiled_gemm(A, W, 5, mode="dense", L=4, r=0, cfg=TINY).Y
    assert (Y == 6).all() and Y.shape == (M, 2)


def test_predict_gemm_matches_the_tiled_gemm():
    A = skewed_activations(13, 150, seed=4)
    W = random_weights(150, 11, seed=4)
    r = choose_r(A, 4)
    pred, stats, n = predict_gemm(A, 11, mode="aqs", L=4, r=r, cfg=TINY)
    tg = tiled_gemm(A, W, 100, mode="aqs", L=4, r=r, cfg=TINY)
    assert n == len(tg.runs) == 3
    assert pred.to_dict() == tg.prediction.to_dict() and stats == tg.stats


def test_limits_come_from_the_registers():
    assert DIM_MAX == 2 ** config_mod.DIM_BITS - 1 == 65535
    PanaceaConfig(k_max=DIM_MAX)                       # the largest k_max DIM_K can hold
    with pytest.raises(ConfigError, match="k_max"):
        PanaceaConfig(k_max=DIM_MAX + 1)
    with pytest.raises(ValueError, match="too long"):
        plan_tiles(1, K_ACC_MAX + 1, 1, TINY)
    with pytest.raises(ValueError, match="M must be >= 1"):
        plan_tiles(0, 4, 1, TINY)


def test_csr_dimension_registers_have_the_declared_width():
    from panacea_hdl import regmap
    from panacea_hdl.rtl.csr import CSR

    from amaranth.hdl import Fragment

    csr = CSR(config=TINY)
    Fragment.get(csr, None)                  # elaborated (and so not an unused component)
    assert regmap.DIM_MASK == DIM_MAX
    assert {len(csr.dim_m), len(csr.dim_k), len(csr.dim_n)} == {config_mod.DIM_BITS}
