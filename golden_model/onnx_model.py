"""An ONNX model through the Panacea flow: find its weight GEMMs, capture, quantize, report.

``panacea model onnx MODEL.onnx`` (:func:`onnx_report`) does:

1. **Layers** (:func:`find_layers`): every ``MatMul`` / ``Gemm`` whose second operand is a
   constant (an initializer or ``Constant``, reached through ``Identity``, ``Cast``,
   ``Transpose`` or ``DequantizeLinear``) is a layer; its weight is brought to K x N (Gemm
   ``transB``, a ``Transpose`` on the weight path; Gemm ``alpha`` folded into the weight,
   ``beta * C`` is the bias; ``transA`` transposes the captured input). ``MatMulInteger`` and
   ``QLinearMatMul`` with a constant ``B`` are integer layers. A MatMul of two computed tensors
   (attention scores, context) is not a weight layer and is listed as such. Errors
   (:class:`OnnxModelError`): a weight that is a graph input (dynamic weight), an operator on
   the weight path other than those above, a constant weight that is not 2-D, a weight scale
   that varies along K, integer weights outside [-127, 127].
2. **Capture** (:func:`capture`): the graph's intermediate tensors (each layer's input and
   output, and for QDQ layers the ``QuantizeLinear`` input and output) become extra graph
   outputs and onnxruntime (CPU, graph optimizations off, so QDQ is not fused) runs the model
   once per input sample; rows ``(..., K) -> (-1, K)`` are stacked over the samples.
3. **Quantize** (:func:`quantize_layer`): a float layer is calibrated like the MiniLM flow
   (:mod:`golden_model.calibration`: asymmetric uint8 activations, per-channel int8 weights,
   ZPM + DBS), statically on the calibration samples or per batch; a QDQ layer keeps the
   model's own activation scale / zero point and weights (DBS still picks L: it is a pure cost
   choice); integer layers keep their operands. The exact AQS-GEMM then runs on every layer.
4. **Figures** per layer: shape, MACs, z, L, r, slice statistics, skipped fraction, and
   cycles / external bytes / energy of Panacea (``aqs``) and its two baselines, the
   same-generator ``<config>_sibia`` (``sibia`` mode) and ``<config>_dense`` (``dense``),
   each from :func:`golden_model.cycle_model.predict` on the asymmetric activations at L = 4
   as :mod:`golden_model.model_report` does; output SQNR (dB) against FP32.

Every layer is quantized on its own FP32 input: errors do not propagate from layer to layer
(the end-to-end effect on MiniLM is measured by :mod:`golden_model.calibration`).

Example::

    >>> from golden_model.onnx_model import onnx_report, format_onnx_report
    >>> d = onnx_report("mlp.onnx", inputs="data.npz", calibration=4, cfg=preset("default"))
    >>> print(format_onnx_report(d))
"""

from __future__ import annotations

import io
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .aqs_gemm import aqs_gemm, choose_r
from .calibration import apply_layer, calibrate_layer
from .config import PanaceaConfig
from .fileio import atomic_write, atomic_write_text, check_output_path, to_json
from .quant import calibrate_activation, dequantize_output, quantize_activation
from .slicing import WEIGHT_MAX, WEIGHT_MIN, split_activation

__all__ = ["OnnxModelError", "Layer", "load_model", "find_layers", "read_inputs",
           "random_inputs", "capture", "baseline_configs", "quantize_layer", "onnx_report",
           "format_onnx_report", "plot_onnx_report", "ACT_RANGES", "RANDOM_EVAL_SAMPLES", "RANDOM_DIM"]

#: Activation range options: static min/max, static percentile, dynamic per token.
ACT_RANGES = ("minmax", "percentile", "per-token")
#: Operators allowed between a constant and a layer's weight operand.
WEIGHT_PATH_OPS = ("Identity", "Cast", "Transpose", "DequantizeLinear")
#: Evaluation samples generated when no inputs are given (beside the calibration ones).
RANDOM_EVAL_SAMPLES = 4
#: Size given to every symbolic dimension of random inputs.
RANDOM_DIM = 8
#: Split of the baselines' figures (as model_report: L = 4).
BASELINE_SPLIT = 4


class OnnxModelError(ValueError):
    """The model or its inputs cannot be handled (a ValueError: the CLI prints one line)."""


def _onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise OnnxModelError("reading ONNX models needs the onnx package; install the "
                             "project's 'onnx' extra: pip install -e '.[onnx]'") from None
    return onnx, numpy_helper


# ---- loading and layer discovery ----------------------------------------------------------
def load_model(path):
    """Read and check an ONNX model file; :class:`OnnxModelError` if it is not one."""
    onnx, _ = _onnx()
    p = Path(path)
    if not p.is_file():
        raise OnnxModelError(f"model file {p} does not exist")
    try:
        m = onnx.load(str(p))
    except Exception as e:                      # protobuf DecodeError and friends
        raise OnnxModelError(f"{p} is not an ONNX model ({type(e).__name__}: {e})") from None
    if m.ir_version == 0 or not len(m.graph.node):
        raise OnnxModelError(f"{p} is not an ONNX model (no IR version or no graph nodes)")
    try:
        onnx.checker.check_model(m)
    except Exception as e:
        raise OnnxModelError(f"{p} is not a valid ONNX model: {str(e).splitlines()[0]}") from None
    return m


@dataclass
class Layer:
    """One weight GEMM of the graph.

    Attributes
    ----------
    name : str
        Node name (``<op>_<index>`` when the node has none or it repeats).
    op : str
        ``MatMul``, ``Gemm``, ``MatMulInteger`` or ``QLinearMatMul``.
    x : str
        Tensor captured as the layer input: the float input, or the integer ``A`` of an
        integer layer.
    y : str
        The layer's output tensor.
    w : ndarray float64 (K, N)
        Effective float weight (dequantized for QDQ / integer layers, Gemm alpha folded in).
    b : ndarray float64 (N,) or None
        Gemm ``beta * C``.
    trans_a : bool
        Gemm ``transA``: the captured input is transposed before use.
    W_int, w_scale : ndarray or None
        The model's own integer weights (K x N, in [-127, 127]) and per-column scales (N,)
        for QDQ and integer layers.
    act_q : dict or None
        The model's own activation quantization: ``scale`` and ``zero_point`` (uint8 domain),
        ``A`` (tensor holding the integer activations), ``int8`` (stored as int8, shifted by
        128 here), ``zero_point_tensor`` (a dynamic zero point, MatMulInteger).
    kind : str
        ``"float"`` (calibrated here), ``"qdq"`` (QuantizeLinear/DequantizeLinear around a
        MatMul/Gemm), ``"integer"`` (MatMulInteger / QLinearMatMul).
    out_q : dict or None
        QLinearMatMul output ``scale`` / ``zero_point``.
    """

    name: str
    op: str
    x: str
    y: str
    w: np.ndarray
    b: np.ndarray | None = None
    trans_a: bool = False
    W_int: np.ndarray | None = None
    w_scale: np.ndarray | None = None
    act_q: dict | None = None
    kind: str = "float"
    out_q: dict | None = field(default=None, repr=False)

    @property
    def K(self):
        return int(self.w.shape[0])

    @property
    def N(self):
        return int(self.w.shape[1])


