"""Per-layer activation calibration, per batch or static, shared by the MiniLM and ONNX flows.

One linear layer is quantized in two steps:

1. :func:`calibrate_layer` fixes a :class:`LayerQuant` from calibration activations ``x``
   (tokens x K, float): the activation range (``"minmax"`` or ``"percentile"``, symmetric or
   asymmetric), then for the ``*_zpm`` paths the zero-point shift (:mod:`golden_model.zpm`)
   and for ``*_zpm_dbs`` the split L and its r (:func:`golden_model.dbs.choose_split_zpm`,
   costed by the cycle model, tiled on the host where K exceeds ``cfg.k_max``);
2. :func:`apply_layer` quantizes any input with those parameters and runs the exact AQS-GEMM
   (:func:`golden_model.quant.quantized_linear`, ``aqs`` mode).

*Per batch* (what :class:`golden_model.minilm.QuantizedLinear` does) calibrates on the very
input it evaluates. *Static* calibration, as deployments do it, calls :func:`calibrate_layer`
once on calibration data and applies the result unchanged (scale, zero point, L and r) to
other inputs; values outside the calibrated range clip. ``per_token=True`` is the dynamic
alternative: one asymmetric (scale, zero point) per row computed at run time from the row
itself (no ZPM: it needs one per-tensor zero point; r is the run-time tensor's).

**Smoothing** (``smooth=alpha``, SmoothQuant: G. Xiao et al., ICML 2023) moves activation
outliers into the weights before quantization: per input channel k,
``s[k] = max|x[:, k]|**alpha / max|w[k, :]|**(1 - alpha)`` from the calibration data, then
``x / s`` is quantized per tensor and ``s[k] * w[k, :]`` per output channel. ``x @ w`` is
unchanged in real numbers and the integer GEMM is the same exact ``(A - z) @ W``; the divisor
is applied where activations are quantized (an elementwise step before the accelerator), the
weight factor offline. It trades slice sparsity (flatter activations have fewer frequent high
slices) for accuracy.

:func:`minilm_static_report` measures static calibration on MiniLM-L6: parameters from
calibration sentences, cosine to FP32 on held-out sentences, for each quantized path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import PanaceaConfig
from .quant import (CALIBRATION_METHODS, ActQuant, calibrate_activation,
                    calibrate_activation_symmetric, check_float_matrix, quantized_linear)

__all__ = ["QUANT_PATHS", "LayerQuant", "smooth_factors", "calibrate_layer", "apply_layer",
           "StaticLinear",
           ]

#: Quantized paths (the keys of :data:`golden_model.minilm.PATHS` without ``fp32``).
QUANT_PATHS = ("w8a8_sym", "w8a8_asym", "w8a8_asym_zpm", "w8a8_asym_zpm_dbs")


@dataclass
class LayerQuant:
    """Fixed quantization of one layer's activations (see the module docstring).

    Attributes
    ----------
    path : str
        One of :data:`QUANT_PATHS`.
    act : ActQuant or None
        Per-tensor parameters; None when ``per_token`` (computed per row at run time).
    L : int
        Activation split.
    r : int or None
        Skipped high-order value; None: the most frequent one of the run-time tensor.
    z_calibrated : int or None
        Zero point before ZPM.
    zpm, dbs : dict or None
        ``to_dict()`` of the ZPM / DBS search results.
    per_token : bool
    smooth : ndarray float64 (K,) or None
        Per-input-channel divisor of the activations (multiplier of the weight rows).
    """

    path: str
    act: ActQuant | None
    L: int = 4
    r: int | None = None
    z_calibrated: int | None = None
    zpm: dict | None = None
    dbs: dict | None = None
    per_token: bool = False
    smooth: np.ndarray | None = None

    def to_dict(self) -> dict:
        return {"path": self.path, "per_token": self.per_token,
                "smoothed": self.smooth is not None,
                "act": self.act.to_dict() if self.act is not None else None,
                "L": self.L, "r": self.r, "z_calibrated": self.z_calibrated}


def smooth_factors(x, w, alpha) -> np.ndarray:
    """SmoothQuant factors ``s[k] = max|x[:, k]|**alpha / max|w[k, :]|**(1 - alpha)`` (K,).

    ``x`` float (M, K), ``w`` float (K, N), ``alpha`` in [0, 1]. A channel whose activation or
    weight maximum is 0 gets ``s = 1``.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise ValueError(f"smoothing alpha must be a number in [0, 1], got {alpha!r}")
    x, w = check_float_matrix(x, "x"), check_float_matrix(w, "w")
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"x has K={x.shape[1]} channels, w has {w.shape[0]} rows")
    ax, aw = np.abs(x).max(0), np.abs(w).max(1)
    ok = (ax > 0) & (aw > 0)
    s = np.ones(x.shape[1])
    s[ok] = ax[ok] ** alpha / aw[ok] ** (1.0 - alpha)
    return s


