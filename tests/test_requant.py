"""Golden requantization (golden_model/requant.py): bit-exact against a plain Python big-int
transcription of the gemmlowp / TFLite formulas, and within 1 LSB of onnxruntime's
QLinearMatMul on the same uint8 / int8 data."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from golden_model.requant import (INT32_MAX, INT32_MIN, RequantParams, quantize_multiplier,
                                  requant_params, requantize, rounding_divide_by_pot, srdhm)


# ---- plain big-int reference (C semantics written out with Python ints) ------------------
def _c_div(a, b):                 # C / C++ integer division: truncates toward zero
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def ref_srdhm(a, b):
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return _c_div(ab + nudge, 1 << 31)


def ref_rdbp(x, e):
    mask = (1 << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if remainder > threshold else 0)


def ref_wrap32(x):
    return ((x + (1 << 31)) % (1 << 32)) - (1 << 31)


def ref_requant(acc, bias, mult, shift, zp):
    v = ref_rdbp(ref_srdhm(ref_wrap32(acc + bias), mult), -shift) + zp
    return min(255, max(0, v))


def ref_quantize_multiplier(scale):
    if scale == 0:
        return 0, 0
    q, e = math.frexp(scale)
    qf = int(math.floor(q * 2 ** 31 + 0.5))
    if qf == 2 ** 31:
        qf, e = qf // 2, e + 1
    return (0, 0) if e < -31 else (qf, e)


EDGE32 = [INT32_MIN, INT32_MIN + 1, -(1 << 30), -12345, -3, -2, -1, 0, 1, 2, 3, 12345,
          1 << 30, INT32_MAX - 1, INT32_MAX]


def test_srdhm_matches_bigint_on_edges_and_random():
    rng = random.Random(1)
    pairs = [(a, b) for a in EDGE32 for b in EDGE32]
    pairs += [(rng.randint(INT32_MIN, INT32_MAX), rng.randint(INT32_MIN, INT32_MAX))
              for _ in range(5000)]
    a = np.array([p[0] for p in pairs], dtype=np.int64)
    b = np.array([p[1] for p in pairs], dtype=np.int64)
    got = srdhm(a, b)
    assert got.tolist() == [ref_srdhm(x, y) for x, y in pairs]
    assert srdhm(INT32_MIN, INT32_MIN) == INT32_MAX          # the one saturating case
    assert srdhm(INT32_MIN, INT32_MAX) == INT32_MIN + 1


def test_rounding_divide_by_pot_ties_and_negatives():
    # ties round away from zero; exponent 0 is the identity
    assert rounding_divide_by_pot(np.array([5, -5, 6, -6, 7, -7]), 1).tolist() == [3, -3, 3, -3, 4, -4]
    assert rounding_divide_by_pot(np.array([2, -2, 6, -6]), 2).tolist() == [1, -1, 2, -2]
    assert rounding_divide_by_pot(np.array(EDGE32), 0).tolist() == EDGE32
    rng = random.Random(2)
    xs = EDGE32 + [rng.randint(INT32_MIN, INT32_MAX) for _ in range(3000)]
    for e in range(32):
        got = rounding_divide_by_pot(np.array(xs, dtype=np.int64), e)
        assert got.tolist() == [ref_rdbp(x, e) for x in xs], e


def test_quantize_multiplier_like_tflite():
    assert quantize_multiplier(0.5) == (1 << 30, 0)
    assert quantize_multiplier(0.25) == (1 << 30, -1)
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(2.0 ** -40) == (0, 0)           # exponent below -31
    # the fraction rounds up to 2**31: multiplier 2**30, exponent one larger
    assert quantize_multiplier(1 - 2.0 ** -40) == (1 << 30, 1)
    rng = np.random.default_rng(3)
    for s in np.concatenate([rng.random(500), 10.0 ** rng.uniform(-9, 0, 500)]):
        q, e = quantize_multiplier(s)
        assert (q, e) == ref_quantize_multiplier(float(s))
        if q:
            assert (1 << 30) <= q < (1 << 31)
            assert abs(q * 2.0 ** (e - 31) - s) <= s * 2.0 ** -30
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite and >= 0"):
            quantize_multiplier(bad)


def test_requantize_matches_bigint():
    rng = np.random.default_rng(4)
    M, N = 40, 23
    acc = rng.integers(INT32_MIN, INT32_MAX, size=(M, N), dtype=np.int64, endpoint=True)
    acc[:, :3] = rng.integers(-5000, 5000, size=(M, 3))          # values that land in range
    acc[0, :] = INT32_MIN
    acc[1, :] = INT32_MAX
    bias = rng.integers(INT32_MIN, INT32_MAX, size=N, dtype=np.int64, endpoint=True)
    bias[:4] = [0, INT32_MAX, INT32_MIN, -1]                     # wrap-around of acc + bias
    mult = rng.integers(0, INT32_MAX, size=N, dtype=np.int64, endpoint=True)
    mult[:3] = [INT32_MAX, 1 << 30, 0]
    shift = rng.integers(-31, 1, size=N)
    shift[:3] = [0, -31, -7]
    for zp in (0, 7, 128, 255):
        got = requantize(acc, bias, mult, shift, zp)
        assert got.dtype == np.uint8
        exp = [[ref_requant(int(acc[m, n]), int(bias[n]), int(mult[n]), int(shift[n]), zp)
                for n in range(N)] for m in range(M)]
        assert got.tolist() == exp
    # INT32_MIN * INT32_MIN saturation reaches requantize: acc + bias = mult = INT32_MIN is
    # impossible (mult >= 0), so the saturation path is the srdhm test's; ties through shift:
    assert requantize(np.array([[3], [-3]]), [0], [1 << 30], [-1], 10).ravel().tolist() == [11, 9]


def test_requantize_validates_inputs():
    acc = np.zeros((2, 3), dtype=np.int32)
    ok = dict(bias=[0, 0, 0], mult=[1 << 30] * 3, shift=[0, 0, 0], out_zp=0)
    requantize(acc, **ok)
    for change, msg in ((dict(shift=[1, 0, 0]), "shift must be in"),
                        (dict(shift=[-32, 0, 0]), "shift must be in"),
                        (dict(mult=[-1, 0, 0]), "mult must be >= 0"),
                        (dict(bias=[0, 0]), r"bias must have shape \(3,\)"),
                        (dict(bias=[1 << 31, 0, 0]), "bias must fit int32"),
                        (dict(out_zp=256), "out_zp"), (dict(out_zp=True), "out_zp"),
                        (dict(mult=[0.5, 0, 0]), "mult must be an integer array")):
        with pytest.raises(ValueError, match=msg):
            requantize(acc, **{**ok, **change})
    with pytest.raises(ValueError, match="acc must be 2-D"):
        requantize(np.zeros(3, dtype=np.int32), **ok)
    with pytest.raises(ValueError, match="acc must fit int32"):
        requantize(np.full((1, 3), 1 << 31), **ok)
    with pytest.raises(ValueError, match="shift must be in"):
        requant_params([0.5, 1.5])


def _qlinear_matmul_ort(A, za, W, sa, sb, sy, zy):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    M, K = A.shape
    N = W.shape[1]
    inits = [numpy_helper.from_array(np.array(sa, np.float32), "sa"),
             numpy_helper.from_array(np.array(za, np.uint8), "za"),
             numpy_helper.from_array(W.astype(np.int8), "b"),
             numpy_helper.from_array(np.asarray(sb, np.float32), "sb"),
             numpy_helper.from_array(np.zeros(np.shape(sb), np.int8), "zb"),
             numpy_helper.from_array(np.array(sy, np.float32), "sy"),
             numpy_helper.from_array(np.array(zy, np.uint8), "zy")]
    node = helper.make_node("QLinearMatMul", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["y"])
    graph = helper.make_graph([node], "qlmm", [helper.make_tensor_value_info("a", TensorProto.UINT8, [M, K])],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, [M, N])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"a": A})[0]


@pytest.mark.parametrize("per_column", [True, False])
def test_within_one_lsb_of_onnxruntime_qlinearmatmul(per_column):
    rng = np.random.default_rng(5 + per_column)
    total = 0
    for trial in range(6):
        M, K, N = int(rng.integers(1, 20)), int(rng.integers(1, 300)), int(rng.integers(1, 40))
        A = rng.integers(0, 256, size=(M, K), dtype=np.uint8)
        W = rng.integers(-127, 128, size=(K, N), dtype=np.int8)
        za, zy = int(rng.integers(0, 256)), int(rng.integers(0, 256))
        sa = np.float32(rng.uniform(0.001, 0.05))
        sb = (rng.uniform(0.0005, 0.02, N) if per_column else
              np.full(N, rng.uniform(0.0005, 0.02))).astype(np.float32)
        acc = (A.astype(np.int64) - za) @ W.astype(np.int64)
        # an output scale that spreads the results over the uint8 range (few clamps)
        spread = float(np.abs(acc * sa * sb).max()) or 1.0
        sy = np.float32(spread / 100.0)
        scales = float(sa) * sb.astype(np.float64) / float(sy)
        rq = requant_params(scales, out_zp=zy)
        ours = rq.apply(acc).astype(np.int64)
        theirs = _qlinear_matmul_ort(A, za, W, sa, sb if per_column else sb[0], sy, zy).astype(np.int64)
        assert theirs.shape == ours.shape
        assert np.abs(ours - theirs).max() <= 1, (trial, np.abs(ours - theirs).max())
        total += ours.size
    assert total > 100


def test_bias_added_before_scaling():
    """QLinearMatMul has no bias: the bias path is checked against the numpy reference
    ``round(real_scale * (acc + bias)) + zp``, within 1 LSB, and bit-exact against big ints."""
    rng = np.random.default_rng(7)
    acc = rng.integers(-200000, 200000, size=(30, 9))
    bias = rng.integers(-100000, 100000, size=9)
    scales = rng.uniform(1e-4, 1e-3, size=9)
    rq = requant_params(scales, bias=bias, out_zp=120)
    got = rq.apply(acc).astype(np.int64)
    fp = np.clip(np.round((acc + bias) * scales) + 120, 0, 255)
    assert np.abs(got - fp).max() <= 1
    assert got.tolist() == [[ref_requant(int(acc[m, n]), int(bias[n]), int(rq.mult[n]),
                                         int(rq.shift[n]), 120) for n in range(9)] for m in range(30)]
    assert isinstance(rq.columns(slice(2, 5)), RequantParams) and rq.columns(slice(2, 5)).N == 3
