"""Requantization of an int32 GEMM result to uint8 for the next layer (optional, per GEMM).

The arithmetic is TFLite's integer requantization, with the fixed-point primitives exactly as
gemmlowp defines them:

* :func:`quantize_multiplier` is TFLite's ``QuantizeMultiplier``
  (``tensorflow/lite/kernels/internal/quantization_util.cc``): ``frexp`` of the real scale,
  the fraction rounded to a Q31 multiplier in [2**30, 2**31), a multiplier that rounds up to
  2**31 becomes 2**30 with the exponent one larger, and an exponent below -31 gives
  ``(0, 0)``.
* :func:`srdhm` is gemmlowp's ``SaturatingRoundingDoublingHighMul``
  (``gemmlowp/fixedpoint/fixedpoint.h``): ``(a*b + nudge) / 2**31`` with C's truncating
  division, nudge ``2**30`` for a non-negative product and ``1 - 2**30`` for a negative one,
  and ``INT32_MIN * INT32_MIN`` saturated to ``INT32_MAX``.
* :func:`rounding_divide_by_pot` is gemmlowp's ``RoundingDivideByPOT``: an arithmetic right
  shift that rounds to nearest, ties away from zero.
* :func:`requantize` is TFLite's ``MultiplyByQuantizedMultiplier`` (the classic, double
  rounding form) with the bias added first and the output zero point added last:
  ``clamp(out_zp + RDBP(SRDHM(acc + bias, mult), -shift), 0, 255)``.

What this project chose (``docs/decisions.md``): ``shift`` follows TFLite's sign convention
(positive = left) but only ``shift <= 0`` is accepted (a real scale below 1, which a
requantization scale ``s_a * s_w / s_y`` practically always is; TFLite's left shift overflows
int32 silently); ``acc + bias`` wraps modulo 2**32 as int32 addition does in the hardware;
``out_zp`` is added without overflow before the clamp. Everything is vectorized numpy on int64
and bit-exact with the hardware's requantization stage (``panacea_hdl.rtl.requant``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["INT32_MIN", "INT32_MAX", "SHIFT_MIN", "quantize_multiplier", "srdhm",
           "rounding_divide_by_pot", "requantize", "RequantParams", "requant_params",
           "requant_from_arrays"]

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
#: Most negative shift (right shift by 31) :func:`requantize` accepts; the largest is 0.
SHIFT_MIN = -31


def quantize_multiplier(real_scale: float):
    """TFLite's ``QuantizeMultiplier``: ``real_scale ~= mult * 2**(shift - 31)``.

    Returns ``(mult, shift)`` as Python ints, ``mult`` in ``[2**30, 2**31)`` (or 0 for a scale
    of 0 or one too small to represent). Raises :class:`ValueError` for a negative, NaN or
    infinite scale.
    """
    real_scale = float(real_scale)
    if not math.isfinite(real_scale) or real_scale < 0:
        raise ValueError(f"requantization scale must be finite and >= 0, got {real_scale!r}")
    if real_scale == 0.0:
        return 0, 0
    q, shift = math.frexp(real_scale)             # real = q * 2**shift, q in [0.5, 1)
    # TfLiteRound = std::round: half away from zero (q * 2**31 + 0.5 is exact in a double)
    q_fixed = int(math.floor(q * (1 << 31) + 0.5))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return int(q_fixed), int(shift)


def _as_int64(x, name):
    a = np.asarray(x)
    if a.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an integer array, not {a.dtype}")
    a = a.astype(np.int64)
    if a.size and (a.min() < INT32_MIN or a.max() > INT32_MAX):
        raise ValueError(f"{name} must fit int32, got values in [{a.min()}, {a.max()}]")
    return a


def srdhm(a, b) -> np.ndarray:
    """gemmlowp's ``SaturatingRoundingDoublingHighMul`` on int32 values (int64 array out)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    # |a*b| <= 2**62 fits int64 (INT32_MIN**2 = 2**62 exactly)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    s = ab + nudge
    high = np.where(s >= 0, s >> 31, -((-s) >> 31))    # C division: truncate toward zero
    return np.where(overflow, INT32_MAX, high)


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    """gemmlowp's ``RoundingDivideByPOT``: ``x / 2**exponent`` rounded to nearest, ties away
    from zero; ``exponent`` in [0, 31]."""
    x = np.asarray(x, dtype=np.int64)
    e = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (remainder > threshold)