class _Graph:
    """Constants, producers and inputs of a graph, and the weight-path resolver."""

    def __init__(self, model):
        onnx, nh = _onnx()
        g = model.graph
        self.consts = {t.name: nh.to_array(t) for t in g.initializer}
        for n in g.node:
            if n.op_type == "Constant" and len(n.output) == 1:
                for a in n.attribute:
                    if a.name == "value":
                        self.consts[n.output[0]] = nh.to_array(a.t)
                    elif a.name in ("value_float", "value_int"):
                        self.consts[n.output[0]] = np.asarray(
                            onnx.helper.get_attribute_value(a))
        self.producer = {o: n for n in g.node for o in n.output}
        self.inputs = [i for i in g.input if i.name not in self.consts]
        self.input_names = {i.name for i in self.inputs}

    def is_const(self, name):
        return name in self.consts

    def const(self, name, what):
        if name == "":
            return None
        if name not in self.consts:
            raise OnnxModelError(f"{what} ({name!r}) is not a constant; only constant "
                                 f"quantization parameters are supported")
        return self.consts[name]

    def weight(self, name, layer):
        """Resolve a weight operand: ``(w_float, W_int or None, scale_full or None)`` or None.

        None: the operand is computed from non-constant data (not a weight layer).
        """
        if name in self.consts:
            w = np.asarray(self.consts[name])
            if not np.issubdtype(w.dtype, np.floating):
                raise OnnxModelError(f"layer {layer}: weight {name!r} is a {w.dtype} constant "
                                     f"used as a float weight")
            return w.astype(np.float64), None, None
        if name in self.input_names:
            raise OnnxModelError(f"layer {layer}: dynamic weight: operand {name!r} is a graph "
                                 f"input, not a constant initializer")
        node = self.producer.get(name)
        if node is None:
            raise OnnxModelError(f"layer {layer}: weight {name!r} has no producer")
        if node.op_type not in WEIGHT_PATH_OPS:
            if self._depends_only_on_consts(name):
                raise OnnxModelError(
                    f"layer {layer}: unsupported operator {node.op_type} "
                    f"({node.name or node.output[0]}) on the weight path; supported: "
                    f"{', '.join(WEIGHT_PATH_OPS)}")
            return None
        if node.op_type == "DequantizeLinear":
            return self._dequantize(node, layer)
        inner = self.weight(node.input[0], layer)
        if inner is None:
            return None
        w, Wi, sc = inner
        if node.op_type == "Transpose":
            perm = _attr(node, "perm", None)
            if w.ndim != 2 or perm not in (None, [1, 0]):
                raise OnnxModelError(f"layer {layer}: unsupported Transpose perm {perm} on a "
                                     f"{w.ndim}-D weight")
            return w.T, (None if Wi is None else Wi.T), (None if sc is None else sc.T)
        if node.op_type == "Cast":
            return w, Wi, sc                      # float64 already holds any float type
        return w, Wi, sc                          # Identity

    def _depends_only_on_consts(self, name, seen=None):
        seen = seen if seen is not None else set()
        if name in self.consts or name == "":
            return True
        if name in self.input_names or name in seen or name not in self.producer:
            return False
        seen.add(name)
        return all(self._depends_only_on_consts(i, seen) for i in self.producer[name].input)

    def _dequantize(self, node, layer):
        q = node.input[0]
        if q not in self.consts:
            if self._depends_only_on_consts(q):
                raise OnnxModelError(f"layer {layer}: unsupported operator before the weight's "
                                     f"DequantizeLinear ({q!r} is computed)")
            return None
        if _attr(node, "block_size", 0):
            raise OnnxModelError(f"layer {layer}: blocked DequantizeLinear is not supported")
        Wq = np.asarray(self.consts[q]).astype(np.int64)
        s = np.asarray(self.const(node.input[1], f"layer {layer}: weight scale"), np.float64)
        zp = self.const(node.input[2] if len(node.input) > 2 else "", "weight zero point")
        zp = np.zeros_like(s, dtype=np.int64) if zp is None else np.asarray(zp).astype(np.int64)
        axis = _attr(node, "axis", 1)
        shape = [1] * Wq.ndim
        if s.ndim == 1:
            shape[axis % Wq.ndim] = s.size
        Wi = Wq - zp.reshape(shape)
        sc = np.broadcast_to(s.reshape(shape), Wq.shape).astype(np.float64)
        return Wi * sc, Wi, sc


def _attr(node, name, default):
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            v = helper.get_attribute_value(a)
            return list(v) if isinstance(v, (list, tuple)) else v
    return default


def _act_qdq(g: _Graph, name, layer):
    """The model's activation quantization when ``name`` comes from a DequantizeLinear."""
    node = g.producer.get(name)
    if node is None or node.op_type != "DequantizeLinear":
        return None, name
    s = np.asarray(g.const(node.input[1], f"layer {layer}: activation scale"), np.float64)
    zp_in = node.input[2] if len(node.input) > 2 else ""
    zp = g.const(zp_in, f"layer {layer}: activation zero point")
    if s.size != 1 or (zp is not None and np.size(zp) != 1):
        raise OnnxModelError(f"layer {layer}: per-axis activation quantization is not supported")
    qname = node.input[0]
    qnode = g.producer.get(qname)
    dtype = zp.dtype if zp is not None else (g.consts[qname].dtype if qname in g.consts
                                             else np.uint8)
    if dtype not in (np.uint8, np.int8):
        raise OnnxModelError(f"layer {layer}: activation type {dtype} is not 8-bit")
    int8 = dtype == np.int8
    z = int(np.asarray(zp if zp is not None else 0).reshape(())) + (128 if int8 else 0)
    # the float reference input: QuantizeLinear's input, else the dequantized tensor itself
    x = qnode.input[0] if qnode is not None and qnode.op_type == "QuantizeLinear" else name
    return {"scale": float(s.reshape(())), "zero_point": z, "A": qname, "int8": int8,
            "zero_point_tensor": None}, x


