"""MiniLM with every linear layer's output requantized to uint8, as the core's requantization
stage does it (``golden_model.requant``, ``docs/formats.md`` "Requantization").

:class:`RequantLinear` is a MiniLM linear hook (``hook(name, x, w, b) -> y``,
:mod:`golden_model.minilm`) on top of a quantized path (``w8a8_asym`` by default): the exact
AQS-GEMM gives the int32 ``Y = (A - z) @ W`` as in that path; instead of dequantizing ``Y`` in
floating point and adding the float bias, the layer output is what the core sends with
REQUANT.EN — uint8 ``requantize(Y, bias_q, mult, shift, out_zp)`` with

* ``bias_q[n] = round(b[n] / (s_a * s_w[n]))`` (int32, TFLite's bias quantization),
* ``out_scale, out_zp`` calibrated min/max on the layer's float output (asymmetric uint8),
* ``mult, shift = quantize_multiplier(s_a * s_w[n] / out_scale)``,

and the float parts of the model (attention, softmax, GELU, LayerNorm, residuals) read the
dequantized ``(y_u8 - out_zp) * out_scale``. A layer "allows" on-chip requantization when its
kind is in ``kinds`` (default :data:`REQUANT_KINDS`: not ``ffn_out``, whose outlier channels a
per-tensor uint8 output cannot hold), every real scale is below 1 (the stage shifts right
only) and the bias fits int32; a layer that does not keeps the float output of its path and is
recorded as such.

Every linear output of MiniLM feeds floating-point operations in this model (no linear layer
feeds another GEMM directly), so this is the int8-deployment view: what the uint8 layer outputs
(4x fewer output bytes) cost in embedding accuracy. The calibration is per batch, on the very
output evaluated (as the activations' in :class:`~golden_model.minilm.QuantizedLinear`).
"""

from __future__ import annotations

import numpy as np

from .minilm import QuantizedLinear
from .requant import INT32_MAX, INT32_MIN, quantize_multiplier, RequantParams

__all__ = ["RequantLinear", "output_calibration", "REQUANT_KINDS"]

#: Layer kinds whose outputs are requantized by default: all but ``ffn_out``, whose outputs
#: carry BERT's large outlier channels — a per-tensor uint8 output costs the embeddings about
#: 0.05 of cosine similarity there (0.943 vs 0.992 minimum over the built-in sentences,
#: measured), while the other five kinds together cost about 0.004 (``docs/minilm.md``).
REQUANT_KINDS = ("q", "k", "v", "attn_out", "ffn_in")


def output_calibration(y) -> tuple:
    """Asymmetric uint8 min/max calibration of a float output: ``(scale, zero_point)`` with
    the range widened to include 0 (so 0 is exact)."""
    lo = min(0.0, float(np.min(y)))
    hi = max(0.0, float(np.max(y)))
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    zp = int(np.clip(round(-lo / scale), 0, 255))
    return scale, zp


class RequantLinear(QuantizedLinear):
    """The linear hook of ``path`` with on-chip requantization of each output (module doc).

    ``records[name]`` holds the :class:`~golden_model.minilm.QuantizedLinear` record plus
    ``requant`` (True if the layer allowed it), ``out_scale``, ``out_zp``, ``params``
    (:class:`~golden_model.requant.RequantParams` or None) and ``y_u8`` (uint8 M x N or None).
    """

    def __init__(self, path="w8a8_asym", *, kinds=None, **kw):
        super().__init__(path, **kw)
        from .minilm import LINEAR_NAMES

        self.kinds = tuple(REQUANT_KINDS if kinds is None else kinds)
        bad = sorted(set(self.kinds) - set(LINEAR_NAMES))
        if bad:
            raise ValueError(f"kinds must be among {LINEAR_NAMES}, got {bad}")

    def __call__(self, name, x, w, b):
        from .minilm import layer_kind

        y_float = super().__call__(name, x, w, b)
        rec = self.records[name]
        if layer_kind(name) not in self.kinds:
            rec.update(requant=False, out_scale=None, out_zp=None, params=None, y_u8=None)
            return y_float
        s_a = rec["scale"]
        w_scale = np.asarray(rec["w_scale"], dtype=np.float64).reshape(-1)
        out_scale, out_zp = output_calibration(y_float)
        real = s_a * w_scale / out_scale
        bias_q = np.round(np.asarray(b, dtype=np.float64) / (s_a * w_scale))
        rec.update(requant=False, out_scale=out_scale, out_zp=out_zp, params=None, y_u8=None)
        if not np.all(real < 1.0) or bias_q.min() < INT32_MIN or bias_q.max() > INT32_MAX:
            return y_float                    # this layer does not allow it: float output
        qs = [quantize_multiplier(s) for s in real]
        params = RequantParams(bias_q.astype(np.int64), np.array([q for q, _ in qs]),
                               np.array([e for _, e in qs]), out_zp)
        y_u8 = params.apply(rec["Y"])
        rec.update(requant=True, params=params, y_u8=y_u8)
        return ((y_u8.astype(np.float64) - out_zp) * out_scale).astype(y_float.dtype)