def calibrate_layer(x, *, path="w8a8_asym_zpm_dbs", N=None, cfg: PanaceaConfig | None = None,
                    method="minmax", percentile=99.99, per_token=False, L=4, w=None,
                    smooth=None) -> LayerQuant:
    """Quantization parameters of one layer from calibration activations.

    Parameters
    ----------
    x : float ndarray (M, K)
        Calibration inputs of the layer (tokens stacked).
    path : str
        One of :data:`QUANT_PATHS`.
    N : int, optional
        Output columns of the layer; needed by ``*_dbs`` (DBS compares predicted cycles).
    cfg : PanaceaConfig, optional
        Group size (ZPM) and splits / cycle model (DBS); default ``PanaceaConfig()``.
    method : {"minmax", "percentile"}
    percentile : float in (50, 100]
    per_token : bool
        Dynamic per-row asymmetric parameters instead (``w8a8_asym`` only).
    L : int
        Split of the paths without DBS.
    w : float ndarray (K, N), optional
        The layer's weight; needed by ``smooth``.
    smooth : float in [0, 1], optional
        SmoothQuant alpha (:func:`smooth_factors`); None: no smoothing.

    Returns
    -------
    LayerQuant

    Raises
    ------
    ValueError
        Unknown path or method, per-token with another path than ``w8a8_asym``, DBS without
        ``N``.
    """
    from . import dbs as _dbs
    from . import zpm as _zpm

    if path not in QUANT_PATHS:
        raise ValueError(f"path must be one of {QUANT_PATHS}, got {path!r}")
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"method must be one of {CALIBRATION_METHODS}, got {method!r}")
    cfg = cfg if cfg is not None else PanaceaConfig()
    x = check_float_matrix(x, "x")
    s = None
    if smooth is not None:
        if w is None:
            raise ValueError("smoothing needs the layer's weight w")
        s = smooth_factors(x, w, smooth)
        x = x / s
    if per_token:
        if path != "w8a8_asym":
            raise ValueError(f"per-token (dynamic) activations exist for the w8a8_asym path "
                             f"only (ZPM and DBS need one per-tensor zero point), got {path!r}")
        return LayerQuant(path=path, act=None, L=L, r=None, per_token=True, smooth=s)
    if path == "w8a8_sym":
        act = calibrate_activation_symmetric(x, method=method, percentile=percentile)
        return LayerQuant(path=path, act=act, L=L, r=None, z_calibrated=act.zero_point, smooth=s)
    act = calibrate_activation(x, method=method, percentile=percentile)
    lq = LayerQuant(path=path, act=act, L=L, r=None, z_calibrated=act.zero_point, smooth=s)
    if path == "w8a8_asym_zpm":
        z = _zpm.zpm_search(x, act, L=L, group_size=cfg.group_size)
        lq.act, lq.zpm = z.act, z.to_dict()
    elif path == "w8a8_asym_zpm_dbs":
        if N is None:
            raise ValueError("DBS needs the layer's output width N")
        d = _dbs.choose_split_zpm(x, act, N=int(N), cfg=cfg)
        lq.act, lq.L, lq.r = d.zpm.act, int(d.L), int(d.r)
        lq.zpm, lq.dbs = d.zpm.to_dict(), d.to_dict()
    return lq


def apply_layer(x, w, b, lq: LayerQuant, *, cfg: PanaceaConfig | None = None):
    """``x @ w + b`` through ``lq``'s fixed parameters and the exact AQS-GEMM (``aqs`` mode).

    Parameters
    ----------
    x : float ndarray (M, K); w : float ndarray (K, N); b : float ndarray (N,) or None
    lq : LayerQuant
    cfg : PanaceaConfig, optional

    Returns
    -------
    (y, info) of :func:`golden_model.quant.quantized_linear`: ``y`` float64 (M, N).
    """
    if lq.smooth is not None:
        x = check_float_matrix(x, "x") / lq.smooth
        w = check_float_matrix(w, "w") * lq.smooth[:, None]
    if lq.per_token:
        act = calibrate_activation(check_float_matrix(x, "x"), per_token=True)
    else:
        act = lq.act
    return quantized_linear(x, w, b, act=act, mode="aqs", L=lq.L, r=lq.r, cfg=cfg)


class StaticLinear:
    """A MiniLM linear hook (``hook(name, x, w, b) -> y``) with fixed per-layer parameters.

    Parameters
    ----------
    params : dict
        Layer name -> :class:`LayerQuant` (from :func:`calibrate_layer`).
    cfg : PanaceaConfig, optional
    """

    def __init__(self, params: dict, *, cfg: PanaceaConfig | None = None):
        self.params, self.cfg = params, cfg
        self.records = {}

    def __call__(self, name, x, w, b):
        y, info = apply_layer(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                              self.params[name], cfg=self.cfg)
        self.records[name] = {"stats": info["stats"], "L": info["L"], "r": info["r"]}
        return y