def _check_W(Wi, layer):
    if Wi.min() < WEIGHT_MIN or Wi.max() > WEIGHT_MAX:
        raise OnnxModelError(f"layer {layer}: integer weights (minus their zero point) span "
                             f"[{Wi.min()}, {Wi.max()}], outside Panacea's [{WEIGHT_MIN}, "
                             f"{WEIGHT_MAX}]")
    return Wi.astype(np.int8)


def _column_scale(sc, layer):
    if not np.all(sc == sc[:1, :]):
        raise OnnxModelError(f"layer {layer}: the weight scale varies along K (per input "
                             f"channel); Panacea needs per-output-channel weight scales")
    return np.ascontiguousarray(sc[0])


def find_layers(model):
    """Weight GEMMs of ``model``: ``(layers, others)``.

    Returns
    -------
    layers : list of :class:`Layer`, in graph order.
    others : list of str
        Names of MatMul-type nodes with two computed operands (not weight layers).

    Raises
    ------
    OnnxModelError
        See the module docstring; also when the model has no weight layer.
    """
    g = _Graph(model)
    layers, others, seen = [], [], set()
    for i, node in enumerate(model.graph.node):
        op = node.op_type
        if op not in ("MatMul", "Gemm", "MatMulInteger", "QLinearMatMul"):
            continue
        name = node.name if node.name and node.name not in seen else f"{op}_{i}"
        seen.add(name)
        if op in ("MatMul", "Gemm"):
            _refuse_constant_left(g, node, name)
            res = g.weight(node.input[1], name)
            if res is None:
                others.append(name)
                continue
            w, Wi, sc = res
            if w.ndim != 2:
                raise OnnxModelError(f"layer {name}: constant weight of {w.ndim} dimensions "
                                     f"(shape {w.shape}); only 2-D weights are supported")
            lay = Layer(name=name, op=op, x=node.input[0], y=node.output[0], w=w)
            if op == "Gemm":
                if _attr(node, "transB", 0):
                    w, Wi, sc = w.T, (None if Wi is None else Wi.T), (None if sc is None else sc.T)
                alpha, beta = float(_attr(node, "alpha", 1.0)), float(_attr(node, "beta", 1.0))
                lay.w, lay.trans_a = w * alpha, bool(_attr(node, "transA", 0))
                sc = None if sc is None else sc * alpha
                if len(node.input) > 2 and node.input[2]:
                    if not g.is_const(node.input[2]):
                        raise OnnxModelError(f"layer {name}: Gemm bias C is not a constant")
                    C = np.asarray(g.consts[node.input[2]], np.float64)
                    if C.size not in (1, w.shape[1]):
                        raise OnnxModelError(f"layer {name}: Gemm bias of shape {C.shape} is "
                                             f"not per output column")
                    lay.b = beta * np.broadcast_to(C.reshape(-1), (w.shape[1],)).copy()
            if Wi is not None:
                lay.kind, lay.W_int = "qdq", _check_W(Wi, name)
                lay.w_scale = _column_scale(sc, name)
                lay.act_q, x = _act_qdq(g, node.input[0], name)
                if lay.act_q is None:
                    lay.kind = "qdq_weights"          # weight-only QDQ: activations calibrated
                else:
                    lay.x = x
            layers.append(lay)
            continue
        # integer operators
        _refuse_constant_left(g, node, name)
        b_in = node.input[1] if op == "MatMulInteger" else node.input[3]
        if b_in not in g.consts:
            if b_in in g.input_names:
                raise OnnxModelError(f"layer {name}: dynamic weight: operand {b_in!r} is a "
                                     f"graph input, not a constant initializer")
            others.append(name)
            continue
        B = np.asarray(g.consts[b_in])
        if B.ndim != 2:
            raise OnnxModelError(f"layer {name}: constant weight of {B.ndim} dimensions")
        a_in = node.input[0]
        if op == "MatMulInteger":
            zb_in = node.input[3] if len(node.input) > 3 else ""
            za_in = node.input[2] if len(node.input) > 2 else ""
            zb = g.const(zb_in, f"layer {name}: weight zero point")
            sa, sb = 1.0, np.ones(B.shape[1])
            dyn_za = za_in if za_in and za_in not in g.consts else None
            za = None if (dyn_za or not za_in) else g.consts[za_in]
        else:
            sa = g.const(node.input[1], f"layer {name}: activation scale")
            za = g.const(node.input[2], f"layer {name}: activation zero point")
            sb = np.asarray(g.const(node.input[4], f"layer {name}: weight scale"), np.float64)
            zb = g.const(node.input[5], f"layer {name}: weight zero point")
            dyn_za = None
        zb = np.zeros(1, np.int64) if zb is None else np.asarray(zb).astype(np.int64)
        Wi = B.astype(np.int64) - zb.reshape(1, -1)
        sb = np.broadcast_to(np.asarray(sb, np.float64).reshape(1, -1), B.shape)[0].copy()
        a_int8 = np.dtype(np.asarray(za).dtype if za is not None else np.uint8) == np.int8
        z = int(np.asarray(za if za is not None else 0).reshape(())) + (128 if a_int8 else 0)
        lay = Layer(name=name, op=op, x=a_in, y=node.output[0], w=Wi * sb[None, :],
                    kind="integer", W_int=_check_W(Wi, name), w_scale=sb,
                    act_q={"scale": float(np.asarray(sa).reshape(())), "zero_point": z,
                           "A": a_in, "int8": a_int8, "zero_point_tensor": dyn_za})
        if op == "QLinearMatMul":
            lay.out_q = {"scale": float(np.asarray(g.const(node.input[6], "y scale")).reshape(())),
                         "zero_point": np.asarray(g.const(node.input[7], "y zero point"))}
        layers.append(lay)
    if not layers:
        raise OnnxModelError("the model has no MatMul/Gemm/MatMulInteger/QLinearMatMul with a "
                             "constant weight" + (f" (MatMuls of computed operands: "
                                                   f"{', '.join(others)})" if others else ""))
    return layers, others


