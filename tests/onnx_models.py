"""Small ONNX models built with ``onnx.helper`` for the tests, and their numpy forward passes.

Each builder returns ``(model, weights)``: the ``onnx.ModelProto`` and the float arrays it was
made from, so that a test can compute what the graph should do without onnxruntime.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

OPSET = 17


def _model(nodes, inputs, outputs, inits, opset=OPSET):
    g = h.make_graph(nodes, "g", inputs, outputs, [nh.from_array(v, k) for k, v in inits.items()])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def mlp(K=16, H=32, N=8, seed=0):
    """``y = Gemm(relu(x @ W1 + b1), W2, b2)``; x is [batch, K] float32."""
    rng = np.random.default_rng(seed)
    w = {"W1": rng.normal(0, 0.3, (K, H)).astype(np.float32),
         "b1": rng.normal(0, 0.1, H).astype(np.float32),
         "W2": rng.normal(0, 0.3, (H, N)).astype(np.float32),
         "b2": rng.normal(0, 0.1, N).astype(np.float32)}
    nodes = [h.make_node("MatMul", ["x", "W1"], ["h0"], name="fc1"),
             h.make_node("Add", ["h0", "b1"], ["h1"]),
             h.make_node("Relu", ["h1"], ["h2"]),
             h.make_node("Gemm", ["h2", "W2", "b2"], ["y"], name="fc2")]
    m = _model(nodes, [h.make_tensor_value_info("x", T.FLOAT, ["batch", K])],
               [h.make_tensor_value_info("y", T.FLOAT, ["batch", N])], w)
    return m, w


def mlp_forward(w, x):
    """numpy forward of :func:`mlp`: ``(fc1 input, fc2 input, y)``."""
    h2 = np.maximum(x @ w["W1"] + w["b1"], 0)
    return x, h2, h2 @ w["W2"] + w["b2"]


def attention(D=16, seed=1):
    """One attention head: q = MatMul, k = Gemm(transB), v = MatMul(Transpose(W)), scores and
    context MatMuls of computed tensors, output Gemm with alpha 0.5 and beta 2."""
    rng = np.random.default_rng(seed)
    w = {"Wq": rng.normal(0, 0.3, (D, D)).astype(np.float32),
         "WkT": rng.normal(0, 0.3, (D, D)).astype(np.float32),      # (out, in): transB
         "WvT": rng.normal(0, 0.3, (D, D)).astype(np.float32),      # Transpose node
         "Wo": rng.normal(0, 0.3, (D, D)).astype(np.float32),
         "bo": rng.normal(0, 0.1, D).astype(np.float32),
         "scale": np.array(1 / np.sqrt(D), np.float32)}
    nodes = [h.make_node("MatMul", ["x", "Wq"], ["q"], name="q"),
             h.make_node("Gemm", ["x", "WkT"], ["k"], name="k", transB=1),
             h.make_node("Transpose", ["WvT"], ["Wv"], perm=[1, 0]),
             h.make_node("MatMul", ["x", "Wv"], ["v"], name="v"),
             h.make_node("Transpose", ["k"], ["kT"], perm=[1, 0]),
             h.make_node("MatMul", ["q", "kT"], ["s0"], name="scores"),
             h.make_node("Mul", ["s0", "scale"], ["s1"]),
             h.make_node("Softmax", ["s1"], ["p"], axis=-1),
             h.make_node("MatMul", ["p", "v"], ["ctx"], name="context"),
             h.make_node("Gemm", ["ctx", "Wo", "bo"], ["y"], name="out", alpha=0.5, beta=2.0)]
    m = _model(nodes, [h.make_tensor_value_info("x", T.FLOAT, ["T", D])],
               [h.make_tensor_value_info("y", T.FLOAT, ["T", D])], w)
    return m, w


def attention_forward(w, x):
    """numpy forward of :func:`attention`: dict of the layer inputs and ``y``."""
    q, k, v = x @ w["Wq"], x @ w["WkT"].T, x @ w["WvT"].T
    s = (q @ k.T) * w["scale"]
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    ctx = p @ v
    return {"q": x, "k": x, "v": x, "out": ctx, "y": 0.5 * ctx @ w["Wo"] + 2.0 * w["bo"]}


def qdq_matmul(K=24, N=8, seed=2, act_dtype=np.uint8):
    """QuantizeLinear/DequantizeLinear on the activation (per tensor) and DequantizeLinear on
    int8 weights (per output channel, axis 1) around a MatMul."""
    rng = np.random.default_rng(seed)
    Wq = rng.integers(-127, 128, (K, N)).astype(np.int8)
    zp = np.array(37 if act_dtype == np.uint8 else -20, act_dtype)
    w = {"a_scale": np.array(0.02, np.float32), "a_zp": zp,
         "Wq": Wq, "w_scale": rng.uniform(0.001, 0.01, N).astype(np.float32),
         "w_zp": np.zeros(N, np.int8)}
    nodes = [h.make_node("QuantizeLinear", ["x", "a_scale", "a_zp"], ["xq"]),
             h.make_node("DequantizeLinear", ["xq", "a_scale", "a_zp"], ["xd"]),
             h.make_node("DequantizeLinear", ["Wq", "w_scale", "w_zp"], ["Wd"], axis=1),
             h.make_node("MatMul", ["xd", "Wd"], ["y"], name="qmm")]
    m = _model(nodes, [h.make_tensor_value_info("x", T.FLOAT, ["M", K])],
               [h.make_tensor_value_info("y", T.FLOAT, ["M", N])], w)
    return m, w


def matmul_integer(K=20, N=6, seed=3):
    """``MatMulInteger(A uint8 input, B int8 constant, a_zero_point 9, b_zero_point 0)``."""
    rng = np.random.default_rng(seed)
    w = {"B": rng.integers(-127, 128, (K, N)).astype(np.int8),
         "a_zp": np.array(9, np.uint8), "b_zp": np.array(0, np.int8)}
    nodes = [h.make_node("MatMulInteger", ["A", "B", "a_zp", "b_zp"], ["Y"], name="mmi")]
    m = _model(nodes, [h.make_tensor_value_info("A", T.UINT8, ["M", K])],
               [h.make_tensor_value_info("Y", T.INT32, ["M", N])], w)
    return m, w


def dynamic_weight():
    """A MatMul whose weight is a graph input."""
    nodes = [h.make_node("MatMul", ["x", "W"], ["y"], name="dyn")]
    return _model(nodes, [h.make_tensor_value_info("x", T.FLOAT, ["M", 4]),
                          h.make_tensor_value_info("W", T.FLOAT, [4, 3])],
                  [h.make_tensor_value_info("y", T.FLOAT, ["M", 3])], {})


def unsupported_weight_op():
    """A MatMul whose constant weight is computed by a Mul (not on the supported path)."""
    rng = np.random.default_rng(4)
    w = {"Wa": rng.normal(size=(4, 3)).astype(np.float32), "two": np.array(2.0, np.float32)}
    nodes = [h.make_node("Mul", ["Wa", "two"], ["W"]),
             h.make_node("MatMul", ["x", "W"], ["y"], name="mm")]
    return _model(nodes, [h.make_tensor_value_info("x", T.FLOAT, ["M", 4])],
                  [h.make_tensor_value_info("y", T.FLOAT, ["M", 3])], w)


def dynamic_quant_matmul_integer(K=20, N=6, seed=5):
    """onnxruntime's dynamic quantization: ``DynamicQuantizeLinear(x)`` -> ``MatMulInteger``
    with the run-time zero point -> ``Cast`` -> scale by ``x_scale * w_scale``."""
    rng = np.random.default_rng(seed)
    w = {"B": rng.integers(-127, 128, (K, N)).astype(np.int8),
         "w_scale": np.array(0.01, np.float32)}
    nodes = [h.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
             h.make_node("MatMulInteger", ["xq", "B", "xz"], ["Yi"], name="dmmi"),
             h.make_node("Cast", ["Yi"], ["Yf"], to=T.FLOAT),
             h.make_node("Mul", ["xs", "w_scale"], ["s"]),
             h.make_node("Mul", ["Yf", "s"], ["y"])]
    return _model(nodes, [h.make_tensor_value_info("x", T.FLOAT, ["M", K])],
                  [h.make_tensor_value_info("y", T.FLOAT, ["M", N])], w), w


def qlinear_matmul(K=16, N=5, seed=6):
    """``QLinearMatMul`` on a uint8 input (scale 0.05, zero point 100) and int8 weights with a
    per-column scale, output uint8 (scale 0.5, zero point 128)."""
    rng = np.random.default_rng(seed)
    w = {"a_s": np.array(0.05, np.float32), "a_z": np.array(100, np.uint8),
         "B": rng.integers(-127, 128, (K, N)).astype(np.int8),
         "b_s": rng.uniform(0.005, 0.02, N).astype(np.float32), "b_z": np.zeros(N, np.int8),
         "y_s": np.array(0.5, np.float32), "y_z": np.array(128, np.uint8)}
    nodes = [h.make_node("QLinearMatMul", ["A", "a_s", "a_z", "B", "b_s", "b_z", "y_s", "y_z"],
                         ["Y"], name="qlm")]
    return _model(nodes, [h.make_tensor_value_info("A", T.UINT8, ["M", K])],
                  [h.make_tensor_value_info("Y", T.UINT8, ["M", N])], w), w
