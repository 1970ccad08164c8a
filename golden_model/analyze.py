"""Workload analysis behind ``panacea analyze``: what Panacea would skip on given activations.

From float activations ``x`` (tokens x channels): calibrate (asymmetric uint8), quantize,
slice at L, and report for each mode (dense, sibia, aqs) the slice statistics
(:meth:`golden_model.aqs_gemm.SlicePlan.stats`) and the cycle-model figures
(:func:`golden_model.cycle_model.predict`) of a GEMM of ``x`` by a K x N weight. Weight values
do not change cycles, memory traffic or the event-count energy: only the activations and N
do, so no weight is needed (N defaults to ``cfg.cols``, one column block). Optionally, what
zero-point manipulation (:mod:`golden_model.zpm`) and distribution-based bit-slicing
(:mod:`golden_model.dbs`) change for the aqs mode.

Per-token calibration (``per_token=True``) gives every row its own zero point; the statistics
are those of the single GEMM with one r for the tensor (the ``"fold"`` execution of
:func:`golden_model.quant.quantized_linear`). ZPM needs per-tensor parameters.

Example
-------
>>> import numpy as np
>>> from golden_model.analyze import analyze, format_analysis
>>> from golden_model.config import preset
>>> x = np.random.default_rng(0).normal(0.5, 1.0, size=(32, 64))
>>> d = analyze(x, cfg=preset("default"), zpm=True, dbs=True)
>>> sorted(d["modes"])
['aqs', 'dense', 'sibia']
>>> print(format_analysis(d))  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from .aqs_gemm import MODES, choose_r
from .config import VARIANT_SPECS, PanaceaConfig
from .dbs import choose_split, choose_split_zpm
from .quant import calibrate_activation, check_float_matrix, dequantize_activation, quantize_activation
from .slicing import check_split
from .tiling import predict_gemm
from .zpm import zpm_search

__all__ = ["analyze", "format_analysis"]

WEIGHT_NOTE = ("cycles, memory traffic and energy depend on the activations and N only; "
               "weight values do not change them")


def _mode_figures(A, mode, L, r, N, cfg):
    pred, st, _ = predict_gemm(A, N, mode=mode, L=L, r=r, cfg=cfg)
    return {
        "stats": st,
        "cycles": int(pred.counters["cycles"]),
        "ideal_cycles": int(pred.work["ideal_cycles"]),
        "ho_products": int(pred.work["ho_products"]),
        "skipped_products": int(pred.work["skipped_products"]),
        "energy_pj": float(pred.energy_pj["total"]),
        "ext_bytes": int(pred.memory["total_bytes_rle"]),
    }


def _calibration_dict(q, A, x):
    rmse = float(np.sqrt(np.mean((dequantize_activation(A, q) - x) ** 2)))
    if q.per_token:
        s, z = np.asarray(q.scale), np.asarray(q.zero_point)
        return {"per_token": True,
                "scale": {"min": float(s.min()), "mean": float(s.mean()), "max": float(s.max())},
                "zero_point": {"min": int(z.min()), "mean": float(z.mean()), "max": int(z.max())},
                "rmse": rmse}
    return {"per_token": False, "scale": q.scale, "zero_point": q.zero_point, "rmse": rmse}


def analyze(x, *, cfg: PanaceaConfig, L=4, zpm=False, dbs=False, per_token=False,
            method="minmax", N=None) -> dict:
    """Calibrate ``x`` and report slice sparsity and the hardware cost of each mode.

    Parameters
    ----------
    x : float ndarray (M, K), M tokens by K channels (a K beyond ``cfg.k_max`` is tiled).
    cfg : PanaceaConfig
    L : int, one of ``cfg.splits``.
    zpm : bool
        Also run :func:`golden_model.zpm.zpm_search` (per-tensor only) and report the aqs
        figures after the shift.
    dbs : bool
        Also choose the split for the aqs mode: :func:`golden_model.dbs.choose_split`, or with
        ``zpm`` the joint search :func:`golden_model.dbs.choose_split_zpm` (a ZPM shift per L).
    per_token : bool
        Per-token calibration instead of per tensor.
    method : {"minmax", "percentile"}
        Calibration range (see :func:`golden_model.quant.calibrate_activation`).
    N : int or None
        Output columns of the GEMM the cycle figures are for; default ``cfg.cols``.

    Returns
    -------
    dict (JSON-serializable)
        ``shape``, ``config``, ``L``, ``N``, ``note``, ``calibration``, ``modes`` (per mode:
        ``stats``, ``cycles``, ``ideal_cycles``, ``ho_products``, ``skipped_products``,
        ``energy_pj``, ``ext_bytes``), ``speedup`` (aqs over sibia / dense, cycles),
        ``energy_ratio`` (sibia / aqs and dense / aqs), and ``zpm`` / ``dbs`` when requested.

    Examples
    --------
    From the shell: ``panacea analyze --act x.npy --zpm --dbs --report analysis.json``;
    from Python: ``print(format_analysis(analyze(x, cfg=preset("default"), zpm=True)))``.
    """
    x = check_float_matrix(x, "x")
    if not isinstance(cfg, PanaceaConfig):
        raise ValueError(f"cfg must be a PanaceaConfig, got {type(cfg).__name__}")
    if cfg.modes != VARIANT_SPECS["panacea"].modes:
        raise ValueError(f"analyze compares the dense, sibia and aqs modes of a Panacea core; "
                         f"config {cfg.name!r} is the {cfg.variant!r} baseline (modes "
                         f"{', '.join(cfg.modes)}): use its Panacea preset, or panacea compare")
    L = check_split(L)
    if L not in cfg.splits:
        raise ValueError(f"split L={L} is not supported by config {cfg.name!r} "
                         f"(splits {list(cfg.splits)})")
    if N is None:
        N = cfg.cols
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < 1:
        raise ValueError(f"N must be an int >= 1, got {N!r}")
    N = int(N)
    M, K = x.shape
    if zpm and per_token:
        raise ValueError("ZPM searches one per-tensor zero point; it cannot be combined with "
                         "per-token calibration")

    q = calibrate_activation(x, method=method, per_token=per_token)
    A = quantize_activation(x, q)
    r = choose_r(A, L)
    modes = {m: _mode_figures(A, m, L, r, N, cfg) for m in MODES}
    aqs = modes["aqs"]
    out = {
        "shape": [M, K], "config": cfg.name, "L": L, "N": N, "method": method,
        "note": WEIGHT_NOTE,
        "calibration": _calibration_dict(q, A, x),
        "modes": modes,
        "speedup": {"aqs_over_sibia": modes["sibia"]["cycles"] / aqs["cycles"],
                    "aqs_over_dense": modes["dense"]["cycles"] / aqs["cycles"]},
        "energy_ratio": {"sibia_over_aqs": modes["sibia"]["energy_pj"] / aqs["energy_pj"],
                         "dense_over_aqs": modes["dense"]["energy_pj"] / aqs["energy_pj"]},
    }

    if zpm:
        res = zpm_search(x, q, L=L, group_size=cfg.group_size)
        after = _mode_figures(res.A, "aqs", L, res.r, N, cfg)
        out["zpm"] = {**res.to_dict(), "aqs_after": after,
                      "cycles_before": aqs["cycles"], "cycles_after": after["cycles"],
                      "energy_before_pj": aqs["energy_pj"], "energy_after_pj": after["energy_pj"]}
    if dbs:
        # with ZPM, the shift is searched per split (joint), since the best shift depends on L
        res = choose_split_zpm(x, q, N=N, cfg=cfg) if zpm else choose_split(A, N=N, cfg=cfg)
        base = res.table[L]
        chosen = res.table[res.L]
        out["dbs"] = {**res.to_dict(), "joint_zpm": bool(zpm), "L_before": L,
                      "cycles_before": base["cycles"], "cycles_after": chosen["cycles"],
                      "energy_before_pj": base["energy_pj"], "energy_after_pj": chosen["energy_pj"]}
    return out


def _pct(v):
    return f"{100.0 * v:5.1f}%"


def format_analysis(d: dict) -> str:
    """A short human-readable table of an :func:`analyze` result."""
    M, K = d["shape"]
    c = d["calibration"]
    lines = [f"activations {M} x {K}, config {d['config']}, L = {d['L']}, GEMM N = {d['N']}"]
    if c["per_token"]:
        lines.append(f"calibration ({d['method']}, per token): scale "
                     f"{c['scale']['min']:.4g}..{c['scale']['max']:.4g}, zero point "
                     f"{c['zero_point']['min']}..{c['zero_point']['max']}, rmse {c['rmse']:.4g}")
    else:
        lines.append(f"calibration ({d['method']}, per tensor): scale {c['scale']:.4g}, "
                     f"zero point {c['zero_point']}, rmse {c['rmse']:.4g}")
    lines.append(f"{'mode':6} {'skip':>4} {'HO==r':>7} {'HO==0':>7} {'skipped':>8} "
                 f"{'cycles':>9} {'energy uJ':>10}")
    for m, f in d["modes"].items():
        st = f["stats"]
        lines.append(f"{m:6} {st['skip_value']:>4} {_pct(st['frac_ho_eq_r']):>7} "
                     f"{_pct(st['frac_ho_zero']):>7} {_pct(st['frac_vectors_skipped']):>8} "
                     f"{f['cycles']:>9} {f['energy_pj'] / 1e6:>10.4f}")
    lines.append(f"aqs speedup: {d['speedup']['aqs_over_sibia']:.3f}x over sibia, "
                 f"{d['speedup']['aqs_over_dense']:.3f}x over dense; energy "
                 f"sibia/aqs {d['energy_ratio']['sibia_over_aqs']:.3f}, "
                 f"dense/aqs {d['energy_ratio']['dense_over_aqs']:.3f}")
    if "zpm" in d:
        z = d["zpm"]
        lines.append(f"ZPM: shift {z['d']:+d} (z {z['zero_point_before']} -> {z['zero_point']}, "
                     f"r {z['r_before']} -> {z['r']}): skipped vectors "
                     f"{_pct(z['frac_vec_skip_before'])} -> {_pct(z['frac_vec_skip_after'])}, "
                     f"HO==r {_pct(z['frac_ho_eq_r_before'])} -> {_pct(z['frac_ho_eq_r_after'])}, "
                     f"clipped {100 * z['clip_before']:.3f}% -> {100 * z['clip_after']:.3f}%, "
                     f"cycles {z['cycles_before']} -> {z['cycles_after']}")
    if "dbs" in d:
        b = d["dbs"]
        per_l = ", ".join(f"L={L}: {row['cycles']} cyc {_pct(row['frac_vectors_skipped'])}"
                          + (f" d={row['d']:+d}" if "d" in row else "")
                          for L, row in b["table"].items())
        lines.append(f"DBS{' (joint with ZPM)' if b['joint_zpm'] else ''}: L {b['L_before']} -> "
                     f"{b['L']} (r {b['r']}), cycles {b['cycles_before']} -> {b['cycles_after']}"
                     f"  [{per_l}]")
    lines.append(f"(HO==r uses the tensor's r = {d['modes']['aqs']['stats']['r']}; skip: the HO value "
                 f"a mode skips)")
    lines.append(f"note: {d['note']}")
    return "\n".join(lines)