def _refuse_constant_left(g, node, name):
    """A constant left operand (``W @ x``) cannot stream as activations: say so, instead of
    calling the computed right operand a dynamic weight."""
    a_in = node.input[0]
    b_in = node.input[1] if node.op_type in ("MatMul", "Gemm", "MatMulInteger") else node.input[3]
    if a_in in g.consts and b_in not in g.consts and not _attr(node, "transA", 0):
        raise OnnxModelError(f"layer {name}: the constant {a_in!r} is the left operand "
                             f"({node.op_type}(W, x)); the core computes x @ W with the constant "
                             f"weight on the right (transpose the product in the model)")


# ---- inputs ----------------------------------------------------------------------------
def _input_specs(model):
    from onnx import helper

    g = _Graph(model)
    specs = {}
    for i in g.inputs:
        t = i.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        specs[i.name] = (np.dtype(helper.tensor_dtype_to_np_dtype(t.elem_type)), dims)
    return specs


def _check_input(name, a, spec):
    dtype, dims = spec
    if a.dtype != dtype:
        raise OnnxModelError(f"input {name!r} has dtype {a.dtype}, the model expects {dtype}")
    if a.ndim != len(dims) or any(d is not None and d != s for d, s in zip(dims, a.shape)):
        want = "x".join("?" if d is None else str(d) for d in dims)
        raise OnnxModelError(f"input {name!r} has shape {a.shape}, the model expects [{want}]")


def read_inputs(model, path):
    """Input samples from an ``.npz``: one run per sample, as a list of feed dicts.

    Keys are graph input names (``"ids"``: one run) or ``"<name>:<i>"`` (sample i, shapes may
    differ between samples, e.g. sentences of different lengths); every input must be given
    for every sample, with the model's dtype and fixed dimensions.
    """
    specs = _input_specs(model)
    p = Path(path)
    if not p.is_file():
        raise OnnxModelError(f"inputs file {p} does not exist")
    try:
        loaded = np.load(p, allow_pickle=False)
    except Exception:
        raise OnnxModelError(f"inputs file {p} is not a readable .npz archive") from None
    if isinstance(loaded, np.ndarray):
        raise OnnxModelError(f"inputs file {p} is one .npy array; give an .npz with one array "
                             f"per model input (np.savez(path, NAME=array))")
    with loaded as f:
        arrays = {k: f[k] for k in f.files}
    if not arrays:
        raise OnnxModelError(f"inputs file {p} holds no array; expected one per model input "
                             f"({', '.join(specs)})")
    runs = {}
    for key, a in arrays.items():
        name, _, idx = key.rpartition(":")
        if not name or not idx.isdigit():
            name, idx = key, None
        if name not in specs:
            raise OnnxModelError(f"inputs file {p}: {key!r} is not an input of the model "
                                 f"(inputs: {', '.join(specs)})")
        _check_input(key, a, specs[name])
        runs.setdefault(None if idx is None else int(idx), {})[name] = a
    if None in runs and len(runs) > 1:
        raise OnnxModelError(f"inputs file {p}: mixes plain and indexed (name:i) keys")
    order = sorted(runs, key=lambda k: -1 if k is None else k)
    if order != [None] and order != list(range(len(order))):
        raise OnnxModelError(f"inputs file {p}: sample indices must be 0..{len(order) - 1}")
    feeds = [runs[k] for k in order]
    for i, feed in enumerate(feeds):
        missing = [n for n in specs if n not in feed]
        if missing:
            raise OnnxModelError(f"inputs file {p}: missing input {missing[0]!r}"
                                 + (f" for sample {i}" if order != [None] else ""))
    return feeds


def random_inputs(model, n, *, seed=0):
    """``n`` random samples: floats N(0, 1), integers uniform in [0, 100), bools fair coins;
    every symbolic dimension is :data:`RANDOM_DIM`."""
    rng = np.random.default_rng(seed)
    specs = _input_specs(model)
    feeds = []
    for _ in range(n):
        feed = {}
        for name, (dtype, dims) in specs.items():
            shape = [d if d is not None else RANDOM_DIM for d in dims]
            if np.issubdtype(dtype, np.floating):
                feed[name] = rng.standard_normal(shape).astype(dtype)
            elif dtype == np.bool_:
                feed[name] = rng.integers(0, 2, shape).astype(bool)
            else:
                feed[name] = rng.integers(0, 100, shape).astype(dtype)
        feeds.append(feed)
    return feeds


# ---- capture ------------------------------------------------------------------------------
def capture(model, feeds, tensors):
    """Run ``model`` with onnxruntime on each feed; return ``{tensor: [array per run]}``.

    ``tensors`` become extra graph outputs; graph optimizations are off so that the
    tensors and QDQ numerics are the graph's own.
    """
    onnx, _ = _onnx()
    try:
        import onnxruntime as ort
    except ImportError:
        raise OnnxModelError("running ONNX models needs onnxruntime; install the project's "
                             "'onnx' extra: pip install -e '.[onnx]'") from None
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for t in tensors:
        if t not in have:
            m.graph.output.append(onnx.ValueInfoProto(name=t))
            have.add(t)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    try:
        sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise OnnxModelError(f"onnxruntime cannot load the model: {str(e).splitlines()[0]}") \
            from None
    names = list(dict.fromkeys(tensors))
    out = {t: [] for t in names}
    for i, feed in enumerate(feeds):
        try:
            res = sess.run(names, feed)
        except Exception as e:
            raise OnnxModelError(f"onnxruntime failed on sample {i}: "
                                 f"{str(e).splitlines()[0]}") from None
        for t, a in zip(names, res):
            out[t].append(np.asarray(a))
    return out


def _rows(arrays, K, trans=False):
    """Stack captured tensors of shape (..., K) into (rows, K)."""
    mats = []
    for a in arrays:
        a = a.T if trans else a
        mats.append(a.reshape(-1, K) if a.ndim != 1 else a.reshape(1, -1))
    return np.concatenate(mats, axis=0)


def _to_uint8(A, int8):
    A = np.asarray(A)
    return (A.astype(np.int16) + 128).astype(np.uint8) if int8 else A.astype(np.uint8)


# ---- per-layer quantization and figures -----------------------------------------------------
def baseline_configs(cfg: PanaceaConfig):
    """``(sibia, dense)`` configs: the same-generator baselines of ``cfg`` (as the presets
    ``<base>_sibia`` / ``<base>_dense`` are defined in :mod:`golden_model.config`)."""
    return tuple(cfg.replace(name=f"{cfg.name}_{v}", variant=v) for v in ("sibia", "dense"))


