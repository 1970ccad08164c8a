"""Zero-point manipulation and distribution-based bit-slicing, checked by independent brute force."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from golden_model.aqs_gemm import COMPENSATIONS, MODES, aqs_gemm, reference_gemm, slice_plan
from golden_model.config import PanaceaConfig, preset
from golden_model.cycle_model import predict
from golden_model.dbs import choose_split, choose_split_zpm
from golden_model.quant import ActQuant, calibrate_activation, quantize_activation
from golden_model.zpm import zpm_search

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def activations(draw):
    """Skewed float activations: a bulk, a one-sided tail and a few outlier channels."""
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    m, k = draw(st.integers(1, 24)), draw(st.integers(1, 40))
    x = rng.normal(draw(st.floats(-1, 1)), 1.0, size=(m, k))
    neg = draw(st.sampled_from([1.0, 0.3, 0.05]))
    x = np.where(x > 0, x, neg * x)
    n_out = draw(st.integers(0, min(3, k)))
    if n_out:
        cols = rng.choice(k, n_out, replace=False)
        x[:, cols] *= rng.uniform(5, 40, size=n_out)
    return x


# ---- independent brute-force ZPM statistics ---------------------------------------------------
def _stats(x, s, zp, L, G):
    q = np.rint(x / s) + zp
    clipped = int(((q < 0) | (q > 255)).sum())
    A = np.clip(q, 0, 255).astype(np.int64)
    AH = A >> L
    vals, counts = np.unique(AH, return_counts=True)
    r = int(vals[np.argmax(counts)])                    # np.unique sorts: ties -> smallest
    M, K = A.shape
    skipped = 0
    for t in range(0, M, G):                             # real tiles only; pad rows hold r
        skipped += int((AH[t:t + G] == r).all(axis=0).sum())
    tiles = -(-M // G)
    return {"clip": clipped / A.size, "skip": skipped / (tiles * K), "ho_eq_r": (AH == r).mean(),
            "r": r, "clipped": clipped}


@SETTINGS
@given(x=activations(), L=st.sampled_from([3, 4, 5]), G=st.sampled_from([1, 2, 4]),
       budget=st.sampled_from([0.0, 0.001, 0.01, 0.1]),
       shifts=st.sampled_from([(-8, 7), (-3, 3), (0, 0), (-15, 15)]))
def test_zpm_budget_score_and_optimality(x, L, G, budget, shifts):
    q = calibrate_activation(x)
    res = zpm_search(x, q, L=L, group_size=G, shift_range=shifts, clip_budget=budget)
    s, z = q.scale, q.zero_point
    before = _stats(x, s, z, L, G)
    after = _stats(x, s, res.zero_point, L, G)
    assert res.zero_point == z + res.d and 0 <= res.zero_point <= 255
    assert shifts[0] <= res.d <= shifts[1]
    assert res.act == ActQuant(s, z + res.d)
    # reported numbers agree with the independent recomputation
    assert res.frac_vec_skip_before == pytest.approx(before["skip"])
    assert res.frac_vec_skip_after == pytest.approx(after["skip"])
    assert res.frac_ho_eq_r_after == pytest.approx(after["ho_eq_r"])
    assert res.clip_before == pytest.approx(before["clip"])
    assert res.clip_after == pytest.approx(after["clip"])
    assert res.r == after["r"] and res.r_before == before["r"]
    np.testing.assert_array_equal(res.A, quantize_activation(x, res.act))
    # the budget holds, the score never drops
    assert after["clipped"] <= before["clipped"] + budget * x.size + 1e-9
    assert res.frac_vec_skip_after >= res.frac_vec_skip_before
    # optimal over every feasible shift; ties resolved to the smallest |d|
    for d in range(shifts[0], shifts[1] + 1):
        if not 0 <= z + d <= 255:
            continue
        o = _stats(x, s, z + d, L, G)
        if o["clipped"] <= before["clipped"] + budget * x.size:
            assert o["skip"] <= after["skip"] + 1e-12
            if o["skip"] == after["skip"]:
                assert abs(d) >= abs(res.d)
    # rmse: unchanged unless the shift clips more values
    # same grid shifted by whole levels: the error only changes where values clip
    if after["clipped"] == before["clipped"] == 0:
        assert res.rmse_after == pytest.approx(res.rmse_before, rel=1e-12)


def test_zpm_moves_bulk_into_one_bucket():
    # levels 30..33 around z = 32 straddle the HO boundary 32 at L = 4 (HO 1 and 2).
    # Shifts that put all of them in one bucket: d in [-14, -2] or [2, 14]; the smallest |d|
    # are -2 and +2 (equal score, no clipping) and the tie goes to the smaller d: -2, r = 1.
    rng = np.random.default_rng(0)
    s, z = 0.1, 32
    x = (rng.integers(30, 34, size=(16, 32)) - z) * s
    res = zpm_search(x, ActQuant(s, z), L=4, group_size=4)
    assert res.d == -2 and res.zero_point == 30 and res.r == 1
    assert res.frac_vec_skip_before < 0.2 and res.frac_vec_skip_after == 1.0
    assert res.frac_ho_eq_r_after == 1.0
    assert res.clip_after == 0.0 and res.rmse_after == pytest.approx(res.rmse_before, rel=1e-12)


def test_zpm_budget_forbids_clipping_shift():
    s, z = 1.0, 16
    rng = np.random.default_rng(1)
    x = rng.integers(-2, 2, size=(32, 32)).astype(np.float64)   # A in 14..17: HO 0 and 1
    x[:, 0] = -16.0                                               # one column at A = 0
    # d = +2: bulk in 16..19 (HO 1), column 0 at A = 2 (HO 0): 31/32 vectors skipped, no clip.
    # d = -2: bulk in 12..15 (HO 0), column 0 clips to 0 (HO 0): all skipped, 1/32 clipped.
    res0 = zpm_search(x, ActQuant(s, z), L=4, group_size=4, clip_budget=0.0)
    assert res0.d == 2 and res0.clip_after == 0.0
    assert res0.frac_vec_skip_after == pytest.approx(31 / 32)
    res1 = zpm_search(x, ActQuant(s, z), L=4, group_size=4, clip_budget=0.05)
    assert res1.d == -2 and res1.clip_after == pytest.approx(1 / 32)
    assert res1.frac_vec_skip_after == 1.0
    # negative shifts only: with no budget nothing may clip, so d stays 0
    r_tight = zpm_search(x, ActQuant(s, z), L=4, group_size=4, shift_range=(-8, 0), clip_budget=0.0)
    assert r_tight.d == 0 and r_tight.clip_after == 0.0
    assert [c["feasible"] for c in r_tight.candidates] == [False] * 8 + [True]


def test_zpm_validation():
    x = np.random.default_rng(0).normal(size=(4, 4))
    with pytest.raises(ValueError, match="per-token"):
        zpm_search(x, calibrate_activation(x, per_token=True))
    with pytest.raises(ValueError, match="shift_range"):
        zpm_search(x, calibrate_activation(x), shift_range=(1, 3))
    with pytest.raises(ValueError, match="clip_budget"):
        zpm_search(x, calibrate_activation(x), clip_budget=-0.1)
    with pytest.raises(ValueError, match="non-finite"):
        zpm_search(np.full((2, 2), np.nan), ActQuant(1.0, 0))
    with pytest.raises(ValueError, match="float"):
        zpm_search(np.ones((2, 2), dtype=int), ActQuant(1.0, 0))


# ---- DBS ---------------------------------------------------------------------------------------
@st.composite
def uint8_acts(draw):
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    m, k = draw(st.integers(1, 20)), draw(st.integers(1, 48))
    center = draw(st.integers(0, 255))
    width = draw(st.sampled_from([1, 4, 16, 40, 256]))
    A = np.clip(rng.normal(center, width / 2, size=(m, k)).round(), 0, 255).astype(np.uint8)
    return A


@SETTINGS
@given(A=uint8_acts(), n=st.integers(1, 40), z=st.integers(0, 255), seed=st.integers(0, 999),
       name=st.sampled_from(["tiny", "default"]))
def test_dbs_exact_for_every_L_and_minimum_cost(A, n, z, seed, name):
    cfg = preset(name)
    W = np.random.default_rng(seed).integers(-127, 128, size=(A.shape[1], n)).astype(np.int8)
    ref = reference_gemm(A, W, z)
    res = choose_split(A, N=n, cfg=cfg)
    assert res.L in cfg.splits
    for L in cfg.splits:
        for mode in MODES:
            for comp in COMPENSATIONS:
                Y, _ = aqs_gemm(A, W, z, mode=mode, L=L, cfg=cfg, compensation=comp)
                np.testing.assert_array_equal(Y, ref)
    Y, _ = aqs_gemm(A, W, z, mode="aqs", L=res.L, r=res.r, cfg=cfg)
    np.testing.assert_array_equal(Y, ref)
    # minimum cost by an independent sweep of the cycle model
    costs = {}
    for L in cfg.splits:
        AH = A >> L
        r = int(np.argmax(np.bincount(AH.ravel(), minlength=1 << (8 - L))))
        p = predict(slice_plan(A, mode="aqs", L=L, r=r, cfg=cfg), n, cfg)
        costs[L] = (p.counters["cycles"], p.work["ho_products"], abs(L - 4), L)
        assert res.table[L]["cycles"] == p.counters["cycles"]
        assert res.table[L]["r"] == r
    assert costs[res.L] == min(costs.values())


def test_dbs_prefers_wide_low_slice_for_a_band():
    # values 32..63: at L = 5 every HO slice is 1 (all skipped); at L = 4 HO is 2 or 3 at random
    rng = np.random.default_rng(0)
    A = rng.integers(32, 64, size=(32, 64)).astype(np.uint8)
    cfg = preset("default")
    res = choose_split(A, N=cfg.cols, cfg=cfg)
    assert res.L == 5 and res.r == 1
    assert res.table[5]["frac_vectors_skipped"] == 1.0
    assert res.table[5]["cycles"] < res.table[4]["cycles"] <= res.table[3]["cycles"]
    assert res.table[5]["ho_products"] == 0
    # a config without L = 5 cannot pick it
    res4 = choose_split(A, N=8, cfg=cfg.replace(splits=(3, 4)))
    assert res4.L in (3, 4)


def test_dbs_tie_break_prefers_L4():
    # every value 0: all splits skip everything at the same cost -> L = 4
    A = np.zeros((8, 8), dtype=np.uint8)
    res = choose_split(A, N=4, cfg=PanaceaConfig(splits=(3, 4, 5)))
    assert len({row["cycles"] for row in res.table.values()}) == 1
    assert res.L == 4


def test_dbs_validation():
    cfg = preset("default")
    with pytest.raises(ValueError, match="uint8"):
        choose_split(np.ones((2, 2)), N=2, cfg=cfg)
    with pytest.raises(ValueError, match="N must"):
        choose_split(np.ones((2, 2), dtype=np.uint8), N=0, cfg=cfg)
    with pytest.raises(ValueError, match="mode"):
        choose_split(np.ones((2, 2), dtype=np.uint8), N=2, cfg=cfg, mode="x")


# ---- joint ZPM + DBS ---------------------------------------------------------------------------
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=activations(), n=st.integers(1, 40), name=st.sampled_from(["tiny", "default"]))
def test_joint_zpm_dbs_is_minimum_over_splits(x, n, name):
    cfg = preset(name)
    q = calibrate_activation(x)
    res = choose_split_zpm(x, q, N=n, cfg=cfg)
    costs = {}
    for L in cfg.splits:
        z = zpm_search(x, q, L=L, group_size=cfg.group_size)
        p = predict(slice_plan(z.A, mode="aqs", L=L, r=z.r, cfg=cfg), n, cfg)
        costs[L] = (p.counters["cycles"], p.work["ho_products"], abs(L - 4), L)
        assert res.table[L]["d"] == z.d and res.table[L]["cycles"] == p.counters["cycles"]
    assert costs[res.L] == min(costs.values())
    assert res.zpm.L == res.L and res.r == res.zpm.r
    np.testing.assert_array_equal(res.zpm.A, quantize_activation(x, res.zpm.act))


def test_best_shift_depends_on_split():
    # 24 consecutive levels (20..43) cannot fit one L = 4 bucket; shifts d in [-8, -4] or
    # [4, 7] put 16 of them in one bucket (which one wins depends on the sample); at L = 5 the
    # best is d = -8 (12..35: 20 levels in bucket 0).
    rng = np.random.default_rng(0)
    s, z = 0.1, 32
    x = (rng.integers(20, 44, size=(32, 64)) - z) * s
    q, cfg = ActQuant(s, z), preset("default")
    d4 = zpm_search(x, q, L=4).d
    assert d4 in (*range(-8, -3), *range(4, 8)) and zpm_search(x, q, L=5).d == -8
    joint = choose_split_zpm(x, q, N=cfg.cols, cfg=cfg)
    seq = choose_split(zpm_search(x, q, L=4).A, N=cfg.cols, cfg=cfg)
    assert joint.L == 5 and joint.table[5]["d"] == -8
    assert joint.table[5]["cycles"] < seq.table[5]["cycles"]
