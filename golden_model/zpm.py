"""Zero-point manipulation (ZPM): shift the activation zero point to raise HO-slice sparsity.

Asymmetric quantization puts the bulk of the activations around the zero point ``z``; their
high-order slices (``AH = A >> L``) are mostly one value, the r-value. When the bulk straddles
a multiple of ``2**L`` it splits over two high-order values and few G-row vectors are all r.
Shifting the zero point by a few levels (``z' = z + d``, scale unchanged) moves the whole
distribution inside one high-order bucket. The integer GEMM stays exact for any ``z'``
(``(A' - z') @ W``); the only cost is that values near the ends of [0, 255] may now clip, so
the search is bounded by a clip budget.

Search (per-tensor parameters only)::

    for d in shift_range (inclusive), z' = z + d in [0, 255]:
        A'  = clamp(round(x / s) + z', 0, 255)
        r'  = choose_r(A', L)
        score = skippable vectors of slice_plan(A', mode="aqs", L, r') over the tiles that
                hold real rows (a vector: G rows of one tile at one k, all AH == r')
        keep d only if clipped(d) <= clipped(0) + clip_budget   (fractions of all values)
    best: highest score; ties: smallest |d|, then fewer clipped values, then the smaller d.

``d = 0`` is always a candidate, so ZPM never lowers the score.

Example
-------
>>> import numpy as np
>>> from golden_model.quant import calibrate_activation
>>> from golden_model.zpm import zpm_search
>>> x = np.random.default_rng(0).normal(0.0, 1.0, size=(64, 32))
>>> res = zpm_search(x, calibrate_activation(x))
>>> res.frac_vec_skip_after >= res.frac_vec_skip_before
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .aqs_gemm import choose_r, slice_plan
from .config import PanaceaConfig
from .quant import ActQuant, check_float_matrix
from .slicing import check_split

__all__ = ["ZPMResult", "zpm_search", "DEFAULT_SHIFT_RANGE", "DEFAULT_CLIP_BUDGET"]

#: Zero-point shifts tried by default (inclusive): 16 candidates, one 4-bit signed register field.
DEFAULT_SHIFT_RANGE = (-8, 7)
#: Extra fraction of clipped activation values ZPM may introduce (0.1 %).
DEFAULT_CLIP_BUDGET = 0.001


@dataclass
class ZPMResult:
    """Outcome of :func:`zpm_search`.

    Attributes
    ----------
    d : int
        Chosen shift; ``zero_point = z + d``.
    act : ActQuant
        Parameters after ZPM (same scale, shifted zero point).
    zero_point_before, zero_point : int
    r_before, r : int
        r-values (most frequent HO slice) before and after.
    frac_vec_skip_before, frac_vec_skip_after : float
        Skippable-vector fraction (all G high-order slices == r) over the real tiles.
    frac_ho_eq_r_before, frac_ho_eq_r_after : float
        Fraction of HO slices equal to r.
    clip_before, clip_after : float
        Fraction of values clamped by [0, 255].
    rmse_before, rmse_after : float
        RMS error of the dequantized activations against ``x``.
    candidates : list of dict
        One row per shift tried: d, zero_point, r, frac_vec_skip, frac_ho_eq_r, clip, feasible.
    """

    d: int
    act: ActQuant
    zero_point_before: int
    zero_point: int
    L: int
    group_size: int
    r_before: int
    r: int
    frac_vec_skip_before: float
    frac_vec_skip_after: float
    frac_ho_eq_r_before: float
    frac_ho_eq_r_after: float
    clip_before: float
    clip_after: float
    rmse_before: float
    rmse_after: float
    clip_budget: float
    shift_range: tuple
    A: np.ndarray = field(repr=False)
    candidates: list = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        """JSON-serializable summary (without the activation matrix)."""
        d = {k: getattr(self, k) for k in (
            "d", "zero_point_before", "zero_point", "L", "group_size", "r_before", "r",
            "frac_vec_skip_before", "frac_vec_skip_after", "frac_ho_eq_r_before",
            "frac_ho_eq_r_after", "clip_before", "clip_after", "rmse_before", "rmse_after",
            "clip_budget")}
        d["scale"] = self.act.scale
        d["shift_range"] = list(self.shift_range)
        d["candidates"] = [dict(c) for c in self.candidates]
        return d


def _check_shift_range(shift_range):
    try:
        lo, hi = shift_range
    except (TypeError, ValueError):
        raise ValueError(f"shift_range must be a pair (lo, hi), got {shift_range!r}") from None
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"shift_range bounds must be ints, got {shift_range!r}")
    if not int(lo) <= 0 <= int(hi):
        raise ValueError(f"shift_range must satisfy lo <= 0 <= hi, got {shift_range!r}")
    return int(lo), int(hi)


def _evaluate(base, x, s, zp, L, cfg, real_tiles):
    """Statistics of the activations quantized with zero point ``zp`` (``base = round(x/s)``)."""
    q = base + zp
    clipped = int(((q < 0) | (q > 255)).sum())
    A = np.clip(q, 0, 255).astype(np.uint8)
    r = choose_r(A, L)
    plan = slice_plan(A, mode="aqs", L=L, r=r, cfg=cfg)
    skipped = int(plan.vec_skip[:real_tiles].sum())
    eq_r = int((plan.AH[: plan.M] == r).sum())
    rmse = float(np.sqrt(np.mean(((A.astype(np.float64) - zp) * s - x) ** 2)))
    return {"A": A, "r": r, "skipped": skipped, "eq_r": eq_r, "clipped": clipped, "rmse": rmse}


def zpm_search(x, q: ActQuant, *, L=4, group_size=4, shift_range=DEFAULT_SHIFT_RANGE,
               clip_budget=DEFAULT_CLIP_BUDGET) -> ZPMResult:
    """Search the zero-point shift that maximizes skippable HO vectors within a clip budget.

    Parameters
    ----------
    x : float ndarray (M, K)
        The calibration activations.
    q : ActQuant
        Per-tensor parameters to start from (per-token parameters are rejected).
    L : int
        Activation split.
    group_size : int
        G, rows per skippable vector (``PanaceaConfig.group_size``).
    shift_range : (int, int)
        Inclusive shift bounds, ``lo <= 0 <= hi``; shifts leaving [0, 255] are not tried.
    clip_budget : float
        Largest allowed increase of the clipped-value fraction over the unshifted one.

    Returns
    -------
    ZPMResult
    """
    x = check_float_matrix(x, "x")
    if not isinstance(q, ActQuant):
        raise ValueError(f"q must be an ActQuant, got {type(q).__name__}")
    if q.per_token:
        raise ValueError("ZPM searches one per-tensor zero point; got per-token parameters")
    L = check_split(L)
    lo, hi = _check_shift_range(shift_range)
    if isinstance(clip_budget, bool) or not isinstance(clip_budget, (int, float)) \
            or not 0.0 <= clip_budget <= 1.0:
        raise ValueError(f"clip_budget must be a number in [0, 1], got {clip_budget!r}")
    cfg = PanaceaConfig(group_size=group_size)  # validates group_size
    M, K = x.shape
    real_tiles = -(-M // group_size)
    n_vec, n_val = real_tiles * K, M * K
    s, z = q.scale, q.zero_point
    base = np.rint(x / s)

    ref = _evaluate(base, x, s, z, L, cfg, real_tiles)
    # integer comparison of "clipped(d) / n <= clipped(0) / n + budget"
    allowed = ref["clipped"] + clip_budget * n_val
    best, best_key, rows = (0, ref), None, []
    for d in range(lo, hi + 1):
        zp = z + d
        if not 0 <= zp <= 255:
            continue
        ev = ref if d == 0 else _evaluate(base, x, s, zp, L, cfg, real_tiles)
        feasible = ev["clipped"] <= allowed
        rows.append({"d": d, "zero_point": zp, "r": ev["r"],
                     "frac_vec_skip": ev["skipped"] / n_vec, "frac_ho_eq_r": ev["eq_r"] / n_val,
                     "clip": ev["clipped"] / n_val, "feasible": bool(feasible)})
        if not feasible:
            continue
        key = (-ev["skipped"], abs(d), ev["clipped"], d)
        if best_key is None or key < best_key:
            best, best_key = (d, ev), key
    d, ev = best
    return ZPMResult(
        d=d, act=ActQuant(s, z + d), zero_point_before=z, zero_point=z + d, L=L,
        group_size=group_size, r_before=ref["r"], r=ev["r"],
        frac_vec_skip_before=ref["skipped"] / n_vec, frac_vec_skip_after=ev["skipped"] / n_vec,
        frac_ho_eq_r_before=ref["eq_r"] / n_val, frac_ho_eq_r_after=ev["eq_r"] / n_val,
        clip_before=ref["clipped"] / n_val, clip_after=ev["clipped"] / n_val,
        rmse_before=ref["rmse"], rmse_after=ev["rmse"], clip_budget=float(clip_budget),
        shift_range=(lo, hi), A=ev["A"], candidates=rows)