def _sqnr_db(ref, y):
    ref, y = np.asarray(ref, np.float64), np.asarray(y, np.float64)
    err = float(((ref - y) ** 2).sum())
    sig = float((ref ** 2).sum())
    if err == 0.0:
        return math.inf
    return 10.0 * math.log10(sig / err) if sig > 0 else -math.inf


def _histogram(A, L):
    AH, _ = split_activation(A, L)
    return [int(v) for v in np.bincount(AH.reshape(-1), minlength=1 << (8 - L))]


def quantize_layer(lay: Layer, x_cal, x_eval, *, cfg: PanaceaConfig, act_range="minmax",
                   percentile=99.99, A_cal=None, A_eval=None, z_eval=None, smooth=None):
    """Quantize one layer and run the exact AQS-GEMM on its evaluation input.

    Parameters
    ----------
    lay : Layer
    x_cal, x_eval : float ndarray (rows, K) or None
        Float inputs for calibration and evaluation (None for integer layers).
    cfg : PanaceaConfig
    act_range : one of :data:`ACT_RANGES`
    A_cal, A_eval : uint8 ndarray (rows, K) or None
        The model's own integer activations (QDQ / integer layers).
    z_eval : int, int ndarray (rows,) or None
        Run-time zero point of a MatMulInteger with a dynamic zero point (one per row when
        the samples differ: executed as one GEMM with z = 0 and the row term ``- z C``).
    smooth : float in [0, 1], optional
        SmoothQuant alpha for a float layer (:func:`golden_model.calibration.smooth_factors`);
        the baselines then run on the same smoothed activations.

    Returns
    -------
    dict with ``A`` (uint8), ``W`` (int8), ``Y`` (int32), ``z``, ``L``, ``r``, ``y``
    (dequantized float output plus bias, float64), ``lq`` (:class:`LayerQuant` or None),
    ``A_base`` (the asymmetric activations the baselines run on), ``source`` (text).
    """
    fcfg = cfg
    if lay.kind in ("float", "qdq_weights"):
        per_token = act_range == "per-token"
        method = "minmax" if per_token else act_range
        path = "w8a8_asym" if per_token else "w8a8_asym_zpm_dbs"
        if smooth is not None and lay.kind != "float":
            raise OnnxModelError(f"layer {lay.name}: smoothing needs float weights, this layer "
                                 f"has the model's quantized weights")
        kw = dict(cfg=fcfg, method=method, percentile=percentile, per_token=per_token,
                  w=lay.w, smooth=smooth)
        lq = calibrate_layer(x_cal, path=path, N=lay.N, **kw)
        base = calibrate_layer(x_cal, path="w8a8_asym", **kw)
        xs_eval = x_eval / base.smooth if base.smooth is not None else x_eval
        act_b = base.act if base.act is not None else calibrate_activation(xs_eval, per_token=True)
        A_base = quantize_activation(xs_eval, act_b)
        if lay.kind == "float":
            y, info = apply_layer(x_eval, lay.w, lay.b, lq, cfg=fcfg)
            A, W, Y, z, L, r = (info[k] for k in ("A", "W", "Y", "z", "L", "r"))
        else:                                 # the model's weights, calibrated activations
            act = lq.act if lq.act is not None else act_b
            A = quantize_activation(x_eval, act)
            W, L = lay.W_int, lq.L
            zz = act.zero_point if not act.per_token else 0
            Y, plan = aqs_gemm(A, W, zz, mode="aqs", L=L, r=lq.r, cfg=fcfg)
            if act.per_token:
                C = W.astype(np.int64).sum(0)
                Y = (Y.astype(np.int64) - act.zero_point[:, None] * C[None, :]).astype(np.int32)
            r, z = plan.r, act.zero_point
            y = dequantize_output(Y, act.scale, lay.w_scale)
            y = y + (lay.b if lay.b is not None else 0.0)
        src = (f"calibrated ({'per-token dynamic, no ZPM/DBS' if per_token else act_range})"
               + ("" if per_token else ", ZPM + DBS")
               + (f", smoothed alpha {smooth}" if smooth is not None else "")
               + (", model's QDQ weights" if lay.kind == "qdq_weights" else ""))
        return {"A": A, "W": W, "Y": Y, "z": z, "L": int(L), "r": int(r), "y": y, "lq": lq,
                "A_base": A_base, "source": src, "scale": lq.act.scale if lq.act else None}

    # the model's own quantization: QDQ or integer operators
    from .dbs import choose_split

    aq = lay.act_q
    z = aq["zero_point"] if z_eval is None else z_eval
    d = choose_split(A_cal, N=lay.N, cfg=fcfg)      # DBS: cost only, numerics unchanged
    L = d.L
    r = choose_r(A_cal, L)
    if np.ndim(z):          # a zero point per row (per sample): the "fold" execution
        Y0, plan = aqs_gemm(A_eval, lay.W_int, 0, mode="aqs", L=L, r=r, cfg=fcfg)
        C = lay.W_int.astype(np.int64).sum(0)
        Y = (Y0.astype(np.int64) - np.asarray(z)[:, None] * C[None, :]).astype(np.int32)
    else:
        Y, plan = aqs_gemm(A_eval, lay.W_int, int(z), mode="aqs", L=L, r=r, cfg=fcfg)
    y = dequantize_output(Y, aq["scale"], lay.w_scale)
    if lay.b is not None:
        y = y + lay.b
    src = ("model's QDQ scales and zero points" if lay.kind == "qdq"
           else f"model's {lay.op} operands")
    return {"A": A_eval, "W": lay.W_int, "Y": Y, "z": z, "L": int(L), "r": int(r), "y": y,
            "lq": None, "A_base": A_eval, "source": src, "scale": aq["scale"]}


def _design_figures(A, N, mode, L, r, cfg):
    from .analyze import _mode_figures

    f = _mode_figures(A, mode, L, r, N, cfg)
    return {"mode": mode, "cycles": f["cycles"], "ext_bytes": f["ext_bytes"],
            "energy_pj": f["energy_pj"],
            "frac_vectors_skipped": f["stats"]["frac_vectors_skipped"]}


def _check_out_dir(path):
    if path is None:
        return None
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OnnxModelError(f"plots directory {p} exists and is not a directory")
    anc = p
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir() or not os.access(anc, os.W_OK | os.X_OK):
        raise OnnxModelError(f"plots directory {p}: cannot create it under {anc}")
    return p


