"""Post-training quantization for Panacea: A8 asymmetric activations, W8 symmetric weights.

The numerics are the project's definitions (``docs/quantization.md``, ``docs/decisions.md``):

* activations: ``A = clamp(round(x / s_a) + z, 0, 255)`` (uint8, zero point ``z`` in [0, 255]),
  calibrated per tensor (default) or per token (one ``s_a``, ``z`` per row);
* weights: ``W = clamp(round(w / s_w[n]), -127, 127)`` (int8), symmetric per output channel;
* the exact integer product ``Y = (A - z) @ W`` (int32) is what every hardware mode computes
  (:func:`golden_model.aqs_gemm.aqs_gemm`); the real output is ``s_a * s_w[n] * Y[m, n]``.

Rounding is numpy's round-half-to-even (``np.rint``) everywhere, so it is symmetric:
``round(-v) == -round(v)``.

Example
-------
>>> import numpy as np
>>> from golden_model.quant import calibrate_activation, quantized_linear
>>> rng = np.random.default_rng(0)
>>> x, w = rng.normal(size=(8, 16)), rng.normal(size=(16, 4))
>>> y, info = quantized_linear(x, w, mode="aqs")
>>> bool(np.abs(y - x @ w).max() < 0.5)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .aqs_gemm import COMPENSATIONS, MODES, aqs_gemm
from .config import PanaceaConfig
from .slicing import WEIGHT_MAX, WEIGHT_MIN, check_split

__all__ = ["ActQuant", "CALIBRATION_METHODS", "PER_TOKEN_GEMMS", "calibrate_activation",
           "calibrate_activation_symmetric", "quantize_activation", "dequantize_activation",
           "quantize_weight", "dequantize_output", "quantized_linear", "check_float_matrix"]

CALIBRATION_METHODS = ("minmax", "percentile")
#: How :func:`quantized_linear` executes per-token (per-row zero point) activations.
PER_TOKEN_GEMMS = ("fold", "group")
#: Symmetric int8 activations are carried as uint8 with this zero point.
SYMMETRIC_ZERO_POINT = 128


# ---- validation ------------------------------------------------------------------------------
def check_float_matrix(x, name="x", ndim=2) -> np.ndarray:
    """Return ``x`` as a float64 array of ``ndim`` dimensions, or raise ``ValueError``.

    Rejects non-float dtypes (ints, bools, objects), wrong dimensionality, empty arrays and
    non-finite values (NaN, inf), naming the problem.
    """
    a = np.asarray(x)
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"{name} must be a float array, got dtype {a.dtype}")
    if a.ndim != ndim:
        what = "2-D (rows x columns)" if ndim == 2 else f"{ndim}-D"
        raise ValueError(f"{name} must be {what}, got {a.ndim}-D array of shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {a.shape}")
    if not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        raise ValueError(f"{name} holds a non-finite value ({a[tuple(bad)]}) at "
                         f"{tuple(int(i) for i in bad)}; NaN and inf cannot be quantized")
    lo, hi = float(a.min()), float(a.max())
    if not np.isfinite(hi - lo) or not np.isfinite((hi - lo) * 256.0):
        raise ValueError(f"{name} spans [{lo:.3g}, {hi:.3g}], wider than float64 can quantize "
                         f"(its range overflows); rescale the values")
    return a.astype(np.float64, copy=False)


def _check_method(method, percentile):
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"method must be one of {CALIBRATION_METHODS}, got {method!r}")
    if isinstance(percentile, bool) or not isinstance(percentile, (int, float, np.floating)) \
            or not 50.0 < float(percentile) <= 100.0:
        raise ValueError(f"percentile must be a number in (50, 100], got {percentile!r}")
    return float(percentile)


# ---- activation parameters -------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ActQuant:
    """Activation quantization parameters: ``A = clamp(round(x / scale) + zero_point, 0, 255)``.

    Attributes
    ----------
    scale : float or ndarray of float64, shape (M,)
        Step size ``s_a`` (> 0). A Python float per tensor, an array per token (row).
    zero_point : int or ndarray of int64, shape (M,)
        Zero point ``z`` in [0, 255]. A Python int per tensor, an array per token.
    """

    scale: float | np.ndarray
    zero_point: int | np.ndarray

    def __post_init__(self):
        s, z = np.asarray(self.scale), np.asarray(self.zero_point)
        if s.ndim != z.ndim or s.shape != z.shape or s.ndim > 1:
            raise ValueError(f"scale and zero_point must both be scalars or both 1-D of the same "
                             f"length, got shapes {s.shape} and {z.shape}")
        if not np.issubdtype(s.dtype, np.number) or not (np.isfinite(s) & (s > 0)).all():
            raise ValueError(f"scale must be finite and > 0, got {self.scale!r}")
        if not np.issubdtype(z.dtype, np.integer) or (z < 0).any() or (z > 255).any():
            raise ValueError(f"zero_point must be an int in [0, 255], got {self.zero_point!r}")
        if s.ndim == 0:
            object.__setattr__(self, "scale", float(s))
            object.__setattr__(self, "zero_point", int(z))
        else:
            object.__setattr__(self, "scale", s.astype(np.float64))
            object.__setattr__(self, "zero_point", z.astype(np.int64))

    def __eq__(self, other):
        if not isinstance(other, ActQuant):
            return NotImplemented
        return (self.per_token == other.per_token
                and np.array_equal(self.scale, other.scale)
                and np.array_equal(self.zero_point, other.zero_point))

    __hash__ = None

    @property
    def per_token(self) -> bool:
        """True when there is one (scale, zero point) per row."""
        return np.ndim(self.scale) == 1

    def to_dict(self) -> dict:
        """JSON-serializable form (lists for per-token parameters)."""
        if self.per_token:
            return {"per_token": True, "scale": [float(v) for v in self.scale],
                    "zero_point": [int(v) for v in self.zero_point]}
        return {"per_token": False, "scale": self.scale, "zero_point": self.zero_point}

    def _columns(self, rows):
        """Scale and zero point shaped to broadcast against an (M, K) matrix."""
        if not self.per_token:
            return self.scale, self.zero_point
        if len(self.scale) != rows:
            raise ValueError(f"per-token parameters are for {len(self.scale)} rows, "
                             f"the matrix has {rows}")
        return self.scale[:, None], self.zero_point[:, None]


def _asym_params(lo, hi):
    """Asymmetric (scale, zero point) for ranges [lo, hi] (arrays), 0 forced into the range."""
    lo = np.minimum(lo, 0.0)
    hi = np.maximum(hi, 0.0)
    span = hi - lo
    degenerate = ~(span > 0)
    # the tiny-but-nonzero span whose scale underflows is degenerate too
    scale = np.where(degenerate, 1.0, span / 255.0)
    degenerate |= ~(scale > 0)
    scale = np.where(degenerate, 1.0, scale)
    z = np.clip(np.rint(-lo / scale), 0, 255).astype(np.int64)
    return scale.astype(np.float64), z


def calibrate_activation(x, *, method="minmax", percentile=99.99, per_token=False) -> ActQuant:
    """Asymmetric uint8 parameters for float activations ``x`` (M tokens x K channels).

    The range ``[lo, hi]`` is the minimum/maximum (``method="minmax"``) or the
    ``100 - percentile`` / ``percentile`` percentiles (``method="percentile"``, values outside
    are clipped), of the whole tensor or of each row (``per_token=True``). The range is always
    widened to include 0, so real 0 is represented exactly (it quantizes to ``z`` and
    dequantizes to 0.0). Then ``scale = (hi - lo) / 255`` and ``z = round(-lo / scale)``; every
    value inside ``[lo, hi]`` is reproduced within ``scale / 2``. A degenerate range
    (the input, or a row, is all zeros) gets ``scale = 1.0`` and ``z = 0``, which is exact.

    Parameters
    ----------
    x : float ndarray (M, K), finite.
    method : {"minmax", "percentile"}
    percentile : float in (50, 100], used by ``method="percentile"``.
    per_token : bool
        One (scale, zero point) per row instead of per tensor.

    Returns
    -------
    ActQuant
        Python float/int per tensor, float64/int64 arrays of shape (M,) per token.
    """
    x = check_float_matrix(x, "x")
    p = _check_method(method, percentile)
    axis = 1 if per_token else None
    if method == "minmax":
        lo, hi = x.min(axis=axis), x.max(axis=axis)
    else:
        lo, hi = np.percentile(x, [100.0 - p, p], axis=axis)
    scale, z = _asym_params(np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64))
    return ActQuant(scale, z) if per_token else ActQuant(float(scale), int(z))


def calibrate_activation_symmetric(x, *, method="minmax", percentile=99.99) -> ActQuant:
    """Symmetric int8 activations carried as uint8: ``scale = max|x| / 127``, ``z = 128``.

    ``max|x|`` is the absolute maximum (``"minmax"``) or the ``percentile`` of ``|x|``
    (``"percentile"``). Values map to ``A = round(x / scale) + 128`` in [1, 255] (clamped
    outside the range), so the same AQS-GEMM executes the symmetric baseline unchanged.
    An all-zero input gets ``scale = 1.0``.
    """
    x = check_float_matrix(x, "x")
    p = _check_method(method, percentile)
    ax = np.abs(x)
    amax = float(ax.max() if method == "minmax" else np.percentile(ax, p))
    scale = amax / 127.0
    if not scale > 0:
        scale = 1.0
    return ActQuant(float(scale), SYMMETRIC_ZERO_POINT)


def _check_act(q):
    if not isinstance(q, ActQuant):
        raise ValueError(f"q must be an ActQuant, got {type(q).__name__}")
    return q


def quantize_activation(x, q: ActQuant) -> np.ndarray:
    """``A = clamp(round(x / scale) + z, 0, 255)`` as a uint8 (M, K) array."""
    x = check_float_matrix(x, "x")
    s, z = _check_act(q)._columns(x.shape[0])
    return np.clip(np.rint(x / s) + z, 0, 255).astype(np.uint8)


def dequantize_activation(A, q: ActQuant) -> np.ndarray:
    """``(A - z) * scale`` as float64."""
    A = np.asarray(A)
    if A.dtype != np.uint8 or A.ndim != 2:
        raise ValueError(f"A must be a 2-D uint8 array, got dtype {A.dtype} shape {A.shape}")
    s, z = _check_act(q)._columns(A.shape[0])
    return (A.astype(np.float64) - z) * s


# ---- weights ---------------------------------------------------------------------------------
def quantize_weight(w):
    """Symmetric per-output-channel int8 weights.

    Parameters
    ----------
    w : float ndarray (K, N), finite; column n is output channel n.

    Returns
    -------
    W : int8 ndarray (K, N) in [-127, 127], ``W = clamp(round(w / scale[n]), -127, 127)``.
    scale : float64 ndarray (N,), ``max_k |w[k, n]| / 127``; an all-zero column gets
        ``scale = 1.0`` (its W column is 0, so the value is irrelevant but finite).
    """
    w = check_float_matrix(w, "w")
    amax = np.abs(w).max(axis=0)
    scale = amax / float(WEIGHT_MAX)
    scale = np.where(scale > 0, scale, 1.0).astype(np.float64)
    W = np.clip(np.rint(w / scale), WEIGHT_MIN, WEIGHT_MAX).astype(np.int8)
    return W, scale


def dequantize_output(Y, act_scale, w_scale) -> np.ndarray:
    """Real output ``s_a * s_w[n] * Y[m, n]`` (float64).

    ``act_scale`` is a scalar (per tensor) or an (M,) array (per token, broadcast by rows);
    ``w_scale`` is the (N,) per-channel weight scale.
    """
    Y = np.asarray(Y)
    if not np.issubdtype(Y.dtype, np.integer) or Y.ndim != 2:
        raise ValueError(f"Y must be a 2-D integer array, got dtype {Y.dtype} shape {Y.shape}")
    sa = np.asarray(act_scale, dtype=np.float64)
    sw = np.asarray(w_scale, dtype=np.float64)
    if sw.shape != (Y.shape[1],):
        raise ValueError(f"w_scale must have shape ({Y.shape[1]},), got {sw.shape}")
    if sa.ndim == 1:
        if sa.shape != (Y.shape[0],):
            raise ValueError(f"per-token act_scale must have shape ({Y.shape[0]},), got {sa.shape}")
        sa = sa[:, None]
    elif sa.ndim != 0:
        raise ValueError(f"act_scale must be a scalar or 1-D, got shape {sa.shape}")
    return Y.astype(np.float64) * sa * sw[None, :]


# ---- the quantized linear layer --------------------------------------------------------------
def _combined_stats(plans):
    """Slice statistics summed over several GEMMs (same L and mode)."""
    n_ho = sum(p.M * p.AH.shape[1] for p in plans)
    eq_r = sum(int((p.AH[: p.M] == p.r).sum()) for p in plans)
    zero = sum(int((p.AH[: p.M] == 0).sum()) for p in plans)
    vecs = sum(int(p.vec_skip.size) for p in plans)
    skipped = sum(int(p.vec_skip.sum()) for p in plans)
    return {"mode": plans[0].mode, "L": plans[0].L, "r": sorted({p.r for p in plans}),
            "frac_ho_eq_r": eq_r / max(1, n_ho), "frac_ho_zero": zero / max(1, n_ho),
            "vectors": vecs, "vectors_skipped": skipped,
            "frac_vectors_skipped": skipped / max(1, vecs), "gemms": len(plans)}


def quantized_linear(x, w, b=None, *, act: ActQuant | None = None, mode="aqs", L=4, r=None,
                     cfg: PanaceaConfig | None = None, compensation="static", symmetric=False,
                     per_token_gemm="fold"):
    """``y = x @ w + b`` through A8W8 quantization and the exact slice-level AQS-GEMM.

    Parameters
    ----------
    x : float ndarray (M, K)
    w : float ndarray (K, N)
    b : float ndarray (N,) or None
    act : ActQuant or None
        Activation parameters; calibrated from ``x`` when None (per tensor, min/max;
        symmetric with ``z = 128`` when ``symmetric=True``; ``symmetric`` is ignored when
        ``act`` is given).
    mode, L, r, cfg, compensation
        Passed to :func:`golden_model.aqs_gemm.aqs_gemm` (``r=None``: the most frequent
        high-order slice, :func:`~golden_model.aqs_gemm.choose_r`).
    per_token_gemm : {"fold", "group"}
        How per-token activations (one zero point per row) are executed:

        * ``"fold"`` (default): one GEMM with the zero-point register at 0, then the row term
          ``- z[m] * C[n]`` (``C[n] = sum_k W[k, n]``, the compensator's column sums) is
          applied per row. Exact, one r for the whole tensor.
        * ``"group"``: rows are grouped by zero point and each group is its own GEMM with
          its own z (and its own r when ``r`` is None). Exact, one GEMM per distinct z.

    Returns
    -------
    y : float64 ndarray (M, N), ``s_a * s_w[n] * Y[m, n] + b[n]``.
    info : dict
        ``A`` (uint8), ``W`` (int8), ``Y`` (int32, equals ``(A - z) @ W``), ``act``,
        ``w_scale``, ``z``, ``L``, ``r`` (int, or list per group), ``mode``,
        ``compensation``, ``plans`` (list of :class:`~golden_model.aqs_gemm.SlicePlan`) and
        ``stats`` (slice statistics; summed over groups for ``"group"``).
    """
    x = check_float_matrix(x, "x")
    w = check_float_matrix(w, "w")
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"shape mismatch: x is {x.shape[0]}x{x.shape[1]} (M x K), "
                         f"w is {w.shape[0]}x{w.shape[1]} (K x N); K must agree")
    if b is not None:
        b = check_float_matrix(b, "b", ndim=1)
        if b.shape != (w.shape[1],):
            raise ValueError(f"b must have shape ({w.shape[1]},), got {b.shape}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if compensation not in COMPENSATIONS:
        raise ValueError(f"compensation must be one of {COMPENSATIONS}, got {compensation!r}")
    if per_token_gemm not in PER_TOKEN_GEMMS:
        raise ValueError(f"per_token_gemm must be one of {PER_TOKEN_GEMMS}, got {per_token_gemm!r}")
    L = check_split(L)
    cfg = cfg or PanaceaConfig()
    if act is None:
        act = calibrate_activation_symmetric(x) if symmetric else calibrate_activation(x)
    act = _check_act(act)
    A = quantize_activation(x, act)
    W, w_scale = quantize_weight(w)
    kw = dict(mode=mode, L=L, cfg=cfg, compensation=compensation)

    if not act.per_token:
        Y, plan = aqs_gemm(A, W, act.zero_point, r=r, **kw)
        plans, r_used, stats = [plan], plan.r, plan.stats()
    elif per_token_gemm == "fold":
        Y0, plan = aqs_gemm(A, W, 0, r=r, **kw)
        C = W.astype(np.int64).sum(axis=0)
        Y = (Y0.astype(np.int64) - act.zero_point[:, None] * C[None, :])
        lim = 1 << 31
        if Y.min() < -lim or Y.max() >= lim:
            raise OverflowError("result does not fit int32")
        Y = Y.astype(np.int32)
        plans, r_used, stats = [plan], plan.r, plan.stats()
    else:
        Y = np.empty((A.shape[0], W.shape[1]), dtype=np.int32)
        plans, r_used = [], []
        for zv in np.unique(act.zero_point):
            rows = np.flatnonzero(act.zero_point == zv)
            Yg, plan = aqs_gemm(A[rows], W, int(zv), r=r, **kw)
            Y[rows] = Yg
            plans.append(plan)
            r_used.append(plan.r)
        stats = _combined_stats(plans)

    y = dequantize_output(Y, act.scale, w_scale)
    if b is not None:
        y = y + b[None, :]
    info = {"A": A, "W": W, "Y": Y, "act": act, "w_scale": w_scale, "z": act.zero_point,
            "L": L, "r": r_used, "mode": mode, "compensation": compensation,
            "per_token_gemm": per_token_gemm if act.per_token else None,
            "plans": plans, "stats": stats}
    return y, info
