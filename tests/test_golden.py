"""The golden model against a plain integer matrix product, and its formats."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from golden_model.aqs_gemm import COMPENSATIONS, MODES, aqs_gemm, choose_r, reference_gemm
from golden_model.config import PRESETS, ConfigError, PanaceaConfig, load_config
from golden_model.cycle_model import COUNTERS, predict
from golden_model.formats import (END, LIT, SKIP, RLEError, pack_rle_word, rle_decode,
                                  rle_encode, rle_word_count)
from golden_model.slicing import join_activation, join_weight, split_activation, split_weight
from golden_model.streams import pack_ho_words, host_streams, unpack_y
from golden_model.workloads import skewed_activations

CFGS = list(PRESETS.values())


def plain_gemm(A, W, z):
    """Independent reference: Python ints, no numpy matmul."""
    M, K = A.shape
    N = W.shape[1]
    out = np.zeros((M, N), dtype=np.int64)
    for m in range(M):
        for n in range(N):
            out[m, n] = sum((int(A[m, k]) - z) * int(W[k, n]) for k in range(K))
    return out


# ---- slicing ----------------------------------------------------------------------------
def test_weight_slices_are_signed_digits_and_exact():
    W = np.arange(-127, 128, dtype=np.int16).astype(np.int8)
    WH, WL = split_weight(W)
    assert WL.min() == -8 and WL.max() == 7
    assert WH.min() == -8 and WH.max() == 8
    assert (join_weight(WH, WL) == W).all()
    small = (W >= -8) & (W <= 7)
    assert (WH[small] == 0).all() and (WH[~small] != 0).all()


@pytest.mark.parametrize("L", range(2, 7))
def test_activation_slices_exact(L):
    A = np.arange(256, dtype=np.uint8)
    AH, AL = split_activation(A, L)
    assert AL.max() == (1 << L) - 1 and AH.max() == (255 >> L)
    assert (join_activation(AH, AL, L) == A).all()


def test_reference_gemm_matches_python_ints():
    rng = np.random.default_rng(7)
    A = rng.integers(0, 256, (5, 9)).astype(np.uint8)
    W = rng.integers(-127, 128, (9, 4)).astype(np.int8)
    assert (reference_gemm(A, W, 77) == plain_gemm(A, W, 77)).all()


# ---- AQS-GEMM bit-exactness ---------------------------------------------------------------
@st.composite
def gemm_case(draw):
    M = draw(st.integers(1, 19))
    K = draw(st.integers(1, 40))
    N = draw(st.integers(1, 21))
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(["uniform", "skewed", "constant", "extreme"]))
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        A = rng.integers(0, 256, (M, K))
    elif kind == "skewed":
        A = np.clip(rng.normal(draw(st.integers(0, 255)), draw(st.integers(1, 30)), (M, K)), 0, 255)
    elif kind == "constant":
        A = np.full((M, K), draw(st.integers(0, 255)))
    else:
        A = rng.choice([0, 255], (M, K))
    W = rng.choice([-127, 127], (K, N)) if draw(st.booleans()) else rng.integers(-127, 128, (K, N))
    z = draw(st.integers(0, 255))
    return A.astype(np.uint8), W.astype(np.int8), z


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=gemm_case(), cfg=st.sampled_from(CFGS), data=st.data())
def test_every_mode_and_compensation_is_bit_exact(case, cfg, data):
    A, W, z = case
    L = data.draw(st.sampled_from(cfg.splits))
    r = data.draw(st.one_of(st.none(), st.integers(0, (1 << (8 - L)) - 1)))
    ref = plain_gemm(A, W, z)
    assert (reference_gemm(A, W, z) == ref).all()
    for mode in MODES:
        for comp in COMPENSATIONS:
            Y, plan = aqs_gemm(A, W, z, mode=mode, L=L, r=r, cfg=cfg, compensation=comp)
            assert Y.dtype == np.int32 and Y.shape == ref.shape
            assert (Y == ref).all(), (mode, comp, L, r)


def test_skipping_happens_where_it_should():
    cfg = PRESETS["tiny"]
    L, r = 4, 6
    A = np.full((8, 10), (r << L) + 3, dtype=np.uint8)        # every HO slice == r
    W = np.ones((10, 3), dtype=np.int8)
    _, aqs = aqs_gemm(A, W, 100, mode="aqs", L=L, r=r, cfg=cfg)
    _, sib = aqs_gemm(A, W, 100, mode="sibia", L=L, r=r, cfg=cfg)
    _, den = aqs_gemm(A, W, 100, mode="dense", L=L, r=r, cfg=cfg)
    assert aqs.vec_skip.all() and not sib.vec_skip.any() and not den.vec_skip.any()
    A0 = np.full((8, 10), 3, dtype=np.uint8)                   # every HO slice == 0
    _, sib0 = aqs_gemm(A0, W, 0, mode="sibia", L=L, cfg=cfg)
    assert sib0.vec_skip.all()


def test_choose_r_is_most_frequent_high_slice():
    A = np.array([[0x53, 0x54, 0x55, 0x21]], dtype=np.uint8)
    assert choose_r(A, 4) == 5
    assert choose_r(np.array([[0x10, 0x20]], dtype=np.uint8), 4) == 1   # tie -> smallest


def test_runtime_compensation_skips_zero_or_r_vectors():
    cfg = PRESETS["tiny"]
    L, r = 4, 9
    A = np.array([[r << L, 5], [3, r << L]] * 2, dtype=np.uint8)   # columns mix 0 and r
    W = np.array([[3], [-7]], dtype=np.int8)
    Y, plan = aqs_gemm(A, W, 40, mode="aqs", L=L, r=r, cfg=cfg, compensation="runtime")
    assert plan.vec_skip[:2].all()
    assert (Y == plain_gemm(A, W, 40)).all()


@pytest.mark.parametrize("bad, match", [
    (lambda A, W: (A.astype(np.int16), W, 3), "uint8"),
    (lambda A, W: (A, W.astype(np.int16), 3), "int8"),
    (lambda A, W: (A, W[:-1], 3), "shape mismatch"),
    (lambda A, W: (A[0], W, 3), "2-D"),
    (lambda A, W: (A, np.full_like(W, -128), 3), "-128"),
    (lambda A, W: (A, W, 256), "zero point"),
    (lambda A, W: (A, W, 2.5), "zero point"),
])
def test_bad_inputs_raise_clear_errors(bad, match):
    A = np.zeros((3, 4), dtype=np.uint8)
    W = np.zeros((4, 2), dtype=np.int8)
    with pytest.raises(ValueError, match=match):
        aqs_gemm(*bad(A, W), mode="aqs")


def test_bad_mode_split_r():
    A = np.zeros((3, 4), dtype=np.uint8)
    W = np.zeros((4, 2), dtype=np.int8)
    with pytest.raises(ValueError, match="mode"):
        aqs_gemm(A, W, 0, mode="sparse")
    with pytest.raises(ValueError, match="split L"):
        aqs_gemm(A, W, 0, mode="aqs", L=8)
    with pytest.raises(ValueError, match="r must be"):
        aqs_gemm(A, W, 0, mode="aqs", L=4, r=16)


# ---- config -----------------------------------------------------------------------------
@pytest.mark.parametrize("kw, match", [
    ({"group_size": 0}, "group_size"), ({"pea_cols": "4"}, "pea_cols"),
    ({"splits": (4, 3)}, "increasing"), ({"splits": (1,)}, "split"),
    ({"k_max": 10**6}, "k_max"), ({"name": "has space"}, "identifier"),
    ({"num_peas": True}, "num_peas"),
    ({"tiles_per_pass": 0}, "tiles_per_pass must be in"), ({"tiles_per_pass": 1}, "tiles_per_pass"),
    ({"tiles_per_pass": -3}, "tiles_per_pass"), ({"tiles_per_pass": 2.0}, "must be an int"),
    ({"tiles_per_pass": "3"}, "must be an int"), ({"tiles_per_pass": True}, "must be an int"),
    ({"tiles_per_pass": 17}, "tiles_per_pass"),
    ({"group_size": 16, "tiles_per_pass": 3}, r"rows per pass\) must be <= 32, got 3 \* 16 = 48"),
])
def test_config_rejects_bad_parameters(kw, match):
    with pytest.raises(ConfigError, match=match):
        PanaceaConfig(**kw)


def test_config_json_round_trip(tmp_path):
    for cfg in CFGS:
        p = tmp_path / f"{cfg.name}.json"
        p.write_text(cfg.to_json())
        assert load_config(p) == cfg
    p.write_text('{"group_size": 4, "bogus": 1}')
    with pytest.raises(ConfigError, match="bogus"):
        load_config(p)


# ---- RLE ----------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(cfg=st.sampled_from(CFGS), K=st.integers(1, 80), p=st.floats(0, 1), seed=st.integers(0, 2**31))
def test_rle_round_trip_and_word_count(cfg, K, p, seed):
    rng = np.random.default_rng(seed)
    ho = rng.integers(0, 1 << cfg.ho_bits, (cfg.group_size, K))
    skip = rng.random(K) < p
    words = rle_encode(cfg, ho, skip)
    assert len(words) == rle_word_count(skip[None], cfg.max_run)[0]
    pos, vec, nxt = rle_decode(cfg, words, K)
    assert nxt == len(words)
    assert pos == list(np.flatnonzero(~skip))
    assert (vec == ho[:, ~skip].T).all()


def test_rle_escapes_long_runs():
    cfg = PRESETS["tiny"]                 # max_run = 7
    K = 20
    skip = np.ones(K, dtype=bool)
    words = rle_encode(cfg, np.zeros((cfg.group_size, K), dtype=int), skip)
    kinds = [w >> (cfg.group_size * cfg.ho_bits + cfg.rle_run_bits) for w in words]
    assert kinds == [SKIP, SKIP, END]     # 7 + 7 + 6


@pytest.mark.parametrize("mutate, match, offset", [
    (lambda c, w: w[:-1], "truncated", 2),
    (lambda c, w: [w[0] | (3 << (c.group_size * c.ho_bits + c.rle_run_bits))] + w[1:], "reserved", 0),
    (lambda c, w: w[:2] + [pack_rle_word(c, END, 0) | 1], "nonzero data", 2),
    (lambda c, w: w[:2] + [pack_rle_word(c, END, 3)], "past K", 2),
    (lambda c, w: w[:1] + [pack_rle_word(c, END, 0)], "expected K", 1),
    (lambda c, w: w[:2] + [pack_rle_word(c, LIT, 1, [0] * c.group_size)] + w[2:], "past K", 2),
    (lambda c, w: w[:1] + [pack_rle_word(c, SKIP, 0)] + w[1:], "escape run", 1),
    (lambda c, w: w[:1] + [pack_rle_word(c, SKIP, c.max_run - 1)] + w[1:], "escape run", 1),
])
def test_rle_corrupt_streams_name_the_offset(mutate, match, offset):
    cfg = PRESETS["tiny"]
    K = 4
    skip = np.array([False, True, False, True])
    words = rle_encode(cfg, np.ones((cfg.group_size, K), dtype=int), skip)
    assert len(words) == 3                 # LIT(0), LIT(1), END(1)
    with pytest.raises(RLEError, match=match) as e:
        rle_decode(cfg, mutate(cfg, list(words)), K)
    assert e.value.offset == offset
    assert f"word {offset}" in str(e.value)
    assert e.value.reason in ("truncated", "kind", "data", "skip_run", "overrun", "short")


# ---- streams and cycle model ----------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_host_streams_carry_the_gemm(mode):
    cfg = PRESETS["tiny"]
    A, W, z = skewed_activations(9, 13, seed=3), np.random.default_rng(3).integers(
        -127, 128, (13, 7)).astype(np.int8), 131
    Y, plan = aqs_gemm(A, W, z, mode=mode, cfg=cfg)
    hs = host_streams(plan, W, Y, cfg)
    assert (unpack_y(hs.y, 9, 7, cfg) == plain_gemm(A, W, z)).all()
    # the ho stream decodes back to exactly the non-skipped vectors
    i, lits = 0, 0
    for t in range(plan.tiles):
        pos, vec, i = rle_decode(cfg, hs.ho_words, 13, start=i)
        lits += len(pos)
        if t == plan.tiles - 1:
            break
    assert lits == (~plan.vec_skip).sum()
    c = predict(plan, 7, cfg).counters
    assert set(c) == set(COUNTERS)
    assert c["ext_in_words"] == len(hs.w) + len(hs.lo) + len(hs.ho)
    assert c["ext_out_words"] == len(hs.y)
    assert c["rle_words"] == len(hs.ho_words)
    # the packed beats carry exactly the words and vectors (formats.pack_bits, per pass)
    assert pack_ho_words(cfg, hs.ho_words, hs.schedule, plan.L) == hs.ho
    assert sum(s["ho"] for b in hs.schedule for s in b) == len(hs.ho)
    assert sum(s["lo"] for b in hs.schedule for s in b) == len(hs.lo)


def test_cycle_model_bounds():
    """cycles >= the ideal bound, aqs never slower than dense on the same data."""
    cfg = PRESETS["default"]
    A = skewed_activations(64, 256, seed=1)
    W = np.ones((256, 32), dtype=np.int8)
    preds = {}
    for mode in MODES:
        _, plan = aqs_gemm(A, W, 128, mode=mode, cfg=cfg)
        preds[mode] = predict(plan, 32, cfg)
        assert preds[mode].counters["cycles"] >= preds[mode].work["ideal_cycles"]
    assert preds["aqs"].counters["cycles"] <= preds["dense"].counters["cycles"]
    dense = preds["dense"]
    # dense: the DWO does every vector of both tiles: 2K per pass (+ END words)
    assert dense.work["ideal_cycles"] == (64 // cfg.rows_per_pass) * 2 * 256
    assert dense.memory["ho_bytes_rle"] >= dense.memory["ho_bytes_raw"]
