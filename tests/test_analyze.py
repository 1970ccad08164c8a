"""`analyze` (backs `panacea analyze`): figures match independent recomputation; report format."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from golden_model.analyze import analyze, format_analysis
from golden_model.aqs_gemm import MODES, aqs_gemm, slice_plan
from golden_model.config import preset
from golden_model.cycle_model import predict
from golden_model.dbs import choose_split
from golden_model.zpm import zpm_search
from golden_model.quant import calibrate_activation


def _skewed(seed, m=24, k=48):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.2, 1.0, size=(m, k))
    x = np.where(x > 0, x, 0.3 * x)
    x[:, rng.choice(k, 2, replace=False)] *= 20
    return x


def _independent_A(x):
    lo, hi = min(x.min(), 0.0), max(x.max(), 0.0)
    s = (hi - lo) / 255
    z = int(np.rint(-lo / s))
    return np.clip(np.rint(x / s) + z, 0, 255).astype(np.uint8), s, z


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10 ** 6), name=st.sampled_from(["tiny", "default"]),
       L=st.sampled_from([3, 4, 5]), n=st.sampled_from([None, 1, 37]))
def test_analyze_matches_independent_figures(seed, name, L, n):
    cfg = preset(name)
    x = _skewed(seed, k=40)
    d = analyze(x, cfg=cfg, L=L, N=n)
    json.dumps(d)
    N = cfg.cols if n is None else n
    assert d["N"] == N and d["shape"] == [24, 40] and d["L"] == L
    A, s, z = _independent_A(x)
    assert d["calibration"]["zero_point"] == z
    assert d["calibration"]["scale"] == pytest.approx(s, rel=1e-12)
    AH = A >> L
    r = int(np.argmax(np.bincount(AH.ravel())))
    for mode in MODES:
        f = d["modes"][mode]
        plan = slice_plan(A, mode=mode, L=L, r=r, cfg=cfg)
        assert f["stats"] == plan.stats()
        assert f["cycles"] == predict(plan, N, cfg).counters["cycles"]
    assert d["modes"]["aqs"]["stats"]["frac_ho_eq_r"] == pytest.approx((AH == r).mean())
    assert d["modes"]["dense"]["stats"]["frac_vectors_skipped"] == 0.0
    # skipping never costs cycles: aqs and sibia are at most dense
    assert d["modes"]["aqs"]["cycles"] <= d["modes"]["dense"]["cycles"]
    assert d["modes"]["sibia"]["cycles"] <= d["modes"]["dense"]["cycles"]
    assert d["speedup"]["aqs_over_sibia"] == d["modes"]["sibia"]["cycles"] / d["modes"]["aqs"]["cycles"]
    assert d["energy_ratio"]["dense_over_aqs"] == pytest.approx(
        d["modes"]["dense"]["energy_pj"] / d["modes"]["aqs"]["energy_pj"])


def test_cycles_do_not_depend_on_weights():
    cfg = preset("default")
    x = _skewed(3)
    d = analyze(x, cfg=cfg, N=20)
    A, _, z = _independent_A(x)
    rng = np.random.default_rng(0)
    for _ in range(2):
        W = rng.integers(-127, 128, size=(x.shape[1], 20)).astype(np.int8)
        _, plan = aqs_gemm(A, W, z, mode="aqs", cfg=cfg)
        assert predict(plan, 20, cfg).counters["cycles"] == d["modes"]["aqs"]["cycles"]
    assert "weight values do not change" in d["note"]


def test_analyze_zpm_and_dbs_sections():
    cfg = preset("default")
    x = _skewed(7, m=32, k=64)
    d = analyze(x, cfg=cfg, zpm=True, dbs=True)
    json.dumps(d)
    q = calibrate_activation(x)
    zres = zpm_search(x, q, L=4, group_size=cfg.group_size)
    z = d["zpm"]
    assert z["d"] == zres.d and z["zero_point"] == q.zero_point + zres.d
    assert z["frac_vec_skip_after"] >= z["frac_vec_skip_before"]
    assert z["cycles_before"] == d["modes"]["aqs"]["cycles"]
    plan = slice_plan(zres.A, mode="aqs", L=4, r=zres.r, cfg=cfg)
    assert z["cycles_after"] == predict(plan, cfg.cols, cfg).counters["cycles"]
    b = d["dbs"]
    assert b["joint_zpm"] is True and b["L"] in cfg.splits
    # joint: a ZPM shift per split, then the cheapest split
    costs = {}
    for L in cfg.splits:
        zl = zpm_search(x, q, L=L, group_size=cfg.group_size)
        p = predict(slice_plan(zl.A, mode="aqs", L=L, r=zl.r, cfg=cfg), cfg.cols, cfg)
        costs[L] = (p.counters["cycles"], p.work["ho_products"], abs(L - 4), L)
        assert b["table"][str(L)]["d"] == zl.d
    assert b["L"] == min(costs, key=costs.get)
    assert b["cycles_after"] == min(costs.values())[0]
    assert b["cycles_after"] <= b["cycles_before"] == z["cycles_after"]
    assert b["zpm"]["d"] == b["table"][str(b["L"])]["d"]
    d2 = analyze(x, cfg=cfg, dbs=True)
    dres = choose_split(_independent_A(x)[0], N=cfg.cols, cfg=cfg)
    assert d2["dbs"]["joint_zpm"] is False and d2["dbs"]["L"] == dres.L
    assert d2["dbs"]["cycles_before"] == d2["modes"]["aqs"]["cycles"]
    text = format_analysis(d)
    for word in ("dense", "sibia", "aqs", "ZPM", "DBS (joint with ZPM)", "speedup"):
        assert word in text


def test_analyze_per_token_and_percentile():
    cfg = preset("tiny")
    x = _skewed(11, m=6, k=16).astype(np.float32)
    d = analyze(x, cfg=cfg, per_token=True, method="percentile", dbs=True)
    json.dumps(d)
    c = d["calibration"]
    assert c["per_token"] is True and 0 <= c["zero_point"]["min"] <= c["zero_point"]["max"] <= 255
    assert "per token" in format_analysis(d)


def test_analyze_validation():
    cfg = preset("default")
    x = _skewed(1)
    with pytest.raises(ValueError, match="per-token"):
        analyze(x, cfg=cfg, per_token=True, zpm=True)
    with pytest.raises(ValueError, match="not supported"):
        analyze(x, cfg=cfg.replace(splits=(3, 5)), L=4)
    tiled = analyze(np.linspace(0, 1, 200).reshape(2, 100), cfg=preset("tiny"))   # K > k_max
    assert tiled["modes"]["aqs"]["cycles"] > 0
    with pytest.raises(ValueError, match="N must"):
        analyze(x, cfg=cfg, N=0)
    with pytest.raises(ValueError, match="float"):
        analyze(x.astype(np.int64), cfg=cfg)
    with pytest.raises(ValueError, match="2-D"):
        analyze(x[0], cfg=cfg)
    with pytest.raises(ValueError, match="non-finite"):
        analyze(np.where(x > 1, np.nan, x), cfg=cfg)
