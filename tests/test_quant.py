"""Quantization API (golden_model.quant): error bounds, per-channel weights, exact GEMM, validation."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from golden_model.aqs_gemm import COMPENSATIONS, MODES, reference_gemm
from golden_model.config import preset
from golden_model.quant import (ActQuant, calibrate_activation, calibrate_activation_symmetric,
                                dequantize_activation, dequantize_output, quantize_activation,
                                quantize_weight, quantized_linear)

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def float_matrices(draw, max_rows=12, max_cols=16):
    """Float matrices with a random offset and spread (skewed, shifted, tiny, huge)."""
    m = draw(st.integers(1, max_rows))
    k = draw(st.integers(1, max_cols))
    base = draw(hnp.arrays(np.float64, (m, k),
                           elements=st.floats(-1.0, 1.0, allow_nan=False, allow_subnormal=False)))
    spread = draw(st.sampled_from([1e-3, 1.0, 7.5, 300.0]))
    offset = draw(st.floats(-2.0, 2.0))
    return (base + offset) * spread


def _tol(x, s):
    return s / 2 + 1e-9 * (np.abs(x) + s)


# ---- activations -----------------------------------------------------------------------------
@SETTINGS
@given(x=float_matrices(), per_token=st.booleans())
def test_minmax_error_bounded_by_half_scale(x, per_token):
    q = calibrate_activation(x, per_token=per_token)
    A = quantize_activation(x, q)
    assert A.dtype == np.uint8 and A.shape == x.shape
    err = np.abs(dequantize_activation(A, q) - x)
    s = q.scale[:, None] if per_token else q.scale
    assert (err <= _tol(x, s)).all()
    # the range includes 0 and the grid reaches both ends
    lo = np.minimum(x.min(axis=1 if per_token else None), 0)
    hi = np.maximum(x.max(axis=1 if per_token else None), 0)
    span = hi - lo
    np.testing.assert_allclose(np.where(span > 0, span / 255, 1.0), q.scale, rtol=1e-12)


@SETTINGS
@given(x=float_matrices(max_rows=20, max_cols=20), p=st.sampled_from([90.0, 99.0, 99.99]))
def test_percentile_error_bounded_inside_range(x, p):
    q = calibrate_activation(x, method="percentile", percentile=p)
    lo = min(np.percentile(x, 100 - p), 0.0)
    hi = max(np.percentile(x, p), 0.0)
    inside = (x >= lo) & (x <= hi)
    err = np.abs(dequantize_activation(quantize_activation(x, q), q) - x)
    assert (err[inside] <= _tol(x[inside], q.scale)).all()
    # outside the range, values clamp to the nearest end of the grid
    A = quantize_activation(x, q)
    assert (A[x > hi + q.scale] == 255).all() and (A[x < lo - q.scale] == 0).all()


@SETTINGS
@given(x=float_matrices(), per_token=st.booleans())
def test_real_zero_is_exact(x, per_token):
    x = x.copy()
    x[:, 0] = 0.0
    q = calibrate_activation(x, per_token=per_token)
    A = quantize_activation(x, q)
    assert (A[:, 0] == q.zero_point).all()
    assert (dequantize_activation(A, q)[:, 0] == 0.0).all()


@pytest.mark.parametrize("c", [0.0, 3.25, -1e-3])
@pytest.mark.parametrize("per_token", [False, True])
def test_constant_input(c, per_token):
    x = np.full((3, 5), c)
    q = calibrate_activation(x, per_token=per_token)
    assert np.all(np.asarray(q.scale) > 0) and np.all(np.isfinite(q.scale))
    xq = dequantize_activation(quantize_activation(x, q), q)
    # constant c != 0: range [min(c,0), max(c,0)] with c at an end of the grid -> exact
    np.testing.assert_allclose(xq, x, atol=1e-12 + abs(c) * 1e-9)


def test_per_token_rows_independent():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 10)) * np.array([1, 10, 100, 0.1, 5, 2])[:, None]
    q = calibrate_activation(x, per_token=True)
    for m in range(6):
        qm = calibrate_activation(x[m:m + 1])
        assert q.scale[m] == pytest.approx(qm.scale, rel=1e-15)
        assert q.zero_point[m] == qm.zero_point


@SETTINGS
@given(x=float_matrices())
def test_symmetric_activation(x):
    q = calibrate_activation_symmetric(x)
    amax = np.abs(x).max()
    assert q.zero_point == 128
    assert q.scale == pytest.approx(amax / 127 if amax > 0 else 1.0, rel=1e-12)
    A = quantize_activation(x, q)
    assert A.min() >= 1
    err = np.abs(dequantize_activation(A, q) - x)
    assert (err <= _tol(x, q.scale)).all()


# ---- weights ---------------------------------------------------------------------------------
@SETTINGS
@given(w=float_matrices(max_rows=16, max_cols=10), zero_col=st.booleans())
def test_weight_quant_range_and_per_channel(w, zero_col):
    w = w.copy()
    if zero_col:
        w[:, 0] = 0.0
    W, s = quantize_weight(w)
    assert W.dtype == np.int8 and W.shape == w.shape and s.shape == (w.shape[1],)
    assert W.min() >= -127 and W.max() <= 127
    assert np.isfinite(s).all() and (s > 0).all()
    amax = np.abs(w).max(axis=0)
    for n in range(w.shape[1]):
        if amax[n] == 0:
            assert (W[:, n] == 0).all()
        else:
            assert np.abs(W[:, n]).max() == 127
            assert s[n] == pytest.approx(amax[n] / 127, rel=1e-12)
    assert (np.abs(W * s - w) <= _tol(w, s)).all()


def test_weight_scale_is_per_output_channel():
    rng = np.random.default_rng(2)
    w = rng.normal(size=(12, 5))
    W, s = quantize_weight(w)
    w2 = w.copy()
    w2[:, 3] *= 1000.0
    W2, s2 = quantize_weight(w2)
    np.testing.assert_array_equal(W, W2)
    np.testing.assert_allclose(s2[[0, 1, 2, 4]], s[[0, 1, 2, 4]], rtol=0)
    assert s2[3] == pytest.approx(1000.0 * s[3])


def test_dequantize_output_broadcasts():
    Y = np.array([[1, -2, 3], [4, 5, -6]], dtype=np.int32)
    sw = np.array([1.0, 0.5, 2.0])
    np.testing.assert_allclose(dequantize_output(Y, 0.25, sw),
                               [[0.25, -0.25, 1.5], [1.0, 0.625, -3.0]])
    np.testing.assert_allclose(dequantize_output(Y, np.array([1.0, 2.0]), sw),
                               [[1.0, -1.0, 6.0], [8.0, 5.0, -24.0]])
    with pytest.raises(ValueError, match="w_scale"):
        dequantize_output(Y, 1.0, np.ones(2))
    with pytest.raises(ValueError, match="act_scale"):
        dequantize_output(Y, np.ones(3), sw)


# ---- quantized_linear ------------------------------------------------------------------------
def _int_ref(A, W, z):
    return (A.astype(np.int64) - np.reshape(z, (-1, 1))) @ W.astype(np.int64)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=float_matrices(max_rows=11, max_cols=20), n=st.integers(1, 6),
       L=st.sampled_from([3, 4, 5]), seed=st.integers(0, 2 ** 16), symmetric=st.booleans())
def test_quantized_linear_exact_all_modes(x, n, L, seed, symmetric):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(x.shape[1], n)) * rng.uniform(0.01, 3.0, size=n)
    b = rng.normal(size=n)
    cfg = preset("tiny")
    for mode in MODES:
        for comp in COMPENSATIONS:
            y, info = quantized_linear(x, w, b, mode=mode, L=L, cfg=cfg, compensation=comp,
                                       symmetric=symmetric)
            A, W, z = info["A"], info["W"], info["z"]
            assert z == (128 if symmetric else calibrate_activation(x).zero_point)
            np.testing.assert_array_equal(A, quantize_activation(x, info["act"]))
            np.testing.assert_array_equal(W, quantize_weight(w)[0])
            np.testing.assert_array_equal(info["Y"], reference_gemm(A, W, z))
            np.testing.assert_array_equal(info["Y"], _int_ref(A, W, z))
            xq = dequantize_activation(A, info["act"])
            wq = W * info["w_scale"]
            np.testing.assert_allclose(y, xq @ wq + b, rtol=1e-9, atol=1e-9 * np.abs(y).max())


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=float_matrices(max_rows=13, max_cols=12), seed=st.integers(0, 2 ** 16),
       mode=st.sampled_from(MODES), comp=st.sampled_from(COMPENSATIONS))
def test_quantized_linear_per_token_exact(x, seed, mode, comp):
    w = np.random.default_rng(seed).normal(size=(x.shape[1], 3))
    act = calibrate_activation(x, per_token=True)
    ys = []
    for strategy in ("fold", "group"):
        y, info = quantized_linear(x, w, act=act, mode=mode, compensation=comp,
                                   cfg=preset("default"), per_token_gemm=strategy)
        np.testing.assert_array_equal(info["Y"], _int_ref(info["A"], info["W"], act.zero_point))
        ys.append(y)
    np.testing.assert_array_equal(ys[0], ys[1])


def test_quantized_linear_accuracy_bound():
    rng = np.random.default_rng(5)
    x = rng.normal(0.4, 1.0, size=(16, 48))
    w = rng.normal(size=(48, 8))
    y, info = quantized_linear(x, w)
    wq = info["W"] * info["w_scale"]
    # x w - xq wq = x (w - wq) + (x - xq) wq, each factor bounded by half a step
    bound = np.abs(x) @ np.broadcast_to(info["w_scale"] / 2, w.shape) \
        + (info["act"].scale / 2) * np.abs(wq).sum(axis=0)
    assert (np.abs(y - x @ w) <= bound * (1 + 1e-9)).all()
    assert np.abs(y - x @ w).max() < 0.05 * np.abs(x @ w).max()


def test_explicit_r_is_used():
    rng = np.random.default_rng(6)
    x, w = rng.normal(size=(8, 16)), rng.normal(size=(16, 4))
    _, info = quantized_linear(x, w, r=3, L=4)
    assert info["r"] == 3
    np.testing.assert_array_equal(info["Y"], reference_gemm(info["A"], info["W"], info["z"]))


# ---- validation ------------------------------------------------------------------------------
GOOD = np.ones((2, 3))
BAD = [
    (np.ones((2, 3), dtype=np.int32), "float"),
    (np.array([[1.0, np.nan, 0.0]]), "non-finite"),
    (np.array([[1.0, np.inf]]), "non-finite"),
    (np.ones(3), "2-D"),
    (np.ones((2, 2, 2)), "2-D"),
    (np.ones((0, 3)), "empty"),
]


@pytest.mark.parametrize("bad,msg", BAD)
def test_bad_inputs_raise(bad, msg):
    q = ActQuant(0.1, 3)
    with pytest.raises(ValueError, match=msg):
        calibrate_activation(bad)
    with pytest.raises(ValueError, match=msg):
        calibrate_activation_symmetric(bad)
    with pytest.raises(ValueError, match=msg):
        quantize_activation(bad, q)
    with pytest.raises(ValueError, match=msg):
        quantize_weight(bad)
    with pytest.raises(ValueError, match=f"x .*{msg}"):
        quantized_linear(bad, np.ones((3, 2)))
    with pytest.raises(ValueError, match=f"w .*{msg}"):
        quantized_linear(GOOD, bad)


def test_other_validation():
    with pytest.raises(ValueError, match="method"):
        calibrate_activation(GOOD, method="mse")
    with pytest.raises(ValueError, match="percentile"):
        calibrate_activation(GOOD, method="percentile", percentile=30)
    with pytest.raises(ValueError, match="scale"):
        ActQuant(-1.0, 3)
    with pytest.raises(ValueError, match="zero_point"):
        ActQuant(1.0, 256)
    with pytest.raises(ValueError, match="zero_point"):
        ActQuant(1.0, 2.0)
    with pytest.raises(ValueError, match="rows"):
        quantize_activation(GOOD, ActQuant(np.ones(3), np.zeros(3, dtype=int)))
    with pytest.raises(ValueError, match="K must agree"):
        quantized_linear(GOOD, np.ones((4, 2)))
    with pytest.raises(ValueError, match="b must"):
        quantized_linear(GOOD, np.ones((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match="mode"):
        quantized_linear(GOOD, np.ones((3, 2)), mode="fast")
    with pytest.raises(ValueError, match="split"):
        quantized_linear(GOOD, np.ones((3, 2)), L=7)
    with pytest.raises(ValueError, match="uint8"):
        dequantize_activation(np.ones((2, 2)), ActQuant(1.0, 0))