def requantize(acc, bias, mult, shift, out_zp) -> np.ndarray:
    """uint8 ``clamp(out_zp + RDBP(SRDHM(acc + bias, mult), -shift), 0, 255)`` per column.

    Parameters
    ----------
    acc : int array (M, N), values in int32
        The GEMM result ``(A - z) @ W``.
    bias, mult : int arrays (N,), values in int32
        Per-column bias (added to ``acc`` with int32 wrap-around) and Q31 multiplier
        (``mult >= 0``; :func:`quantize_multiplier`).
    shift : int array (N,), values in [-31, 0]
        Per-column exponent, TFLite's convention (negative = right shift).
    out_zp : int in [0, 255]
        Output zero point.

    Raises
    ------
    ValueError
        A shape, dtype or range is wrong (the message names the argument).
    """
    acc = _as_int64(acc, "acc")
    if acc.ndim != 2:
        raise ValueError(f"acc must be 2-D (M, N), got shape {acc.shape}")
    N = acc.shape[1]
    bias, mult, shift = (_as_int64(v, name) for v, name in
                         ((bias, "bias"), (mult, "mult"), (shift, "shift")))
    for v, name in ((bias, "bias"), (mult, "mult"), (shift, "shift")):
        if v.shape != (N,):
            raise ValueError(f"{name} must have shape ({N},) (one per column), got {v.shape}")
    if mult.size and mult.min() < 0:
        raise ValueError(f"mult must be >= 0 (a Q31 multiplier), got {mult.min()}")
    if shift.size and (shift.min() < SHIFT_MIN or shift.max() > 0):
        raise ValueError(f"shift must be in [{SHIFT_MIN}, 0] (right shifts only: a scale below 1),"
                         f" got values in [{shift.min()}, {shift.max()}]")
    if isinstance(out_zp, bool) or not isinstance(out_zp, (int, np.integer)) or not 0 <= out_zp <= 255:
        raise ValueError(f"out_zp must be an int in [0, 255], got {out_zp!r}")
    x = acc + bias[None, :]
    x = ((x - INT32_MIN) & 0xFFFFFFFF) + INT32_MIN          # int32 wrap-around
    y = rounding_divide_by_pot(srdhm(x, mult[None, :]), -shift[None, :]) + int(out_zp)
    return np.clip(y, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class RequantParams:
    """Per-GEMM requantization: per-column ``bias``, ``mult``, ``shift`` (int64 arrays, N) and
    ``out_zp``; :meth:`apply` is :func:`requantize`."""

    bias: np.ndarray
    mult: np.ndarray
    shift: np.ndarray
    out_zp: int

    def __post_init__(self):
        # validate once, through requantize's own checks
        requantize(np.zeros((0, len(np.asarray(self.bias))), dtype=np.int64), self.bias,
                   self.mult, self.shift, self.out_zp)
        for name in ("bias", "mult", "shift"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.int64))
        object.__setattr__(self, "out_zp", int(self.out_zp))

    @property
    def N(self) -> int:
        return len(self.bias)

    def apply(self, acc) -> np.ndarray:
        return requantize(acc, self.bias, self.mult, self.shift, self.out_zp)

    def columns(self, cs: slice) -> "RequantParams":
        """The parameters of columns ``cs`` (a tile of the GEMM)."""
        return RequantParams(self.bias[cs], self.mult[cs], self.shift[cs], self.out_zp)


def requant_params(scales, *, bias=None, out_zp=0) -> RequantParams:
    """:class:`RequantParams` from real per-column scales (``s_a * s_w[n] / s_y``) via
    :func:`quantize_multiplier`; raises :class:`ValueError` for a scale >= 1 (shift > 0)."""
    scales = np.atleast_1d(np.asarray(scales, dtype=np.float64))
    qs = [quantize_multiplier(s) for s in scales]
    mult = np.array([q for q, _ in qs], dtype=np.int64)
    shift = np.array([s for _, s in qs], dtype=np.int64)
    if bias is None:
        bias = np.zeros(len(scales), dtype=np.int64)
    return RequantParams(np.asarray(bias, dtype=np.int64), mult, shift, out_zp)


def requant_from_arrays(arrays, N: int, where: str = "requantization parameters") -> RequantParams:
    """:class:`RequantParams` of ``N`` columns from named arrays (an ``.npz``'s contents):
    ``out_zp`` (scalar) and either ``mult`` and ``shift`` or real ``scale`` (per column, or one
    for all), with an optional ``bias`` (default 0). Raises :class:`ValueError` naming what is
    wrong (one line)."""
    keys = set(arrays)
    known = {"bias", "mult", "shift", "scale", "out_zp"}
    if keys - known:
        raise ValueError(f"{where}: unknown array(s) {sorted(keys - known)}; expected out_zp, "
                         f"bias (optional) and mult + shift or scale")
    if "out_zp" not in keys:
        raise ValueError(f"{where}: out_zp (the output zero point) is missing")
    if ("scale" in keys) == bool(keys & {"mult", "shift"}) or \
            ("scale" not in keys and not {"mult", "shift"} <= keys):
        raise ValueError(f"{where}: give either mult and shift or scale")

    def column(name, default=None, kind="iu"):
        if name not in arrays:
            return np.full(N, default)
        a = np.asarray(arrays[name])
        if a.dtype.kind not in kind:
            raise ValueError(f"{where}: {name} must be {'integer' if kind == 'iu' else 'numeric'}, "
                             f"not {a.dtype}")
        if a.ndim == 0 or a.shape == (1,):
            a = np.full(N, a.reshape(-1)[0])
        if a.shape != (N,):
            raise ValueError(f"{where}: {name} must have {N} values (one per column) or one, "
                             f"got shape {a.shape}")
        return a

    zp = np.asarray(arrays["out_zp"])
    if zp.size != 1 or zp.dtype.kind not in "iu":
        raise ValueError(f"{where}: out_zp must be one integer, got {zp.dtype} of shape {zp.shape}")
    zp = int(zp.reshape(-1)[0])
    bias = column("bias", 0)
    try:
        if "scale" in keys:
            return requant_params(column("scale", kind="iuf").astype(np.float64), bias=bias,
                                  out_zp=zp)
        return RequantParams(bias, column("mult"), column("shift"), zp)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