def onnx_report(model_path, *, cfg: PanaceaConfig, inputs=None, calibration=None,
                act_range="minmax", percentile=99.99, smooth=None, layers=None, sim=None,
                gemm_job=None, report_path=None, plots_dir=None, seed=0,
                progress=False) -> dict:
    """Run an ONNX model through the Panacea flow (see the module docstring).

    Parameters
    ----------
    model_path : path to an ``.onnx`` file.
    cfg : PanaceaConfig
        The Panacea design; baselines from :func:`baseline_configs`.
    inputs : path to an ``.npz`` (:func:`read_inputs`), optional
        Without it, :func:`random_inputs` (said in the report).
    calibration : int, optional
        With ``inputs``: the first ``calibration`` samples calibrate (static), the others are
        evaluated; None: every sample calibrates and is evaluated (per batch). Without
        ``inputs``: random calibration samples (default 4), plus :data:`RANDOM_EVAL_SAMPLES`.
    act_range : one of :data:`ACT_RANGES`
    percentile : float, for ``act_range="percentile"``
    smooth : float in [0, 1], optional
        SmoothQuant alpha for every float layer (see :mod:`golden_model.calibration`).
    layers : list of str, optional
        Layers to run on the RTL (``sim``); validated before any work.
    sim : {"icarus", "verilator"} or None
        Run ``layers`` on the generated RTL through ``gemm_job``.
    gemm_job : callable, required with ``sim``
        :func:`panacea_hdl.flows.jobs.run_gemm_job` (bit-exact and cycle-exact checked there),
        passed in so that the golden model does not import the RTL side.
    report_path, plots_dir : optional
        JSON report (written atomically) and PNG plots; validated before any work.

    Returns
    -------
    dict (JSON-serializable; ``inf`` SQNR as None)
    """
    t0 = time.perf_counter()
    if not isinstance(cfg, PanaceaConfig):
        raise ValueError(f"cfg must be a PanaceaConfig, got {type(cfg).__name__}")
    if cfg.variant != "panacea":
        raise OnnxModelError(f"config {cfg.name!r} is the {cfg.variant!r} baseline; give a "
                             f"Panacea config (its baselines are derived from it)")
    if act_range not in ACT_RANGES:
        raise OnnxModelError(f"activation range must be one of {ACT_RANGES}, got {act_range!r}")
    if calibration is not None and (isinstance(calibration, bool) or int(calibration) < 1):
        raise OnnxModelError(f"--calibration must be >= 1, got {calibration}")
    if sim is not None and not layers:
        raise OnnxModelError("--sim needs --layers NAMES (the layers to run on the RTL)")
    if layers and sim is None:
        raise OnnxModelError("--layers selects layers for --sim; give --sim icarus|verilator")
    if sim is not None and gemm_job is None:
        raise ValueError("sim needs gemm_job (panacea_hdl.flows.jobs.run_gemm_job)")
    report_path = None if report_path is None else check_output_path(report_path, "report")
    plots_dir = _check_out_dir(plots_dir)
    model = load_model(model_path)
    found, others = find_layers(model)
    names = [l.name for l in found]
    for n in layers or ():
        if n in others:
            raise OnnxModelError(f"layer {n!r} is a MatMul of two computed tensors (dynamic "
                                 f"weight), not a weight layer")
        if n not in names:
            raise OnnxModelError(f"no layer named {n!r}; layers: {', '.join(names)}")

    if inputs is not None:
        feeds = read_inputs(model, inputs)
        if calibration is None:
            n_cal, static = len(feeds), False
            data = (f"{len(feeds)} sample(s) from {inputs}; per-batch calibration "
                    f"(calibrated on the evaluated samples themselves)")
        else:
            n_cal, static = int(calibration), True
            if n_cal >= len(feeds):
                raise OnnxModelError(f"--calibration {n_cal} leaves no sample to evaluate: "
                                     f"{inputs} holds {len(feeds)} sample(s)")
            data = (f"{len(feeds)} sample(s) from {inputs}: the first {n_cal} calibrate "
                    f"(static), the other {len(feeds) - n_cal} are evaluated")
    else:
        n_cal, static = int(calibration or 4), True
        feeds = random_inputs(model, n_cal + RANDOM_EVAL_SAMPLES, seed=seed)
        data = (f"no inputs given: RANDOM data (floats N(0,1), integers uniform in [0,100), "
                f"symbolic dimensions {RANDOM_DIM}, seed {seed}); "
                f"{n_cal} random calibration samples (static), {RANDOM_EVAL_SAMPLES} evaluated. "
                f"Figures on random data say little about a real workload")
    cal_feeds = feeds[:n_cal]
    eval_feeds = feeds[n_cal:] if static else cal_feeds

    tensors = []
    for l in found:
        tensors += [l.x, l.y]
        if l.act_q is not None:
            tensors.append(l.act_q["A"])
            if l.act_q["zero_point_tensor"]:
                tensors.append(l.act_q["zero_point_tensor"])
    tensors = list(dict.fromkeys(tensors))
    t_cap = time.perf_counter()
    cap_cal = capture(model, cal_feeds, tensors)
    cap_eval = cap_cal if eval_feeds is cal_feeds else capture(model, eval_feeds, tensors)
    t_cap = time.perf_counter() - t_cap

    sib_cfg, dense_cfg = baseline_configs(cfg)
    entries, sims, runs = [], {}, {}
    for l in found:
        integer = l.kind == "integer"
        rows = lambda cap, t: _rows(cap[t], l.K, l.trans_a)              # noqa: E731
        y_ref = np.concatenate([a.reshape(-1, l.N) for a in cap_eval[l.y]]).astype(np.float64)
        A_cal = A_eval = z_eval = None
        if l.act_q is not None:
            A_cal = _to_uint8(rows(cap_cal, l.act_q["A"]), l.act_q["int8"])
            A_eval = _to_uint8(rows(cap_eval, l.act_q["A"]), l.act_q["int8"])
            if l.act_q["zero_point_tensor"]:      # dynamic: one zero point per sample
                zs = [int(np.asarray(a).reshape(())) + (128 if l.act_q["int8"] else 0)
                      for a in cap_eval[l.act_q["zero_point_tensor"]]]
                n_rows = [_rows([a], l.K, l.trans_a).shape[0] for a in cap_eval[l.act_q["A"]]]
                z_eval = np.repeat(np.asarray(zs, np.int64), n_rows)
                if (z_eval == z_eval[0]).all():
                    z_eval = int(z_eval[0])
        x_cal = None if integer else rows(cap_cal, l.x).astype(np.float64)
        x_eval = None if integer else rows(cap_eval, l.x).astype(np.float64)
        q = quantize_layer(l, x_cal, x_eval, cfg=cfg, act_range=act_range,
                           percentile=percentile, A_cal=A_cal, A_eval=A_eval, z_eval=z_eval,
                           smooth=smooth if l.kind == "float" else None)
        M = int(q["A"].shape[0])
        fcfg = cfg
        Lb = BASELINE_SPLIT
        rb = choose_r(q["A_base"], Lb)
        designs = {
            cfg.name: _design_figures(q["A"], l.N, "aqs", q["L"], q["r"], fcfg),
            sib_cfg.name: _design_figures(q["A_base"], l.N, "sibia", Lb, rb, sib_cfg),
            dense_cfg.name: _design_figures(q["A_base"], l.N, "dense", Lb, rb, dense_cfg),
        }
        pan = designs[cfg.name]
        # FP32 reference and the exactness checks
        if integer:
            if l.op == "MatMulInteger":
                exact = bool(np.array_equal(q["Y"], y_ref.astype(np.int64)))
            else:
                oq = l.out_q
                zq = np.asarray(oq["zero_point"])
                lo, hi = (-128, 127) if zq.dtype == np.int8 else (0, 255)
                yq = np.clip(np.rint(q["y"] / oq["scale"]) + int(zq.reshape(())), lo, hi)
                exact = bool(np.abs(yq - y_ref).max() <= 1)
            sqnr, ref_note = None, "integer operator: compared with onnxruntime's output"
        else:
            if l.kind == "qdq":
                fp32 = x_eval @ l.w + (l.b if l.b is not None else 0.0)
                exact = bool(np.allclose(q["y"], y_ref, rtol=1e-4,
                                         atol=1e-4 * max(1e-30, np.abs(y_ref).max())))
                ref_note = "FP32 = float input @ the model's dequantized weight"
            else:
                fp32 = y_ref
                chk = x_eval @ l.w + (l.b if l.b is not None else 0.0)
                tol = 1e-3 * max(1e-30, float(np.abs(fp32).max()))
                if np.abs(chk - fp32).max() > tol:
                    raise OnnxModelError(f"layer {l.name}: extracted input @ weight differs from "
                                         f"onnxruntime's output (unsupported layout?)")
                exact = None
                ref_note = "FP32 = onnxruntime's output of the float layer"
            sqnr = _sqnr_db(fp32, q["y"])
        hist_L = q["L"]
        e = {
            "name": l.name, "op": l.op, "kind": l.kind, "source": q["source"],
            "M": M, "K": l.K, "N": l.N, "macs": M * l.K * l.N,
            "scale": (None if q["scale"] is None or np.ndim(q["scale"]) else float(q["scale"])),
            "z": (int(q["z"]) if np.ndim(q["z"]) == 0 else "per-row"),
            "z_calibrated": (q["lq"].z_calibrated if q["lq"] is not None else None),
            "L": q["L"], "r": q["r"],
            "frac_ho_eq_r": float((split_activation(q["A"], q["L"])[0] == q["r"]).mean()),
            "frac_ho_zero": float((split_activation(q["A"], q["L"])[0] == 0).mean()),
            "frac_vectors_skipped": pan["frac_vectors_skipped"],
            "ho_histogram": {"L": hist_L, "counts": _histogram(q["A"], hist_L)},
            "ho_histogram_base": {"L": Lb, "counts": _histogram(q["A_base"], Lb)},
            "designs": designs,
            "speedup_vs_sibia": designs[sib_cfg.name]["cycles"] / pan["cycles"],
            "speedup_vs_dense": designs[dense_cfg.name]["cycles"] / pan["cycles"],
            "sqnr_db": None if sqnr is None or math.isinf(sqnr) else sqnr,
            "reference": ref_note, "matches_onnxruntime": exact,
            "k_tiled": l.K > cfg.k_max,
        }
        entries.append(e)
        runs[l.name] = q

    for n in layers or ():
        q = runs[n]
        if np.ndim(q["z"]):
            raise OnnxModelError(f"layer {n}: --sim needs per-tensor activations, not per-token")
        if progress:
            print(f"[onnx] {n} on the RTL ({sim})", file=sys.stderr, flush=True)
        rep = gemm_job(cfg, q["A"], q["W"], int(q["z"]), mode="aqs", L=q["L"], r=q["r"], sim=sim)
        if not np.array_equal(rep.Y, q["Y"]):     # the job checked the RTL against rep.Y
            raise OnnxModelError(f"layer {n}: the job's GEMM differs from the layer's golden GEMM")
        sims[n] = {"simulator": sim, "cycles": int(rep.counters["cycles"]),
                   "predicted_cycles": int(rep.prediction.counters["cycles"]),
                   "bit_exact": True, "cycle_exact": True}
        next(e for e in entries if e["name"] == n)["rtl"] = sims[n]

    tot = {}
    for dn in (cfg.name, sib_cfg.name, dense_cfg.name):
        tot[dn] = {k: sum(e["designs"][dn][k] for e in entries)
                   for k in ("cycles", "ext_bytes", "energy_pj")}
    for dn in tot:
        tot[dn]["speedup_of_panacea"] = tot[dn]["cycles"] / tot[cfg.name]["cycles"]
        tot[dn]["energy_ratio_panacea"] = tot[cfg.name]["energy_pj"] / tot[dn]["energy_pj"]
    d = {
        "model": str(model_path), "config": cfg.to_dict(),
        "baselines": [sib_cfg.name, dense_cfg.name], "data": data,
        "act_range": act_range, "percentile": percentile if act_range == "percentile" else None,
        "smooth": smooth,
        "samples": {"calibration": len(cal_feeds), "evaluated": len(eval_feeds),
                    "static": static},
        "quantization": ("float layers: A8 asymmetric per tensor (or per token) with ZPM + DBS, "
                         "W8 symmetric per output channel; QDQ / integer layers: the model's own "
                         "scales and zero points; every layer on its own FP32 input; baselines "
                         "on the asymmetric activations at L = 4 before ZPM"),
        "not_weight_layers": others,
        "layers": entries, "totals": tot, "rtl": sims,
        "notes": ([f"layers with K > k_max={cfg.k_max} are tiled on the host "
                   f"(golden_model.tiling): their figures are sums over the runs of the core"]
                  if any(e["k_tiled"] for e in entries) else []),
        "runtime_s": {"capture": round(t_cap, 2)}, "plots": [],
    }
    if plots_dir is not None:
        d["plots"] = plot_onnx_report(d, plots_dir)
    d["runtime_s"]["total"] = round(time.perf_counter() - t0, 2)
    if report_path is not None:
        atomic_write_text(report_path, to_json(d))
    return d


# ---- plots and text ------------------------------------------------------------------------
def _save_fig(fig, path, dpi):
    """A PNG written whole or not at all (:func:`golden_model.fileio.atomic_write`)."""
    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png")
    atomic_write(path, buf.getvalue())


def plot_onnx_report(d: dict, plots_dir) -> list:
    """``onnx_skip_speedup.png`` (skipped fraction and speed-up per layer) and
    ``onnx_high_slices.png`` (high-slice distributions, one panel per layer). Returns paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(plots_dir)
    out.mkdir(parents=True, exist_ok=True)
    ents = d["layers"]
    names = [e["name"] for e in ents]
    x = np.arange(len(names))
    pan, (sib, den) = d["config"]["name"], d["baselines"]
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(max(6, 0.28 * len(names) + 2), 6), sharex=True)
    a1.plot(x, [e["designs"][pan]["frac_vectors_skipped"] for e in ents], "o-", ms=3,
            label=f"{pan} (aqs, ZPM+DBS)")
    a1.plot(x, [e["designs"][sib]["frac_vectors_skipped"] for e in ents], "s-", ms=3,
            color="tab:red", label=f"{sib} (sibia)")
    a1.set_ylabel("skipped HO vectors")
    a1.set_ylim(-0.02, 1.02)
    a1.legend(fontsize=7)
    a1.grid(alpha=0.3)
    a2.plot(x, [e["speedup_vs_sibia"] for e in ents], "o-", ms=3, color="tab:red",
            label=f"vs {sib}")
    a2.plot(x, [e["speedup_vs_dense"] for e in ents], "o-", ms=3, color="0.4",
            label=f"vs {den}")
    a2.axhline(1.0, color="k", lw=0.6)
    a2.set_ylabel("speed-up (cycles)")
    a2.set_xticks(x, names, rotation=90, fontsize=6)
    a2.legend(fontsize=7)
    a2.grid(alpha=0.3)
    a1.set_title(f"{Path(d['model']).name}: per-layer skipping and speed-up of {pan}", fontsize=9)
    fig.tight_layout()
    f1 = out / "onnx_skip_speedup.png"
    _save_fig(fig, f1, 72)
    plt.close(fig)

    n = len(ents)
    cols = min(6, n)
    rows_ = -(-n // cols)
    fig, axes = plt.subplots(rows_, cols, figsize=(1.9 * cols, 1.5 * rows_), squeeze=False)
    for ax, e in zip(axes.flat, ents):
        h = e["ho_histogram"]
        c = np.asarray(h["counts"], float)
        c /= max(1.0, c.sum())
        ax.bar(np.arange(len(c)), c, width=0.9,
               color=["tab:blue" if v == e["r"] else "0.6" for v in range(len(c))])
        ax.set_title(f"{e['name']} L={h['L']} r={e['r']}", fontsize=6)
        ax.set_ylim(0, 1)
        ax.tick_params(labelsize=5)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle("high-slice distributions (AH = A >> L; blue: r, skipped)", fontsize=8)
    fig.tight_layout()
    f2 = out / "onnx_high_slices.png"
    _save_fig(fig, f2, 80)
    plt.close(fig)
    return [str(f1), str(f2)]


def format_onnx_report(d: dict) -> str:
    """Readable per-layer table of :func:`onnx_report`'s dict."""
    pan, (sib, den) = d["config"]["name"], d["baselines"]
    lines = [f"model {d['model']}; config {pan!r} vs baselines {sib}, {den}",
             f"data: {d['data']}",
             f"activation range: {d['act_range']}"
             + (f" {d['percentile']}" if d["percentile"] is not None else "")
             + (f"; smoothing alpha {d['smooth']}" if d.get("smooth") is not None else ""),
             f"quantization: {d['quantization']}", "",
             f"{'layer':<22}{'op':<8}{'M x K x N':>16}{'MACs':>11}{'z':>8}{'L':>3}{'r':>4}"
             f"{'HO==r':>7}{'skip':>6}{'cycles':>10}{'vs sib':>8}{'vs dense':>9}"
             f"{'ext kB':>9}{'E uJ':>8}{'SQNR dB':>9}"]
    for e in d["layers"]:
        p = e["designs"][pan]
        sq = "exact" if e["sqnr_db"] is None and e["matches_onnxruntime"] else (
            "-" if e["sqnr_db"] is None else f"{e['sqnr_db']:.1f}")
        lines.append(
            f"{e['name'][:21]:<22}{e['op']:<8}{e['M']:>6}x{e['K']:<4}x{e['N']:<4}"
            f"{e['macs']:>11}{str(e['z']):>8}{e['L']:>3}{e['r']:>4}{e['frac_ho_eq_r']:7.2f}"
            f"{e['frac_vectors_skipped']:6.2f}{p['cycles']:>10}{e['speedup_vs_sibia']:7.2f}x"
            f"{e['speedup_vs_dense']:8.2f}x{p['ext_bytes'] / 1e3:9.1f}{p['energy_pj'] / 1e6:8.3f}"
            f"{sq:>9}" + (f"  RTL {e['rtl']['simulator']}: {e['rtl']['cycles']} cycles, exact"
                          if "rtl" in e else ""))
    lines += ["", f"{'design':<18}{'cycles':>12}{'ext bytes':>12}{'energy uJ':>11}"
                  f"{'speed-up of ' + pan:>22}{'E_pan/E':>9}"]
    for dn, t in d["totals"].items():
        lines.append(f"{dn:<18}{t['cycles']:>12}{t['ext_bytes']:>12}{t['energy_pj'] / 1e6:>11.3f}"
                     f"{t['speedup_of_panacea']:>21.2f}x{t['energy_ratio_panacea']:>9.3f}")
    if d["not_weight_layers"]:
        lines.append(f"not weight layers (two computed operands): "
                     f"{', '.join(d['not_weight_layers'])}")
    lines += [f"note: {n}" for n in d["notes"]]
    lines += [f"plot: {p}" for p in d["plots"]]
    return "\n".join(lines)
